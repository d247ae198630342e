"""The lifecycle scripts: valid bash, strict mode, and they call what exists."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

LCC = Path(__file__).parent.parent / "lcc"
SCRIPTS = sorted(LCC.glob("*.sh"))


def test_scripts_exist() -> None:
    assert {p.name for p in SCRIPTS} >= {"on_create.sh", "build-bundle.sh"}
    assert (LCC / "README.md").exists()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_and_are_strict(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text


def test_on_create_installs_offline_then_bootstraps() -> None:
    text = (LCC / "on_create.sh").read_text()
    assert "--no-index --find-links" in text
    assert "/var/log/provision" in text
    assert text.index("run_slurm_setup\n  local") > text.index("install_hpk8s\n  run_slurm")
    assert "bootstrap --role" in text and "HPK8S_ROLE:-auto" in text


def test_readme_names_the_permissions() -> None:
    text = (LCC / "README.md").read_text()
    assert "secret:hyperpod-*" in text and "sagemaker:DescribeClusterNode" in text
