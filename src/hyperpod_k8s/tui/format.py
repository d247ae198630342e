"""How a node row reads in the table: text first (readable without colour), colour on top."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hyperpod_k8s.cli.render import age
from hyperpod_k8s.ops.inventory import Counts, NodeRow


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


# The columns an operator needs first come first: at 80 columns NODE..FLAGS are on screen.
COLUMNS = (
    Column("mark", " ", 2),
    Column("name", "NODE", 19),
    Column("state", "STATE", 15),
    Column("gpu", "GPU", 8),
    Column("efa", "EFA", 9),
    Column("flags", "FLAGS", 28),
    Column("group", "GROUP", 15),
    Column("pods", "PODS", 4),
    Column("age", "AGE", 4),
    Column("hp", "HYPERPOD", 9),
    Column("type", "TYPE", 15),
    Column("instance", "INSTANCE", 19),
)

# A cell is a few (text, style) pieces; styles are names the table maps to its theme's colours.
Piece = tuple[str, str]
Cell = list[Piece]
PROBLEM, WARN, OK, DIM, BOLD = "problem", "warn", "ok", "dim", "bold"


def counts_cell(c: Counts, joined: bool, pods_loaded: bool) -> Cell:
    """requested/allocatable/capacity, ``<N`` when the instance type should have N; ``…`` while pods load."""
    if not joined:
        return [("-" if not c.expected else f"-<{c.expected}", DIM)]
    if not c.capacity and not c.expected and not c.requested:
        return [("-", DIM)]
    req = str(c.requested) if pods_loaded else "…"
    cell = [(f"{req}/{c.allocatable}/{c.capacity}", PROBLEM if c.failed else "")]
    if c.expected is not None and c.capacity != c.expected:
        cell.append((f"<{c.expected}", PROBLEM))
    return cell


def state_text(r: NodeRow) -> str:
    if not r.joined:
        return "NoNode"
    return f"{r.ready} cordon" if r.cordoned else r.ready


def row_cells(r: NodeRow, now: datetime, *, marked: bool, pods_loaded: bool) -> list[Cell]:
    """The row's cells in COLUMNS order. Problems read as text (``!``, the flags) and show in colour."""
    problem = bool(r.flags)
    state = state_text(r)
    hp = r.hyperpod_status if r.hyperpod_status is not None else "?"
    return [
        [("*" if marked else " ", BOLD), ("!" if problem else " ", PROBLEM)],
        [(r.name, PROBLEM if problem else "")],
        [(state, "" if state == "Ready" else (WARN if r.ready == "Ready" else PROBLEM))],
        counts_cell(r.accel, r.joined, pods_loaded),
        counts_cell(r.efa, r.joined, pods_loaded),
        [(" ".join(str(f) for f in r.flags), PROBLEM)] if problem else [("ok", OK)],
        [(r.group or "-", "")],
        [((str(r.pods) if pods_loaded else "…") if r.joined else "-", "")],
        [(age(r.age_seconds(now)), "")],
        [(hp, "" if hp in ("Running", "?") else PROBLEM)],
        [(r.instance_type or "-", "")],
        [(r.instance_id or "-", "")],
    ]


def matches(r: NodeRow, needle: str) -> bool:
    """The ``/`` filter: a case-insensitive substring of any identifying field or flag."""
    if not needle:
        return True
    hay = " ".join(x for x in (r.name, r.instance_id, r.group, r.instance_type, r.ip, r.hyperpod_status,
                               state_text(r), *(str(f) for f in r.flags)) if x)
    return needle.lower() in hay.lower()


@dataclass(frozen=True)
class SortKey:
    label: str
    key: Callable[[NodeRow], Any]
    reverse: bool = False


SORTS = (
    SortKey("group", lambda r: (r.group or "~", r.name)),
    SortKey("problems first", lambda r: (not r.flags, r.group or "~", r.name)),
    SortKey("name", lambda r: r.name),
    SortKey("free GPUs", lambda r: (r.accel.allocatable - r.accel.requested, r.name), reverse=True),
    SortKey("pods", lambda r: (r.pods, r.name), reverse=True),
    SortKey("age", lambda r: (r.created is None, r.created.timestamp() if r.created else 0, r.name)),
)
