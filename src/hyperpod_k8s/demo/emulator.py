"""A Kubernetes API emulator good enough for hpk8s: kmock's ``KubernetesEmulator`` with its gaps filled.

What kmock 0.8 lacks and this subclass adds, each because hpk8s relies on it against a real server:

- ``labelSelector`` / ``fieldSelector`` on lists and watches (the tool filters pods on the server);
- ``limit`` / ``continue`` chunking (the tool pages big lists as kubectl does);
- ``uid``, ``resourceVersion``, ``creationTimestamp`` and the namespace stamped on created objects;
- ``PUT`` (replace) of whole objects;
- the pod ``eviction`` subresource, honouring PodDisruptionBudgets (429 when a budget forbids it,
  500 when several budgets match, as the API server does);
- ``GET /version/`` with the trailing slash the official client uses;
- ``watch=True`` as the official Python client spells it, ended after ``timeoutSeconds``;
- a request log trimmed to a short window (kmock rescans all past requests on every request:
  4 ms per call grows to 225 ms after 1000 requests).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import itertools
import json
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import enums, k8s, rendering

from hyperpod_k8s.selectors import selector_matches

KEEP_REQUESTS = 64

# A version our emulator claims to be; the demo cluster reports this in the dashboard header.
# The official client's VersionInfo model requires buildDate, gitCommit and the rest: all are here.
SERVER_VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.5", "platform": "linux/amd64",
                  "goVersion": "go1.24.6", "compiler": "gc", "gitTreeState": "clean",
                  "gitCommit": "20dff4f6a5e3e0a4d4b3b0c7f1c0d63a1e2c6f52", "buildDate": "2025-09-09T19:37:17Z"}

POD = kmock.resource("", "v1", "pods")
PDB = kmock.resource("policy", "v1", "poddisruptionbudgets")

# Resources the demo serves even while they hold no objects (an empty list, not a 404).
DECLARED = [
    "v1/nodes", "v1/pods", "v1/namespaces", "v1/secrets", "v1/configmaps", "v1/events", "v1/services",
    "policy/v1/poddisruptionbudgets", "apps/v1/daemonsets", "apps/v1/deployments", "apps/v1/replicasets",
    "batch/v1/jobs", "coordination.k8s.io/v1/leases",
]


# -- selectors ----------------------------------------------------------------------------------

_SET_EXPR = re.compile(r"^\s*(!)?\s*([A-Za-z0-9_./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_selector(sel: str) -> list[str]:
    # Commas separate requirements, except inside "in (a,b)".
    parts, depth, cur = [], 0, ""
    for ch in sel:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


Requirement = tuple[str, str, frozenset[str]]  # (operator, key, values)


def parse_label_selector(sel: str | None) -> list[Requirement]:
    reqs: list[Requirement] = []
    for req in _split_selector(sel or ""):
        if "!=" in req:
            k, v = (x.strip() for x in req.split("!=", 1))
            reqs.append(("!=", k, frozenset([v])))
        elif "==" in req or ("=" in req and " in " not in req):
            k, v = (x.strip() for x in re.split(r"==?", req, maxsplit=1))
            reqs.append(("=", k, frozenset([v])))
        else:
            m = _SET_EXPR.match(req)
            if not m:
                raise ValueError(f"unable to parse requirement: {req!r}")
            neg, key, op, values = m.groups()
            vals = frozenset(v.strip() for v in (values or "").split(",") if v.strip())
            reqs.append((op or ("!exists" if neg else "exists"), key, vals))
    return reqs


def label_selector_matches(reqs: list[Requirement], lbls: Mapping[str, str]) -> bool:
    for op, key, vals in reqs:
        value = lbls.get(key)
        ok = {
            "=": value in vals, "!=": value not in vals, "in": value in vals, "notin": value not in vals,
            "exists": key in lbls, "!exists": key not in lbls,
        }[op]
        if not ok:
            return False
    return True


def _field(obj: Mapping[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(sel: str | None) -> list[Requirement]:
    reqs: list[Requirement] = []
    for req in _split_selector(sel or ""):
        if "!=" in req:
            k, v = (x.strip() for x in req.split("!=", 1))
            reqs.append(("!=", k, frozenset([v])))
        elif "=" in req:
            k, v = (x.strip() for x in re.split(r"==?", req, maxsplit=1))
            reqs.append(("=", k, frozenset([v])))
        else:
            raise ValueError(f"invalid field selector: {req!r}")
    return reqs


def field_selector_matches(reqs: list[Requirement], obj: Mapping[str, Any]) -> bool:
    return all((_field(obj, key) in vals) == (op == "=") for op, key, vals in reqs)


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> aiohttp.web.Response:
    return aiohttp.web.json_response({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code, "details": details or {},
    }, status=code)


@attrs.define(kw_only=True)
class HyperPodKubernetesEmulator(kmock.KubernetesEmulator):
    """kmock's emulator plus what hpk8s needs of a real API server (see the module docstring)."""

    version_info: dict[str, str] = attrs.field(factory=lambda: dict(SERVER_VERSION))
    _rv: Any = attrs.field(factory=lambda: itertools.count(1000), init=False)
    # Hooks the tests use to inject faults: called with the request, may return a response.
    faults: list[Callable[[rendering.Request], aiohttp.web.StreamResponse | None]] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for res in DECLARED:
            _ = self.resources[res]  # auto-created on access: the resource is now known
        self.resources["v1/nodes"].namespaced = False
        self.resources["v1/namespaces"].namespaced = False
        self.resources["v1/pods"].subresources = {"eviction", "status", "log", "binding"}
        self.resources["v1/nodes"].subresources = {"status", "proxy"}

    def next_rv(self) -> str:
        return str(next(self._rv))

    # -- objects from Python (seeding) --------------------------------------------------------

    def stamp(self, obj: dict[str, Any], namespace: str | None) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        if namespace and not meta.get("namespace"):
            meta["namespace"] = namespace
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp",
                        datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"))
        meta["resourceVersion"] = self.next_rv()
        return obj

    def put_object(self, resource: str, obj: dict[str, Any]) -> None:
        """Store an object directly (seeding; no HTTP, no watch event)."""
        ns = obj.get("metadata", {}).get("namespace")
        self.stamp(obj, ns)
        self.objects[resource, ns, obj["metadata"]["name"]] = obj

    # -- request handling ---------------------------------------------------------------------

    def _trim_request_log(self) -> None:
        if len(self._requests) > KEEP_REQUESTS:
            del self._requests[:-KEEP_REQUESTS]
        for payload in self._payloads:
            reqs = payload._requests
            if len(reqs) > KEEP_REQUESTS:
                del reqs[:-KEEP_REQUESTS]

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        self._trim_request_log()
        for fault in list(self.faults):
            injected = fault(request)
            if injected is not None:
                return injected

        path = request.url.path
        if request.method == enums.method.GET and path.rstrip("/") == "/version":
            return aiohttp.web.json_response(self.version_info)

        # The official client sends watch=True (Python's spelling); kmock only knows "true".
        if str(request.params.get("watch", "")).lower() in ("true", "1") and request.action != enums.action.WATCH:
            object.__setattr__(request, "action", enums.action.WATCH)

        if request.resource is not None:
            if request.subresource == "eviction" and request.method == enums.method.POST:
                return await self._evict(request)
            if request.action == enums.action.CREATE and isinstance(request.data, dict):
                self.stamp(request.data, request.namespace)
            elif request.action == enums.action.UPDATE and isinstance(request.data, dict):
                if request.subresource not in (None, "status"):
                    return _status(404, "NotFound", f"the server could not find the requested resource ({path})")
                request.data.setdefault("metadata", {})["resourceVersion"] = self.next_rv()
            elif request.method == enums.method.PUT and request.name is not None:
                return await self._replace(request)

        return await super()._handle(request)

    async def _replace(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        assert request.resource is not None
        key: Any = (request.resource, request.namespace, request.name)
        async with self._lock:
            if key not in self._objects or self._objects[key].deleted:
                return _status(404, "NotFound", f'{request.resource.plural} "{request.name}" not found')
            current = self._objects[key].raw
            new = copy.deepcopy(request.data) if isinstance(request.data, dict) else {}
            meta = new.setdefault("metadata", {})
            sent_rv = meta.get("resourceVersion")
            if sent_rv and sent_rv != current.get("metadata", {}).get("resourceVersion"):
                return _status(409, "Conflict", "the object has been modified; please apply your changes "
                                                 "to the latest version and try again")
            for k in ("uid", "creationTimestamp", "namespace", "name"):
                if k in current.get("metadata", {}):
                    meta[k] = current["metadata"][k]
            meta["resourceVersion"] = self.next_rv()
            if request.subresource == "status":
                merged = dict(current)
                merged["status"] = new.get("status", {})
                merged["metadata"] = {**current.get("metadata", {}), "resourceVersion": meta["resourceVersion"]}
                new = merged
            # A replace: drop every key the new state lacks, at any depth (a merge patch of the new
            # state alone would keep labels and annotations it removed), then set the new state.
            raw = self.overwrite(key, new)
            await self._buses[request.resource].put({"type": "MODIFIED", "object": raw})
        return aiohttp.web.json_response(raw)

    def overwrite(self, key: Any, new: Mapping[str, Any]) -> dict[str, Any]:
        """Make ``new`` the stored state (what it lacks goes, at any depth); call with the lock held."""
        # kmock only merges: drop the keys ``new`` lacks first, then merge the new state in.
        absent = _absent_keys(self._objects[key].raw, new)
        if absent:
            self._objects[key].patch(absent)
        self._objects[key].patch(new)
        raw: dict[str, Any] = self._objects[key].raw
        return raw

    def _live(self, resource: Any, namespace: str | None = None) -> list[dict[str, Any]]:
        out = []
        for (res, ns, _name), obj in self._objects.items():
            if res == resource and (namespace is None or ns == namespace) and not obj.deleted:
                out.append(obj.raw)
        return out

    def _pdb_allows(self, pdb: dict[str, Any], pods: list[dict[str, Any]]) -> int:
        """disruptionsAllowed as the disruption controller would compute it (integers only)."""
        sel = pdb.get("spec", {}).get("selector")
        matching = [p for p in pods if selector_matches(sel, p.get("metadata", {}).get("labels") or {})]
        healthy = sum(1 for p in matching if p.get("status", {}).get("phase", "Running") == "Running"
                      and not p.get("metadata", {}).get("deletionTimestamp"))
        spec = pdb.get("spec", {})
        if "minAvailable" in spec:
            return healthy - _int_or_percent(spec["minAvailable"], len(matching))
        if "maxUnavailable" in spec:
            return _int_or_percent(spec["maxUnavailable"], len(matching)) - (len(matching) - healthy)
        return healthy

    async def _evict(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        key: Any = (POD, request.namespace, request.name)
        async with self._lock:
            if key not in self._objects or self._objects[key].deleted:
                return _status(404, "NotFound", f'pods "{request.name}" not found')
            pod = self._objects[key].raw
            lbls = pod.get("metadata", {}).get("labels") or {}
            pods = self._live(POD, request.namespace)
            pdbs = [p for p in self._live(PDB, request.namespace)
                    if selector_matches(p.get("spec", {}).get("selector"), lbls)]
            if len(pdbs) > 1:
                return _status(500, "InternalError",
                               "This pod has more than one PodDisruptionBudget, which the eviction subresource "
                               "does not support.")
            if (pdbs and pod.get("status", {}).get("phase", "Running") == "Running"
                    and self._pdb_allows(pdbs[0], pods) < 1):
                name = pdbs[0]["metadata"]["name"]
                return _status(429, "TooManyRequests",
                               "Cannot evict pod as it would violate the pod's disruption budget.",
                               {"causes": [{"reason": "DisruptionBudget",
                                            "message": f"The disruption budget {name} does not allow more "
                                                       "disruptions right now"}]})
            self._objects[key].delete()
            await self._buses[POD].put({"type": "DELETED", "object": pod})
        return aiohttp.web.json_response(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, status=201)

    # -- lists and watches --------------------------------------------------------------------

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        if request.resource not in self._get_resources():
            raise k8s.KubernetesResourceNotFoundError()
        try:
            by_label = parse_label_selector(request.params.get("labelSelector"))
            by_field = parse_field_selector(request.params.get("fieldSelector"))
        except ValueError as e:
            raise k8s.KubernetesError(status=400, reason="BadRequest", message=str(e)) from None
        async with self._lock:
            items = [
                obj.raw for (res, ns, _name), obj in self._objects.items()
                if res == request.resource and (request.namespace is None or ns == request.namespace)
                and not obj.deleted
            ]
            rv = str(next(self._rv))
        items = [o for o in items if label_selector_matches(by_label, o.get("metadata", {}).get("labels") or {})
                 and field_selector_matches(by_field, o)]
        start = 0
        token = request.params.get("continue")
        if token:
            try:
                start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["start"])
            except (ValueError, KeyError, TypeError):
                raise k8s.KubernetesError(status=400, reason="BadRequest",
                                          message="continue key is not valid") from None
        limit = int(request.params.get("limit") or 0)
        meta: dict[str, Any] = {"resourceVersion": rv}
        if limit > 0:
            page = items[start:start + limit]
            if start + limit < len(items):
                meta["continue"] = base64.urlsafe_b64encode(json.dumps({"start": start + limit}).encode()).decode()
                meta["remainingItemCount"] = len(items) - start - limit
        else:
            page = items[start:]
        kind = (self.resources[request.resource].kind or
                (request.resource.plural or "").rstrip("s").capitalize()) + "List"
        api_version = f"{request.resource.group}/{request.resource.version}" if request.resource.group \
            else request.resource.version
        return {"kind": kind, "apiVersion": api_version, "metadata": meta, "items": page}

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        by_label = parse_label_selector(request.params.get("labelSelector"))
        by_field = parse_field_selector(request.params.get("fieldSelector"))
        # A watch that names a resourceVersion wants changes after it, not the current state again.
        since = _rv_int(request.params.get("resourceVersion"))
        # kmock streams until the client hangs up; the API server ends a watch after timeoutSeconds,
        # and Watch().stream(..., timeout_seconds=N) relies on that to return.
        timeout = _rv_int(request.params.get("timeoutSeconds"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout > 0 else None
        events = super()._serve_watch(request)
        # As the API server's watch cache does: an object that stops matching the selectors is sent
        # as DELETED (a pod turning Succeeded leaves status.phase!=Succeeded), once.
        matched: set[tuple[str, str]] = set()
        try:
            while True:
                try:
                    # In this task, not wait_for's own: a client that hangs up cancels the handler, and
                    # the cancellation must reach kmock's generator directly (through wait_for's inner
                    # task it stalled the server's shutdown for its full 10 s grace period).
                    async with asyncio.timeout_at(deadline):
                        event = await events.__anext__()
                except (StopAsyncIteration, TimeoutError):
                    break
                if isinstance(event, dict):
                    obj = event.get("object", {})
                    meta = obj.get("metadata", {})
                    key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
                    passes = (label_selector_matches(by_label, meta.get("labels") or {})
                              and field_selector_matches(by_field, obj))
                    if since and event.get("type") == "ADDED" and _rv_int(meta.get("resourceVersion")) <= since:
                        if passes:
                            matched.add(key)  # known to the watcher from its list
                        continue
                    if not passes:
                        if key in matched and event.get("type") != "DELETED":
                            matched.discard(key)
                            yield {"type": "DELETED", "object": obj}
                        continue
                    if event.get("type") == "DELETED":
                        matched.discard(key)
                    else:
                        matched.add(key)
                yield event
        finally:
            if isinstance(events, AsyncGenerator):
                await events.aclose()


def _absent_keys(current: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch that deletes what ``current`` has and ``new`` does not, nested maps included."""
    out: dict[str, Any] = {}
    for k, v in current.items():
        if k not in new:
            out[k] = None
        elif isinstance(v, Mapping) and isinstance(new[k], Mapping):
            sub = _absent_keys(v, new[k])
            if sub:
                out[k] = sub
    return out


def _rv_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _int_or_percent(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return -(-int(value[:-1]) * total // 100)
    return int(value)
