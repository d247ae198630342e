"""`hpk8s bootstrap` as a user runs it: dry-run plans from the sample files, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA

RC = str(DATA / "resource_config.json")
PP = str(DATA / "provisioning_parameters.json")


def dry(cli, *extra: str):  # type: ignore[no-untyped-def]
    return cli("bootstrap", "--dry-run", "--resource-config", RC, "--provisioning-parameters", PP, *extra)


@pytest.mark.parametrize(("role", "last"), [("worker", "[6/6] kubeadm-join"), ("controller", "[11/11] wait-ready")])
def test_dry_run_prints_the_whole_plan(cli, tmp_path: Path, role: str, last: str) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "bootstrap.log"
    r = dry(cli, "--role", role, "--log-file", str(log))
    assert r.code == 0, r.err
    assert f"the plan for {role} on i-" in r.out and last in r.out
    for step in ("modules", "sysctl", "swap", "containerd", "packages"):
        assert f"] {step}:" in r.out
    assert "settings (defaults):" in r.out and "kubernetes_version = 1.35" in r.out
    assert not log.exists()


def test_auto_with_a_given_address(cli) -> None:  # type: ignore[no-untyped-def]
    r = dry(cli, "--role", "auto", "--node-ip", "10.1.113.28")
    assert r.code == 0, r.err
    assert "the plan for controller on i-07259dd159a1c7130 (ControllerGroup, ml.m5.2xlarge, 10.1.113.28)" in r.out
    r = dry(cli, "--node-ip", "10.1.29.16")
    assert "the plan for worker on i-0cc2532921ec06344" in r.out


def test_auto_refuses_an_address_that_is_not_in_the_cluster(cli) -> None:  # type: ignore[no-untyped-def]
    r = dry(cli, "--node-ip", "192.0.2.7")
    assert r.code == 2 and r.err.count("\n") == 1
    assert r.err.startswith("error: this instance's address 192.0.2.7 is not in")


def test_a_real_run_needs_root(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    r = cli("bootstrap", "--role", "worker", "--resource-config", RC, "--provisioning-parameters", PP)
    assert r.code == 2 and "must run as root" in r.err and "--dry-run" in r.err


@pytest.mark.parametrize(("setup", "message"), [
    ("malformed", "is not valid JSON"),
    ("bad-cidr", "pod_cidr '10.244.0.0/99' is not a network"),
    ("small-cidr", "pod_cidr 10.244.0.0/23 holds 2 node subnets of /24 but the cluster has 3 instances"),
    ("typo", "unknown setting(s) pod_cdir"),
    ("no-controller-group", "instance group 'Nope' is not in"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(cli, tmp_path: Path, setup: str, message: str) -> None:  # type: ignore[no-untyped-def]
    rc, pp, cfg = RC, PP, tmp_path / "hpk8s.toml"
    extra: list[str] = []
    if setup == "malformed":
        bad = tmp_path / "resource_config.json"
        bad.write_text('{"ClusterConfig": {')
        rc = str(bad)
    elif setup == "no-controller-group":
        bad = tmp_path / "pp.json"
        bad.write_text(json.dumps({"controller_group": "Nope"}))
        pp = str(bad)
    else:
        cfg.write_text({"bad-cidr": 'pod_cidr = "10.244.0.0/99"\n', "small-cidr": 'pod_cidr = "10.244.0.0/23"\n',
                        "typo": 'pod_cdir = "10.0.0.0/16"\n'}[setup])
        extra = ["--config", str(cfg)]
    r = cli("bootstrap", "--role", "worker", "--dry-run", "--resource-config", rc, "--provisioning-parameters", pp,
            *extra)
    assert r.code in (2, 3), r
    assert r.err.startswith("error: ") and r.err.count("\n") == 1, r.err
    assert message in r.err


def test_more_than_one_controller_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(Path(RC).read_text())
    ctl = data["InstanceGroups"][0]
    ctl["Instances"].append(dict(ctl["Instances"][0], InstanceId="i-0aaaaaaaaaaaaaaaa", CustomerIpAddress="10.1.1.1"))
    rc = tmp_path / "rc.json"
    rc.write_text(json.dumps(data))
    r = cli("bootstrap", "--dry-run", "--resource-config", str(rc), "--provisioning-parameters", PP)
    assert r.code == 2 and "controller group ControllerGroup has 2 instances" in r.err


def test_bad_role_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    r = dry(cli, "--role", "master")
    assert r.code == 2


def test_the_command_module_imports_nothing_heavy() -> None:
    code = ("import sys, hyperpod_k8s.cli.bootstrap as b; "
            "heavy = [m for m in ('boto3', 'botocore', 'kubernetes', 'textual', 'hyperpod_k8s.bootstrap.run') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
