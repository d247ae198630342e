"""Reviewed SVG snapshots of the dashboard on the demo cluster, at 80x24 and 120x40.

The demo fleet's names, instance ids and ages are fixed, the API port is never shown, and the token
expiry is shown in whole hours, so the pictures do not change between runs.
(Update after reviewing: ``pytest tests/test_tui_snapshots.py --snapshot-update``.)
"""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod_k8s.demo.server import DemoCluster
from test_tui import loaded, make_app, names, table

pytestmark = pytest.mark.usefixtures("demo")


def _on(node: str) -> Any:
    async def before(pilot: Any) -> None:
        await loaded(pilot)
        table(pilot.app).move_cursor(row=names(pilot.app).index(node))
        await pilot.pause()

    return before


async def _loaded(pilot: Any) -> None:
    await loaded(pilot)


def test_fleet_80x24(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_loaded)


def test_fleet_120x40_with_detail(snap_compare: Any, demo: DemoCluster) -> None:
    sick = demo.fleet.instances[3].node

    async def before(pilot: Any) -> None:
        await _on(sick)(pilot)
        await pilot.press("enter")
        await pilot.pause(1.0)  # the detail's own reads
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=before)


def test_problems_only_80x24(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_loaded, press=["p"])


def test_cordon_modal_80x24(snap_compare: Any, demo: DemoCluster) -> None:
    async def before(pilot: Any) -> None:
        await _on(demo.fleet.instances[15].node)(pilot)
        await pilot.press("c")
        await pilot.pause(1.0)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=before)


def test_replace_modal_80x24(snap_compare: Any, demo: DemoCluster) -> None:
    async def before(pilot: Any) -> None:
        await _on(demo.fleet.instances[3].node)(pilot)
        await pilot.press("R")
        await pilot.pause(1.0)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=before)


def test_help_120x40(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=_loaded, press=["question_mark"])


def test_read_only_80x24(snap_compare: Any) -> None:
    assert snap_compare(make_app(read_only=True), terminal_size=(80, 24), run_before=_loaded)
