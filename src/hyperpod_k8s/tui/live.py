"""The dashboard's inventory, kept current without re-reading every pod on each refresh.

The first load lists pods once (page by page, as ``inventory.build`` does) into a
:class:`~hyperpod_k8s.ops.live.PodLedger`; a watch from that list's resourceVersion then applies each
change. A refresh re-lists nodes and HyperPod instances (a few MB) and joins them with the running
totals. If the server cannot watch (or the watch breaks), the next refresh re-lists the pods instead,
and tries the watch again from there: the data is never older than one refresh either way.

The very first list can come from a :class:`~hyperpod_k8s.ops.pod_worker.PodListWorker` started as
the dashboard starts, in a child process on another core (see there); if that child breaks, the pods
are listed here instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hyperpod_k8s.clients.cluster import ACTIVE_PODS
from hyperpod_k8s.clients.watch import POD_EVENTS, Expired, Watch, WatchUnsupported
from hyperpod_k8s.errors import HpkError, UnavailableError
from hyperpod_k8s.ops import inventory as inv_mod
from hyperpod_k8s.ops.live import PodLedger
from hyperpod_k8s.ops.pod_worker import PodListWorker, WorkerBroken, WorkerStats

if TYPE_CHECKING:
    from hyperpod_k8s.clients.cluster import Cluster
    from hyperpod_k8s.ops.inventory import Inventory, PodTotals, Sources

WATCH_SECONDS = 300  # the server ends a watch after this; we then resume from the last resourceVersion


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
    worker: WorkerStats | None = None  # the first list's child process, when it did the list
    worker_error: str = ""  # why the first list was done here after all


class LiveInventory:
    def __init__(self, sources: Callable[[], Sources], first_pods: PodListWorker | None = None) -> None:
        self.sources = sources
        self._first = first_pods
        self.ledger = PodLedger()
        self.stats = LiveStats()
        self._watch: threading.Thread | None = None
        self._stop = threading.Event()
        self._watch_ok = False
        self._current: Watch | None = None

    # -- reads ----------------------------------------------------------------------------

    def load(self, on_nodes: Callable[[Inventory], None] | None = None, *, pods: bool | None = None) -> Inventory:
        """Nodes and instances always; pods when asked, or when no watch keeps the totals current."""
        t0 = time.perf_counter()
        src = self.sources()
        relist = (not self._watch_ok) if pods is None else pods

        def totals() -> dict[str, PodTotals]:
            if relist:
                self._relist(src.cluster)
                self.stats.pods_s = time.perf_counter() - t0
            return self.ledger.snapshot()

        def early(inv: Inventory) -> None:
            self.stats.nodes_s = time.perf_counter() - t0
            if on_nodes is not None:
                on_nodes(inv)

        # Rows before pod totals only when the totals take a list: a ledger answers at once.
        inv = inv_mod.build(src, on_nodes=early if relist else None, pod_totals=totals)
        self.stats.total_s = time.perf_counter() - t0
        self._ensure_watch(src.cluster)
        return inv

    def _relist(self, cluster: Cluster) -> None:
        first = self._first
        if first is not None:
            try:
                taken = self._take(first)
            finally:
                self._first = None  # only now: stop() kills the child through it
            if taken:
                return
        self.ledger.replace(cluster.pod_pages())
        self.stats.pod_lists += 1

    def _take(self, worker: PodListWorker) -> bool:
        """The worker's list into the ledger; False when it broke (the caller lists the pods itself)."""
        try:
            shares, totals, rv = worker.result()  # an API error it met is raised here, as in-process
        except WorkerBroken as e:
            if self._stop.is_set():
                raise UnavailableError("the dashboard stopped while the pods were being read") from None
            self.stats.worker_error = str(e)
            return False
        finally:
            self.stats.worker = worker.stats
        self.ledger.install(shares, totals, rv)
        self.stats.pod_lists += 1
        return True

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
        if self._first is not None:
            self._first.cancel()
        w = self._current
        if w is not None:
            w.close()

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
        def opened() -> None:
            self.stats.watch_supported = True
            self._watch_ok = True

        # Filtered like the list: a pod that finishes leaves the selector and arrives as DELETED.
        w = Watch(cluster, "/api/v1/pods", POD_EVENTS, resource_version=rv, field_selector=ACTIVE_PODS,
                  timeout_seconds=WATCH_SECONDS, on_open=opened)
        self._current = w
        if self._stop.is_set():
            w.close()
        try:
            for kind, pod, version in w:
                if pod is None:  # a bookmark
                    self.ledger.moved_to(version)
                    continue
                self.ledger.apply(kind, pod, version)
                self.stats.watch_events += 1
        except WatchUnsupported:
            self.stats.watch_supported = False
            return False
        except Expired:  # our version is too old: the next refresh re-lists
            return False
        finally:
            self._current = None
        time.sleep(0.2)  # a server that ends watches at once must not make us spin
        return True
