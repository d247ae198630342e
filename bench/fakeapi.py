"""A small threaded HTTP server that serves a pre-rendered Kubernetes node and pod list fast.

Not an emulator: it answers only what a big list needs (``GET /version/``, ``GET /api/v1/nodes``,
``GET /api/v1/pods``) and does it the way the API server does, so the benchmark measures the client:

- ``limit`` / ``continue`` chunking, with an opaque continue token and ``remainingItemCount``;
- ``fieldSelector`` on ``status.phase`` and ``spec.nodeName`` (``=``, ``==``, ``!=``), anything else 400;
- ``Accept-Encoding: gzip`` for bodies over 128 KiB, at gzip level 1 (what kube-apiserver uses).

Each object is serialized once; a page is a join of those bytes, and pages are cached (gzip ones
too), so after :meth:`Store.prerender` the server costs a dictionary lookup and a ``sendall``.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

GZIP_MIN_BYTES = 128 * 1024  # kube-apiserver does not compress smaller responses
GZIP_LEVEL = 1  # kube-apiserver's defaultGzipContentEncodingLevel
VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.5", "gitCommit": "20dff4f6a5e3e0a4d4b3b0c7f1c0d63a1e2c6f52",
           "gitTreeState": "clean", "buildDate": "2025-09-09T19:37:17Z", "goVersion": "go1.24.6",
           "compiler": "gc", "platform": "linux/amd64"}
RESOURCE_VERSION = "4815162342"
_FIELD_REQ = re.compile(r"^\s*(status\.phase|spec\.nodeName)\s*(!=|==|=)\s*([^,]*?)\s*$")


class BadRequest(Exception):
    pass


@dataclass
class _Kind:
    kind: str
    objects: list[bytes]
    fields: list[dict[str, str]]  # the selectable fields of each object
    _filtered: dict[str, list[bytes]] = field(default_factory=dict)

    def select(self, selector: str) -> list[bytes]:
        if not selector:
            return self.objects
        hit = self._filtered.get(selector)
        if hit is None:
            reqs = []
            for part in selector.split(","):
                m = _FIELD_REQ.match(part)
                if not m:
                    raise BadRequest(f"unsupported field selector requirement {part!r}")
                reqs.append((m[1], m[2] == "!=", m[3]))
            hit = [o for o, f in zip(self.objects, self.fields, strict=True)
                   if all((f.get(k, "") != v) if neg else (f.get(k, "") == v) for k, neg, v in reqs)]
            self._filtered[selector] = hit
        return hit


class Store:
    """The objects, and every page rendered so far (identity and gzip)."""

    def __init__(self) -> None:
        self.kinds: dict[str, _Kind] = {}
        self._pages: dict[tuple[str, str, int, int, bool], tuple[bytes, bool]] = {}
        self._lock = threading.Lock()
        self.bytes_sent = 0
        self.requests = 0

    def add(self, path: str, kind: str, objects: Iterable[tuple[bytes, dict[str, str]]]) -> None:
        objs, fields = [], []
        for raw, f in objects:
            objs.append(raw)
            fields.append(f)
        self.kinds[path] = _Kind(kind, objs, fields)

    def page(self, path: str, selector: str, limit: int, start: int, want_gzip: bool) -> tuple[bytes, bool]:
        """(body, gzipped) for one list request; cached unless it is an unpaged list."""
        key = (path, selector, limit, start, want_gzip)
        hit = self._pages.get(key)
        if hit is not None:
            return hit
        k = self.kinds[path]
        items = k.select(selector)
        end = len(items) if limit <= 0 else min(start + limit, len(items))
        meta: dict[str, Any] = {"resourceVersion": RESOURCE_VERSION}
        if end < len(items):
            token = json.dumps({"rv": RESOURCE_VERSION, "start": end, "sel": selector}).encode()
            meta["continue"] = base64.urlsafe_b64encode(token).decode()
            meta["remainingItemCount"] = len(items) - end
        head = (f'{{"kind":"{k.kind}","apiVersion":"v1","metadata":'
                f'{json.dumps(meta, separators=(",", ":"))},"items":[').encode()
        body = b"".join((head, b",".join(items[start:end]), b"]}"))
        gz = want_gzip and len(body) >= GZIP_MIN_BYTES
        if gz:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        if limit > 0:  # unpaged lists are served once per variant; caching them doubles memory
            with self._lock:
                self._pages[key] = (body, gz)
        return body, gz

    def prerender(self, path: str, selector: str, limit: int, want_gzip: bool) -> int:
        """Render (and cache) every page of one paged list; returns the bytes the list takes on the wire."""
        total, start = 0, 0
        n = len(self.kinds[path].select(selector))
        while True:
            body, _ = self.page(path, selector, limit, start, want_gzip)
            total += len(body)
            start += limit
            if start >= n:
                return total

    def drop_cache(self) -> None:
        with self._lock:
            self._pages.clear()


def _continue_start(token: str, selector: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        start = int(data["start"])
    except (ValueError, KeyError, TypeError) as e:
        raise BadRequest(f"continue key is not valid: {e}") from None
    if data.get("sel", "") != selector:
        raise BadRequest("continue key was issued for another field selector")
    return start


def make_handler(store: Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the clients reuse their connection like with a real server

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, code: int, body: bytes, gz: bool = False) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if gz:
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            self.wfile.write(body)
            with store._lock:
                store.bytes_sent += len(body)
                store.requests += 1

        def _status(self, code: int, reason: str, message: str) -> None:
            self._send(code, json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                         "message": message, "reason": reason, "code": code}).encode())

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path = url.path.rstrip("/")
            if path == "/version":
                self._send(200, json.dumps(VERSION).encode())
                return
            if path not in store.kinds:
                self._status(404, "NotFound", f"the server could not find the requested resource ({url.path})")
                return
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if q.get("labelSelector"):
                self._status(400, "BadRequest", "this benchmark server does not do label selectors")
                return
            selector = q.get("fieldSelector", "")
            want_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "")
            try:
                limit = int(q.get("limit") or 0)
                start = _continue_start(q["continue"], selector) if q.get("continue") else 0
                body, gz = store.page(path, selector, limit, start, want_gzip)
            except (BadRequest, ValueError) as e:
                self._status(400, "BadRequest", str(e))
                return
            self._send(200, body, gz)

    return Handler


class FakeApiServer:
    """``with FakeApiServer(store) as srv: srv.url``: serves on 127.0.0.1 from daemon threads."""

    def __init__(self, store: Store, port: int = 0) -> None:
        self.store = store
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), make_handler(store))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fakeapi", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
