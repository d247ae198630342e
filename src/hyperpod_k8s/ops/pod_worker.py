"""The dashboard's first pod list, read and folded in a child process.

Decoding every pod of a large cluster is CPU work under the GIL (80000 pods, 425 MB of JSON: about
1.5 s). In the dashboard's own process it competed with Textual drawing the first rows and with
importing the Kubernetes client, and the full table came 1.6-1.9x later than ``inventory.build``
alone. A child process does it on another core: it builds its own :class:`Cluster` from the same
kubeconfig (the same request path, retry policy and errors), folds the list into a
:class:`PodLedger` and sends back each pod's share and each node's totals (msgpack, about 4 MB for
80000 pods). The watch that keeps the ledger current then runs in the dashboard from the list's
resourceVersion.

An error the child reports (Forbidden, unreachable, a bad kubeconfig) is raised in the parent as the
same class, so it reads and exits as it would have in-process. A child that dies without a reply
(killed, out of memory) raises :class:`WorkerBroken`: the caller lists the pods itself instead.

``HPK8S_POD_WORKER=0`` turns the child off.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import msgspec

from hyperpod_k8s import errors
from hyperpod_k8s.errors import HpkError
from hyperpod_k8s.ops.inventory import PodTotals
from hyperpod_k8s.ops.live import PodLedger, PodShare

if TYPE_CHECKING:
    from hyperpod_k8s.clients.retry import RetryPolicy

ENV = "HPK8S_POD_WORKER"


class Request(msgspec.Struct, frozen=True):
    kubeconfig: str | None
    context: str | None
    gzip: bool
    retry_delays: list[float]
    retry_jitter: float


class WorkerError(msgspec.Struct, frozen=True):
    kind: str  # the HpkError subclass, by name
    message: str
    hint: str | None


class WorkerStats(msgspec.Struct):
    setup_s: float = 0.0  # this module's start to a usable client (imports, kubeconfig)
    list_s: float = 0.0  # listing and folding the pods
    peak_rss_mb: float = 0.0


class Reply(msgspec.Struct):
    resource_version: str = ""
    shares: dict[str, PodShare] = {}  # by namespace/name
    totals: dict[str, PodTotals] = {}  # by node
    error: WorkerError | None = None
    stats: WorkerStats = msgspec.field(default_factory=WorkerStats)


class WorkerBroken(Exception):
    """The child could not be started or ended without a reply; nothing is known about the pods."""


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


class PodListWorker:
    """One child process listing the pods; :meth:`result` waits for it, :meth:`cancel` kills it."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self._cancelled = False
        self.stats: WorkerStats | None = None

    @classmethod
    def start(cls, kubeconfig: str | None, context: str | None, *, gzip: bool,
              retry: RetryPolicy) -> PodListWorker:
        req = Request(kubeconfig, context, gzip, list(retry.delays), retry.jitter)
        if not sys.executable:  # an embedded interpreter: nothing to start the child with
            raise WorkerBroken("no Python executable to start the pod list worker with")
        try:
            # stdin is not ours to give (Textual owns the terminal); stderr is kept for a crash report.
            proc = subprocess.Popen([sys.executable, "-P", "-m", __name__, msgspec.json.encode(req).decode()],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as e:
            raise WorkerBroken(f"could not start the pod list worker: {e}") from None
        return cls(proc)

    def result(self) -> tuple[dict[str, PodShare], dict[str, PodTotals], str]:
        """The pods' shares by namespace/name, the nodes' totals and the list's resourceVersion."""
        out, err = self._proc.communicate()
        if self._cancelled:
            raise WorkerBroken("the pod list worker was stopped")
        try:
            reply = msgspec.msgpack.decode(out, type=Reply)
        except msgspec.DecodeError:
            last = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise WorkerBroken(f"the pod list worker ended with status {self._proc.returncode}: {last}") from None
        self.stats = reply.stats
        if reply.error is not None:
            raise _as_error(reply.error)
        return reply.shares, reply.totals, reply.resource_version

    def cancel(self) -> None:
        self._cancelled = True
        if self._proc.poll() is None:
            self._proc.kill()
            try:
                self._proc.wait(timeout=5)  # reaped now, even if nobody waits for the result
            except subprocess.TimeoutExpired:
                pass


def _as_error(e: WorkerError) -> HpkError:
    cls = getattr(errors, e.kind, None)
    if not (isinstance(cls, type) and issubclass(cls, HpkError)):
        cls = HpkError
    return cls(e.message, e.hint)


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(raw_request: str, started: float) -> Reply:
    """In the child: list and fold the pods; every error we know becomes part of the reply."""
    gc.disable()  # a short-lived process that frees everything at exit
    reply = Reply()
    try:
        req = msgspec.json.decode(raw_request, type=Request)
        from hyperpod_k8s.clients.cluster import Cluster
        from hyperpod_k8s.clients.retry import RetryPolicy

        cluster = Cluster.from_kubeconfig(req.kubeconfig, req.context, gzip=req.gzip,
                                          retry=RetryPolicy(delays=tuple(req.retry_delays), jitter=req.retry_jitter))
        t0 = time.perf_counter()
        reply.stats.setup_s = t0 - started
        ledger = PodLedger()
        ledger.replace(cluster.pod_pages())
        reply.stats.list_s = time.perf_counter() - t0
        reply.shares = ledger.shares
        reply.totals = ledger.totals
        reply.resource_version = ledger.resource_version
    except HpkError as e:
        reply.error = WorkerError(type(e).__name__, e.message, e.hint)
    except msgspec.DecodeError as e:
        reply.error = WorkerError("HpkError", f"the pod list worker got a bad request: {e}", None)
    reply.stats.peak_rss_mb = _peak_rss_mb()
    return reply


if __name__ == "__main__":
    _started = time.perf_counter()
    if len(sys.argv) != 2:
        sys.exit("usage: python -m hyperpod_k8s.ops.pod_worker REQUEST-JSON (started by the dashboard)")
    sys.stdout.buffer.write(msgspec.msgpack.encode(child(sys.argv[1], _started)))
    sys.stdout.buffer.flush()
    os._exit(0)  # freeing 80000 pods' worth of objects one by one at exit would only delay the reply
