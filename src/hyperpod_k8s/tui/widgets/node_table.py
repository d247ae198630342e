"""The node table: a DataTable that takes whole inventories and changes only what changed.

A refresh with the same rows in the same order updates the cells that differ (cursor and scroll stay
put by construction); a different set or order rebuilds the rows and puts the cursor back on the
same node and the scroll where it was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from hyperpod_k8s.ops.inventory import NodeRow
from hyperpod_k8s.tui.format import COLUMNS, row_cells


class NodeTable(DataTable[Any]):
    BINDINGS = [  # noqa: RUF012 - Textual's own convention
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.by_key: dict[str, NodeRow] = {}
        self._order: list[str] = []
        self._cells: dict[str, tuple[Any, ...]] = {}
        self.rebuilds = 0  # for tests and the benchmark: how often the rows were rebuilt
        for c in COLUMNS:
            self.add_column(c.label, key=c.key, width=c.width)

    @property
    def current(self) -> NodeRow | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self.by_key.get(self._order[self.cursor_row])

    def show(self, rows: list[NodeRow], now: datetime, *, marked: set[str], pods_loaded: bool) -> None:
        cells = {r.name: row_cells(r, now, marked=r.name in marked, pods_loaded=pods_loaded) for r in rows}
        order = list(cells)
        self.by_key = {r.name: r for r in rows}
        if order == self._order:
            col_keys = [c.key for c in COLUMNS]
            for key, new in cells.items():
                old = self._cells.get(key)
                if old == new:
                    continue
                for i, (a, b) in enumerate(zip(old or (), new, strict=False)):
                    if a != b:
                        self.update_cell(key, col_keys[i], b)
            self._cells = cells
            return
        current = self._order[self.cursor_row] if 0 <= self.cursor_row < len(self._order) else None
        scroll = self.scroll_offset
        self.clear()
        self.rebuilds += 1
        for key, row in cells.items():
            self.add_row(*row, key=key)
        self._order, self._cells = order, cells
        if current is not None:
            try:
                self.move_cursor(row=self.get_row_index(current), animate=False, scroll=False)
            except RowDoesNotExist:
                self.move_cursor(row=min(self.cursor_row, max(len(order) - 1, 0)), animate=False, scroll=False)
        self.call_after_refresh(self._restore_scroll, scroll.x, scroll.y)

    def _restore_scroll(self, x: float, y: float) -> None:
        """Back where the operator was; only if the cursor's node moved out of sight, follow it."""
        self.scroll_to(x, y, animate=False, immediate=True)
        top, height = int(self.scroll_y), self.scrollable_content_region.height - self.header_height
        if not top <= self.cursor_row < top + max(height, 1):
            self._scroll_cursor_into_view(animate=False)
