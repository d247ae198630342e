"""The roll-up per instance group, with the cluster's total as the last line."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from hyperpod_k8s.ops.inventory import Counts
from hyperpod_k8s.tui.data import Summary


def _c(c: Counts, pods_loaded: bool) -> str:
    req = str(c.requested) if pods_loaded else "…"
    return f"{req}/{c.allocatable}/{c.capacity}/{c.expected or 0}"


class GroupTable(Static):
    shown: tuple[Summary, bool] | None = None

    def on_resize(self) -> None:
        if self.shown is not None:
            self.show(*self.shown)

    def show(self, summary: Summary, pods_loaded: bool) -> None:
        self.shown = (summary, pods_loaded)
        t = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold", expand=False)
        wide = self.size.width >= 100 or self.size.width == 0
        cols = [("GROUP", "left"), ("TYPE", "left"), ("INST", "right"), ("READY", "right"),
                ("GPU r/a/c/exp", "left"), ("EFA r/a/c/exp", "left"), ("PROBLEMS", "right")]
        if not wide:  # 80 columns: the type is in the table, the numbers matter more
            cols[1:2] = []
            cols[-1] = ("PROB", "right")
        for col, just in cols:
            t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
        groups, total = summary.groups, summary.total
        for g in [*groups, total]:
            style = "bold" if g is total else ""
            cells: list[Text | str] = [Text(g.name, style=style)]
            if wide:
                cells.append(g.instance_type or "")
            cells += [str(g.instances), f"{g.ready}/{g.nodes}", _c(g.accel, pods_loaded),
                      _c(g.efa, pods_loaded), Text(str(g.problems), style="bold red" if g.problems else "green")]
            t.add_row(*cells)
        self.update(t)
