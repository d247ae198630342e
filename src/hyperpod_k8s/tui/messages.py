"""Messages the workers post to the app: plain dataclasses (Textual calls ``__post_init__``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from hyperpod_k8s.errors import HpkError
    from hyperpod_k8s.ops.events import Event, Outcome, Plan
    from hyperpod_k8s.ops.inventory import Inventory
    from hyperpod_k8s.tui.data import ClusterFacts, NodeDetail, Summary


@dataclass
class InventoryLoaded(Message):
    """A fresh inventory; ``partial`` while the pod totals are still on their way."""

    inventory: Inventory
    summary: Summary
    partial: bool
    seconds: float = 0.0


@dataclass
class FactsLoaded(Message):
    """Header facts that change rarely: Kubernetes version, join-token expiry."""

    facts: ClusterFacts


@dataclass
class DetailLoaded(Message):
    detail: NodeDetail


@dataclass
class PlanReady(Message):
    plan: Plan


@dataclass
class WorkflowEvent(Message):
    event: Event


@dataclass
class WorkflowDone(Message):
    outcome: Outcome | None
    cancelled: bool = False


@dataclass
class Failed(Message):
    """Something a worker tried did not work; ``where`` says which part of the screen it concerns."""

    where: str  # "inventory", "facts", "detail", "plan", "workflow"
    error: HpkError
    context: Any = None
