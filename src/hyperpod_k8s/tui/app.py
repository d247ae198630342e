"""``hpk8s ops dashboard``: the fleet at a glance, and the workflows on keys.

All I/O runs in thread workers that post dataclass messages (:mod:`hyperpod_k8s.tui.messages`);
handlers on the event loop only update widgets. Errors from every worker end in one handler,
:meth:`DashboardApp.report`, which keeps the last good data on screen and marks it stale.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.timer import Timer
from textual.widgets import Input, RichLog
from textual.worker import Worker, WorkerState

from hyperpod_k8s.errors import HpkError
from hyperpod_k8s.ops.events import Cancelled, Event, Kind
from hyperpod_k8s.ops.inventory import Inventory, NodeRow
from hyperpod_k8s.tui import format as fmt
from hyperpod_k8s.tui.data import ClusterFacts, DashboardData, Summary, summarize
from hyperpod_k8s.tui.messages import (
    DetailLoaded,
    FactsLoaded,
    Failed,
    InventoryLoaded,
    PlanReady,
    WorkflowDone,
    WorkflowEvent,
)
from hyperpod_k8s.tui.screens.confirm import ConfirmScreen
from hyperpod_k8s.tui.screens.help import HelpScreen
from hyperpod_k8s.tui.widgets.detail import NodeDetailPane
from hyperpod_k8s.tui.widgets.groups import GroupTable
from hyperpod_k8s.tui.widgets.header import FleetHeader
from hyperpod_k8s.tui.widgets.keybar import KeyBar
from hyperpod_k8s.tui.widgets.node_table import NodeTable

if TYPE_CHECKING:
    from hyperpod_k8s.cli.context import App as AppContext
    from hyperpod_k8s.ops.events import Plan

# Workflow actions: key, action name in ops.workflows, footer label.
ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("c", "cordon", "cordon"),
    ("u", "uncordon", "uncordon"),
    ("d", "drain", "drain"),
    ("x", "delete", "delete"),
    ("R", "replace", "replace"),
    ("b", "reboot", "reboot"),
    ("t", "token-refresh", "token"),
    ("o", "orphans", "orphans"),
)
FLEET_ACTIONS = ("token-refresh", "orphans")  # the plan finds its own targets
TYPED = ("delete", "replace")  # the operator types the node name
WIDE = 140  # columns from which the detail pane sits beside the table
FACTS_EVERY = 10  # refreshes between two reads of the header facts (version, token)


def _method(action: str) -> str:
    return "wf_" + action.replace("-", "_")


class FilterInput(Input):
    """The ``/`` filter; Enter and Escape are the app's priority keys (see DashboardApp.BINDINGS)."""


