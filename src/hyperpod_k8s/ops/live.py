"""An inventory kept current by watches instead of rebuilt: list once, then follow the changes.

The first load is the same chunked list as :func:`hyperpod_k8s.ops.inventory.build`, except that
each pod's share (node, GPU, Neuron, EFA) is remembered, so a pod event adjusts one node's totals
instead of re-reading 80000 pods. Nodes and pods are then watched from the lists' resourceVersions;
HyperPod instances (a few pages of ListClusterNodes) are re-read on request. A snapshot re-joins
the three, which costs milliseconds, not a re-list.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hyperpod_k8s.clients import kube_types as kt
from hyperpod_k8s.clients.cluster import gc_paused
from hyperpod_k8s.clients.watch import NODE_EVENTS, POD_EVENTS, Expired, watch
from hyperpod_k8s.errors import HpkError
from hyperpod_k8s.instance_types import EFA, GPU, NEURON
from hyperpod_k8s.ops.inventory import Inventory, PodTotals, Sources, join, read_instances

if TYPE_CHECKING:
    from hyperpod_k8s.ops.inventory import _Instance


@dataclass(frozen=True)
class PodShare:
    node: str
    gpu: int
    neuron: int
    efa: int


def share_of(pod: kt.Pod) -> PodShare | None:
    node = pod.spec.nodeName
    if not node or pod.terminated:
        return None
    spec = pod.spec
    return PodShare(node, kt.pod_request(spec, GPU), kt.pod_request(spec, NEURON), kt.pod_request(spec, EFA))


def _key(pod: kt.Pod) -> str:
    return pod.metadata.uid or f"{pod.metadata.namespace}/{pod.metadata.name}"


class LiveInventory:
    def __init__(self, src: Sources) -> None:
        self.src = src
        self.lock = threading.Lock()
        self.nodes: dict[str, kt.Node] = {}
        self.shares: dict[str, PodShare] = {}
        self.totals: dict[str, PodTotals] = {}
        self.instances: list[_Instance] | None = None
        self.source = "none"
        self.complete = False
        self.fleet_error: HpkError | None = None
        self.node_rv = ""
        self.pod_rv = ""
        self.pods_loaded = False
        self.changes = 0  # bumped on every applied change; a screen redraws when it moves
        self.watch_error: HpkError | None = None

    # -- loading --------------------------------------------------------------------------------

    def load(self, on_nodes: Callable[[Inventory], None] | None = None) -> Inventory:
        """Everything, read once (nodes, instances and pods concurrently)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="live-inventory") as pool:
            fleet_f = pool.submit(read_instances, self.src)
            pods_f = pool.submit(self._load_pods)
            self._load_nodes()
            self._set_instances(*fleet_f.result())
            if on_nodes is not None:
                on_nodes(self.snapshot())
            pods_f.result()
        return self.snapshot()

    def _set_instances(self, instances: list[_Instance] | None, source: str, complete: bool,
                       error: HpkError | None) -> None:
        with self.lock:
            self.instances, self.source, self.complete, self.fleet_error = instances, source, complete, error
            self.changes += 1

    def refresh_instances(self) -> None:
        self._set_instances(*read_instances(self.src))

    def _load_nodes(self) -> None:
        nodes: dict[str, kt.Node] = {}
        rv = ""
        with gc_paused():
            for page in self.src.cluster.node_pages():
                rv = rv or page.metadata.resourceVersion
                for n in page.items:
                    nodes[n.metadata.name] = n
        with self.lock:
            self.nodes, self.node_rv = nodes, rv
            self.changes += 1

    def _load_pods(self) -> None:
        shares: dict[str, PodShare] = {}
        totals: dict[str, PodTotals] = {}
        rv = ""
        with gc_paused():
            # All pods (no phase filter): a watch must see pods finish to give their share back.
            for page in self.src.cluster.pod_pages(active_only=False):
                rv = rv or page.metadata.resourceVersion
                for pod in page.items:
                    s = share_of(pod)
                    if s is not None:
                        shares[_key(pod)] = s
                        _add(totals, s, 1)
        with self.lock:
            self.shares, self.totals, self.pod_rv, self.pods_loaded = shares, totals, rv, True
            self.changes += 1

    # -- following ------------------------------------------------------------------------------

    def apply_node(self, kind: str, node: kt.Node) -> None:
        with self.lock:
            if kind == "DELETED":
                self.nodes.pop(node.metadata.name, None)
            else:
                self.nodes[node.metadata.name] = node
            self.changes += 1

    def apply_pod(self, kind: str, pod: kt.Pod) -> None:
        key = _key(pod)
        new = None if kind == "DELETED" else share_of(pod)
        with self.lock:
            old = self.shares.pop(key, None)
            if old is not None:
                _add(self.totals, old, -1)
            if new is not None:
                self.shares[key] = new
                _add(self.totals, new, 1)
            if old != new:
                self.changes += 1

    def follow(self, stop: threading.Event, on_change: Callable[[], None] | None = None,
               timeout_seconds: int = 290) -> list[threading.Thread]:
        """Watch nodes and pods in two daemon threads until ``stop`` is set."""

        def run(kind: str) -> None:
            backoff = 1.0
            while not stop.is_set():
                try:
                    if kind == "nodes":
                        events = watch(self.src.cluster, "/api/v1/nodes", NODE_EVENTS, resource_version=self.node_rv,
                                       timeout_seconds=timeout_seconds, stop=stop)
                    else:
                        events = watch(self.src.cluster, "/api/v1/pods", POD_EVENTS, resource_version=self.pod_rv,
                                       timeout_seconds=timeout_seconds, stop=stop)
                    for etype, obj, rv in events:
                        if obj is not None:
                            (self.apply_node if kind == "nodes" else self.apply_pod)(etype, obj)
                        if kind == "nodes":
                            self.node_rv = rv
                        else:
                            self.pod_rv = rv
                        if obj is not None and on_change is not None:
                            on_change()
                    backoff = 1.0
                    self.watch_error = None
                except Expired:
                    (self._load_nodes if kind == "nodes" else self._load_pods)()
                    if on_change is not None:
                        on_change()
                except HpkError as e:
                    self.watch_error = e
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 30.0)

        threads = [threading.Thread(target=run, args=(k,), name=f"watch-{k}", daemon=True) for k in ("nodes", "pods")]
        for t in threads:
            t.start()
        return threads

    # -- reading --------------------------------------------------------------------------------

    def snapshot(self) -> Inventory:
        with self.lock:
            nodes = list(self.nodes.values())
            totals = dict(self.totals) if self.pods_loaded else None
            instances, source, complete, err = self.instances, self.source, self.complete, self.fleet_error
        rows = join(nodes, instances, totals, live=source == "ListClusterNodes", complete=complete)
        return Inventory(rows, datetime.now(UTC), source, complete, err, pods_loaded=totals is not None)


def _add(totals: dict[str, PodTotals], s: PodShare, sign: int) -> None:
    t = totals.get(s.node)
    if t is None:
        t = totals[s.node] = PodTotals()
    t.pods += sign
    t.gpu += sign * s.gpu
    t.neuron += sign * s.neuron
    t.efa += sign * s.efa
    if t.pods <= 0:
        del totals[s.node]


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until true or timeout (tests and benchmarks)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()

