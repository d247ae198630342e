"""The confirmation modal: exactly what an action will do, and an explicit yes.

``y`` confirms, ``n`` or Escape declines. Delete and replace also make the operator type the node
name (or, for several nodes, their number) before Enter counts as yes.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from hyperpod_k8s.ops.events import Plan

TITLES = {
    "cordon": "Cordon", "uncordon": "Uncordon", "drain": "Drain", "delete": "Delete",
    "replace": "Replace", "reboot": "Reboot", "token-refresh": "Refresh the join token",
    "orphans": "Clean up orphans",
}


def confirm_word(plan: Plan) -> str:
    """What the operator types for a typed confirmation: the node name, or the number of targets."""
    if len(plan.targets) == 1:
        t = plan.targets[0]
        return t.node or t.instance_id or "yes"
    return str(len(plan.targets))


def render_plan(plan: Plan) -> RenderableType:
    parts: list[RenderableType] = []
    n = len(plan.targets)
    title = Text(f"{TITLES.get(plan.action, plan.action)}: {n} target{'s' if n != 1 else ''}", style="bold")
    if plan.destructive and plan.targets:
        title.append("  DESTRUCTIVE", style="bold reverse red")
    parts.append(title)
    if plan.targets:
        t = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
        for col in ("NODE", "INSTANCE", "GROUP", ""):
            t.add_column(col, no_wrap=col != "", overflow="fold")
        for x in plan.targets:
            t.add_row(x.node or "-", x.instance_id or "-", x.group or "-", x.detail)
        parts.append(t)
    else:
        parts.append(Text("no targets: nothing will change", style="yellow"))
    if plan.steps:
        parts.append(Text("\nWhat will happen:", style="bold"))
        for i, s in enumerate(plan.steps, 1):
            parts.append(Text(f"{i}. {s}"))
    return Group(*parts)


def render_warnings(plan: Plan) -> Text:
    """Outside the scrolling plan: a warning (replace destroys volumes) is never below the fold."""
    return Text("\n").join(Text(f"! {w}", style="bold red") for w in plan.warnings)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [  # noqa: RUF012
        Binding("y", "yes", "Yes", show=True),
        Binding("n", "no", "No", show=True),
        Binding("escape", "no", "Cancel", show=True),
    ]

    def __init__(self, plan: Plan, *, typed: bool, **kw: Any) -> None:
        super().__init__(**kw)
        self.plan = plan
        self.word = confirm_word(plan) if typed and plan.targets else None

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="-destructive" if self.plan.destructive else ""):
            with VerticalScroll(id="confirm-plan"):
                yield Static(render_plan(self.plan))
            if self.plan.warnings:
                yield Static(render_warnings(self.plan), id="confirm-warnings")
            if self.word is not None:
                what = "node name" if len(self.plan.targets) == 1 else "number of targets"
                yield Static(Text.assemble(("Type the ", ""), (what, ""), (" ", ""), (self.word, "bold"),
                                           (", Enter goes ahead, Esc cancels.", "")), id="confirm-hint")
                yield Input(placeholder="type it here", id="confirm-input")
            elif self.plan.targets:
                yield Static(Text.assemble(("y", "bold"), " go ahead   ", ("n", "bold"), " / ",
                                           ("Esc", "bold"), " cancel"), id="confirm-hint")
            else:
                yield Static(Text.assemble(("n", "bold"), " / ", ("Esc", "bold"), " close"), id="confirm-hint")

    def on_mount(self) -> None:
        if self.word is not None:
            self.query_one(Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A typed confirmation cannot be short-cut with y; an empty plan has nothing to say yes to.
        return not (action == "yes" and (self.word is not None or not self.plan.targets))

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self.word:
            self.dismiss(True)
        else:
            self.query_one("#confirm-hint", Static).update(
                Text(f"That is not {self.word!r}. Type it exactly, or press Escape to cancel.", style="bold red"))
            event.input.value = ""
