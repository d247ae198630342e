"""The node table: a Line-API widget that renders only the rows on screen.

A DataTable keeps a styled cell object per cell and re-measures on every change; at 4000 rows that
makes a refresh or a filter cost hundreds of milliseconds. Here a refresh swaps the list of rows
(cursor kept on the same node, scroll kept where it was) and a frame renders the visible lines only,
with a cache keyed by the row object, so the cost of a redraw does not grow with the fleet.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hyperpod_k8s.ops.inventory import NodeRow
from hyperpod_k8s.tui.format import COLUMNS, row_cells

_TOTAL_WIDTH = 3 + sum(c.width + 1 for c in COLUMNS)  # a space before the first column, after each, 2 spare
_FROZEN = 1 + sum(c.width + 1 for c in COLUMNS[:2])  # the marker and NODE columns


class NodeTable(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Details", show=False),
        # Without a mouse, the columns right of FLAGS at 80 columns are reached with the arrows.
        Binding("left,h", "columns_left", "Left", show=False),
        Binding("right,l", "columns_right", "Right", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "node-table--header", "node-table--cursor", "node-table--problem", "node-table--warn",
        "node-table--ok", "node-table--dim", "node-table--bold",
    }
    DEFAULT_CSS = """
    NodeTable { background: $surface; }
    NodeTable > .node-table--header { text-style: bold; color: $text; background: $panel; }
    NodeTable > .node-table--cursor { background: $block-cursor-blurred-background; }
    NodeTable:focus > .node-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground;
                                             text-style: bold; }
    NodeTable > .node-table--problem { color: $text-error; text-style: bold; }
    NodeTable > .node-table--warn { color: $text-warning; }
    NodeTable > .node-table--ok { color: $text-success; }
    NodeTable > .node-table--dim { color: $text-muted; }
    NodeTable > .node-table--bold { text-style: bold; }
    """

    class Highlighted(Message):
        def __init__(self, table: NodeTable, row: NodeRow | None) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> NodeTable:
            return self.table

    class Selected(Highlighted):
        pass

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.rows: list[NodeRow] = []
        self.by_key: dict[str, NodeRow] = {}
        self._index: dict[str, int] = {}
        self.cursor_row = 0
        self.marked: set[str] = set()
        self.pods_loaded = True
        self.now: datetime | None = None
        self._lines: dict[int, tuple[NodeRow, bool, Strip]] = {}  # id(row) -> (row, marked, line)
        self._styles: dict[str, Style] = {}
        self._base: Style | None = None
        self.rebuilds = 0  # how often the order of rows changed (tests, benchmark)
        self.virtual_size = Size(_TOTAL_WIDTH, 1)

    # -- data -----------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def current(self) -> NodeRow | None:
        return self.rows[self.cursor_row] if 0 <= self.cursor_row < len(self.rows) else None

    def show(self, rows: list[NodeRow], now: datetime, *, marked: set[str], pods_loaded: bool) -> None:
        before = self.current
        if [r.name for r in rows] != [r.name for r in self.rows]:
            self.rebuilds += 1
        if pods_loaded != self.pods_loaded or now != self.now or marked != self.marked:
            self._lines.clear()
        self.rows, self.now, self.pods_loaded, self.marked = rows, now, pods_loaded, set(marked)
        self.by_key = {r.name: r for r in rows}
        self._index = {r.name: i for i, r in enumerate(rows)}
        live = {id(r) for r in rows}
        self._lines = {k: v for k, v in self._lines.items() if k in live}
        if before is not None and before.name in self._index:
            self.cursor_row = self._index[before.name]
        else:
            self.cursor_row = min(self.cursor_row, max(len(rows) - 1, 0))
        self.virtual_size = Size(_TOTAL_WIDTH, len(rows) + 1)
        self._keep_cursor_visible()
        self.refresh()
        after = self.current
        if (before is None) != (after is None) or (before is not None and after is not None
                                                    and before.name != after.name):
            self.post_message(self.Highlighted(self, after))

    def get_row_index(self, name: str) -> int:
        return self._index[name]

    def move_cursor(self, *, row: int, **_: object) -> None:
        self._set_cursor(row)

    # -- cursor ---------------------------------------------------------------------------

    def _set_cursor(self, row: int) -> None:
        if not self.rows:
            return
        row = max(0, min(row, len(self.rows) - 1))
        if row == self.cursor_row:
            return
        old, top = self.cursor_row, self.scroll_offset.y
        self.cursor_row = row
        self._keep_cursor_visible()
        if self.scroll_offset.y == top:  # only two lines changed: redraw those two
            self.refresh_line(old + 1)
            self.refresh_line(row + 1)
        else:
            self.refresh()
        self.post_message(self.Highlighted(self, self.current))

    def _page(self) -> int:
        return max(self.scrollable_content_region.height - 2, 1)

    def _keep_cursor_visible(self) -> None:
        height = max(self.scrollable_content_region.height - 1, 1)  # minus the header line
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + height:
            self.scroll_to(y=self.cursor_row - height + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self._set_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._set_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self._set_cursor(self.cursor_row - self._page())

    def action_page_down(self) -> None:
        self._set_cursor(self.cursor_row + self._page())

    def action_first(self) -> None:
        self._set_cursor(0)

    def action_last(self) -> None:
        self._set_cursor(len(self.rows) - 1)

    def action_columns_left(self) -> None:
        self.scroll_to(x=max(self.scroll_x - 20, 0), animate=False)

    def action_columns_right(self) -> None:
        self.scroll_to(x=self.scroll_x + 20, animate=False)

    def action_select(self) -> None:
        self.post_message(self.Selected(self, self.current))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self._set_cursor(int(self.scroll_y) + event.y - 1)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.refresh()

    # -- rendering ------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = (self.get_component_rich_style(f"node-table--{name}") if name
                                          else Style.null())
        return style

    def _header(self) -> Strip:
        style = self._style("header")
        return Strip([Segment(" ", style), *(Segment(f"{c.label:<{c.width}.{c.width}} ", style) for c in COLUMNS),
                      Segment("  ", style)])

    def _line(self, row: NodeRow) -> Strip:
        marked = row.name in self.marked
        hit = self._lines.get(id(row))
        if hit is not None and hit[0] is row and hit[1] == marked:
            return hit[2]
        assert self.now is not None
        segments: list[Segment] = [Segment(" ")]
        for col, pieces in zip(COLUMNS, row_cells(row, self.now, marked=marked, pods_loaded=self.pods_loaded),
                               strict=True):
            used = 0
            for text, style in pieces:
                text = text[: col.width - used]
                if text:
                    segments.append(Segment(text, self._style(style)))
                    used += len(text)
            segments.append(Segment(" " * (col.width - used + 1)))
        segments.append(Segment("  "))
        strip = Strip(segments, _TOTAL_WIDTH)
        self._lines[id(row)] = (row, marked, strip)
        return strip

    def _view(self, strip: Strip, x: int, width: int, fill: Style | None) -> Strip:
        """The marker and NODE columns stay put; the columns right of them scroll by ``x``."""
        if x <= 0 or width <= _FROZEN:
            return strip.crop_extend(x, x + width, fill)
        return Strip.join([strip.crop(0, _FROZEN), strip.crop_extend(_FROZEN + x, x + width, fill)])

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        x = int(self.scroll_x)
        base = self._base
        if base is None:
            base = self._base = self.rich_style
        if y == 0:
            return self._view(self._header(), x, width, self._style("header")).apply_style(base)
        i = int(self.scroll_y) + y - 1
        if i >= len(self.rows):
            return Strip.blank(width, base)
        strip = self._line(self.rows[i])
        if i == self.cursor_row:
            cursor = self._style("cursor")
            return self._view(strip.apply_style(cursor), x, width, cursor).apply_style(base)
        return self._view(strip, x, width, None).apply_style(base)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()
        self._styles.clear()
        self._base = None
