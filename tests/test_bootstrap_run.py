"""Whole bootstrap runs: pretend instances (tests/test_bootstrap_machine.py) against moto's Secrets Manager.

Controller and workers run in threads with fake clocks (real sleeps of a few milliseconds), so a
worker that starts first really polls the secret until the controller has published it.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import DATA
from hyperpod_k8s.bootstrap.run import Options, bootstrap
from hyperpod_k8s.errors import AuthError, ExitCode, TimeoutExpired
from hyperpod_k8s.join_info import JoinInfo, ca_cert_hash
from test_bootstrap_machine import Clock, Cluster, Crash, Machine

CONTROLLER_IP, WORKER1_IP, WORKER2_IP = "10.1.113.28", "10.1.38.128", "10.1.29.16"
SECRET = "hyperpod-k8s-kb8v11zrrpvr"
REGION = "us-west-2"
FULL_TOKEN = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """boto3 (and so hpk8s) pointed at moto, with no secrets in it; returns a Secrets Manager client."""
    import boto3
    from moto.secretsmanager.models import secretsmanager_backends

    secretsmanager_backends.reset()
    for k, v in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                 "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    return boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_endpoint)


def secret(aws: Any) -> dict[str, Any]:
    return json.loads(aws.get_secret_value(SecretId=SECRET)["SecretString"])


class ThreadClock(Clock):
    """A fake clock whose sleeps also pause for real a little, so threads interleave."""

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        time.sleep(0.003)


def run(machine: Machine, tmp_path: Path, role: str = "auto", *, clock: Clock | None = None,
        dry_run: bool = False, config: str | None = None, fleet: Any = None, log: str | None = None) -> str:
    out = io.StringIO()
    clock = clock or Clock()
    code = bootstrap(Options(role=role, dry_run=dry_run, config=config,
                             resource_config=str(DATA / "resource_config.json"),
                             provisioning_parameters=str(DATA / "provisioning_parameters.json"),
                             log_file=log or str(tmp_path / f"{machine.hostname}.log")),
                     host=machine, out=out, sleep=clock.sleep, monotonic=clock.monotonic, now=clock.now,
                     fleet=fleet)
    assert code == 0
    return out.getvalue()


def run_threads(jobs: dict[str, Any]) -> dict[str, BaseException | str]:
    results: dict[str, BaseException | str] = {}

    def wrap(name: str, fn: Any) -> None:
        try:
            results[name] = fn()
        except BaseException as e:
            results[name] = e

    threads = [threading.Thread(target=wrap, args=(n, fn), daemon=True) for n, fn in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def controller_up(cluster: Cluster, aws: Any, token: str = "abcdef.0123456789abcdef",
                  valid_for: timedelta = timedelta(hours=20)) -> None:
    """A controller that is already initialised and has published join info."""
    cluster.initialised = True
    cluster.tokens[token] = cluster.clock.now() + valid_for
    aws.create_secret(Name=SECRET, SecretString=json.dumps(JoinInfo(
        endpoint=f"{CONTROLLER_IP}:6443", token=token, ca_cert_hashes=(ca_cert_hash(cluster.ca),),
        expires=cluster.clock.now() + valid_for).to_secret()))


# -- the whole cluster ---------------------------------------------------------------------------

def test_controller_and_workers_build_a_cluster_and_a_second_run_does_nothing(aws: Any, tmp_path: Path) -> None:
    cluster = Cluster(Clock())
    ctl = Machine(cluster, CONTROLLER_IP, swap=True)
    w1 = Machine(cluster, WORKER1_IP, gpu=True, nvme=True)
    w2 = Machine(cluster, WORKER2_IP, gpu=True, nvme=True, containerd_installed=False)
    cluster.apply_failures = 2  # the API server is still settling when flannel is applied
    results = run_threads({
        "w1": lambda: run(w1, tmp_path, clock=ThreadClock()),
        "ctl": lambda: run(ctl, tmp_path, clock=ThreadClock()),
        "w2": lambda: run(w2, tmp_path, clock=ThreadClock()),
    })
    for name, r in results.items():
        assert isinstance(r, str), f"{name}: {r!r}"
    assert "all 3 instances are Ready nodes" in str(results["ctl"])

    # Every instance is a node, identified and labelled by itself.
    nodes = cluster.nodes
    assert set(nodes) == {"ip-10-1-113-28", "ip-10-1-38-128", "ip-10-1-29-16"}
    n1 = nodes["ip-10-1-38-128"]
    assert n1["spec"]["providerID"] == "aws:///us-west-2a/i-0cbbe3075137ffa1d"
    assert n1["metadata"]["labels"] == {"node.kubernetes.io/instance-type": "ml.p5.48xlarge",
                                        "hyperpod-k8s/instance-group": "WorkerGroup",
                                        "hyperpod-k8s/instance-id": "i-0cbbe3075137ffa1d"}
    assert nodes["ip-10-1-113-28"]["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "ml.m5.2xlarge"

    # Join info in Secrets Manager, with the controller's CA hash and a live token.
    info = JoinInfo.from_secret(secret(aws))
    assert info.endpoint == "10.1.113.28:6443"
    assert info.ca_cert_hashes == (ca_cert_hash(cluster.ca),)
    assert cluster.valid(info.token) and info.expires is not None

    # The controller: init once, the timer, the kubeconfig, flannel from the package.
    assert sum(1 for c in ctl.changes_run() if c.startswith("kubeadm init")) == 1
    assert "swapoff -a" in ctl.changes_run()
    assert "/swapfile none swap" in ctl.files["/etc/fstab"] and "# disabled by hpk8s" in ctl.files["/etc/fstab"]
    assert ctl.modes["/etc/hpk8s/kubeadm-init.yaml"] == 0o600
    assert "systemctl enable --now hpk8s-token-refresh.timer" in ctl.changes_run()
    timer = ctl.files["/etc/systemd/system/hpk8s-token-refresh.service"]
    assert "ops token refresh --ttl 24h --if-expiring-within 6h" in timer
    assert ctl.files["/home/ubuntu/.kube/config"] == ctl.files["/etc/kubernetes/admin.conf"]
    assert ctl.modes["/home/ubuntu/.kube/config"] == 0o600 and ctl.owners["/home/ubuntu/.kube/config"] == "1000:1000"
    assert cluster.flannel_image == "ghcr.io/flannel-io/flannel:v0.27.4"
    assert "containerd" not in ctl.restarts or ctl.restarts.count("containerd") == 1

    # Workers: GPU runtime by default, data root on NVMe, memlock drop-in, packages held.
    cfg = w1.files["/etc/containerd/config.toml"]
    assert 'default_runtime_name = "nvidia"' in cfg and 'root = "/opt/dlami/nvme/containerd"' in cfg
    assert "LimitMEMLOCK=infinity" in w1.files["/etc/systemd/system/containerd.service.d/hpk8s.conf"]
    assert w1.held == {"kubelet", "kubeadm", "kubectl"} and w1.packages["kubeadm"].startswith("1.35.")
    assert w1.modes["/etc/hpk8s/kubeadm-join.yaml"] == 0o600
    assert w1.restarts == ["containerd"]
    assert any(c.startswith("apt-get install") and c.endswith("containerd") for c in w2.changes_run())

    # The token never shows in clear: not in any output, not in any log file.
    logs = {p.name: p.read_text() for p in tmp_path.glob("*.log")}
    assert len(logs) == 3
    for text in [*logs.values(), *(str(r) for r in results.values())]:
        assert info.token not in text
        assert not FULL_TOKEN.search(text)
    assert info.masked_token() in logs["ip-10-1-38-128.log"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", logs["ip-10-1-113-28.log"])

    # A second run of each finds everything done and changes nothing.
    for m in (ctl, w1, w2):
        m.ran.clear()
        m.written.clear()
        out = run(m, tmp_path)
        assert m.changes_run() == [] and m.written == [], (m.hostname, m.changes_run(), m.written)
        assert "nothing to do" in out
    assert "joined already" in out


def test_a_worker_that_starts_first_waits_for_the_join_info(aws: Any, tmp_path: Path) -> None:
    cluster = Cluster(Clock())
    ctl = Machine(cluster, CONTROLLER_IP)
    w1, w2 = Machine(cluster, WORKER1_IP), Machine(cluster, WORKER2_IP)
    w1_out = io.StringIO()
    w1_clock = ThreadClock()
    started = threading.Event()
    w1_clock.on_sleep.append(started.set)

    def worker_first() -> str:
        code = bootstrap(Options(role="worker", resource_config=str(DATA / "resource_config.json"),
                                 provisioning_parameters=str(DATA / "provisioning_parameters.json"),
                                 log_file=str(tmp_path / "w1.log")), host=w1, out=w1_out,
                         sleep=w1_clock.sleep, monotonic=w1_clock.monotonic, now=w1_clock.now)
        return str(code)

    def controller_later() -> str:
        assert started.wait(10)  # the worker is polling before the controller even starts
        return run(ctl, tmp_path, clock=ThreadClock())

    results = run_threads({"w1": worker_first, "ctl": controller_later,
                           "w2": lambda: run(w2, tmp_path, clock=ThreadClock())})
    assert results["w1"] == "0", results
    assert isinstance(results["ctl"], str) and isinstance(results["w2"], str), results
    log = (tmp_path / "w1.log").read_text()
    assert f"secret {SECRET} does not exist yet" in log
    assert w1.join_results == [0] and "ip-10-1-38-128" in cluster.nodes
    waits = [s for s in w1_clock.sleeps if s > 0]
    assert waits and max(waits) <= 60  # backoff, capped


def test_a_run_that_crashed_after_the_containerd_step_resumes(aws: Any, tmp_path: Path) -> None:
    cluster = Cluster(Clock())
    controller_up(cluster, aws)
    w = Machine(cluster, WORKER1_IP, gpu=True)
    w.crash_at = ("apt-get", "update")  # the power goes in the packages step, right after containerd's
    with pytest.raises(Crash):
        run(w, tmp_path)
    assert w.restarts == ["containerd"] and "/var/lib/hpk8s/containerd-restart-pending" not in w.files
    w.ran.clear()
    out = run(w, tmp_path)
    assert w.restarts == ["containerd"]  # not restarted again: its config did not change
    for step in ("modules", "sysctl", "swap", "containerd"):
        assert re.search(rf"\[{step}\] \[\d/6\] nothing to do", out), step
    assert w.join_results == [0]


def test_a_crash_between_config_and_restart_still_restarts_containerd(aws: Any, tmp_path: Path) -> None:
    cluster = Cluster(Clock())
    controller_up(cluster, aws)
    w = Machine(cluster, WORKER1_IP)
    w.crash_at = ("systemctl", "restart", "containerd")
    with pytest.raises(Crash):
        run(w, tmp_path)
    assert "/var/lib/hpk8s/containerd-restart-pending" in w.files
    run(w, tmp_path)
    assert w.restarts == ["containerd"] and "/var/lib/hpk8s/containerd-restart-pending" not in w.files


def test_an_expired_token_is_read_again_and_the_join_recovers(aws: Any, tmp_path: Path) -> None:
    cluster = Cluster(Clock())
    controller_up(cluster, aws, token="stale1.0123456789abcdef")
    del cluster.tokens["stale1.0123456789abcdef"]  # expired and cleaned up by the API server
    w = Machine(cluster, WORKER1_IP)
    clock = Clock()

    def operator_refreshes() -> None:
        if w.join_results == [1] and "fresh1.0123456789abcdef" not in cluster.tokens:
            cluster.tokens["fresh1.0123456789abcdef"] = cluster.clock.now() + timedelta(hours=24)
            value = secret(aws) | {"token": "fresh1.0123456789abcdef"}
            aws.put_secret_value(SecretId=SECRET, SecretString=json.dumps(value))

    clock.on_sleep.append(operator_refreshes)
    out = run(w, tmp_path, clock=clock)
    assert w.join_results == [1, 0]
    assert "kubeadm reset --force" in w.changes_run()
    assert "rejected token stale1.****************" in out or "stale1.****************" in out
    assert "fresh1.0123456789abcdef" not in out and "stale1.0123456789abcdef" not in out


def test_a_token_that_stays_rejected_times_out_with_what_to_run(aws: Any, tmp_path: Path) -> None:
    cluster = Cluster(Clock())
    controller_up(cluster, aws, token="stale1.0123456789abcdef")
    del cluster.tokens["stale1.0123456789abcdef"]
    w = Machine(cluster, WORKER1_IP)
    cfg = tmp_path / "hpk8s.toml"
    cfg.write_text('join_info_timeout = "5m"\n')
    with pytest.raises(TimeoutExpired) as e:
        run(w, tmp_path, config=str(cfg))
    assert e.value.exit_code == ExitCode.TIMEOUT
    assert "hpk8s ops token refresh" in e.value.one_line() and "stale1.0123456789abcdef" not in e.value.one_line()
    assert "failed (exit 7)" in (tmp_path / "ip-10-1-38-128.log").read_text()


def test_access_denied_on_the_secret_fails_at_once(aws: Any, tmp_path: Path) -> None:
    from botocore.exceptions import ClientError

    from hyperpod_k8s.clients.fleet import Fleet

    fleet = Fleet("arn:aws:sagemaker:us-west-2:111122223333:cluster/kb8v11zrrpvr", region=REGION)

    def denied(**_kw: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}, "GetSecretValue")

    fleet.secrets.get_secret_value = denied
    clock = Clock()
    w = Machine(Cluster(clock), WORKER1_IP)
    with pytest.raises(AuthError) as e:
        run(w, tmp_path, clock=clock, fleet=fleet)
    assert e.value.exit_code == ExitCode.AUTH
    assert "secretsmanager:GetSecretValue" in e.value.one_line()
    assert clock.sleeps == []  # no waiting, no retries
    assert not any(c.startswith("kubeadm join") for c in w.changes_run())


def test_dry_runs_plan_everything_and_change_nothing(aws: Any, tmp_path: Path) -> None:
    cluster = Cluster(Clock())
    for ip, role in ((CONTROLLER_IP, "controller"), (WORKER1_IP, "worker")):
        m = Machine(cluster, ip, gpu=role == "worker", nvme=role == "worker")
        out = run(m, tmp_path, role=role, dry_run=True)
        assert m.written == [] and m.changes_run() == []
        assert not FULL_TOKEN.search(out)
        assert f"the plan for {role}" in out and "steps have work to do" in out
        if role == "controller":
            assert "kubeadm init --config /etc/hpk8s/kubeadm-init.yaml" in out
            assert 'token: "' in out and ".****************" in out
            assert "hpk8s-token-refresh.timer" in out and "wait up to 90m for 3 instances" in out
        else:
            assert 'default_runtime_name = "nvidia"' in out and "/opt/dlami/nvme/containerd" in out
            assert "kubeadm join --config /etc/hpk8s/kubeadm-join.yaml" in out
            assert 'value: "aws:///us-west-2a/i-0cbbe3075137ffa1d"' in out
    assert not list(tmp_path.glob("*.log"))  # a dry run writes no log
    assert aws.list_secrets()["SecretList"] == []  # and does not touch AWS


def test_without_imds_the_zone_comes_from_sagemaker(aws: Any, tmp_path: Path) -> None:
    cluster = Cluster(Clock())
    controller_up(cluster, aws)
    w = Machine(cluster, WORKER1_IP, imds=False)

    class FakeFleet:
        cluster = "kb8v11zrrpvr"

        def __init__(self) -> None:
            from hyperpod_k8s.clients.fleet import Fleet

            self.real = Fleet(self.cluster, region=REGION)
            self.sagemaker = self

        def describe_cluster_node(self, **kw: Any) -> dict[str, Any]:
            assert kw["NodeId"] == "i-0cbbe3075137ffa1d"
            return {"NodeDetails": {"Placement": {"AvailabilityZone": "us-west-2c"}}}

        def call(self, what: str, fn: Any) -> Any:
            return fn()

        def get_secret_json(self, name: str) -> Any:
            return self.real.get_secret_json(name)

    run(w, tmp_path, fleet=FakeFleet())
    assert cluster.nodes["ip-10-1-38-128"]["spec"]["providerID"] == "aws:///us-west-2c/i-0cbbe3075137ffa1d"


def test_a_refused_configuration_is_in_the_log_file_too(tmp_path: Path) -> None:
    from hyperpod_k8s.errors import ConfigError

    cfg = tmp_path / "hpk8s.toml"
    cfg.write_text('pod_cidr = "10.244.0.0/23"\n')
    w = Machine(Cluster(Clock()), WORKER1_IP)
    with pytest.raises(ConfigError):
        run(w, tmp_path, config=str(cfg))
    log = (tmp_path / "ip-10-1-38-128.log").read_text()
    assert "failed (exit 2): pod_cidr 10.244.0.0/23 holds 2 node subnets" in log
    assert w.ran == []  # refused before the first probe
