"""Progress events and plans: how workflows talk to whoever shows them (CLI, TUI, JSON lines).

Nothing under ``ops/`` prints or prompts. A workflow first builds a :class:`Plan` (what will happen,
to which nodes and instances), the caller shows it and asks; then ``apply`` reports
:class:`Event` objects to a :data:`Reporter` while it works.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from hyperpod_k8s.errors import HpkError


class Kind(StrEnum):
    STARTED = "started"  # a step began
    PROGRESS = "progress"  # a step is under way (pods left, instance state...)
    FINISHED = "finished"  # a step ended well
    FAILED = "failed"  # a step ended badly; the workflow may go on with other nodes
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Event:
    kind: Kind
    step: str  # short name of the step: "cordon", "evict", "replace", ...
    message: str
    node: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = str(self.kind)
        d["at"] = self.at.isoformat()
        return d


Reporter = Callable[[Event], None]


@dataclass
class PlanTarget:
    node: str | None  # Kubernetes node name, when there is a node
    instance_id: str | None
    group: str | None = None
    detail: str = ""


@dataclass
class Plan:
    action: str
    targets: list[PlanTarget]
    steps: list[str]  # what will happen, in order, in words
    warnings: list[str] = field(default_factory=list)
    destructive: bool = True
    options: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "targets": [asdict(t) for t in self.targets], "steps": self.steps,
                "warnings": self.warnings, "destructive": self.destructive, "options": self.options}


@dataclass
class Outcome:
    """What an applied workflow did, per target; ``ok`` only when every target succeeded."""

    action: str
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, HpkError] = field(default_factory=dict, repr=False)  # per target, for exit codes

    def first_error(self) -> HpkError | None:
        return next(iter(self.errors.values()), None)

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "ok": self.ok, "done": self.done, "failed": self.failed,
                "details": self.details}


def count(n: int, noun: str) -> str:
    """``1 pod``, ``3 pods``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class Cancelled(Exception):
    """Raised inside a workflow when its cancel event was set (the TUI's Escape, Ctrl-C)."""


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()
