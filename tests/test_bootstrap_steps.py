"""Each bootstrap step on a RecordingHost built from canned facts: facts in, commands and files out."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import DATA
from hyperpod_k8s.bootstrap.context import Context
from hyperpod_k8s.bootstrap.facts import Facts, default_route, gather
from hyperpod_k8s.bootstrap.host import CommandResult, DryRunHost, RecordingHost, is_read_only
from hyperpod_k8s.bootstrap.plan import Changes, Log, Run, Write, render_plan, run_steps
from hyperpod_k8s.bootstrap.run import resolve_node
from hyperpod_k8s.bootstrap.settings import Settings
from hyperpod_k8s.bootstrap.steps.containerd import CONFIG, DROP_IN, DROP_IN_TEXT, Containerd, containerd_config
from hyperpod_k8s.bootstrap.steps.flannel import Flannel, flannel_manifest
from hyperpod_k8s.bootstrap.steps.kubeadm_init import KubeadmInit
from hyperpod_k8s.bootstrap.steps.kubeadm_join import KubeadmJoin, backoff
from hyperpod_k8s.bootstrap.steps.modules import CONF as MODULES_CONF
from hyperpod_k8s.bootstrap.steps.modules import KernelModules
from hyperpod_k8s.bootstrap.steps.packages import KEYRING, SOURCES, KubernetesPackages
from hyperpod_k8s.bootstrap.steps.swap import SwapOff, without_swap
from hyperpod_k8s.bootstrap.steps.sysctl import CONF as SYSCTL_CONF
from hyperpod_k8s.bootstrap.steps.sysctl import Sysctl
from hyperpod_k8s.bootstrap.steps.wait_ready import WaitReady, not_ready
from hyperpod_k8s.errors import TimeoutExpired
from hyperpod_k8s.hyperpod import load_provisioning_parameters, load_resource_config

OK = CommandResult((), 0)


def ok(stdout: str) -> CommandResult:
    return CommandResult((), 0, stdout)


def fail(code: int = 1, stderr: str = "") -> CommandResult:
    return CommandResult((), code, "", stderr)


def ctx_for(host: RecordingHost, address: str = "10.1.38.128", facts: Facts | None = None,
            settings: Settings | None = None) -> Context:
    rc = load_resource_config(str(DATA / "resource_config.json"))
    pp = load_provisioning_parameters(str(DATA / "provisioning_parameters.json"))
    facts = facts or Facts(address=address, interface="ens6", availability_zone="us-west-2a")
    node = resolve_node("auto", rc, pp, facts, dry_run=False).node
    return Context(settings=settings or Settings(), node=node, facts=facts, log=Log(None, stream=io.StringIO()),
                   sleep=lambda s: None)


def apply(step: Any, host: RecordingHost) -> Changes:
    changes = step.check(host)
    step.apply(host, changes)
    return changes


# -- facts ---------------------------------------------------------------------------------------

def test_facts_use_the_default_route_interface_not_a_fixed_name() -> None:
    host = RecordingHost(commands={
        ("ip", "-j", "route", "show", "default"): ok(json.dumps([
            {"dst": "default", "gateway": "10.1.0.1", "dev": "enp71s0", "metric": 200},
            {"dst": "default", "gateway": "172.16.0.1", "dev": "ens6", "metric": 500}])),
        ("ip", "-j", "-4", "addr", "show", "dev", "enp71s0"): ok(json.dumps([{"addr_info": [
            {"family": "inet", "local": "10.1.38.128", "scope": "global"}]}])),
        ("nvidia-smi", "-L"): ok("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-x)\n"),
        ("which", "nvidia-container-runtime"): ok("/usr/bin/nvidia-container-runtime\n"),
        ("curl",): fail(28),
    }, files={"/opt/dlami/nvme/x": "", "/sys/devices/virtual/dmi/id/board_asset_tag": "i-0cbbe3075137ffa1d\n"})
    f = gather(host, nvme_path="/opt/dlami/nvme")
    assert (f.interface, f.address) == ("enp71s0", "10.1.38.128")
    assert f.gpu and f.nvidia_runtime == "/usr/bin/nvidia-container-runtime" and f.nvme
    assert f.hw_instance_id == "i-0cbbe3075137ffa1d" and f.availability_zone is None
    assert all(is_read_only(a) for a in host.ran)


def test_no_default_route() -> None:
    assert default_route(RecordingHost(commands={("ip",): ok("[]")})) == (None, None)


def test_dry_run_host_refuses_changes() -> None:
    h = DryRunHost()
    with pytest.raises(PermissionError):
        h.write("/tmp/x", "y")
    with pytest.raises(PermissionError):
        h.run(["kubeadm", "init"])
    with pytest.raises(PermissionError):
        h.run(["kubectl", "--kubeconfig", "/x", "apply", "-f", "f"])
    assert is_read_only(["kubectl", "--kubeconfig", "/x", "get", "nodes", "-o", "json"])
    assert not is_read_only(["curl", "-o", "/etc/x", "https://pkgs.k8s.io/x"])


def test_auto_role_from_the_address() -> None:
    host = RecordingHost()
    assert ctx_for(host, "10.1.113.28").node.role == "controller"
    assert ctx_for(host, "10.1.29.16").node.role == "worker"


# -- common steps --------------------------------------------------------------------------------

def test_modules_fresh_and_done() -> None:
    host = RecordingHost(files={"/sys/module/overlay/uevent": ""})
    changes = apply(KernelModules(ctx_for(host)), host)
    assert host.ran[-1] == ("modprobe", "br_netfilter") and ("modprobe", "overlay") not in host.ran
    assert host.files[MODULES_CONF].splitlines()[1:] == ["overlay", "br_netfilter"]
    assert len(changes) == 2
    host.files["/sys/module/br_netfilter/uevent"] = ""
    again = KernelModules(ctx_for(host)).check(host)
    assert again == [] and "loaded" in again.reason


def test_sysctl_writes_then_applies_and_is_idempotent() -> None:
    host = RecordingHost()
    step = Sysctl(ctx_for(host))
    changes = step.check(host)
    assert [type(c) for c in changes] == [Write, Run]
    assert isinstance(changes[1], Run) and changes[1].argv == ("sysctl", "-p", SYSCTL_CONF)
    step.apply(host, changes)
    assert "net.ipv4.ip_forward = 1" in host.files[SYSCTL_CONF]
    for k in ("net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables", "net/ipv4/ip_forward"):
        host.files[f"/proc/sys/{k}"] = "1\n"
    assert step.check(host) == []
    host.files["/proc/sys/net/ipv4/ip_forward"] = "0\n"  # the file is right but something reset the value
    assert [c.summary for c in step.check(host)] == ["apply now"]


def test_swap_off_now_and_in_fstab() -> None:
    fstab = "LABEL=root / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n# /old none swap sw 0 0\n"
    host = RecordingHost(files={"/etc/fstab": fstab,
                                "/proc/swaps": "Filename Type Size Used Priority\n/swap.img file 1024 0 -2\n"})
    apply(SwapOff(ctx_for(host)), host)
    assert ("swapoff", "-a") in host.ran
    assert host.files["/etc/fstab"] == without_swap(fstab)
    assert "# disabled by hpk8s bootstrap (kubelet needs swap off): /swap.img" in host.files["/etc/fstab"]
    assert "\n# /old none swap" in host.files["/etc/fstab"]  # already commented: untouched
    host.files["/proc/swaps"] = "Filename Type Size Used Priority\n"
    assert SwapOff(ctx_for(host)).check(host) == []


# -- containerd ----------------------------------------------------------------------------------

def running_containerd(**files: str) -> RecordingHost:
    return RecordingHost(files=dict(files), commands={
        ("which", "containerd"): ok("/usr/bin/containerd\n"),
        ("systemctl", "is-enabled", "containerd"): ok("enabled\n"),
        ("systemctl", "is-active", "containerd"): ok("active\n"),
    })


@pytest.mark.parametrize(("gpu", "nvme", "runtime", "root"), [
    (True, True, "nvidia", "/opt/dlami/nvme/containerd"),
    (False, True, "runc", "/opt/dlami/nvme/containerd"),
    (True, False, "nvidia", "/var/lib/containerd"),
    (False, False, "runc", "/var/lib/containerd"),
])
def test_containerd_config_follows_the_facts(gpu: bool, nvme: bool, runtime: str, root: str) -> None:
    host = running_containerd()
    facts = Facts(address="10.1.38.128", gpu=gpu, nvme=nvme, availability_zone="us-west-2a",
                  nvidia_runtime="/usr/bin/nvidia-container-runtime" if gpu else None)
    apply(Containerd(ctx_for(host, facts=facts)), host)
    cfg = host.files[CONFIG]
    assert f'default_runtime_name = "{runtime}"' in cfg and f'root = "{root}"' in cfg
    assert cfg.count("SystemdCgroup = true") == (2 if gpu else 1)
    assert 'sandbox_image = "registry.k8s.io/pause:3.10.1"' in cfg
    assert host.files[DROP_IN] == DROP_IN_TEXT
    assert [a for a in host.ran if a[:2] == ("systemctl", "restart")] == [("systemctl", "restart", "containerd")]
    marker = "/var/lib/hpk8s/containerd-restart-pending"
    assert host.written[0][0] == marker and ("rm", "-f", marker) in host.ran  # set before, cleared after
    # the vendor unit is never written
    assert not any(p.startswith("/lib/systemd") or p.startswith("/usr/lib/systemd") for p, _ in host.written)


def test_containerd_no_op_when_config_and_service_are_right() -> None:
    ctx = ctx_for(RecordingHost())
    text = Containerd(ctx).config_text()
    host = running_containerd(**{CONFIG: text, DROP_IN: DROP_IN_TEXT})
    changes = Containerd(ctx).check(host)
    assert changes == [] and "up to date" in changes.reason


def test_containerd_gpu_without_the_nvidia_runtime_stays_on_runc() -> None:
    facts = Facts(address="10.1.38.128", gpu=True, nvidia_runtime=None)
    assert 'default_runtime_name = "runc"' in Containerd(ctx_for(RecordingHost(), facts=facts)).config_text()


def test_containerd_installed_when_missing() -> None:
    host = RecordingHost(commands={("which", "containerd"): fail()})
    changes = Containerd(ctx_for(host)).check(host)
    first = changes[0]
    assert isinstance(first, Run) and first.argv[:2] == ("apt-get", "install") and first.argv[-1] == "containerd"
    assert isinstance(changes[-1], Run) and changes[-1].argv == ("systemctl", "enable", "--now", "containerd")


@pytest.mark.skipif(shutil.which("containerd") is None, reason="needs the containerd binary (Debian: containerd)")
@pytest.mark.parametrize("gpu", [True, False])
def test_real_containerd_parses_the_generated_config(tmp_path: Path, gpu: bool) -> None:
    path = tmp_path / "config.toml"
    path.write_text(containerd_config(data_root=str(tmp_path / "root"), sandbox_image="registry.k8s.io/pause:3.10.1",
                                      kubernetes_version="1.35",
                                      nvidia_runtime="/usr/bin/nvidia-container-runtime" if gpu else None))
    p = subprocess.run(["containerd", "--config", str(path), "config", "dump"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert "SystemdCgroup = true" in p.stdout and 'sandbox_image = "registry.k8s.io/pause:3.10.1"' in p.stdout
    assert f'default_runtime_name = "{"nvidia" if gpu else "runc"}"' in p.stdout


# -- packages ------------------------------------------------------------------------------------

def test_packages_fresh_machine() -> None:
    host = RecordingHost()
    apply(KubernetesPackages(ctx_for(host)), host)
    cmds = [" ".join(a) for a in host.ran if not is_read_only(a)]
    assert any("https://pkgs.k8s.io/core:/stable:/v1.35/deb/Release.key" in c for c in cmds)
    assert f"deb [signed-by={KEYRING}] https://pkgs.k8s.io/core:/stable:/v1.35/deb/ /" in host.files[SOURCES]
    install = next(c for c in cmds if c.startswith("apt-get install"))
    assert install.endswith("kubelet kubeadm kubectl kubernetes-cni")
    assert "apt-mark hold kubelet kubeadm kubectl" in cmds and "systemctl enable kubelet" in cmds
    assert cmds.index("apt-get update -q") < cmds.index(install)


def test_packages_done_and_wrong_minor() -> None:
    ctx = ctx_for(RecordingHost())
    src = "# hpk8s bootstrap: Kubernetes 1.35 packages\n" \
          f"deb [signed-by={KEYRING}] https://pkgs.k8s.io/core:/stable:/v1.35/deb/ /\n"
    listing = "".join(f"{p} 1.35.2-1.1 installed\n" for p in ("kubelet", "kubeadm", "kubectl")) + \
        "kubernetes-cni 1.6.0-1.1 installed\n"
    host = RecordingHost(files={KEYRING: "k", SOURCES: src}, commands={
        ("dpkg-query",): ok(listing), ("apt-mark", "showhold"): ok("kubeadm\nkubectl\nkubelet\n"),
        ("systemctl", "is-enabled", "kubelet"): ok("enabled\n")})
    changes = KubernetesPackages(ctx).check(host)
    assert changes == [] and "kubeadm 1.35.2-1.1" in changes.reason
    host.commands[("dpkg-query",)] = ok(listing.replace("kubelet 1.35.2", "kubelet 1.29.6"))
    summaries = [c.summary for c in KubernetesPackages(ctx).check(host)]
    assert summaries[0] == "refresh the package lists" and "install kubelet" in summaries[1]


# -- controller and worker steps -----------------------------------------------------------------

def test_kubeadm_init_config_and_done() -> None:
    host = RecordingHost(commands={("kubeadm", "version"): ok("v1.35.2\n")})
    ctx = ctx_for(host, "10.1.113.28")
    reports = run_steps([KubeadmInit(ctx)], host, ctx, dry_run=True)
    write = reports[0].changes[0]
    assert isinstance(write, Write) and write.mode == 0o600
    cfg = write.content
    for needle in ('advertiseAddress: "10.1.113.28"', 'podSubnet: "10.244.0.0/16"', 'kubernetesVersion: "v1.35.2"',
                   'value: "aws:///us-west-2a/i-07259dd159a1c7130"', "cgroupDriver: systemd",
                   "hyperpod-k8s/instance-group=ControllerGroup", 'ttl: "86400s"',
                   'controlPlaneEndpoint: "10.1.113.28:6443"', "apiVersion: kubeadm.k8s.io/v1beta4"):
        assert needle in cfg, needle
    token = next(line for line in cfg.splitlines() if "- token:" in line).split('"')[1]
    shown = "\n".join(render_plan(reports, ctx.log.redact))
    assert token not in shown and token.split(".")[0] + ".****************" in shown
    host.files["/etc/kubernetes/admin.conf"] = "x"
    host.files["/var/lib/hpk8s/kubeadm-init.done"] = "x"
    assert KubeadmInit(ctx).check(host) == []


def test_kubeadm_init_cleans_up_a_half_done_init() -> None:
    host = RecordingHost(files={"/etc/kubernetes/manifests/kube-apiserver.yaml": "x"},
                         commands={("kubectl",): fail()})
    changes = KubeadmInit(ctx_for(host, "10.1.113.28")).check(host)
    assert isinstance(changes[0], Run) and changes[0].argv == ("kubeadm", "reset", "--force")


def test_kubeadm_init_older_minor_uses_v1beta3_maps() -> None:
    host = RecordingHost()
    ctx = ctx_for(host, "10.1.113.28", settings=Settings(kubernetes_version="1.30"))
    cfg = next(c for c in KubeadmInit(ctx).check(host) if isinstance(c, Write)).content
    assert "kubeadm.k8s.io/v1beta3" in cfg and '    provider-id: "aws:///us-west-2a/i-07259dd159a1c7130"' in cfg
    assert 'kubernetesVersion: "stable-1.30"' in cfg


def test_kubeadm_join_done_when_kubelet_conf_exists() -> None:
    host = RecordingHost(files={"/etc/kubernetes/kubelet.conf": "x"})
    changes = KubeadmJoin(ctx_for(host)).check(host)
    assert changes == [] and "joined already" in changes.reason


def test_flannel_manifest_is_pinned_and_carries_the_pod_cidr() -> None:
    text = flannel_manifest(Settings(pod_cidr="10.200.0.0/16"))
    assert '"Network": "10.200.0.0/16"' in text
    assert "image: ghcr.io/flannel-io/flannel:v0.27.4" in text
    assert "image: ghcr.io/flannel-io/flannel-cni-plugin:v1.8.0-flannel1" in text
    assert "http" not in text.replace("https://", "")  # nothing fetched by URL
    assert "$" not in text


def test_flannel_done_when_applied() -> None:
    ctx = ctx_for(RecordingHost(), "10.1.113.28")
    host = RecordingHost(files={"/etc/hpk8s/kube-flannel.yaml": flannel_manifest(ctx.settings)},
                         commands={("kubectl",): ok("ghcr.io/flannel-io/flannel:v0.27.4")})
    assert Flannel(ctx).check(host) == []


def node(name: str, ready: bool = True, provider: str = "") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"providerID": provider} if provider else {},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_wait_ready_matches_by_provider_id_then_name() -> None:
    rc = load_resource_config(str(DATA / "resource_config.json"))
    nodes = [node("whatever", provider="aws:///us-west-2a/i-07259dd159a1c7130"), node("ip-10-1-38-128"),
             node("ip-10-1-29-16", ready=False)]
    assert [i.instance_id for i in not_ready(rc.instances, nodes)] == ["i-0cc2532921ec06344"]


def test_wait_ready_times_out_with_the_missing_nodes() -> None:
    host = RecordingHost(commands={("kubectl",): ok(json.dumps({"items": [node("ip-10-1-113-28")]}))})
    ctx = ctx_for(host, "10.1.113.28", settings=Settings(ready_timeout=120, ready_poll=30))
    clock = [0.0]
    ctx.monotonic = lambda: clock[0]

    def sleep(s: float) -> None:
        clock[0] += s

    ctx.sleep = sleep
    step = WaitReady(ctx)
    with pytest.raises(TimeoutExpired) as e:
        step.apply(host, step.check(host))
    assert "2 of 3 instances are not Ready nodes: ip-10-1-38-128, ip-10-1-29-16" in e.value.message
    assert "1/3 Ready" in ctx.log.stream.getvalue()  # type: ignore[attr-defined]


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    for attempt in range(10):
        d = min(60.0, 2.0 * 2 ** attempt)
        assert d / 2 <= backoff(attempt) <= d


def test_a_file_that_cannot_be_written_fails_the_step_cleanly() -> None:
    from hyperpod_k8s.bootstrap.plan import StepFailed

    class ReadOnly(RecordingHost):
        def write(self, path: str, data: str, mode: int = 0o644) -> None:
            raise PermissionError(13, "Permission denied", path)

    host = ReadOnly(files={"/sys/module/overlay/x": "", "/sys/module/br_netfilter/x": ""})
    ctx = ctx_for(host)
    with pytest.raises(StepFailed, match=r"modules: .*Permission denied"):
        run_steps([KernelModules(ctx)], host, ctx, dry_run=False)


class MemoryStore:
    name = "hyperpod-k8s-kb8v11zrrpvr"

    def __init__(self, value: dict[str, Any] | None = None) -> None:
        self.value = value
        self.puts = 0

    def get(self) -> dict[str, Any] | None:
        return self.value

    def put(self, value: dict[str, Any]) -> None:
        self.value = value
        self.puts += 1


def test_join_info_reuses_the_init_token_then_finds_itself_current() -> None:
    from datetime import UTC, datetime, timedelta

    from hyperpod_k8s.bootstrap.steps.join_info import PublishJoinInfo
    from hyperpod_k8s.join_info import JoinInfo, ca_cert_hash
    from test_bootstrap_machine import ca_pem

    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    listing = json.dumps({"token": "abcdef.0123456789abcdef", "expires": (now + timedelta(hours=23)).isoformat()})
    host = RecordingHost(files={"/etc/kubernetes/pki/ca.crt": ca_pem()},
                         commands={("kubeadm", "token", "list"): ok(listing + "\n")})
    ctx = ctx_for(host, "10.1.113.28")
    ctx.now = lambda: now
    ctx.store = store = MemoryStore()
    apply(PublishJoinInfo(ctx), host)
    info = JoinInfo.from_secret(store.value or {})
    assert info.token == "abcdef.0123456789abcdef" and info.endpoint == "10.1.113.28:6443"
    assert info.ca_cert_hashes == (ca_cert_hash(ca_pem()),) and info.expires == now + timedelta(hours=23)
    assert not any(a[:3] == ("kubeadm", "token", "create") for a in host.ran)
    again = PublishJoinInfo(ctx).check(host)
    assert again == [] and "is current" in again.reason and "abcdef.****************" in again.reason
    # Six hours before expiry it is stale: a new token is created and stored.
    ctx.now = lambda: now + timedelta(hours=18)
    apply(PublishJoinInfo(ctx), host)
    created = [a for a in host.ran if a[:3] == ("kubeadm", "token", "create")]
    assert len(created) == 1 and store.puts == 2 and JoinInfo.from_secret(store.value or {}).token == created[0][3]
    assert created[0][3] not in ctx.log.stream.getvalue()  # type: ignore[attr-defined]


def test_token_timer_and_its_no_op() -> None:
    from hyperpod_k8s.bootstrap.steps.token_timer import TokenRefreshTimer

    host = RecordingHost()
    ctx = ctx_for(host, "10.1.113.28")
    ctx.hpk8s_command = "/opt/hpk8s/venv/bin/hpk8s"
    apply(TokenRefreshTimer(ctx), host)
    service = host.files["/etc/systemd/system/hpk8s-token-refresh.service"]
    assert "ExecStart=/opt/hpk8s/venv/bin/hpk8s ops token refresh --ttl 24h --if-expiring-within 6h" in service
    assert "OnUnitActiveSec=1h" in host.files["/etc/systemd/system/hpk8s-token-refresh.timer"]
    assert ("systemctl", "enable", "--now", "hpk8s-token-refresh.timer") in host.ran
    host.commands[("systemctl", "is-enabled")] = ok("enabled\n")
    host.commands[("systemctl", "is-active")] = ok("active\n")
    assert TokenRefreshTimer(ctx).check(host) == []


def test_kubeconfig_for_the_login_user_and_its_no_op() -> None:
    from hyperpod_k8s.bootstrap.steps.kubeconfig import AdminKubeconfig

    host = RecordingHost(files={"/etc/passwd": "ubuntu:x:1000:1001::/home/ubuntu:/bin/bash\n",
                                "/etc/kubernetes/admin.conf": "kind: Config\n"})
    ctx = ctx_for(host, "10.1.113.28")
    apply(AdminKubeconfig(ctx), host)
    assert host.files["/home/ubuntu/.kube/config"] == "kind: Config\n"
    assert host.modes["/home/ubuntu/.kube/config"] == 0o600
    assert ("chown", "1000:1001", "/home/ubuntu/.kube/config") in host.ran
    host.commands[("stat",)] = ok("1000:1001:600\n")
    assert AdminKubeconfig(ctx).check(host) == []
    nobody = RecordingHost(files={"/etc/passwd": "root:x:0:0::/root:/bin/bash\n"})
    assert "no user ubuntu" in AdminKubeconfig(ctx_for(nobody, "10.1.113.28")).check(nobody).reason
