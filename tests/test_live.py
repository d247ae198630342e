"""The watch-fed inventory: one list, then changes followed over watches (Kubernetes emulator over HTTP)."""

from __future__ import annotations

import threading
from pathlib import Path

from hyperpod_k8s.clients.cluster import Cluster
from hyperpod_k8s.clients.fleet import Fleet
from hyperpod_k8s.demo.objects import make_node, make_pod
from hyperpod_k8s.demo.server import DemoCluster
from hyperpod_k8s.ops import inventory
from hyperpod_k8s.ops.live import LiveInventory, wait_for


def _live(demo: DemoCluster) -> LiveInventory:
    ep = demo.endpoints
    assert ep is not None
    return LiveInventory(inventory.Sources(Cluster.from_kubeconfig(ep.kubeconfig), Fleet(ep.cluster, region=ep.region)))


def test_first_load_matches_a_full_build(demo: DemoCluster) -> None:
    live = _live(demo)
    early = []
    snap = live.load(on_nodes=early.append)
    full = inventory.build(live.src)
    assert [r.as_dict(full.taken_at) | {"age_seconds": 0} for r in snap.rows] == \
        [r.as_dict(full.taken_at) | {"age_seconds": 0} for r in full.rows]
    assert early and len(early[0].rows) == len(full.rows)


def test_watches_follow_pods_and_nodes(demo: DemoCluster, tmp_path: Path) -> None:
    live = _live(demo)
    live.load()
    stop = threading.Event()
    changed = threading.Event()
    live.follow(stop, changed.set, timeout_seconds=5)
    try:
        idle = demo.fleet.instances[15].node  # a train-b worker with no training pod
        row = live.snapshot().find(idle)
        assert row is not None and row.accel.requested == 0
        demo.put("v1/pods", make_pod(name="late-job-0", namespace="training", node=idle, gpu=8, efa=32))
        assert wait_for(lambda: live.snapshot().find(idle).accel.requested == 8, 10)  # type: ignore[union-attr]
        # the pod finishes: its share goes back
        pod = demo.get("v1/pods", "training", "late-job-0")
        assert pod is not None
        pod["status"]["phase"] = "Succeeded"
        demo.put("v1/pods", pod)
        assert wait_for(lambda: live.snapshot().find(idle).accel.requested == 0, 10)  # type: ignore[union-attr]
        # a node joins
        demo.put("v1/nodes", make_node(ip="10.1.50.5", instance_id="i-0aaaabbbbccccdddd",
                                       instance_type="ml.p5.48xlarge", group="train-a"))
        assert wait_for(lambda: live.snapshot().find("ip-10-1-50-5") is not None, 10)
        assert changed.is_set()
    finally:
        stop.set()
