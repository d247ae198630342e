"""The one retry policy: transient failures retried up to the delays, everything else raised at once."""

from __future__ import annotations

import random

import aiohttp.web
import pytest

from hyperpod_k8s.clients.retry import NO_RETRY, RetryPolicy
from hyperpod_k8s.demo.server import DemoCluster
from hyperpod_k8s.errors import AuthError, NotFoundError, TransientError


class Recorder:
    def __init__(self, fail: list[Exception]) -> None:
        self.fail = list(fail)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.fail:
            raise self.fail.pop(0)
        return "ok"


def test_transient_retried_up_to_the_delays_then_raised() -> None:
    slept: list[float] = []
    policy = RetryPolicy(delays=(0.1, 0.2, 0.4), jitter=0.0, sleep=slept.append)
    fn = Recorder([TransientError(f"503 #{i}") for i in range(10)])
    with pytest.raises(TransientError, match="503 #3"):
        policy.call(fn)
    assert fn.calls == 4  # the first try and one per delay
    assert slept == [0.1, 0.2, 0.4]


def test_transient_then_success_returns_the_value() -> None:
    slept: list[float] = []
    seen: list[tuple[str, float]] = []
    policy = RetryPolicy(delays=(0.1, 0.2, 0.4), jitter=0.0, sleep=slept.append)
    fn = Recorder([TransientError("throttled"), TransientError("reset")])
    assert policy.call(fn, on_retry=lambda e, pause: seen.append((e.message, pause))) == "ok"
    assert fn.calls == 3
    assert slept == [0.1, 0.2]
    assert seen == [("throttled", 0.1), ("reset", 0.2)]


@pytest.mark.parametrize("error", [AuthError("forbidden"), NotFoundError("no such node"), ValueError("bug")])
def test_non_transient_raised_at_once(error: Exception) -> None:
    slept: list[float] = []
    fn = Recorder([error])
    with pytest.raises(type(error)):
        RetryPolicy(delays=(0.1, 0.2), sleep=slept.append).call(fn)
    assert fn.calls == 1 and slept == []


def test_no_retry_policy_tries_once() -> None:
    fn = Recorder([TransientError("503")])
    with pytest.raises(TransientError):
        NO_RETRY.call(fn)
    assert fn.calls == 1


def test_jitter_shortens_but_never_lengthens_a_delay() -> None:
    random.seed(7)
    slept: list[float] = []
    policy = RetryPolicy(delays=(1.0,) * 50, jitter=0.5, sleep=slept.append)
    with pytest.raises(TransientError):
        policy.call(Recorder([TransientError("x")] * 60))
    assert len(slept) == 50
    assert all(0.5 <= s <= 1.0 for s in slept)
    assert len(set(slept)) > 40  # really random, not a constant factor


def test_cluster_retries_a_503_and_gives_up_on_a_403(demo: DemoCluster) -> None:
    """The Kubernetes facade classifies HTTP answers for the policy: 503 is transient, 403 is final."""
    from hyperpod_k8s.clients.cluster import Cluster

    assert demo.endpoints is not None and demo.emulator is not None
    answers: list[int] = []

    def fault(request):  # type: ignore[no-untyped-def]
        if request.url.path.rstrip("/") != "/version" or not answers:
            return None
        code = answers.pop(0)
        return aiohttp.web.json_response({"kind": "Status", "code": code, "message": f"injected {code}"},
                                          status=code)

    demo.emulator.faults.append(fault)
    slept: list[float] = []
    cluster = Cluster.from_kubeconfig(demo.endpoints.kubeconfig,
                                      retry=RetryPolicy(delays=(0.01, 0.02), jitter=0.0, sleep=slept.append))
    answers[:] = [503, 503]
    assert cluster.version().git_version.startswith("v1.")
    assert slept == [0.01, 0.02]

    slept.clear()
    answers[:] = [503, 503, 503]
    with pytest.raises(TransientError, match="503"):
        cluster.version()
    assert slept == [0.01, 0.02] and answers == []

    slept.clear()
    answers[:] = [403, 503]
    with pytest.raises(AuthError, match="injected 403"):
        cluster.version()
    assert slept == [] and answers == [503]
