"""The two header lines: where we are, and the fleet's totals; stale data says so."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from hyperpod_k8s.ops.inventory import Counts, Inventory
from hyperpod_k8s.tui.data import ClusterFacts, Summary


def until(expires: datetime | None, now: datetime) -> str:
    """Whole hours (then minutes) until ``expires``: coarse on purpose, so the header does not flicker."""
    if expires is None:
        return "?"
    s = int((expires - now).total_seconds())
    if s <= 0:
        return "EXPIRED"
    if s >= 2 * 86400:
        return f"{s // 86400}d"
    if s >= 3600:
        return f"{s // 3600}h"
    return f"{max(s // 60, 1)}m"


def totals_text(label: str, c: Counts) -> Text:
    t = Text(f"{label} ", style="bold")
    t.append(f"{c.requested}/{c.allocatable}/{c.capacity}/{c.expected or 0}")
    if c.allocatable < c.capacity or (c.expected is not None and c.capacity < c.expected):
        t.stylize("bold red", len(label) + 1)
    return t


class FleetHeader(Static):
    def render_state(self, facts: ClusterFacts | None, inv: Inventory | None, summary: Summary | None,
                     now: datetime, *,
                     stale: str | None, loading: bool, read_only: bool) -> None:
        line1 = Text()
        if facts is not None:
            line1.append(facts.name, style="bold")
            line1.append(f" {facts.region or 'region?'}")
            line1.append(f" · k8s {facts.kubernetes or '?'}")
        else:
            line1.append("…", style="bold")
        if inv is not None and summary is not None:
            tot, joined = summary.total, summary.joined
            line1.append(" · Ready ")
            line1.append(f"{tot.ready}/{joined}", style="bold red" if tot.ready < joined else "bold green")
            if tot.problems:
                line1.append(" · ")
                line1.append(f"{tot.problems} problem{'s' if tot.problems != 1 else ''}", style="bold red")
        if facts is not None:
            line1.append(" · token ")
            left = until(facts.token_expires, now)
            bad = left in ("EXPIRED", "?") or left.endswith("m")
            line1.append(left, style="bold red" if bad else "")
        line2 = Text()
        if stale:  # first, so that it shows at 80 columns too; the error itself is in the notice and the log
            line2.append(f"STALE since {stale}", style="bold reverse red")
            line2.append(" ")
        if read_only:
            line2.append("read-only ", style="bold reverse yellow")
            line2.append(" ")
        if inv is not None and summary is not None:
            tot = summary.total
            line2.append_text(totals_text("GPU", tot.accel))
            line2.append("  ")
            line2.append_text(totals_text("EFA", tot.efa))
            line2.append("  r/a/c/exp", style="dim")
            if not inv.pods_loaded:
                line2.append("  pods loading…", style="yellow")
            if inv.instances_source != "ListClusterNodes":
                line2.append(f"  HyperPod: {inv.instances_source}", style="bold yellow")
            elif not inv.instances_complete:
                line2.append("  HyperPod list incomplete", style="bold yellow")
        elif loading:
            line2.append("loading nodes…", style="yellow")
        line1.no_wrap = line2.no_wrap = True
        line1.overflow = line2.overflow = "ellipsis"
        self.update(Text("\n", no_wrap=True).join([line1, line2]))
