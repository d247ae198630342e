"""The Kubernetes facade: one request path over the official client, typed results, mapped errors.

Every call goes through :meth:`Cluster.request`, which retries only transient failures (see
:mod:`hyperpod_k8s.clients.retry`) and turns client exceptions into :mod:`hyperpod_k8s.errors`.
Bulk lists skip the client's models: chunks of ``limit`` objects are decoded by msgspec as they
arrive (as ``kubectl`` pages with ``limit``/``continue``).
"""

from __future__ import annotations

import gc
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import msgspec

from hyperpod_k8s.clients import kube_types as kt
from hyperpod_k8s.clients.retry import DEFAULT_POLICY, NO_RETRY, RetryPolicy
from hyperpod_k8s.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ConflictError,
    HpkError,
    NotFoundError,
    TransientError,
)

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

T = TypeVar("T")

PAGE_SIZE = 500
# Terminated pods hold no resources; the server drops them before they cross the wire.
ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
ADMIN_CONF = "/etc/kubernetes/admin.conf"

_node_list = msgspec.json.Decoder(kt.NodeList)
_pod_list = msgspec.json.Decoder(kt.PodList)
_node = msgspec.json.Decoder(kt.Node)
_status = msgspec.json.Decoder(kt.Status)


def resolve_kubeconfig(explicit: str | None = None) -> str:
    """``--kubeconfig``, then ``KUBECONFIG``, then ``~/.kube/config``, then ``/etc/kubernetes/admin.conf``."""
    if explicit:
        if not Path(explicit).expanduser().is_file():
            raise ConfigError(f"kubeconfig {explicit} does not exist", "check --kubeconfig / KUBECONFIG")
        return str(Path(explicit).expanduser())
    env = os.environ.get("KUBECONFIG")
    if env:
        paths = [p for p in env.split(os.pathsep) if p]
        existing = [p for p in paths if Path(p).expanduser().is_file()]
        if not existing:
            raise ConfigError(f"KUBECONFIG names {env} but no such file exists",
                              "unset KUBECONFIG or point it at the cluster's admin kubeconfig")
        return os.pathsep.join(existing)
    home = Path("~/.kube/config").expanduser()
    if home.is_file():
        return str(home)
    if Path(ADMIN_CONF).is_file():
        return ADMIN_CONF
    raise ConfigError(
        "no kubeconfig found (looked at --kubeconfig, KUBECONFIG, ~/.kube/config, /etc/kubernetes/admin.conf)",
        "run on the controller, pass --kubeconfig, or try --demo",
    )


@dataclass(frozen=True)
class ServerVersion:
    git_version: str
    major: str
    minor: str


