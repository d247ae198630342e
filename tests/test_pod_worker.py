"""The dashboard's first pod list in a child process (ops/pod_worker.py), against the emulator over HTTP."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import aiohttp.web
import pytest

from hyperpod_k8s.cli.context import App as AppContext
from hyperpod_k8s.cli.options import Target
from hyperpod_k8s.clients.cluster import Cluster
from hyperpod_k8s.clients.retry import RetryPolicy
from hyperpod_k8s.demo.server import DemoCluster
from hyperpod_k8s.errors import AuthError, ConfigError, ExitCode, UnavailableError
from hyperpod_k8s.ops.live import PodLedger
from hyperpod_k8s.ops.pod_worker import PodListWorker, WorkerBroken
from hyperpod_k8s.tui.data import DashboardData
from hyperpod_k8s.tui.live import LiveInventory

FAST = RetryPolicy(delays=(0.01,), jitter=0.0)


def start(kubeconfig: str | None) -> PodListWorker:
    return PodListWorker.start(kubeconfig, None, gzip=False, retry=FAST)


def test_the_child_folds_what_the_dashboard_would(demo: DemoCluster) -> None:
    assert demo.endpoints is not None
    worker = start(demo.endpoints.kubeconfig)
    shares, totals, rv = worker.result()
    here = PodLedger()
    here.replace(Cluster.from_kubeconfig(demo.endpoints.kubeconfig).pod_pages())
    assert shares == here.shares and len(shares) > 50
    assert totals == here.totals and sum(t.gpu for t in totals.values()) == 100
    assert int(rv) > 0
    assert worker.stats is not None and worker.stats.list_s > 0 and worker.stats.peak_rss_mb > 10


def forbid_pods(request: Any) -> Any:
    if request.url.path.rstrip("/") != "/api/v1/pods":
        return None
    return aiohttp.web.json_response({"kind": "Status", "code": 403, "reason": "Forbidden",
                                      "message": "pods is forbidden: injected 403"}, status=403)


def test_an_api_error_in_the_child_is_raised_here_as_itself(demo: DemoCluster) -> None:
    assert demo.endpoints is not None and demo.emulator is not None
    demo.emulator.faults.append(forbid_pods)
    with pytest.raises(AuthError, match="injected 403") as e:
        start(demo.endpoints.kubeconfig).result()
    assert e.value.exit_code == ExitCode.AUTH


def test_a_missing_kubeconfig_is_a_usage_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="does not exist") as e:
        start(str(tmp_path / "nope")).result()
    assert e.value.exit_code == ExitCode.USAGE


def crashing_child() -> PodListWorker:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stderr.write('MemoryError\\n'); sys.exit(137)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return PodListWorker(proc)


def test_a_child_that_dies_without_a_reply_is_broken() -> None:
    with pytest.raises(WorkerBroken, match="status 137: MemoryError"):
        crashing_child().result()


def test_when_the_child_dies_the_pods_are_listed_here(demo: DemoCluster) -> None:
    ctx = AppContext(Target())
    live = LiveInventory(ctx.sources, first_pods=crashing_child())
    inv = live.load()
    assert inv.pods_loaded and sum(r.accel.requested for r in inv.rows) == 100
    assert "status 137" in live.stats.worker_error and live.stats.pod_lists == 1
    live.stop()


def test_stop_kills_a_child_still_listing(demo: DemoCluster) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    live = LiveInventory(AppContext(Target()).sources, first_pods=PodListWorker(proc))
    failure: list[BaseException] = []

    def load() -> None:
        try:
            live.load()
        except BaseException as e:  # handed to the test thread
            failure.append(e)

    t = threading.Thread(target=load)
    t.start()
    time.sleep(0.5)  # the load is waiting for the child
    t0 = time.monotonic()
    live.stop()
    t.join(5)
    assert not t.is_alive() and time.monotonic() - t0 < 2
    assert proc.poll() is not None  # killed, not left behind
    assert len(failure) == 1 and isinstance(failure[0], UnavailableError)


def test_the_dashboard_starts_the_child_unless_told_not_to(demo: DemoCluster,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data = DashboardData(AppContext(Target()))
    data.prewarm()
    assert data._pod_worker is not None
    data.inventory()
    assert data.live is not None and data.live.stats.worker is not None and data.live.stats.pod_lists == 1
    data.close()

    monkeypatch.setenv("HPK8S_POD_WORKER", "0")
    off = DashboardData(AppContext(Target()))
    off.prewarm()
    assert off._pod_worker is None
    off.inventory()
    assert off.live is not None and off.live.stats.worker is None and off.live.stats.pod_lists == 1
    off.close()


def test_closing_before_the_first_load_kills_and_reaps_the_child(demo: DemoCluster) -> None:
    data = DashboardData(AppContext(Target()))
    data.prewarm()
    worker = data._pod_worker
    assert worker is not None and worker._proc.poll() is None  # still starting up
    data.close()
    assert worker._proc.returncode is not None  # killed and waited for: no zombie left behind
