"""The dashboard's inventory, kept current without re-reading every pod on each refresh.

The first load lists pods once (page by page, as ``inventory.build`` does) and keeps, per pod, only
what it adds to its node's totals; a watch from that list's resourceVersion then applies each change.
A refresh re-lists nodes and HyperPod instances (a few MB) and joins them with the running totals.
If the server cannot watch (or the watch breaks), the next refresh re-lists the pods instead, and
tries the watch again from there: the data is never older than one refresh either way.

UI-only for now; ``Cluster`` could grow a ``watch(path, resource_version)`` and this move to ops/.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from hyperpod_k8s.clients import kube_types as kt
from hyperpod_k8s.clients.cluster import ACTIVE_PODS, gc_paused
from hyperpod_k8s.errors import ApiError, HpkError
from hyperpod_k8s.instance_types import EFA, GPU, NEURON
from hyperpod_k8s.ops import inventory as inv_mod

if TYPE_CHECKING:
    from hyperpod_k8s.clients.cluster import Cluster
    from hyperpod_k8s.ops.inventory import Inventory, Sources

WATCH_SECONDS = 300  # the server ends a watch after this; we then resume from the last resourceVersion


class WatchEvent(msgspec.Struct):
    type: str
    object: kt.Pod


_pod_page = msgspec.json.Decoder(kt.PodList)
_event = msgspec.json.Decoder(WatchEvent)

# What one pod adds to its node: (node, pods, gpu, neuron, efa).
Contribution = tuple[str, int, int, int, int]


def contribution(pod: kt.Pod) -> Contribution | None:
    node = pod.spec.nodeName
    if not node or pod.terminated:
        return None
    spec = pod.spec
    return (node, 1, kt.pod_request(spec, GPU), kt.pod_request(spec, NEURON), kt.pod_request(spec, EFA))


@dataclass
class LiveStats:
    pod_lists: int = 0
    watch_events: int = 0
    watch_supported: bool | None = None
    last_watch_error: str = ""
    # The last load, in seconds from its start: nodes and instances read, pods folded, rows joined.
    nodes_s: float = 0.0
    pods_s: float = 0.0
    total_s: float = 0.0


class PodLedger:
    """Per-pod contributions and per-node totals; the watch thread writes, refreshes read (under a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_pod: dict[tuple[str, str], Contribution] = {}
        self.totals: dict[str, inv_mod.PodTotals] = {}
        self.resource_version = ""

    def _apply(self, key: tuple[str, str], new: Contribution | None) -> None:
        old = self.by_pod.pop(key, None)
        if old is not None:
            t = self.totals[old[0]]
            t.pods -= old[1]
            t.gpu -= old[2]
            t.neuron -= old[3]
            t.efa -= old[4]
        if new is not None:
            self.by_pod[key] = new
            t = self.totals.get(new[0]) or self.totals.setdefault(new[0], inv_mod.PodTotals())
            t.pods += new[1]
            t.gpu += new[2]
            t.neuron += new[3]
            t.efa += new[4]

    def replace(self, pages: Iterator[kt.PodList]) -> None:
        """A fresh list: fold it into new maps (one pass), then swap them in."""
        by_pod: dict[tuple[str, str], Contribution] = {}
        totals: dict[str, inv_mod.PodTotals] = {}
        rv = ""
        with gc_paused():
            for page in pages:
                rv = rv or page.metadata.resourceVersion
                for pod in page.items:
                    c = contribution(pod)
                    if c is None:
                        continue
                    by_pod[(pod.metadata.namespace, pod.metadata.name)] = c
                    t = totals.get(c[0])
                    if t is None:
                        t = totals[c[0]] = inv_mod.PodTotals()
                    t.pods += 1
                    t.gpu += c[2]
                    t.neuron += c[3]
                    t.efa += c[4]
        with self.lock:
            self.by_pod, self.totals, self.resource_version = by_pod, totals, rv

    def event(self, e: WatchEvent) -> None:
        meta = e.object.metadata
        key = (meta.namespace, meta.name)
        with self.lock:
            self._apply(key, None if e.type == "DELETED" else contribution(e.object))
            if meta.resourceVersion:
                self.resource_version = meta.resourceVersion

    def snapshot(self) -> dict[str, inv_mod.PodTotals]:
        with self.lock:
            return {k: inv_mod.PodTotals(v.pods, v.gpu, v.neuron, v.efa) for k, v in self.totals.items()}


class LiveInventory:
    def __init__(self, sources: Callable[[], Sources]) -> None:
        self.sources = sources
        self.ledger = PodLedger()
        self.stats = LiveStats()
        self._watch: threading.Thread | None = None
        self._stop = threading.Event()
        self._watch_ok = False
        self._resp: Any = None

    # -- reads ----------------------------------------------------------------------------

    def _pod_pages(self, cluster: Cluster) -> Iterator[kt.PodList]:
        cont: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", cluster.page_size), ("fieldSelector", ACTIVE_PODS)]
            if cont:
                query.append(("continue", cont))
            raw = cluster.request("GET", "/api/v1/pods", query=query, what="list pods")
            try:
                page = _pod_page.decode(raw)
            except msgspec.DecodeError as e:
                raise ApiError(f"list pods: the API server sent a list we cannot read: {e}") from None
            del raw
            yield page
            cont = page.metadata.continue_
            if not cont:
                return

    def load(self, on_nodes: Callable[[Inventory], None] | None = None, *, pods: bool | None = None) -> Inventory:
        """Nodes and instances always; pods when asked, or when no watch keeps the totals current."""
        t0 = time.perf_counter()
        src = self.sources()
        relist = (not self._watch_ok) if pods is None else pods
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dashboard-load") as pool:
            fleet_f = pool.submit(inv_mod.read_instances, src)
            pods_f = pool.submit(self._relist, src.cluster) if relist else None
            try:
                nodes = src.cluster.list_nodes()
                instances, source, complete, fleet_error = fleet_f.result()
            except BaseException:
                if pods_f is not None:
                    pods_f.cancel()
                raise
            live = source == "ListClusterNodes"
            self.stats.nodes_s = time.perf_counter() - t0
            if on_nodes is not None and pods_f is not None:
                rows = inv_mod.join(nodes, instances, None, live=live, complete=complete)
                on_nodes(inv_mod.Inventory(rows, datetime.now(UTC), source, complete, fleet_error, pods_loaded=False))
            if pods_f is not None:
                pods_f.result()
                self.stats.pods_s = time.perf_counter() - t0
        rows = inv_mod.join(nodes, instances, self.ledger.snapshot(), live=live, complete=complete)
        self.stats.total_s = time.perf_counter() - t0
        self._ensure_watch(src.cluster)
        return inv_mod.Inventory(rows, datetime.now(UTC), source, complete, fleet_error, pods_loaded=True)

    def _relist(self, cluster: Cluster) -> None:
        self.ledger.replace(self._pod_pages(cluster))
        self.stats.pod_lists += 1

    # -- the watch ------------------------------------------------------------------------

    def _ensure_watch(self, cluster: Cluster) -> None:
        if self.stats.watch_supported is False:
            return
        if self._watch is not None and self._watch.is_alive():
            return
        self._watch_ok = False
        self._watch = threading.Thread(target=self._run_watch, args=(cluster,), name="dashboard-pod-watch",
                                       daemon=True)
        self._watch.start()

    def stop(self) -> None:
        """Stop the watch now: an open stream would also hold up a server that wants to shut down."""
        self._stop.set()
        resp = self._resp
        if resp is not None:
            try:
                resp.shutdown()  # unblocks the read in the watch thread
            except Exception:
                pass

    def _run_watch(self, cluster: Cluster) -> None:
        while not self._stop.is_set():
            rv = self.ledger.resource_version
            if not rv:
                return
            try:
                ended_cleanly = self._watch_once(cluster, rv)
            except HpkError as e:
                self.stats.last_watch_error = e.one_line()
                ended_cleanly = False
            except Exception as e:  # a broken stream: the next refresh re-lists
                self.stats.last_watch_error = f"{type(e).__name__}: {e}"
                ended_cleanly = False
            if not ended_cleanly:
                self._watch_ok = False
                return
        self._watch_ok = False

    def _watch_once(self, cluster: Cluster, rv: str) -> bool:
        """One watch request; True when the server ended it normally (resume from the last version)."""
        from hyperpod_k8s.clients.cluster import map_api_exception

        query: list[tuple[str, Any]] = [
            ("watch", "true"), ("resourceVersion", rv), ("fieldSelector", ACTIVE_PODS),
            ("allowWatchBookmarks", "true"), ("timeoutSeconds", WATCH_SECONDS),
            # A server that does not watch answers with a list: let it be one small page.
            ("limit", 1),
        ]
        try:
            resp = cluster.api_client.call_api(
                "/api/v1/pods", "GET", query_params=query, header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"], _return_http_data_only=True, _preload_content=False,
                _request_timeout=(10, WATCH_SECONDS + 30))
        except Exception as e:
            raise map_api_exception(e, "watch pods") from None
        if resp.headers.get("Content-Length") is not None:  # a watch streams; this is a list
            resp.release_conn()
            self.stats.watch_supported = False
            return False
        self.stats.watch_supported = True
        self._watch_ok = True
        self._resp = resp
        if self._stop.is_set():
            resp.shutdown()
        buf = b""
        try:
            for chunk in resp.stream(64 * 1024, decode_content=True):
                if self._stop.is_set():
                    return True
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    event = _event.decode(line)
                    if event.type == "ERROR":  # 410 Gone: our version is too old; re-list
                        return False
                    if event.type == "BOOKMARK":
                        with self.ledger.lock:
                            self.ledger.resource_version = event.object.metadata.resourceVersion
                        continue
                    self.ledger.event(event)
                    self.stats.watch_events += 1
        finally:
            self._resp = None
            resp.release_conn()
        time.sleep(0.2)  # a server that ends watches at once must not make us spin
        return True