def map_api_exception(e: Exception, what: str) -> HpkError:
    """Turn a kubernetes/urllib3 exception into our error tree."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error

    if isinstance(e, ApiException):
        status = int(e.status or 0)
        message = ""
        if e.body:
            try:
                message = _status.decode(e.body).message
            except (msgspec.DecodeError, TypeError, ValueError):
                message = ""
        detail = message or (e.reason or "").strip() or f"HTTP {status}"
        if status == 0:
            return TransientError(f"{what}: {detail}")
        if status == 401:
            return AuthError(f"{what}: Kubernetes rejected the credentials (401 Unauthorized)",
                             "the kubeconfig's token or client certificate is wrong or expired")
        if status == 403:
            return AuthError(f"{what}: forbidden: {detail}", "the kubeconfig's user lacks RBAC permission for this")
        if status == 404:
            return NotFoundError(f"{what}: not found: {detail}")
        if status == 409:
            return ConflictError(f"{what}: conflict: {detail}")
        if status == 410:
            return ApiError(f"{what}: the list expired while paging (410 Gone): {detail}", "try again")
        if status == 429 or status >= 500:
            return TransientError(f"{what}: the API server answered {status}: {detail}")
        return ApiError(f"{what}: the API server answered {status}: {detail}")
    if isinstance(e, Urllib3Error | ConnectionError | OSError):
        return TransientError(f"{what}: cannot reach the Kubernetes API: {_short(e)}",
                              "is the API server up and the kubeconfig's server address right?")
    if isinstance(e, HpkError):
        return e
    return ApiError(f"{what}: {type(e).__name__}: {e}")


def _short(e: BaseException) -> str:
    # urllib3 wraps the cause several levels deep; the innermost reason reads best.
    reason = getattr(e, "reason", None)
    while reason is not None and getattr(reason, "reason", None) is not None:
        reason = reason.reason
    text = str(reason or e)
    if "Connection refused" in text:
        return "connection refused"
    return text.split(": ", 1)[-1][:200]


def _raw_error(e: Exception) -> _RawApiError | None:
    from kubernetes.client.exceptions import ApiException

    if not isinstance(e, ApiException) or not e.status:
        return None
    message, causes = "", tuple[str, ...]()
    try:
        body = json.loads(e.body or b"{}")
        message = str(body.get("message", ""))
        causes = tuple(str(c.get("message", "")) for c in (body.get("details") or {}).get("causes") or [])
    except (ValueError, TypeError, AttributeError):
        pass
    return _RawApiError(e, int(e.status), message or str(e.reason or ""), causes)


_gc_lock = threading.Lock()
_gc_pausers = 0  # how many gc_paused() blocks are open, in any thread
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Decoding builds millions of small objects; collections in the middle of it find nothing to free.

    Reference-counted: the inventory decodes pods in a worker thread while the main thread decodes
    nodes; the collector comes back on when the last block closes, and only if it was on before the
    first one opened.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


class Cluster:
    """A Kubernetes cluster seen through one kubeconfig.

    ``gzip`` (Accept-Encoding: gzip) is off by default: hpk8s runs on the controller, next to the
    API server, where the inventory of 4000 nodes / 80000 pods took 1.2-1.8x as long with gzip
    (inflating on our side, level-1 deflate of ~450 MB on the API server's) for a transfer that
    costs 0.3 s uncompressed (bench/inventory.py). Over a slow link, where 450 MB matters and the
    pod list shrinks 7x or more, pass ``gzip=True``.
    """

    def __init__(self, api_client: ApiClient, *, retry: RetryPolicy = DEFAULT_POLICY,
                 page_size: int = PAGE_SIZE, gzip: bool = False) -> None:
        self.api_client = api_client
        self.retry = retry
        self.page_size = page_size
        self.gzip = gzip
        self.on_retry: Callable[[TransientError, float], None] | None = None

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, context: str | None = None, **kw: Any) -> Cluster:
        from kubernetes.client import Configuration
        from kubernetes.config import new_client_from_config
        from kubernetes.config.config_exception import ConfigException

        real = resolve_kubeconfig(path)
        cfg = Configuration()
        try:
            client = new_client_from_config(config_file=real, context=context, client_configuration=cfg)
        except ConfigException as e:
            raise ConfigError(f"kubeconfig {real} is not usable: {e}", "check the file, or pass --kubeconfig") from None
        except (OSError, ValueError, TypeError, AttributeError, KeyError) as e:
            raise ConfigError(f"kubeconfig {real} is not usable: {type(e).__name__}: {e}") from None
        # urllib3 retries connection failures on its own; our policy is the one that counts.
        cfg.retries = 1
        return cls(client, **kw)

    @property
    def server(self) -> str:
        return str(self.api_client.configuration.host)

    @property
    def server_host(self) -> str:
        return urlsplit(self.server).hostname or self.server

    # -- the one request path -------------------------------------------------------------

    def request(self, method: str, path: str, *, query: list[tuple[str, Any]] | None = None,
                body: Any = None, what: str = "", content_type: str | None = None,
                timeout: float | tuple[float, float] = (10, 120), retry: RetryPolicy | None = None,
                raw_errors: bool = False) -> bytes:
        """One HTTP call to the API server; returns the raw body. Retries transient failures.

        ``raw_errors`` hands HTTP errors back undigested (status, message, causes) for callers that
        read them as answers, as the drain reads a 429 from a PodDisruptionBudget.
        """
        what = what or f"{method} {path}"

        def attempt() -> bytes:
            headers = {"Accept": "application/json"}
            if self.gzip:
                headers["Accept-Encoding"] = "gzip"
            if body is not None:
                headers["Content-Type"] = content_type or "application/json"
            try:
                resp = self.api_client.call_api(
                    path, method, query_params=query or [], header_params=headers, body=body,
                    auth_settings=["BearerToken"], _return_http_data_only=True,
                    _preload_content=False, _request_timeout=timeout,
                )
                return bytes(resp.data)
            except Exception as e:  # mapped right here, once, for every call
                if raw_errors:
                    raw = _raw_error(e)
                    if raw is not None:
                        raise raw from None
                raise map_api_exception(e, what) from None

        return (retry or self.retry).call(attempt, on_retry=self.on_retry)

    def get_json(self, path: str, query: list[tuple[str, Any]] | None = None, what: str = "") -> Any:
        return json.loads(self.request("GET", path, query=query, what=what))

    def _pages(self, path: str, decoder: msgspec.json.Decoder[Any], *, what: str,
               field_selector: str | None = None, label_selector: str | None = None) -> Iterator[Any]:
        cont: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", self.page_size)]
            if cont:
                query.append(("continue", cont))
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if label_selector:
                query.append(("labelSelector", label_selector))
            raw = self.request("GET", path, query=query, what=what)
            try:
                page = decoder.decode(raw)
            except msgspec.DecodeError as e:
                raise ApiError(f"{what}: the API server sent a list we cannot read: {e}") from None
            del raw
            yield page
            cont = page.metadata.continue_
            if not cont:
                return

    # -- reads ----------------------------------------------------------------------------

    def version(self) -> ServerVersion:
        data = self.get_json("/version/", what="read the server version")
        return ServerVersion(str(data.get("gitVersion", "")), str(data.get("major", "")), str(data.get("minor", "")))

    def list_nodes(self, label_selector: str | None = None) -> list[kt.Node]:
        nodes: list[kt.Node] = []
        with gc_paused():
            for page in self._pages("/api/v1/nodes", _node_list, what="list nodes", label_selector=label_selector):
                nodes.extend(page.items)
        return nodes

    def iter_pod_pages(self, *, node: str | None = None, active_only: bool = True,
                       namespace: str | None = None) -> Iterator[list[kt.Pod]]:
        selectors = []
        if active_only:
            selectors.append(ACTIVE_PODS)
        if node:
            selectors.append(f"spec.nodeName={node}")
        path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
        for page in self._pages(path, _pod_list, what="list pods", field_selector=",".join(selectors) or None):
            yield page.items

    def node_pages(self) -> Iterator[kt.NodeList]:
        """Node list pages with their metadata (resourceVersion, for a watch to start from)."""
        return self._pages("/api/v1/nodes", _node_list, what="list nodes")

    def pod_pages(self, *, active_only: bool = True) -> Iterator[kt.PodList]:
        return self._pages("/api/v1/pods", _pod_list, what="list pods",
                           field_selector=ACTIVE_PODS if active_only else None)

    def list_pods(self, *, node: str | None = None, active_only: bool = True,
                  namespace: str | None = None) -> list[kt.Pod]:
        pods: list[kt.Pod] = []
        with gc_paused():
            for items in self.iter_pod_pages(node=node, active_only=active_only, namespace=namespace):
                pods.extend(items)
        return pods

    def get_node(self, name: str) -> kt.Node:
        raw = self.request("GET", f"/api/v1/nodes/{name}", what=f"read node {name}")
        return _node.decode(raw)

    # -- writes ---------------------------------------------------------------------------

    def patch_node(self, name: str, patch: dict[str, Any]) -> kt.Node:
        raw = self.request("PATCH", f"/api/v1/nodes/{name}", body=patch, what=f"update node {name}",
                           content_type="application/strategic-merge-patch+json")
        return _node.decode(raw)

    def delete_node(self, name: str) -> None:
        try:
            self.request("DELETE", f"/api/v1/nodes/{name}", what=f"delete node {name}")
        except NotFoundError:
            return  # already gone: the outcome the caller wanted

    def evict_pod(self, namespace: str, name: str, *, grace_period: int | None = None,
                  api_version: str = "policy/v1") -> Eviction:
        """One eviction attempt, never retried here: the drain decides when to try again."""
        body: dict[str, Any] = {"apiVersion": api_version, "kind": "Eviction",
                                "metadata": {"name": name, "namespace": namespace}}
        if grace_period is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_period}
        what = f"evict pod {namespace}/{name}"
        try:
            self.request("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/eviction", body=body, what=what,
                         retry=NO_RETRY, raw_errors=True)
        except _RawApiError as e:
            if e.status == 404 and "eviction" in e.message.lower() and api_version == "policy/v1":
                return self.evict_pod(namespace, name, grace_period=grace_period, api_version="policy/v1beta1")
            if e.status == 404:
                return Eviction("gone", "")
            if e.status == 429:
                return Eviction("blocked", e.message, e.causes)
            if e.status == 500 and "more than one" in e.message.lower():
                return Eviction("error", e.message)
            raise map_api_exception(e.original, what) from None
        return Eviction("accepted", "")

    def delete_pod(self, namespace: str, name: str, *, grace_period: int | None = None) -> None:
        body = {"gracePeriodSeconds": grace_period} if grace_period is not None else None
        try:
            self.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", body=body,
                         what=f"delete pod {namespace}/{name}")
        except NotFoundError:
            return

    def post_json(self, path: str, body: dict[str, Any], what: str = "") -> Any:
        return json.loads(self.request("POST", path, body=body, what=what))


@dataclass(frozen=True)
class Eviction:
    result: str  # accepted / blocked (a PodDisruptionBudget said no) / gone / error
    message: str
    causes: tuple[str, ...] = ()


class _RawApiError(Exception):
    def __init__(self, original: Exception, status: int, message: str, causes: tuple[str, ...]) -> None:
        super().__init__(message)
        self.original = original
        self.status = status
        self.message = message
        self.causes = causes