class DashboardApp(App[None]):
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses elsewhere find it too
    TITLE = "hpk8s ops dashboard"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [  # noqa: RUF012
        Binding("question_mark", "help", "help"),
        # Keys that move the focus are priority bindings, handled by the app as they arrive: keys typed
        # right behind them then reach the new focus, not the widget that had it (type-ahead is safe).
        Binding("slash", "filter", "filter", priority=True),
        Binding("enter", "filter_done", "done", show=False, priority=True),
        Binding("escape", "filter_clear", "clear filter", show=False, priority=True),
        Binding("p", "problems", "problems"),
        Binding("s", "sort", "sort"),
        Binding("S", "sort_reverse", "reverse", show=False),
        Binding("space", "mark", "mark"),
        Binding("r", "refresh", "refresh"),
        *(Binding(key, _method(action), label) for key, action, label in ACTIONS),
        Binding("escape", "cancel_workflow", "cancel workflow"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, data: DashboardData, *, read_only: bool = False, refresh_seconds: float = 10.0,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.data = data
        self.read_only = read_only
        self.refresh_seconds = refresh_seconds
        self.clock = clock or (lambda: datetime.now(UTC))
        self.inventory: Inventory | None = None
        self.summary: Summary | None = None
        self.facts: ClusterFacts | None = None
        self.stale: str | None = None
        self.filter_text = ""
        self.problems_only = False
        self.sort_index = 0
        self.sort_reverse = False
        self.marked: set[str] = set()
        self.show_detail = False
        self.loading = False
        self.refreshes = 0
        self.loads = 0  # complete inventories shown so far
        # For the benchmark and tests: when rows first showed, when the full table did, redraw times.
        self.first_rows_at: float | None = None
        self.full_at: float | None = None
        self.redraw_ms: deque[float] = deque(maxlen=100)
        self.mounted_at: float | None = None
        self.last_load_seconds: float | None = None
        self._cancel: threading.Event | None = None
        self._planning = False
        self._again = False
        self._last_notice: str | None = None
        self._detail_timer: Timer | None = None
        self._detail_row: str | None = None  # the node whose details are shown or on their way
        self._filter_timer: Timer | None = None
        self._refresh_soon: Timer | None = None

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield FleetHeader(id="header")
        yield GroupTable(id="groups")
        yield FilterInput(placeholder="filter: name, instance id, group, type, IP, flag (Esc clears)", id="filter")
        with Container(id="main"):
            yield NodeTable(id="nodes")
            yield NodeDetailPane(id="detail")
        yield RichLog(id="log", max_lines=2000, wrap=True, markup=False)
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        gc.freeze()  # see on_inventory_loaded
        self.mounted_at = time.perf_counter()
        self.query_one(NodeTable).focus()
        self.query_one(RichLog).write(Text("workflow progress appears here", style="dim"))
        self._apply_size()
        self._paint_header()
        self.refresh_inventory()
        self.load_facts()
        if self.refresh_seconds > 0:
            self.set_interval(self.refresh_seconds, self._tick)

    def on_resize(self) -> None:
        self._apply_size()

    def on_unmount(self) -> None:
        self.data.close()

    def _apply_size(self) -> None:
        main = self.query_one("#main")
        wide = self.size.width >= WIDE
        self.screen.set_class(wide, "-wide")
        self.screen.set_class(self.show_detail and not wide, "-detail")
        main.border_title = self._table_title()

    # -- bindings -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        on_main = len(self.screen_stack) == 1
        in_filter = isinstance(self.focused, FilterInput)
        if action == "filter":
            return on_main and not in_filter and not self._planning
        if action in ("filter_done", "filter_clear"):
            return on_main and in_filter
        if self._planning and action in ("problems", "sort", "sort_reverse", "mark"):
            return False  # the keys typed while the plan is made were meant for its modal
        if action.startswith("wf_"):
            # While a plan is being made its modal is not up yet: keys meant for it must not start another.
            return not self.read_only and not self._planning
        if action == "mark":
            return not self.read_only
        if action == "cancel_workflow":
            return self._cancel is not None
        return True

    def action_help(self) -> None:
        self.push_screen(HelpScreen(read_only=self.read_only))

    def action_filter(self) -> None:
        f = self.query_one(FilterInput)
        # display and focus now, not after a refresh: the keys queued behind "/" are filter text.
        f.display = True
        self.screen.set_focus(f)

    def action_filter_done(self) -> None:
        f = self.query_one(FilterInput)
        self._set_filter(f.value)
        self.screen.set_focus(self.query_one(NodeTable))
        f.display = bool(self.filter_text)

    def action_filter_clear(self) -> None:
        f = self.query_one(FilterInput)
        f.value = ""
        self.screen.set_focus(self.query_one(NodeTable))
        f.display = False
        self._set_filter("")

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(0.15, lambda: self._set_filter(event.value))

    def _set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        f = self.query_one(FilterInput)
        f.display = bool(self.filter_text) or f.has_focus
        self._show_rows()

    def on_descendant_blur(self) -> None:
        f = self.query_one(FilterInput)
        if not f.has_focus and not f.value:
            f.display = False

    def action_problems(self) -> None:
        self.problems_only = not self.problems_only
        self._show_rows()

    def action_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(fmt.SORTS)
        self.sort_reverse = False
        self._show_rows()

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._show_rows()

    def action_mark(self) -> None:
        table = self.query_one(NodeTable)
        row = table.current
        if row is None:
            return
        self.marked.symmetric_difference_update({row.name})
        self._show_rows()
        table.action_cursor_down()

    def action_refresh(self) -> None:
        self.refresh_inventory()
        self.load_facts()

    def _tick(self) -> None:
        self.refreshes += 1
        self.refresh_inventory()
        if self.refreshes % FACTS_EVERY == 0:
            self.load_facts()

    def action_cancel_workflow(self) -> None:
        if self._cancel is not None and not self._cancel.is_set():
            self._cancel.set()
            self.log_line(Text("cancelling: the workflow stops at its next safe point…", style="yellow"))

    # -- the table ------------------------------------------------------------------------

    def visible_rows(self) -> list[NodeRow]:
        if self.inventory is None:
            return []
        rows = [r for r in self.inventory.rows if fmt.matches(r, self.filter_text)]
        if self.problems_only:
            rows = [r for r in rows if r.flags]
        sort = fmt.SORTS[self.sort_index]
        rows.sort(key=sort.key, reverse=sort.reverse != self.sort_reverse)
        return rows

    def _table_title(self, shown: int | None = None) -> str:
        parts = [f"nodes (GPU, EFA: req/alloc/cap) · sort: {fmt.SORTS[self.sort_index].label}"
                 f"{' ↕' if self.sort_reverse else ''}"]
        if self.inventory is not None:
            total = len(self.inventory.rows)
            shown = len(self.visible_rows()) if shown is None else shown
            if shown != total:
                parts.append(f"{shown} of {total} shown")
        if self.problems_only:
            parts.append("problems only")
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        if self.marked:
            parts.append(f"{len(self.marked)} marked")
        return " · ".join(parts)

    def _show_rows(self) -> None:
        table = self.query_one(NodeTable)
        shown = None
        if self.inventory is not None:
            if self.marked:
                self.marked &= {r.name for r in self.inventory.rows}
            rows = self.visible_rows()
            shown = len(rows)
            table.show(rows, self.inventory.taken_at, marked=self.marked, pods_loaded=self.inventory.pods_loaded)
        self.query_one("#main").border_title = self._table_title(shown)
        self._detail_for(table.current)

    def _paint_header(self) -> None:
        self.query_one(FleetHeader).render_state(self.facts, self.inventory, self.summary, self.clock(),
                                                 stale=self.stale,
                                                 loading=self.loading, read_only=self.read_only)

    def targets(self) -> list[str]:
        if self.marked:
            return [r.name for r in self.visible_rows() if r.name in self.marked] or sorted(self.marked)
        row = self.query_one(NodeTable).current
        return [row.name] if row is not None else []

    # -- detail pane ----------------------------------------------------------------------

    @on(NodeTable.Selected, "#nodes")
    def _toggle_detail(self) -> None:
        self.show_detail = not self.show_detail
        self._apply_size()
        self._detail_for(self.query_one(NodeTable).current)

    @on(NodeTable.Highlighted, "#nodes")
    def _highlighted(self) -> None:
        self._detail_for(self.query_one(NodeTable).current)

    def _detail_for(self, row: NodeRow | None) -> None:
        """Read the selected node's details once the cursor rests (not on every key of a scroll)."""
        if row is None or not (self.show_detail or self.size.width >= WIDE):
            return
        if self.loads == 0:
            return  # not while the first (large) list loads: on_inventory_loaded asks again after it
        if self._detail_timer is not None:
            self._detail_timer.stop()
        if self._detail_row == row.name:
            return
        self._detail_timer = self.set_timer(0.2, lambda: self._start_detail(row))

    def _start_detail(self, row: NodeRow) -> None:
        self._detail_row = row.name
        self.load_detail(row)

    # -- workers: every network call happens in one of these -----------------------------

    def refresh_inventory(self) -> None:
        if self.loading:
            self._again = True  # one load at a time; another right after it, for what it may miss
            return
        self._again = False
        self.loading = True
        self._load_inventory(first=self.inventory is None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="inventory")
    def _load_inventory(self, first: bool) -> None:
        t0 = time.perf_counter()

        def early(inv: Inventory) -> None:
            self.post_message(InventoryLoaded(inv, summarize(inv), partial=True, seconds=time.perf_counter() - t0))

        inv = self.data.inventory(on_nodes=early if first else None)
        self.post_message(InventoryLoaded(inv, summarize(inv), partial=False, seconds=time.perf_counter() - t0))

    @work(thread=True, exclusive=True, exit_on_error=False, group="facts")
    def load_facts(self) -> None:
        self.post_message(FactsLoaded(self.data.facts()))

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail")
    def load_detail(self, row: NodeRow) -> None:
        self.post_message(DetailLoaded(self.data.detail(row)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def make_plan(self, action: str, nodes: list[str]) -> None:
        self.post_message(PlanReady(self.data.plan(action, nodes)))

    @work(thread=True, exit_on_error=False, group="workflow")
    def run_workflow(self, plan: Plan, cancel: threading.Event) -> None:
        try:
            outcome = self.data.apply(plan, self._reporter, cancel)
        except Cancelled:
            self.post_message(WorkflowDone(None, cancelled=True))
            return
        self.post_message(WorkflowDone(outcome, cancelled=cancel.is_set()))

    def _reporter(self, event: Event) -> None:
        self.post_message(WorkflowEvent(event))  # thread-safe: called from the workflow's thread

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one error handler: whatever a worker raised becomes a notice, never a crash."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if not isinstance(error, HpkError):
            error = HpkError(f"internal error: {type(error).__name__}: {error}",
                             "a bug: please report it with the log pane's content")
        self.post_message(Failed(event.worker.group, error))

    def on_failed(self, m: Failed) -> None:
        self.report(m.where, m.error)

    def report(self, where: str, error: HpkError) -> None:
        text = error.one_line()
        if where == "inventory":
            self.loading = False
            self._again = False
            if self.stale is None:
                self.stale = self.clock().astimezone().strftime("%H:%M:%S")
            self._paint_header()
        elif where == "facts":
            pass
        elif where == "detail":
            self.query_one(NodeDetailPane).query_one("#detail-body").update(  # type: ignore[attr-defined]
                Text(f"could not read the node: {text}", style="bold red"))
            self._detail_row = None
        elif where in ("plan", "workflow"):
            self._planning = False
            if where == "workflow":
                self._cancel = None
                self.refresh_bindings()
            self.log_line(Text(f"{where} failed: {text}", style="bold red"))
        notice = f"{where}: {text}"
        if notice != self._last_notice:  # a dead API fails every refresh: say it once
            self._last_notice = notice
            self.notify(text, title=f"{where} failed", severity="error", timeout=8)
            if where not in ("plan", "workflow"):  # those are logged above
                self.log_line(Text(f"{where} failed: {text}", style="red"))

    # -- what the workers found -----------------------------------------------------------

    def on_inventory_loaded(self, m: InventoryLoaded) -> None:
        t0 = time.perf_counter()
        first = self.inventory is None
        if not m.partial:
            self.loading = False
            self.loads += 1
            if self.loads == 1:
                # Textual, kubernetes, boto3 and the first inventory are long-lived: out of the collector's
                # sight, a full collection no longer walks them (it stalled keys for 100+ ms at 4000 nodes).
                # Refcounting still frees them; only cycles among them would stay.
                gc.freeze()
            self.last_load_seconds = m.seconds
            if self.stale:
                self.stale = None
                self._last_notice = None
                self.notify("the API answers again; data is current", title="recovered", timeout=4)
        self.inventory, self.summary = m.inventory, m.summary
        if not m.partial:
            self._detail_row = None  # the selected node's details are read again with the new data
        self._show_rows()
        self.query_one(GroupTable).show(m.summary, m.inventory.pods_loaded)
        self._paint_header()
        err = m.inventory.fleet_error
        if err is not None and not m.partial:
            notice = f"fleet: {err.one_line()}"
            if notice != self._last_notice:
                self._last_notice = notice
                self.notify(err.one_line(), title="HyperPod instances: read failed or partial", severity="warning",
                            timeout=8)
        if first:
            self.query_one(NodeTable).focus()
        if not m.partial and self._again:
            self.refresh_inventory()
        done = time.perf_counter()
        self.redraw_ms.append((done - t0) * 1000)
        if self.first_rows_at is None:
            self.first_rows_at = done
        if not m.partial and self.full_at is None:
            self.full_at = done

    def on_facts_loaded(self, m: FactsLoaded) -> None:
        self.facts = m.facts
        self._paint_header()

    def on_detail_loaded(self, m: DetailLoaded) -> None:
        if self._detail_row == m.detail.row.name:
            self.query_one(NodeDetailPane).show(m.detail, self.clock())

    # -- workflows ------------------------------------------------------------------------

    def start_action(self, action: str) -> None:
        if self.read_only:
            return
        if self._cancel is not None:
            self.notify("a workflow is running: wait for it, or Esc to cancel it", severity="warning")
            return
        nodes = [] if action in FLEET_ACTIONS else self.targets()
        if action not in FLEET_ACTIONS and not nodes:
            self.notify("select a node first", severity="warning")
            return
        self._planning = True
        self.log_line(Text(f"{action}: planning ({', '.join(nodes) or 'whole fleet'})…", style="dim"))
        self.make_plan(action, nodes)

    def action_wf_cordon(self) -> None:
        self.start_action("cordon")

    def action_wf_uncordon(self) -> None:
        self.start_action("uncordon")

    def action_wf_drain(self) -> None:
        self.start_action("drain")

    def action_wf_delete(self) -> None:
        self.start_action("delete")

    def action_wf_replace(self) -> None:
        self.start_action("replace")

    def action_wf_reboot(self) -> None:
        self.start_action("reboot")

    def action_wf_token_refresh(self) -> None:
        self.start_action("token-refresh")

    def action_wf_orphans(self) -> None:
        self.start_action("orphans")

    def on_plan_ready(self, m: PlanReady) -> None:
        self._planning = False
        plan = m.plan

        def decided(yes: bool | None) -> None:
            if not yes:
                self.log_line(Text(f"{plan.action}: declined, nothing done", style="dim"))
                return
            if not plan.targets:
                return
            self._cancel = threading.Event()
            self.refresh_bindings()
            names = ", ".join(t.node or t.instance_id or "?" for t in plan.targets)
            self.log_line(Text(f"{plan.action} {names}: started", style="bold"))
            self.run_workflow(plan, self._cancel)

        self.push_screen(ConfirmScreen(plan, typed=plan.action in TYPED), decided)

    def on_workflow_event(self, m: WorkflowEvent) -> None:
        e: Event = m.event
        style = {Kind.FAILED: "bold red", Kind.WARNING: "yellow", Kind.FINISHED: "green"}.get(e.kind, "")
        line = Text(f"{e.at.astimezone().strftime('%H:%M:%S')} ", style="dim")
        line.append(f"{e.kind:<8} ", style=style)
        line.append(f"{e.step}", style="bold")
        if e.node:
            line.append(f" {e.node}")
        line.append(f": {e.message}")
        self.log_line(line)
        if e.kind in (Kind.FINISHED, Kind.FAILED, Kind.PROGRESS):
            self._refresh_after(1.0)  # the table follows the nodes while the workflow goes on

    def on_workflow_done(self, m: WorkflowDone) -> None:
        self._cancel = None
        self.refresh_bindings()
        if m.outcome is None:
            self.log_line(Text("workflow cancelled", style="bold yellow"))
        else:
            o = m.outcome
            if o.ok:
                self.log_line(Text(f"{o.action}: done ({', '.join(o.done) or 'nothing to do'})", style="bold green"))
            else:
                failed = "; ".join(f"{k}: {v}" for k, v in o.failed.items())
                self.log_line(Text(f"{o.action}: FAILED for {failed}", style="bold red"))
                self.notify(failed, title=f"{o.action} failed", severity="error", timeout=10)
        self.marked.clear()
        self._refresh_after(0.1)
        if m.outcome is not None and m.outcome.action == "token-refresh":
            self.load_facts()

    def _refresh_after(self, seconds: float) -> None:
        """A refresh soon; one already due stays due (a stream of events must not postpone it forever)."""
        if self._refresh_soon is not None:
            return

        def due() -> None:
            self._refresh_soon = None
            self.refresh_inventory()

        self._refresh_soon = self.set_timer(seconds, due)

    def log_line(self, text: Text) -> None:
        self.query_one(RichLog).write(text)


def create_app(app_ctx: AppContext | None = None, *, read_only: bool = False, refresh_seconds: float = 10.0,
               data: DashboardData | None = None, clock: Callable[[], datetime] | None = None) -> DashboardApp:
    """The dashboard over the command's application object (or a prepared :class:`DashboardData`)."""
    if data is None:
        if app_ctx is None:
            raise ValueError("create_app needs app_ctx or data")
        data = DashboardData(app_ctx)
        data.prewarm()
    return DashboardApp(data, read_only=read_only, refresh_seconds=refresh_seconds, clock=clock)
