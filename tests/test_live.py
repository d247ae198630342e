"""Watches (clients/watch.py) and the pod ledger (ops/live.py) against the Kubernetes emulator over HTTP."""

from __future__ import annotations

import threading

import pytest

from hyperpod_k8s.clients.cluster import ACTIVE_PODS, Cluster
from hyperpod_k8s.clients.watch import NODE_EVENTS, POD_EVENTS, Watch
from hyperpod_k8s.demo.objects import make_node, make_pod
from hyperpod_k8s.demo.server import DemoCluster
from hyperpod_k8s.ops import inventory
from hyperpod_k8s.ops.live import PodLedger


@pytest.fixture
def cluster(demo: DemoCluster) -> Cluster:
    assert demo.endpoints is not None
    return Cluster.from_kubeconfig(demo.endpoints.kubeconfig)


def test_ledger_from_a_list_equals_the_inventory_fold(cluster: Cluster) -> None:
    ledger = PodLedger()
    ledger.replace(cluster.pod_pages())
    folded = inventory.fold_pods(cluster.iter_pod_pages())
    assert ledger.snapshot() == folded
    assert ledger.resource_version


@pytest.mark.parametrize("selector", [ACTIVE_PODS, None])
def test_watch_after_a_list_sees_only_later_changes_and_the_ledger_follows(
        demo: DemoCluster, cluster: Cluster, selector: str | None) -> None:
    ledger = PodLedger()
    ledger.replace(cluster.pod_pages(active_only=selector is not None))
    idle = demo.fleet.instances[15].node  # a train-b worker with no training pod
    assert ledger.snapshot()[idle].gpu == 0
    w = Watch(cluster, "/api/v1/pods", POD_EVENTS, resource_version=ledger.resource_version,
              field_selector=selector, timeout_seconds=10)
    seen: list[tuple[str, str]] = []

    def follow() -> None:
        for kind, pod, rv in w:
            if pod is not None:
                seen.append((kind, pod.metadata.name))
                ledger.apply(kind, pod, rv)

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    pause = threading.Event()
    for _ in range(100):  # the stream is open once the server answered (the emulator replays no history)
        if w._resp is not None:
            break
        pause.wait(0.05)
    demo.put("v1/pods", make_pod(name="late-job-0", namespace="training", node=idle, gpu=8, efa=32))
    pod = demo.get("v1/pods", "training", "late-job-0")
    assert pod is not None
    pod["status"]["phase"] = "Succeeded"  # it finishes: its share goes back
    demo.put("v1/pods", pod)
    for _ in range(100):
        if len(seen) >= 2:
            break
        pause.wait(0.05)
    w.close()
    t.join(timeout=10)
    assert not t.is_alive()  # close() ends a blocked read at once
    # No replay of the listed pods. A pod leaving the selector arrives as DELETED, as from the API server.
    assert seen == [("ADDED", "late-job-0"), ("DELETED" if selector else "MODIFIED", "late-job-0")]
    assert ledger.snapshot()[idle].gpu == 0 and ledger.snapshot()[idle].pods == 4


def test_node_watch_sees_a_join(demo: DemoCluster, cluster: Cluster) -> None:
    rv = next(iter(cluster.node_pages())).metadata.resourceVersion
    w = Watch(cluster, "/api/v1/nodes", NODE_EVENTS, resource_version=rv, timeout_seconds=2)
    demo.put("v1/nodes", make_node(ip="10.1.50.5", instance_id="i-0aaaabbbbccccdddd",
                                   instance_type="ml.p5.48xlarge", group="train-a"))
    events = [(kind, node.metadata.name) for kind, node, _ in w if node is not None]  # ends at timeoutSeconds
    assert events == [("ADDED", "ip-10-1-50-5")]
