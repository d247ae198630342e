"""Scale benchmark: the dashboard over a 4000-node, 80000-pod cluster served on 127.0.0.1.

    python bench/dashboard.py                      # full scale (about a minute)
    python bench/dashboard.py --nodes 1000 --pods 20000

The synthetic fleet and its HTTP server come from bench/inventory.py and bench/fakeapi.py. Two child
processes, so each peak RSS is its own: ``build`` times ``inventory.build`` alone (the reference), and
``dashboard`` drives the real app headless with Textual's Pilot at 200x60 and measures:

- first rows: start of the app -> the node table has rows (before the pod totals arrive);
- full table: start -> the table shows the complete inventory; target within 1.5x of ``build``;
- refresh: ``r`` -> the new inventory is on screen; redraw = the table update on the event loop;
- key latency: ``down`` presses in the 4000-row table, ``p`` (problems only) and back, while the first
  pod list is still loading (rows shown, about six keys a second), while idle and while a refresh runs
  in the background;
- longest garbage-collector pause over the whole run, and the peak RSS (the dashboard's plus that of
  the child process that reads the first pod list, ops/pod_worker.py: both peaks, added).

Run with HPK8S_POD_WORKER=0 to see the dashboard read the pods in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGETS = {"first_rows_s": 1.0, "full_ratio": 1.5, "redraw_ms": 50.0, "key_ms": 100.0, "gc_ms": 100.0,
           "rss_mb": 350.0}


def _peak_rss_mb() -> float:
    """VmHWM: this process's own peak (ru_maxrss would include the parent's RSS at fork time)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_build(kubeconfig: str) -> dict[str, Any]:
    from inventory import child_inventory

    r: dict[str, Any] = child_inventory(kubeconfig, False)
    r["peak_rss_mb"] = _peak_rss_mb()
    return r


_frames: list[float] = []


def hook_frames(screen: Any) -> None:
    """Note when each frame reaches the (headless) terminal: a key's latency ends at the next one."""
    original = screen._compositor_refresh

    def refresh() -> None:
        original()
        _frames.append(time.perf_counter())

    screen._compositor_refresh = refresh


async def _press_ms(pilot: Any, key: str) -> float:
    """Key press -> the frame that shows its effect, as a terminal would deliver it (no waiting for idle,
    which would also wait for a background refresh to end)."""
    seen = len(_frames)
    t0 = time.perf_counter()
    pilot.app.simulate_key(key)
    while len(_frames) == seen or _frames[-1] <= t0:
        if time.perf_counter() - t0 > 5:
            break
        await asyncio.sleep(0.0005)
    latency = ((_frames[-1] if len(_frames) > seen else time.perf_counter()) - t0) * 1000
    await asyncio.sleep(0.02)  # a person's keys come tens of milliseconds apart at the very least
    return latency


