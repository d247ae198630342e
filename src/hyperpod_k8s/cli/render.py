"""Rendering helpers: data to stdout, diagnostics to stderr, JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from hyperpod_k8s.ops.inventory import Counts

_out: Console | None = None
_err: Console | None = None


def out() -> Console:
    global _out
    if _out is None:
        from rich.console import Console

        _out = Console(highlight=False, soft_wrap=False)
    return _out


def err() -> Console:
    global _err
    if _err is None:
        from rich.console import Console

        _err = Console(stderr=True, highlight=False)
    return _err


def print_json(data: Any, *, line: bool = False) -> None:
    """Pretty JSON for a document; ``line`` for one JSON object per line (workflow streams)."""
    text = json.dumps(data, default=str) if line else json.dumps(data, indent=2, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    err().print(f"warning: {message}", markup=False)


def age(seconds: float | None) -> str:
    """kubectl's compact ages: 45s, 12m, 5h, 3d."""
    if seconds is None:
        return "-"
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    if s < 2 * 3600:
        return f"{s // 60}m"
    if s < 2 * 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def counts(c: Counts, joined: bool = True) -> str:
    """requested/allocatable/capacity; the expected count is shown only when it differs from capacity."""
    if not joined:
        return "-"
    if not c.capacity and not c.expected and not c.requested:
        return "-"
    text = f"{c.requested}/{c.allocatable}/{c.capacity}"
    if c.expected is not None and c.capacity != c.expected:
        text += f" (exp {c.expected})"
    return text
