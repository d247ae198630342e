"""Watches: a list's changes streamed after its resourceVersion, decoded event by event with msgspec.

The API server ends a watch after ``timeoutSeconds``; the caller watches again from the last
resourceVersion it saw. A 410 Gone (the version was compacted away) means: list again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from hyperpod_k8s.clients import kube_types as kt
from hyperpod_k8s.clients.cluster import map_api_exception
from hyperpod_k8s.errors import HpkError

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


NODE_EVENTS = msgspec.json.Decoder(WatchEvent[kt.Node])
POD_EVENTS = msgspec.json.Decoder(WatchEvent[kt.Pod])
_raw_events = msgspec.json.Decoder(_RawEvent)
_bookmark = msgspec.json.Decoder(_Bookmark)
_status = msgspec.json.Decoder(kt.Status)


def _lines(resp: Any, stop: threading.Event | None) -> Iterator[bytes]:
    buf = b""
    for chunk in resp.stream(amt=None, decode_content=True):
        if stop is not None and stop.is_set():
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                yield line
    if buf.strip():
        yield buf


def watch(cluster: Cluster, path: str, decoder: msgspec.json.Decoder[Any], *, resource_version: str,
          field_selector: str | None = None, timeout_seconds: int = 290,
          stop: threading.Event | None = None) -> Iterator[tuple[str, Any, str]]:
    """Yields (type, object, resourceVersion) until the server ends the watch or ``stop`` is set.

    BOOKMARK events only move the resourceVersion (object None). Raises :class:`Expired` on 410.
    """
    query: list[tuple[str, Any]] = [("watch", "true"), ("resourceVersion", resource_version),
                                    ("allowWatchBookmarks", "true"), ("timeoutSeconds", timeout_seconds)]
    if field_selector:
        query.append(("fieldSelector", field_selector))
    try:
        resp = cluster.api_client.call_api(
            path, "GET", query_params=query, header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"], _return_http_data_only=True, _preload_content=False,
            _request_timeout=(10, timeout_seconds + 30))
    except Exception as e:
        raise map_api_exception(e, f"watch {path}") from None
    rv = resource_version
    try:
        for line in _lines(resp, stop):
            raw = _raw_events.decode(line)
            if raw.type == "ERROR":
                status = _status.decode(raw.object)
                if status.code == 410:
                    raise Expired(f"watch {path}: {status.message or 'resource version expired'}")
                raise map_api_exception(Exception(status.message), f"watch {path}")
            if raw.type == "BOOKMARK":
                rv = _bookmark.decode(raw.object).metadata.resourceVersion or rv
                yield raw.type, None, rv
                continue
            event = decoder.decode(line)
            rv = event.object.metadata.resourceVersion or rv
            yield event.type, event.object, rv
    except HpkError:
        raise
    except Exception as e:
        raise map_api_exception(e, f"watch {path}") from None
    finally:
        resp.release_conn()
