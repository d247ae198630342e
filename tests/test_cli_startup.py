"""`hpk8s --help` must not import the heavy libraries: they belong to the commands that use them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("kubernetes", "boto3", "textual", "questionary")

# Runs the installed console script's function as `hpk8s ARGS` would, then lists what got imported.
CHILD = """
import atexit, json, sys
from importlib.metadata import entry_points
out, pre = sys.argv[1], sys.argv[2]
sys.argv = ["hpk8s", *sys.argv[3:]]
if pre:
    __import__(pre)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
(ep,) = [e for e in entry_points(group="console_scripts") if e.name == "hpk8s"]
ep.load()()
"""


def run_hpk8s(tmp_path: Path, *args: str, preload: str = "") -> tuple[int, str, set[str]]:
    out = tmp_path / "modules.json"
    r = subprocess.run([sys.executable, "-c", CHILD, str(out), preload, *args], capture_output=True, text=True,
                       timeout=60, check=False)
    return r.returncode, r.stdout + r.stderr, {m.split(".")[0] for m in json.loads(out.read_text())}


def test_help_imports_none_of_the_heavy_libraries(tmp_path: Path) -> None:
    code, output, modules = run_hpk8s(tmp_path, "--help")
    assert code == 0 and "Usage: hpk8s" in output and "ops" in output
    assert [m for m in HEAVY if m in modules] == []


@pytest.mark.parametrize("args", [("ops", "--help"), ("ops", "nodes", "--help"), ("--version",)])
def test_subcommand_help_and_version_stay_light(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, _, modules = run_hpk8s(tmp_path, *args)
    assert code == 0
    assert [m for m in HEAVY if m in modules] == []


def test_the_check_sees_a_heavy_import(tmp_path: Path) -> None:
    """The probe is live: a module imported before the CLI runs shows up in its list."""
    _, _, modules = run_hpk8s(tmp_path, "--help", preload="questionary")
    assert "questionary" in modules


def test_usage_errors_exit_2_with_one_message(tmp_path: Path) -> None:
    code, output, _ = run_hpk8s(tmp_path, "ops", "nodes", "--no-such-flag")
    assert code == 2 and "No such option: --no-such-flag" in output and "internal error" not in output
    code, output, _ = run_hpk8s(tmp_path, "no-such-command")
    assert code == 2 and "No such command" in output