async def drive(kubeconfig: str) -> dict[str, Any]:
    from hyperpod_k8s.cli.context import App as AppContext
    from hyperpod_k8s.cli.options import Target
    from hyperpod_k8s.tui.app import create_app
    from hyperpod_k8s.tui.widgets.node_table import NodeTable
    from inventory import GcProbe

    ctx = AppContext(Target(kubeconfig=kubeconfig))
    app = create_app(ctx, refresh_seconds=0)
    probe = GcProbe()
    t_start = time.perf_counter()
    out: dict[str, Any] = {}
    async with app.run_test(size=(200, 60)) as pilot:
        table = app.query_one(NodeTable)
        hook_frames(app.screen)
        loading: list[float] = []
        while app.loads < 1:
            # not pilot.pause: its waiting for idle would compete with the load
            if app.first_rows_at is not None:  # rows are up, pods still coming: a person moves about
                loading.append(await _press_ms(pilot, "down" if len(loading) % 2 == 0 else "up"))
                await asyncio.sleep(0.13)  # some 6 keys a second
            else:
                await asyncio.sleep(0.05)
        await pilot.pause()
        out["key_during_load_ms"] = {"median": statistics.median(loading) if loading else None,
                                     "max": max(loading) if loading else None, "presses": len(loading)}
        assert app.first_rows_at is not None and app.full_at is not None
        out["first_rows_s"] = app.first_rows_at - t_start
        out["full_s"] = app.full_at - t_start
        out["mounted_s"] = (app.mounted_at or t_start) - t_start
        out["first_load_s"] = app.last_load_seconds
        out["prepare_s"] = app.data.prepare_s
        assert app.data.live is not None
        out["load_nodes_s"] = app.data.live.stats.nodes_s
        out["load_pods_s"] = app.data.live.stats.pods_s
        out["load_total_s"] = app.data.live.stats.total_s
        worker = app.data.live.stats.worker  # the first pod list's child process (ops/pod_worker.py)
        out["worker_used"] = worker is not None
        out["worker_setup_s"] = worker.setup_s if worker else 0.0
        out["worker_list_s"] = worker.list_s if worker else 0.0
        out["worker_rss_mb"] = worker.peak_rss_mb if worker else 0.0
        out["worker_error"] = app.data.live.stats.worker_error
        out["rows"] = table.row_count
        out["first_redraw_ms"] = app.redraw_ms[0]
        out["full_redraw_ms"] = app.redraw_ms[-1]
        keys = [await _press_ms(pilot, "down") for _ in range(30)]
        keys += [await _press_ms(pilot, "pagedown") for _ in range(5)]
        out["key_idle_ms"] = {"median": statistics.median(keys), "max": max(keys)}
        toggles = [await _press_ms(pilot, "p"), await _press_ms(pilot, "p")]
        out["problems_toggle_ms"] = max(toggles)
        await pilot.pause(0.3)
        n_redraw = len(app.redraw_ms)
        cursor = table.cursor_row
        order = [r.name for r in table.rows]
        t0 = time.perf_counter()
        app.simulate_key("r")
        busy: list[float] = []
        while app.loads < 2:
            busy.append(await _press_ms(pilot, "down" if len(busy) % 2 == 0 else "up"))
        out["refresh_s"] = time.perf_counter() - t0
        live = app.data.live
        out["pod_lists"] = live.stats.pod_lists if live else None
        out["watch_events"] = live.stats.watch_events if live else None
        out["refresh_redraw_ms"] = max(list(app.redraw_ms)[n_redraw:])
        out["refresh_rebuilt_rows"] = table.rebuilds > 1
        # The keys above alternate down/up: an odd number of them leaves the cursor one row lower.
        current = table.current
        out["cursor_kept"] = current is not None and current.name == order[cursor + len(busy) % 2]
        out["key_idle_all_ms"] = [round(k, 1) for k in keys]
        out["key_during_refresh_ms"] = {"median": statistics.median(busy) if busy else None,
                                        "max": max(busy) if busy else None, "presses": len(busy)}
    gc.callbacks.remove(probe)
    out.update(probe.as_dict())
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def watching_server(store: Any, *, changes_per_second: float) -> Any:
    """bench/fakeapi.py's server, plus pod watches: a chunked stream of MODIFIED events (existing pods,
    re-sent as they are) at the given rate, until the client hangs up or ``timeoutSeconds`` ends."""
    from http.server import BaseHTTPRequestHandler
    from urllib.parse import parse_qs, urlsplit

    from fakeapi import FakeApiServer

    srv = FakeApiServer(store)
    base: type[BaseHTTPRequestHandler] = srv.httpd.RequestHandlerClass  # type: ignore[assignment]
    pods = store.kinds["/api/v1/pods"].objects

    class Handler(base):  # type: ignore[valid-type,misc]
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if q.get("watch") not in ("true", "1") or url.path.rstrip("/") != "/api/v1/pods":
                super().do_GET()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            deadline = time.monotonic() + float(q.get("timeoutSeconds") or 60)
            i = 0
            try:
                while time.monotonic() < deadline:
                    line = b'{"type":"MODIFIED","object":' + pods[i % len(pods)] + b"}\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
                    i += 1
                    time.sleep(1 / changes_per_second)
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            self.close_connection = True

    srv.httpd.RequestHandlerClass = Handler
    return srv


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure, the median over the runs (of each run's maximum, for the worst-case figures)."""
    out: dict[str, Any] = dict(runs[len(runs) // 2])
    for key, value in runs[0].items():
        if isinstance(value, bool):
            out[key] = all(r[key] for r in runs)
        elif isinstance(value, int | float):
            out[key] = statistics.median(r[key] for r in runs)
        elif isinstance(value, dict) and all(isinstance(v, int | float) or v is None for v in value.values()):
            out[key] = {k: (statistics.median(r[key][k] for r in runs) if v is not None else None)
                        for k, v in value.items()}
    out["runs"] = len(runs)
    return out


def run_child(kind: str, kubeconfig: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HPK8S_", "SAGEMAKER_", "KUBECONFIG"))}
    if "HPK8S_POD_WORKER" in os.environ:
        env["HPK8S_POD_WORKER"] = os.environ["HPK8S_POD_WORKER"]
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["SAGEMAKER_RESOURCE_CONFIG_PATH"] = "/nonexistent/resource_config.json"
    r = subprocess.run([sys.executable, __file__, "--child", kind, "--kubeconfig", kubeconfig],
                       capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        raise SystemExit(f"child {kind} failed:\n{r.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/dashboard.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=4000)
    p.add_argument("--pods", type=int, default=80000)
    p.add_argument("--pod-changes", type=float, default=20.0, metavar="N",
                   help="pod changes per second on the watch stream (default 20).")
    p.add_argument("--repeat", type=int, default=3, help="runs of each child; medians are shown (default 3).")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE.")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child == "build":
        print(json.dumps(child_build(args.kubeconfig), default=str))
        return 0
    if args.child == "dashboard":
        print(json.dumps(asyncio.run(drive(args.kubeconfig)), default=str))
        return 0

    from inventory import ACTIVE, PAGE, build_store, write_kubeconfig

    print(f"generating {args.nodes} nodes and {args.pods} pods ...", flush=True)
    store, _truth, stats = build_store(args.nodes, args.pods)
    store.prerender("/api/v1/nodes", "", PAGE, False)
    store.prerender("/api/v1/pods", ACTIVE, PAGE, False)
    print(f"  {stats['pods_mb']:.0f} MB of pod JSON, {stats['nodes_mb']:.0f} MB of node JSON", flush=True)
    gc.collect()
    gc.freeze()
    with watching_server(store, changes_per_second=args.pod_changes) as srv, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = write_kubeconfig(srv.url, tmp)
        builds, dashes = [], []
        for i in range(args.repeat):
            print(f"run {i + 1}/{args.repeat}: inventory.build (reference), then the dashboard headless ...",
                  flush=True)
            builds.append(run_child("build", kubeconfig))
            dashes.append(run_child("dashboard", kubeconfig))
            print(f"  build {builds[-1]['wall']:.2f} s; dashboard: rows {dashes[-1]['first_rows_s']:.2f} s, "
                  f"full {dashes[-1]['full_s']:.2f} s", flush=True)
    build, dash = _median(builds), _median(dashes)

    ratio = dash["full_s"] / build["wall"]
    rows = [
        ("node rows visible after start", f"{dash['first_rows_s']:.2f} s", f"< {TARGETS['first_rows_s']:.0f} s",
         dash["first_rows_s"] < TARGETS["first_rows_s"]),
        ("full table after start", f"{dash['full_s']:.2f} s ({ratio:.2f}x build {build['wall']:.2f} s)",
         f"< {TARGETS['full_ratio']}x", ratio < TARGETS["full_ratio"]),
        ("  clients set up in the app (imports, kubeconfig)", f"{dash['prepare_s']:.2f} s", "", True),
        ("  the load in the app (nodes at / total)",
         f"{dash['load_nodes_s']:.2f} / {dash['load_total_s']:.2f} s (build alone {build['wall']:.2f} s)", "", True),
        ("  pod list child: set up / list and fold",
         f"{dash['worker_setup_s']:.2f} / {dash['worker_list_s']:.2f} s" if dash["worker_used"] else
         f"not used: {dash['worker_error'] or 'HPK8S_POD_WORKER=0'}", "", True),
        ("refresh (r -> new data shown)",
         f"{dash['refresh_s']:.2f} s (pods listed {dash['pod_lists']:.0f}x, {dash['watch_events']:.0f} watch events)",
         "in the background", True),
        ("redraw on refresh (table update)", f"{dash['refresh_redraw_ms']:.1f} ms", f"< {TARGETS['redraw_ms']:.0f} ms",
         dash["refresh_redraw_ms"] < TARGETS["redraw_ms"]),
        ("first / full table fill", f"{dash['first_redraw_ms']:.0f} / {dash['full_redraw_ms']:.0f} ms", "", True),
        ("key press, idle (median / max)",
         f"{dash['key_idle_ms']['median']:.1f} / {dash['key_idle_ms']['max']:.1f} ms", f"< {TARGETS['key_ms']:.0f} ms",
         dash["key_idle_ms"]["max"] < TARGETS["key_ms"]),
        ("key press while the pods load (median / max)",
         "-" if dash["key_during_load_ms"]["max"] is None else
         f"{dash['key_during_load_ms']['median']:.1f} / {dash['key_during_load_ms']['max']:.1f} ms "
         f"({dash['key_during_load_ms']['presses']} presses)", f"< {TARGETS['key_ms']:.0f} ms",
         dash["key_during_load_ms"]["max"] is not None and dash["key_during_load_ms"]["max"] < TARGETS["key_ms"]),
        ("key press during refresh (median / max)",
         "-" if dash["key_during_refresh_ms"]["max"] is None else
         f"{dash['key_during_refresh_ms']['median']:.1f} / {dash['key_during_refresh_ms']['max']:.1f} ms "
         f"({dash['key_during_refresh_ms']['presses']} presses)", f"< {TARGETS['key_ms']:.0f} ms",
         dash["key_during_refresh_ms"]["max"] is not None and dash["key_during_refresh_ms"]["max"] < TARGETS["key_ms"]),
        ("problems-only toggle (4000 rows)", f"{dash['problems_toggle_ms']:.1f} ms", f"< {TARGETS['key_ms']:.0f} ms",
         dash["problems_toggle_ms"] < TARGETS["key_ms"]),
        ("longest GC pause", f"{dash['gc_longest_s'] * 1000:.1f} ms (gen {dash['gc_longest_gen']})",
         f"< {TARGETS['gc_ms']:.0f} ms", dash["gc_longest_s"] * 1000 < TARGETS["gc_ms"]),
        ("peak RSS, dashboard + pod list child",
         f"{dash['peak_rss_mb'] + dash['worker_rss_mb']:.0f} MB ({dash['peak_rss_mb']:.0f} + "
         f"{dash['worker_rss_mb']:.0f}; build alone {build['peak_rss_mb']:.0f} MB)",
         f"< {TARGETS['rss_mb']:.0f} MB", dash["peak_rss_mb"] + dash["worker_rss_mb"] < TARGETS["rss_mb"]),
        ("cursor kept across refresh", str(dash["cursor_kept"]), "", dash["cursor_kept"]),
    ]
    print(f"\nhpk8s ops dashboard, {dash['rows']} rows ({args.nodes} nodes, {args.pods} pods), "
          f"medians of {args.repeat} runs:")
    w = max(len(r[0]) for r in rows)
    for name, value, target, ok in rows:
        print(f"  {name:<{w}}  {value:<44} {target:<18} {'ok' if ok else 'MISSED'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"build": build, "dashboard": dash, "builds": builds,
                                               "dashboards": dashes}, indent=2, default=str))
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
