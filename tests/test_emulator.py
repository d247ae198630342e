"""The Kubernetes API emulator (demo/emulator.py) over HTTP, through the official kubernetes client."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.ApiClient]:
    """A bare emulator (no seeded fleet) served on 127.0.0.1, as DemoCluster starts it."""
    import kmock

    from hyperpod_k8s.demo.emulator import HyperPodKubernetesEmulator

    ready = threading.Event()
    port: list[int] = []
    stop: list[Any] = []

    async def serve() -> None:
        stop.append(asyncio.Event())
        emulator = HyperPodKubernetesEmulator()
        async with emulator, kmock.Server(emulator) as server:
            port.append(server.port)
            ready.set()
            await stop[0].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    kubeconfig = tmp_path_factory.mktemp("emulator") / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "e", "cluster": {"server": f"http://127.0.0.1:{port[0]}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "e", "user": "u"}}], "current-context": "c",
    }))
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    yield api_client
    api_client.close()
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(10)


@pytest.fixture
def v1(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def ns() -> str:
    return "t-" + uuid.uuid4().hex[:8]  # each test its own namespace: the emulator is shared


def _pod(name: str, labels: dict[str, str] | None = None, node: str | None = None,
         phase: str | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
                           "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    if node:
        pod["spec"]["nodeName"] = node
    if phase:
        pod["status"] = {"phase": phase}
    return pod


def _names(pods: Any) -> set[str]:
    return {p.metadata.name for p in pods.items}


def test_version_with_the_trailing_slash(api: client.ApiClient) -> None:
    info = client.VersionApi(api).get_code()  # GET /version/ into the client's VersionInfo model
    assert (info.major, info.minor, info.git_version) == ("1", "33", "v1.33.5")
    assert info.build_date and info.git_commit


def test_create_stamps_uid_resource_version_timestamp_and_namespace(v1: client.CoreV1Api, ns: str) -> None:
    first = v1.create_namespaced_pod(ns, _pod("a"))  # no namespace in the body: the path's wins
    second = v1.create_namespaced_pod(ns, _pod("b"))
    for p in (first, second):
        assert p.metadata.namespace == ns
        assert uuid.UUID(p.metadata.uid)
        assert p.metadata.creation_timestamp is not None
    assert first.metadata.uid != second.metadata.uid
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    read = v1.read_namespaced_pod("a", ns)
    assert (read.metadata.uid, read.metadata.resource_version) == (first.metadata.uid, first.metadata.resource_version)
    node = v1.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{ns}"}})
    assert node.metadata.namespace is None and uuid.UUID(node.metadata.uid)


@pytest.mark.parametrize("selector, expected", [
    ("app=web", {"web-a", "web-b"}),
    ("app==web", {"web-a", "web-b"}),
    ("app!=web", {"db", "bare"}),  # no label counts as "not web"
    ("tier in (front, cache)", {"web-a", "db"}),
    ("tier notin (front)", {"web-b", "db", "bare"}),
    ("tier", {"web-a", "web-b", "db"}),
    ("!tier", {"bare"}),
    ("app=web,tier in (front,back)", {"web-a", "web-b"}),
    ("app=web,tier notin (back)", {"web-a"}),
    ("app=nothing", set()),
])
def test_label_selectors(v1: client.CoreV1Api, ns: str, selector: str, expected: set[str]) -> None:
    v1.create_namespaced_pod(ns, _pod("web-a", {"app": "web", "tier": "front"}))
    v1.create_namespaced_pod(ns, _pod("web-b", {"app": "web", "tier": "back"}))
    v1.create_namespaced_pod(ns, _pod("db", {"app": "db", "tier": "cache"}))
    v1.create_namespaced_pod(ns, _pod("bare"))
    assert _names(v1.list_namespaced_pod(ns, label_selector=selector)) == expected


def test_field_selectors(v1: client.CoreV1Api, ns: str) -> None:
    v1.create_namespaced_pod(ns, _pod("run", node="n1", phase="Running"))
    v1.create_namespaced_pod(ns, _pod("done", node="n1", phase="Succeeded"))
    v1.create_namespaced_pod(ns, _pod("failed", node="n2", phase="Failed"))
    v1.create_namespaced_pod(ns, _pod("pending"))
    active = "status.phase!=Succeeded,status.phase!=Failed"
    assert _names(v1.list_namespaced_pod(ns, field_selector=active)) == {"run", "pending"}
    assert _names(v1.list_namespaced_pod(ns, field_selector="spec.nodeName=n1")) == {"run", "done"}
    assert _names(v1.list_namespaced_pod(ns, field_selector=f"spec.nodeName=n1,{active}")) == {"run"}
    assert _names(v1.list_namespaced_pod(ns, field_selector="spec.nodeName==n2")) == {"failed"}
    assert _names(v1.list_namespaced_pod(ns, field_selector="metadata.name=pending")) == {"pending"}
    with pytest.raises(ApiException) as e:
        v1.list_namespaced_pod(ns, field_selector="nonsense")
    assert e.value.status == 400


def test_limit_and_continue_return_every_object_once(v1: client.CoreV1Api, ns: str) -> None:
    for i in range(23):
        v1.create_namespaced_pod(ns, _pod(f"p{i:02d}", {"even": str(i % 2 == 0).lower()}))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = v1.list_namespaced_pod(ns, limit=5, _continue=token)
        pages += 1
        seen += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if not token:
            assert page.metadata.remaining_item_count is None
            break
        assert page.metadata.remaining_item_count == 23 - len(seen)
    assert pages == 5 and len(seen) == 23 and set(seen) == {f"p{i:02d}" for i in range(23)}
    # Paging after a selector pages the selected objects only.
    first = v1.list_namespaced_pod(ns, limit=10, label_selector="even=true")
    rest = v1.list_namespaced_pod(ns, limit=10, label_selector="even=true", _continue=first.metadata._continue)
    assert len(first.items) == 10 and len(rest.items) == 2 and rest.metadata._continue is None
    assert _names(first) | _names(rest) == {f"p{i:02d}" for i in range(0, 23, 2)}
    with pytest.raises(ApiException) as e:
        v1.list_namespaced_pod(ns, limit=5, _continue="not-a-token")
    assert e.value.status == 400


def test_put_replaces_the_whole_object(v1: client.CoreV1Api, ns: str) -> None:
    created = v1.create_namespaced_pod(ns, {**_pod("r", {"keep": "1", "drop": "1"}),
                                            "metadata": {"name": "r", "labels": {"keep": "1", "drop": "1"},
                                                         "annotations": {"note": "x"}}})
    body = v1.api_client.sanitize_for_serialization(v1.read_namespaced_pod("r", ns))
    body["metadata"]["labels"] = {"keep": "2"}
    del body["metadata"]["annotations"]
    replaced = v1.replace_namespaced_pod("r", ns, body)
    assert replaced.metadata.labels == {"keep": "2"}
    assert not replaced.metadata.annotations
    assert replaced.metadata.uid == created.metadata.uid
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    assert v1.read_namespaced_pod("r", ns).metadata.labels == {"keep": "2"}
    # A replace from a stale read conflicts; a replace of nothing is 404.
    with pytest.raises(ApiException) as e:
        v1.replace_namespaced_pod("r", ns, {**body, "metadata": {**body["metadata"],
                                                                 "resourceVersion": created.metadata.resource_version}})
    assert e.value.status == 409
    with pytest.raises(ApiException) as e:
        v1.replace_namespaced_pod("missing", ns, {**body, "metadata": {"name": "missing", "namespace": ns}})
    assert e.value.status == 404


def test_watch_sees_a_pod_created_after_it_started(v1: client.CoreV1Api, ns: str) -> None:
    v1.create_namespaced_pod(ns, _pod("before", {"app": "w"}))
    rv = v1.list_namespaced_pod(ns).metadata.resource_version
    events: list[tuple[str, str]] = []
    started = threading.Event()

    def run() -> None:
        w = watch.Watch()
        started.set()
        for ev in w.stream(v1.list_namespaced_pod, ns, label_selector="app=w", resource_version=rv,
                           timeout_seconds=2):
            events.append((ev["type"], ev["object"].metadata.name))

    t0 = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    started.wait(5)
    time.sleep(0.3)
    v1.create_namespaced_pod(ns, _pod("after", {"app": "w"}))
    v1.create_namespaced_pod(ns, _pod("other", {"app": "not-w"}))
    thread.join(15)
    assert not thread.is_alive(), "the watch did not end after timeoutSeconds"
    assert time.monotonic() - t0 < 10
    # Changes after the list only (not "before" again), filtered by the label selector.
    assert events == [("ADDED", "after")]


def test_watch_from_a_small_resource_version_compares_numbers(v1: client.CoreV1Api, ns: str) -> None:
    # "1000" < "9" as strings; as numbers every object here is newer than resourceVersion 9.
    v1.create_namespaced_pod(ns, _pod("existing"))
    names = [ev["object"].metadata.name for ev in
             watch.Watch().stream(v1.list_namespaced_pod, ns, resource_version="9", timeout_seconds=1)]
    assert names == ["existing"]


def _pdb(name: str, match: dict[str, str], min_available: int) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": match}}}


def _evict(v1: client.CoreV1Api, ns: str, name: str) -> Any:
    return v1.create_namespaced_pod_eviction(name, ns, client.V1Eviction(
        metadata=client.V1ObjectMeta(name=name, namespace=ns)), _preload_content=False)


def test_eviction(api: client.ApiClient, v1: client.CoreV1Api, ns: str) -> None:
    policy = client.PolicyV1Api(api)
    v1.create_namespaced_pod(ns, _pod("free", {"app": "free"}, node="n1", phase="Running"))
    r = _evict(v1, ns, "free")
    assert r.status == 201
    with pytest.raises(ApiException) as e:
        v1.read_namespaced_pod("free", ns)
    assert e.value.status == 404

    v1.create_namespaced_pod(ns, _pod("db-0", {"app": "db"}, node="n1", phase="Running"))
    v1.create_namespaced_pod(ns, _pod("db-1", {"app": "db"}, node="n2", phase="Running"))
    policy.create_namespaced_pod_disruption_budget(ns, _pdb("db", {"app": "db"}, 2))
    with pytest.raises(ApiException) as e:
        _evict(v1, ns, "db-0")
    assert e.value.status == 429
    body = json.loads(e.value.body)
    assert body["reason"] == "TooManyRequests" and body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert v1.read_namespaced_pod("db-0", ns).metadata.name == "db-0"  # still there

    policy.create_namespaced_pod_disruption_budget(ns, _pdb("db-too", {"app": "db"}, 0))
    with pytest.raises(ApiException) as e:
        _evict(v1, ns, "db-1")
    assert e.value.status == 500 and "more than one PodDisruptionBudget" in json.loads(e.value.body)["message"]

    policy.delete_namespaced_pod_disruption_budget("db", ns)
    assert _evict(v1, ns, "db-1").status == 201  # the one budget left needs none available
    with pytest.raises(ApiException) as e:
        _evict(v1, ns, "db-1")
    assert e.value.status == 404


def test_request_latency_does_not_grow(v1: client.CoreV1Api, ns: str) -> None:
    v1.create_namespaced_pod(ns, _pod("x"))
    durations = []
    for _ in range(1000):
        t = time.perf_counter()
        v1.read_namespaced_pod("x", ns, _preload_content=False).read()
        durations.append(time.perf_counter() - t)
    # Medians, so that a moment of load on the machine does not decide; kmock's own request log
    # made the 1000th request ~50x slower than the first.
    first, last = statistics.median(durations[:100]), statistics.median(durations[-100:])
    assert last < 3 * first, f"first 100: {first * 1000:.1f} ms, last 100: {last * 1000:.1f} ms (medians)"
