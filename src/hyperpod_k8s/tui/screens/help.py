"""The help screen: every key, what it does, and what the table's columns mean."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

NAVIGATION = (
    ("↑ ↓ j k PgUp PgDn Home End", "move in the node table"),
    ("← → h l", "scroll the table's columns (group, pods, age, HyperPod status, type, instance id)"),
    ("Enter", "show or hide the selected node's details (always shown on wide screens)"),
    ("Tab", "move between the table, the details and the log (arrows then scroll them)"),
    ("space", "mark / unmark a node; actions apply to the marked nodes, else to the selected one"),
    ("/", "filter by text (name, instance id, group, type, IP, flags); Esc clears"),
    ("p", "problems only, on / off"),
    ("s / S", "sort by the next key / reverse the order"),
    ("r", "refresh now (the table also refreshes on its own)"),
    ("?", "this help"),
    ("q", "quit"),
)
ACTIONS = (
    ("c", "cordon: no new pods on the node"),
    ("u", "uncordon"),
    ("d", "drain: cordon, then evict its pods (PodDisruptionBudgets respected)"),
    ("x", "delete the Kubernetes node object (asks for the node name)"),
    ("R", "replace the HyperPod instance: destroys its volumes (asks for the node name)"),
    ("b", "reboot the HyperPod instance"),
    ("t", "refresh the join token in Secrets Manager"),
    ("o", "clean up orphans: node objects whose instance is gone"),
    ("Esc", "cancel the running workflow (it stops at the next safe point)"),
)
LEGEND = (
    "GPU/EFA r/a/c: requested / allocatable / capacity; <N: the instance type should have N",
    "STATE: Ready / NotReady / Unknown, 'cordon' when unschedulable, NoNode for an instance not joined",
    "! marks a row with problem flags; * a marked row; … while pod totals load",
)


def _keys(rows: tuple[tuple[str, str], ...]) -> Table:
    t = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), show_header=False)
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    for k, v in rows:
        t.add_row(k, v)
    return t


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]  # noqa: RUF012

    def __init__(self, *, read_only: bool) -> None:
        super().__init__()
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("hpk8s ops dashboard", style="bold"))
            yield Static(_keys(NAVIGATION))
            if self.read_only:
                yield Static(Text("\nread-only: the actions are switched off", style="bold yellow"))
            else:
                yield Static(Text("\nActions (each shows its plan and asks first)", style="bold"))
                yield Static(_keys(ACTIONS))
            yield Static(Text("\n" + "\n".join(LEGEND), style="dim"))
            yield Static(Text("\nEsc, q or ? closes this.", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)
