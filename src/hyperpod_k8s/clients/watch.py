"""Watches: a list's changes streamed after its resourceVersion, decoded event by event with msgspec.

The API server ends a watch after ``timeoutSeconds``; the caller watches again from the last
resourceVersion it saw. A 410 Gone (the version was compacted away) means: list again. A server
that cannot watch answers with a plain list: :class:`WatchUnsupported`, so the caller re-lists on
its own schedule instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from hyperpod_k8s.clients import kube_types as kt
from hyperpod_k8s.clients.cluster import map_api_exception
from hyperpod_k8s.errors import ApiError, HpkError

if TYPE_CHECKING:
    from hyperpod_k8s.clients.cluster import Cluster

T = TypeVar("T")


class WatchEvent(msgspec.Struct, Generic[T]):
    type: str
    object: T


class _RawEvent(msgspec.Struct):
    type: str
    object: msgspec.Raw


class _Meta(msgspec.Struct):
    resourceVersion: str = ""


class _Bookmark(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class Expired(HpkError):
    """The watch's resourceVersion is too old (410 Gone): list again, then watch from the new one."""


class WatchUnsupported(ApiError):
    """The server answered the watch with a list."""


NODE_EVENTS = msgspec.json.Decoder(WatchEvent[kt.Node])
POD_EVENTS = msgspec.json.Decoder(WatchEvent[kt.Pod])
_raw_events = msgspec.json.Decoder(_RawEvent)
_bookmark = msgspec.json.Decoder(_Bookmark)
_status = msgspec.json.Decoder(kt.Status)


class Watch:
    """One watch request. Iterate for (type, object, resourceVersion); BOOKMARK events only move the
    version (object None). :meth:`close` from another thread ends the iteration at once."""

    def __init__(self, cluster: Cluster, path: str, decoder: msgspec.json.Decoder[Any], *, resource_version: str,
                 field_selector: str | None = None, timeout_seconds: int = 290,
                 on_open: Callable[[], None] | None = None) -> None:
        self.cluster = cluster
        self.path = path
        self.decoder = decoder
        self.resource_version = resource_version
        self.field_selector = field_selector
        self.timeout_seconds = timeout_seconds
        self._closed = threading.Event()
        self._resp: Any = None
        self.on_open = on_open  # called once the server streams (it does watch), before any event

    def close(self) -> None:
        self._closed.set()
        resp = self._resp
        if resp is not None:
            try:
                resp.shutdown()  # unblocks a read waiting for the next event
            except Exception:
                pass

    def _open(self) -> Any:
        query: list[tuple[str, Any]] = [("watch", "true"), ("resourceVersion", self.resource_version),
                                        ("allowWatchBookmarks", "true"), ("timeoutSeconds", self.timeout_seconds),
                                        # a server that does not watch answers with a list: one small page
                                        ("limit", 1)]
        if self.field_selector:
            query.append(("fieldSelector", self.field_selector))
        try:
            return self.cluster.api_client.call_api(
                self.path, "GET", query_params=query, header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"], _return_http_data_only=True, _preload_content=False,
                _request_timeout=(10, self.timeout_seconds + 30))
        except Exception as e:
            raise map_api_exception(e, f"watch {self.path}") from None

    def __iter__(self) -> Iterator[tuple[str, Any, str]]:
        if self._closed.is_set():
            return
        resp = self._open()
        if resp.headers.get("Content-Length") is not None:  # a watch streams; this is a list
            resp.release_conn()
            raise WatchUnsupported(f"watch {self.path}: the API server answered with a list")
        self._resp = resp
        if self.on_open is not None:
            self.on_open()
        if self._closed.is_set():
            resp.shutdown()
        rv = self.resource_version
        buf = b""
        try:
            for chunk in resp.stream(64 * 1024, decode_content=True):
                if self._closed.is_set():
                    return
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.strip():
                        event = self._event(line, rv)
                        rv = event[2]
                        yield event
        except HpkError:
            raise
        except Exception as e:
            if self._closed.is_set():
                return
            raise map_api_exception(e, f"watch {self.path}") from None
        finally:
            self._resp = None
            if self._closed.is_set():
                # shutdown() only stopped our reads: close the connection too, or the server keeps the
                # watch (and its connection) open until timeoutSeconds, for nobody.
                resp.close()
            resp.release_conn()

    def _event(self, line: bytes, rv: str) -> tuple[str, Any, str]:
        raw = _raw_events.decode(line)
        if raw.type == "ERROR":
            status = _status.decode(raw.object)
            if status.code == 410:
                raise Expired(f"watch {self.path}: {status.message or 'resource version expired'}")
            raise ApiError(f"watch {self.path}: {status.message or 'the server ended the watch with an error'}")
        if raw.type == "BOOKMARK":
            return raw.type, None, _bookmark.decode(raw.object).metadata.resourceVersion or rv
        event = self.decoder.decode(line)
        return event.type, event.object, event.object.metadata.resourceVersion or rv
