"""Pod totals kept current by a watch instead of re-reading every pod.

A list is folded once, remembering each pod's share of its node (GPU, Neuron, EFA); a watch event
then adjusts one node's totals. List and watch may both filter out finished pods
(``status.phase!=Succeeded,status.phase!=Failed``): the API server sends a pod that leaves the
selector as DELETED, and a finished pod that still arrives gives its share back all the same.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import msgspec

from hyperpod_k8s.clients import kube_types as kt
from hyperpod_k8s.clients.cluster import gc_paused
from hyperpod_k8s.instance_types import EFA, GPU, NEURON
from hyperpod_k8s.ops.inventory import PodTotals


class PodShare(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Strings and ints only, so the collector need not track the 80000 of them (``gc=False``);
    ``array_like`` keeps them small on the way from the pod list worker."""

    node: str
    gpu: int
    neuron: int
    efa: int


def share_of(pod: kt.Pod) -> PodShare | None:
    """What a pod holds on its node; None for pods not scheduled or finished."""
    node = pod.spec.nodeName
    if not node or pod.terminated:
        return None
    spec = pod.spec
    return PodShare(node, kt.pod_request(spec, GPU), kt.pod_request(spec, NEURON), kt.pod_request(spec, EFA))


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


class PodLedger:
    """Per-pod shares and per-node totals; a watch thread writes, readers take snapshots (under a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.shares: dict[str, PodShare] = {}
        self.totals: dict[str, PodTotals] = {}
        self.resource_version = ""

    def replace(self, pages: Iterable[kt.PodList]) -> None:
        """A fresh list: fold it into new maps (one pass), then swap them in."""
        shares: dict[str, PodShare] = {}
        totals: dict[str, PodTotals] = {}
        rv = ""
        with gc_paused():
            for page in pages:
                rv = rv or page.metadata.resourceVersion
                for pod in page.items:
                    s = share_of(pod)
                    if s is not None:
                        shares[pod.key] = s
                        _add(totals, s, 1)
        with self.lock:
            self.shares, self.totals, self.resource_version = shares, totals, rv

    def install(self, shares: dict[str, PodShare], totals: dict[str, PodTotals], resource_version: str) -> None:
        """A list folded elsewhere (the pod list worker), with the totals of those shares."""
        with self.lock:
            self.shares, self.totals, self.resource_version = shares, totals, resource_version

    def apply(self, kind: str, pod: kt.Pod, resource_version: str = "") -> bool:
        """One watch event; True when it changed a total."""
        key = pod.key
        new = None if kind == "DELETED" else share_of(pod)
        with self.lock:
            old = self.shares.pop(key, None)
            if old is not None:
                _add(self.totals, old, -1)
            if new is not None:
                self.shares[key] = new
                _add(self.totals, new, 1)
            if resource_version:
                self.resource_version = resource_version
        return old != new

    def moved_to(self, resource_version: str) -> None:
        with self.lock:
            self.resource_version = resource_version

    def snapshot(self) -> dict[str, PodTotals]:
        with self.lock:
            return {k: PodTotals(v.pods, v.gpu, v.neuron, v.efa) for k, v in self.totals.items()}
