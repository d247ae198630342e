"""A footer that wraps instead of scrolling: at 80 columns, without a mouse, every key stays visible."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class KeyBar(Static):
    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _s: self.refresh_keys())
        self.refresh_keys()

    def on_resize(self) -> None:
        self.refresh_keys()

    def refresh_keys(self) -> None:
        """Whole "key label" items per line, so that a key never ends a line without its label."""
        width = max(self.size.width, 20)
        text = Text(no_wrap=True, overflow="ellipsis")
        line = 0
        seen: set[str] = set()
        for _node, binding, enabled, _tip in self.screen.active_bindings.values():
            if not binding.show or not enabled or binding.action in seen:
                continue
            seen.add(binding.action)
            key = self.app.get_key_display(binding)
            item = len(key) + 1 + len(binding.description)
            if line and line + 2 + item > width:
                text.append("\n")
                line = 0
            elif line:
                text.append("  ")
                line += 2
            text.append(key, style="bold reverse")
            text.append(f" {binding.description}")
            line += item
        self.update(text)
