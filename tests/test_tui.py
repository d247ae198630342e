"""The dashboard driven headless with Pilot on the demo cluster: navigation, filter, modals, errors."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console

from conftest import aws_error
from hyperpod_k8s.cli.context import App as AppContext
from hyperpod_k8s.cli.options import Target
from hyperpod_k8s.demo import moto_ext
from hyperpod_k8s.demo.server import DemoCluster
from hyperpod_k8s.errors import TransientError
from hyperpod_k8s.tui.app import DashboardApp, create_app
from hyperpod_k8s.tui.data import DashboardData
from hyperpod_k8s.tui.screens.confirm import ConfirmScreen
from hyperpod_k8s.tui.widgets.header import FleetHeader
from hyperpod_k8s.tui.widgets.node_table import NodeTable

pytestmark = pytest.mark.usefixtures("demo")


def make_app(**kw: Any) -> DashboardApp:
    return create_app(AppContext(Target()), refresh_seconds=0, **kw)


async def until(pilot: Any, cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {cond}")
        await pilot.pause(0.05)


async def loaded(pilot: Any) -> None:
    app: DashboardApp = pilot.app
    await until(pilot, lambda: app.inventory is not None and app.inventory.pods_loaded and not app.loading
                and app.facts is not None)
    await pilot.pause()


def table(app: DashboardApp) -> NodeTable:
    return app.query_one(NodeTable)


def plain(widget: Any) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


def header(app: DashboardApp) -> str:
    return plain(app.query_one(FleetHeader))


def names(app: DashboardApp) -> list[str]:
    return [r.name for r in app.visible_rows()]


async def test_shows_the_fleet_and_the_planted_faults(demo: DemoCluster) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert table(app).row_count == 18  # 17 nodes (one an orphan) and the instance that never joined
        h = header(app)
        assert "k8s-demo" in h and "v1.33.5" in h and "Ready 16/17" in h and "3 problems" in h
        assert "GPU 100/127/128/136" in h and "EFA 400/512/512/544" in h
        assert "token 16h" in h or "token 17h" in h
        flagged = {r.name: [str(f) for f in r.flags] for r in app.inventory.rows if r.flags}  # type: ignore[union-attr]
        assert flagged[demo.fleet.instances[3].node] == ["failed-device"]


async def test_navigation_and_detail(demo: DemoCluster) -> None:
    app = make_app()
    sick = demo.fleet.instances[3]
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("down", "down", "down")
        assert table(app).current is not None and table(app).current.name == sick.node  # type: ignore[union-attr]
        await pilot.press("enter")
        body = app.query_one("#detail-body")
        await until(pilot, lambda: "llama3-70b-pretrain" in plain(body))
        text = plain(body)
        assert "failed-device" in text and "Conditions" in text and sick.instance_id in text
        assert "Running" in text  # its HyperPod instance
        await pilot.press("enter")  # hides it again
        assert not app.screen.has_class("-detail")
        await pilot.press("j", "k", "k")
        assert table(app).cursor_row == 2


async def test_filter_problems_and_sort(demo: DemoCluster) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"train-b", "enter")
        await until(pilot, lambda: table(app).row_count == 9)
        assert all(app.inventory.find(n).group == "train-b" for n in names(app))  # type: ignore[union-attr]
        assert app.focused is table(app)
        await pilot.press("slash", "escape")
        await until(pilot, lambda: table(app).row_count == 18)
        await pilot.press("p")
        assert table(app).row_count == 3
        await pilot.press("p", "s")  # sort: problems first
        assert set(names(app)[:3]) == {r.name for r in app.inventory.rows if r.flags}  # type: ignore[union-attr]
        await pilot.press("S")
        assert set(names(app)[-3:]) == {r.name for r in app.inventory.rows if r.flags}  # type: ignore[union-attr]


async def test_refresh_keeps_the_cursor(demo: DemoCluster) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("down", "down", "down", "down", "down")
        before = table(app).current
        rebuilds, loads = table(app).rebuilds, app.loads
        await pilot.press("r")
        await until(pilot, lambda: app.loads > loads)
        assert table(app).current is not None and table(app).current.name == before.name  # type: ignore[union-attr]
        assert table(app).rebuilds == rebuilds  # same rows: cells updated in place


def _target(demo: DemoCluster, action: str) -> str | None:
    return {
        "cordon": demo.fleet.instances[15].node,
        "uncordon": demo.fleet.instances[15].node,
        "drain": demo.fleet.instances[15].node,
        "reboot": demo.fleet.instances[15].node,
        "delete": demo.fleet.instances[-1].node,  # the orphan node object
        "replace": demo.fleet.instances[3].node,  # the node with a failed GPU
    }.get(action)


KEYS = {"cordon": "c", "uncordon": "u", "drain": "d", "delete": "x", "replace": "R", "reboot": "b",
        "token-refresh": "t", "orphans": "o"}


async def _open_modal(pilot: Any, app: DashboardApp, demo: DemoCluster, action: str) -> ConfirmScreen:
    node = _target(demo, action)
    if node is not None:
        idx = names(app).index(node)
        table(app).move_cursor(row=idx)
        await pilot.pause()
    await pilot.press(KEYS[action])
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    screen = app.screen
    assert isinstance(screen, ConfirmScreen)
    assert screen.plan.action == action
    if node is not None:
        assert [t.node for t in screen.plan.targets] == [node]
    return screen


@pytest.mark.parametrize("action", list(KEYS))
async def test_each_action_asks_and_no_changes_nothing(demo: DemoCluster, action: str) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        screen = await _open_modal(pilot, app, demo, action)
        plan_text = plain(screen.query_one("#confirm-plan Static"))
        if screen.plan.warnings:
            plan_text += plain(screen.query_one("#confirm-warnings"))
        for t in screen.plan.targets:
            assert (t.node or t.instance_id or "") in plan_text
        if action == "replace":
            assert "volume" in plan_text.lower()  # the modal says replace destroys the instance's volumes
        await pilot.press("n" if screen.word is None else "escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        assert app._cancel is None
        log = "\n".join(str(line.text) for line in app.query_one("#log").lines)  # type: ignore[attr-defined]
        assert f"{action}: declined, nothing done" in log


async def _run_yes(pilot: Any, app: DashboardApp, screen: ConfirmScreen) -> str:
    if screen.word is not None:
        await pilot.press("y")  # does not count: the name must be typed
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press(*"wrong", "enter")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press(*screen.word, "enter")
    else:
        await pilot.press("y")
    await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
    await until(pilot, lambda: app._cancel is None, timeout=60)
    await pilot.pause()
    return "\n".join(str(line.text) for line in app.query_one("#log").lines)  # type: ignore[attr-defined]


async def test_cordon_yes_then_uncordon(demo: DemoCluster) -> None:
    app = make_app()
    node = _target(demo, "cordon")
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        log = await _run_yes(pilot, app, await _open_modal(pilot, app, demo, "cordon"))
        assert "cordon: done" in log
        assert demo.get("v1/nodes", None, node)["spec"]["unschedulable"] is True  # type: ignore[index,arg-type]
        await until(pilot, lambda: app.inventory.find(node).cordoned)  # type: ignore[arg-type,union-attr]
        log = await _run_yes(pilot, app, await _open_modal(pilot, app, demo, "uncordon"))
        assert "uncordon: done" in log
        assert not demo.get("v1/nodes", None, node)["spec"].get("unschedulable")  # type: ignore[index,arg-type]


async def test_delete_yes_needs_the_typed_name(demo: DemoCluster) -> None:
    app = make_app()
    node = _target(demo, "delete")
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        log = await _run_yes(pilot, app, await _open_modal(pilot, app, demo, "delete"))
        assert "delete: done" in log, log
        assert demo.get("v1/nodes", None, node) is None  # type: ignore[arg-type]
        await until(pilot, lambda: node not in names(app))


@pytest.mark.parametrize("action", ["drain", "reboot", "replace", "token-refresh", "orphans"])
async def test_other_actions_yes_run_to_an_outcome(demo: DemoCluster, action: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPK8S_POLL_SECONDS", "0.05")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        screen = await _open_modal(pilot, app, demo, action)
        if not screen.plan.targets:
            pytest.skip(f"{action}: nothing to do on the demo fleet")
        log = await _run_yes(pilot, app, screen)
        assert f"{action}: done" in log or f"{action}: FAILED" in log, log
        assert "started" in log


async def test_read_only_hides_every_action(demo: DemoCluster) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        keys = plain(app.query_one("#keys"))
        assert "help" in keys and "quit" in keys
        for label in ("cordon", "drain", "delete", "replace", "reboot", "token", "orphans"):
            assert label not in keys
        await pilot.press("c", "x", "R", "t")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "read-only" in header(app)


class FlakyData(DashboardData):
    """The real data until ``down`` is set; then every read fails as an unreachable API does."""

    down = False

    def inventory(self, on_nodes: Any = None) -> Any:
        if self.down:
            raise TransientError("list nodes: cannot reach the Kubernetes API: connection refused")
        return super().inventory(on_nodes)


async def test_api_down_keeps_the_last_data_marked_stale() -> None:
    data = FlakyData(AppContext(Target()))
    app = create_app(data=data, refresh_seconds=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        rows = table(app).row_count
        data.down = True
        await pilot.press("r")
        await until(pilot, lambda: app.stale is not None)
        assert "STALE since" in header(app)
        log = "\n".join(str(line.text) for line in app.query_one("#log").lines)  # type: ignore[attr-defined]
        assert "connection refused" in log.replace(" \n", " ")  # the log wraps long lines
        assert table(app).row_count == rows > 0  # the last good data stays on screen
        assert any("connection refused" in str(n.message) for n in app._notifications)
        data.down = False
        await pilot.press("r")
        await until(pilot, lambda: app.stale is None)
        assert "STALE" not in header(app)


async def test_access_denied_on_the_instance_list() -> None:
    moto_ext.faults["list_cluster_nodes"] = aws_error("AccessDeniedException", "not authorized", 400)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert "HyperPod: resource_config.json (offline)" in header(app)
        assert any("AccessDenied" in str(n.message) for n in app._notifications)
        assert not any("orphan" in [str(f) for f in r.flags] for r in app.inventory.rows)  # type: ignore[union-attr]


async def test_the_interface_answers_while_a_load_is_slow() -> None:
    release = asyncio.Event()

    class SlowData(DashboardData):
        def inventory(self, on_nodes: Any = None) -> Any:
            inv = super().inventory(on_nodes)
            while not release.is_set():
                time.sleep(0.02)
            return inv

    app = create_app(data=SlowData(AppContext(Target())), refresh_seconds=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.inventory is not None)  # the early rows, before the pod totals
        assert app.loading
        t0 = time.perf_counter()
        await pilot.press("question_mark")
        assert time.perf_counter() - t0 < 1.0
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        release.set()
        await loaded(pilot)


async def test_refresh_follows_pods_with_a_watch(demo: DemoCluster) -> None:
    from hyperpod_k8s.demo.objects import make_pod

    app = make_app()
    idle = demo.fleet.instances[15].node  # a worker with no GPU job
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        live = app.data.live
        assert live is not None
        await until(pilot, lambda: live.stats.watch_supported is True)
        assert app.inventory.find(idle).accel.requested == 0  # type: ignore[union-attr]
        demo.put("v1/pods", make_pod(name="late-job-0", namespace="training", node=idle, gpu=8, efa=32))
        await until(pilot, lambda: live.stats.watch_events >= 1)
        loads = app.loads
        await pilot.press("r")
        await until(pilot, lambda: app.loads > loads)
        row = app.inventory.find(idle)  # type: ignore[union-attr]
        assert row is not None and row.accel.requested == 8 and row.efa.requested == 32
        assert live.stats.pod_lists == 1  # the pods were listed once; the watch did the rest


def test_the_command_checks_its_options_before_starting(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = cli("ops", "dashboard", "--refresh", "-1")
    assert r.code == 2 and "--refresh" in r.err
    r = cli("ops", "dashboard", "--kubeconfig", str(tmp_path / "nope"))
    assert r.code == 2 and r.err.count("\n") == 1 and "does not exist" in r.err
    # pytest's stdin is no terminal: the dashboard says so instead of drawing into a pipe
    r = cli("ops", "dashboard")
    assert r.code == 2 and r.err.count("\n") == 1 and "needs an interactive terminal" in r.err


def test_help_does_not_import_textual() -> None:
    import subprocess
    import sys

    code = "import sys; from hyperpod_k8s.cli.app import app; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


async def test_columns_scroll_without_a_mouse() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("right")
        assert table(app).scroll_x > 0
        await pilot.press("left")
        assert table(app).scroll_x == 0
