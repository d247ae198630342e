"""How long ``hpk8s --help`` takes, and which heavy libraries it drags in.

    python bench/cli_startup.py            # median of 21 runs, target < 250 ms
    python bench/cli_startup.py -n 51 --importtime

Each run is a fresh ``hpk8s --help`` process (the console script beside this interpreter). The
interpreter alone and ``import typer`` are timed the same way, as the floor nobody can go under.
A child running the same entry point reports which modules it imported; kubernetes, boto3, textual
and questionary must not be among them (they belong to the commands that use them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_MS = 250.0
FORBIDDEN = ("kubernetes", "boto3", "botocore", "textual", "questionary")
WATCHED = (*FORBIDDEN, "moto", "kmock", "aiohttp", "urllib3", "yaml", "msgspec", "rich", "pydantic", "click",
           "typer", "markdown_it", "pygments")

# Runs the installed console script's function as `hpk8s ARGS` would, then lists what got imported.
CHILD = """
import atexit, json, sys
from importlib.metadata import entry_points
out = sys.argv[1]
sys.argv = ["hpk8s", *sys.argv[2:]]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
(ep,) = [e for e in entry_points(group="console_scripts") if e.name == "hpk8s"]
ep.load()()
"""


def hpk8s_command() -> list[str]:
    script = Path(sys.executable).with_name("hpk8s")
    if script.exists():
        return [str(script)]
    found = shutil.which("hpk8s")
    return [found] if found else [sys.executable, "-m", "hyperpod_k8s"]


def time_runs(argv: list[str], n: int, warmup: int = 2) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) milliseconds of each run. CPU time is what a busy machine
    inflates least: wall time on a loaded 2-core box can double."""
    env = {**os.environ, "COLUMNS": "100"}
    # The warm-up writes the bytecode caches an installed package has (pip compiles at install);
    # with PYTHONDONTWRITEBYTECODE=1 an editable checkout would recompile its sources on every run.
    warm_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(warmup):
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=warm_env, check=False)
    walls, cpus = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, status, ru = os.wait4(proc.pid, 0)
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((ru.ru_utime + ru.ru_stime) * 1000)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
    return walls, cpus


def imported_modules(args: list[str], tmp: Path) -> list[str]:
    out = tmp / "modules.json"
    subprocess.run([sys.executable, "-c", CHILD, str(out), *args], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return list(json.loads(out.read_text()))


def importtime_top(args: list[str], top: int) -> list[tuple[int, str]]:
    r = subprocess.run([sys.executable, "-X", "importtime", "-c",
                        "import sys; sys.argv = ['hpk8s', *sys.argv[1:]]\n"
                        "from hyperpod_k8s.cli.app import main\nmain()", *args],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    rows = []
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = (p.strip() for p in line[len("import time:"):].split("|"))
            if cumulative.isdigit():
                rows.append((int(cumulative), name))
    rows.sort(reverse=True)
    return rows[:top]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/cli_startup.py", description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=21, help="timed runs of each command (default 21)")
    p.add_argument("--args", default="--help", help="arguments to hpk8s (default: --help)")
    p.add_argument("--importtime", action="store_true", help="also show the slowest imports (-X importtime)")
    args = p.parse_args(argv)
    hargs = args.args.split()

    import tempfile

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    rows = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import typer'", [sys.executable, "-c", "import typer"]),
        (f"hpk8s {args.args}", [*hpk8s_command(), *hargs]),
    ]
    medians = {}
    for label, cmd in rows:
        t, cpu = time_runs(cmd, args.n)
        medians[label] = statistics.median(t)
        print(f"{label:<28} wall median {medians[label]:5.0f} ms (min {min(t):4.0f}, max {max(t):4.0f}); "
              f"CPU median {statistics.median(cpu):5.0f} ms  (n={len(t)})")
    with tempfile.TemporaryDirectory() as tmp:
        mods = imported_modules(hargs, Path(tmp))
    tops = sorted({m.split(".")[0] for m in mods})
    loaded = [m for m in WATCHED if m in tops]
    bad = [m for m in FORBIDDEN if m in tops]
    print(f"modules imported: {len(mods)}; of the watched ones: {', '.join(loaded) or 'none'}")
    if args.importtime:
        print("slowest imports (cumulative, one run, inflated by -X importtime):")
        for us, name in importtime_top(hargs, 15):
            print(f"  {us / 1000:7.1f} ms  {name}")
    med = medians[f"hpk8s {args.args}"]
    ok_time = med < TARGET_MS
    print()
    print(f"{'PASS' if ok_time else 'FAIL'}  hpk8s {args.args} median {med:.0f} ms (target < {TARGET_MS:.0f} ms)")
    print(f"{'PASS' if not bad else 'FAIL'}  none of {', '.join(FORBIDDEN)} imported" + (f": {bad}" if bad else ""))
    return 0 if ok_time and not bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
