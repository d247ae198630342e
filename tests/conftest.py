"""Test harness: the demo cluster (Kubernetes emulator + moto server over HTTP) and a CLI runner."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hyperpod_k8s.demo import moto_ext
from hyperpod_k8s.demo.server import DemoCluster

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's kubeconfig, AWS profile or HyperPod files."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "HPK8S_", "KUBECONFIG", "SAGEMAKER_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HPK8S_RETRY_DELAYS", "0.01,0.01,0.01")
    monkeypatch.setenv("COLUMNS", "200")
    moto_ext.faults.clear()
    yield
    moto_ext.faults.clear()


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoCluster]:
    """A freshly seeded demo cluster; the environment points hpk8s at it."""
    with DemoCluster(provisioning_seconds=0.5) as d:
        assert d.endpoints is not None
        for k, v in d.endpoints.env().items():
            monkeypatch.setenv(k, v)
        yield d


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``hpk8s ARGS`` in-process through the real entry point (error handling included)."""
    from hyperpod_k8s.cli import render
    from hyperpod_k8s.cli.app import main

    def run(*args: str) -> Result:
        render._out = render._err = None  # fresh consoles bound to the captured streams
        capsys.readouterr()
        try:
            main(list(args))
        except SystemExit as e:
            code = int(e.code or 0)
        else:  # pragma: no cover - main always exits
            code = 0
        cap = capsys.readouterr()
        return Result(code, cap.out, cap.err)

    return run


def aws_error(code: str, message: str, status: int = 400):  # type: ignore[no-untyped-def]
    """A fault for moto_ext.faults: the operation answers with this AWS error."""
    from moto.core.exceptions import JsonRESTError

    def fault(_params: dict) -> None:  # type: ignore[type-arg]
        err = JsonRESTError(code, message)
        err.code = status
        raise err

    return fault


sys.path.insert(0, str(Path(__file__).parent))
