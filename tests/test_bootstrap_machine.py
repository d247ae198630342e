"""A pretend HyperPod instance for bootstrap tests: a RecordingHost whose commands change its state.

``Machine`` answers the probes and commands the bootstrap steps use (ip, apt, dpkg, systemctl,
kubeadm, kubectl...) from a small model, so a whole controller or worker run can be replayed, a
second run can find everything done, and a crash can be injected at any command. Several machines
share one ``Cluster`` (the control plane's tokens and nodes), so a worker's join is checked against
the token and CA hash the controller published. Unknown commands fail the test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod_k8s.bootstrap.host import CommandFailed, CommandResult, RecordingHost
from hyperpod_k8s.join_info import ca_cert_hash

SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
JWS_ERROR = ('error execution phase preflight: couldn\'t validate the identity of the API Server: could not find '
             'a JWS signature in the cluster-info ConfigMap for token ID "{tid}"\n'
             "To see the stack trace of this error execute with --v=5 or higher")


def make_ca_pem() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


_CA: str | None = None


def ca_pem() -> str:
    global _CA
    if _CA is None:
        _CA = make_ca_pem()
    return _CA


class Crash(Exception):
    """The machine 'lost power' while running a command."""


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        self.sleeps: list[float] = []
        self.on_sleep: list[Any] = []

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t - 1000.0)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        for cb in list(self.on_sleep):
            cb()


class Cluster:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.initialised = False
        self.tokens: dict[str, datetime] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.flannel_image: str | None = None
        self.apply_failures = 0  # kubectl apply fails this many times first (API server settling)
        self.ca = ca_pem()

    def add_node(self, name: str, provider_id: str, ip: str, labels: str) -> None:
        self.nodes[name] = {
            "metadata": {"name": name, "labels": dict(kv.split("=", 1) for kv in labels.split(",") if kv)},
            "spec": {"providerID": provider_id},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": ip}]},
        }

    def valid(self, token: str) -> bool:
        exp = self.tokens.get(token)
        return exp is not None and exp > self.clock.now()


def _yaml_value(text: str, key: str) -> str | None:
    m = re.search(rf'^\s*-?\s*{key}:\s*"([^"\n]+)"', text, re.M)
    return m.group(1) if m else None


def _kubelet_arg(text: str, name: str) -> str | None:
    m = re.search(rf'- name: "{name}"\n\s+value: "([^"]*)"', text)
    return m.group(1) if m else None


class Machine(RecordingHost):
    def __init__(self, cluster: Cluster, address: str, *, gpu: bool = False, nvme: bool = False,
                 swap: bool = False, imds: bool = True, containerd_installed: bool = True) -> None:
        super().__init__()
        self.cluster = cluster
        self.address = address
        self.gpu = gpu
        self.imds = imds
        self.enabled: set[str] = set()
        self.active: set[str] = set()
        self.packages: dict[str, str] = {"containerd": "1.7.12-0ubuntu2"} if containerd_installed else {}
        self.held: set[str] = set()
        self.owners: dict[str, str] = {}
        self.restarts: list[str] = []
        self.crash_at: tuple[str, ...] | None = None
        self.join_results: list[int] = []
        self.files.update({
            "/etc/fstab": "LABEL=cloudimg-rootfs / ext4 defaults 0 1\n"
                          + ("/swapfile none swap sw 0 0\n" if swap else ""),
            "/proc/swaps": SWAPS_HEADER + ("/swapfile file 4194300 0 -2\n" if swap else ""),
            "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\nubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\n",
            "/sys/module/overlay/uevent": "",  # built into the kernel
            "/sys/devices/virtual/dmi/id/board_asset_tag": "i-unknown\n",
        })
        if containerd_installed:
            self.enabled.add("containerd")
            self.active.add("containerd")
        if nvme:
            self.files["/opt/dlami/nvme/.keep"] = ""

    @property
    def hostname(self) -> str:
        return "ip-" + self.address.replace(".", "-")

    def commands_run(self) -> list[str]:
        return [" ".join(a) for a in self.ran]

    def changes_run(self) -> list[str]:
        """Commands that change something (probes left out)."""
        from hyperpod_k8s.bootstrap.host import is_read_only

        return [" ".join(a) for a in self.ran if not is_read_only(a)]

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None,
            check: bool = False, env: dict[str, str] | None = None) -> CommandResult:
        key = tuple(argv)
        self.ran.append(key)
        if self.crash_at is not None and key[:len(self.crash_at)] == self.crash_at:
            self.crash_at = None
            raise Crash(" ".join(key))
        rc, out, err = self.handle(key)
        result = CommandResult(key, rc, out, err)
        if check and not result.ok:
            raise CommandFailed(result)
        return result

    # -- the model ------------------------------------------------------------------------------

    def handle(self, a: tuple[str, ...]) -> tuple[int, str, str]:
        f = self.files
        if a == ("ip", "-j", "route", "show", "default"):
            return 0, json.dumps([{"dst": "default", "gateway": "10.1.0.1", "dev": "ens6", "protocol": "dhcp",
                                   "prefsrc": self.address, "metric": 100}]), ""
        if a == ("ip", "-j", "-4", "addr", "show", "dev", "ens6"):
            return 0, json.dumps([{"ifname": "ens6", "addr_info": [
                {"family": "inet", "local": self.address, "prefixlen": 16, "scope": "global"}]}]), ""
        if a == ("nvidia-smi", "-L"):
            return (0, "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\n", "") if self.gpu else (127, "", "not found")
        if a[0] == "which":
            path = {"nvidia-container-runtime": "/usr/bin/nvidia-container-runtime" if self.gpu else None,
                    "containerd": "/usr/bin/containerd" if "containerd" in self.packages else None}.get(a[1])
            return (0, path + "\n", "") if path else (1, "", "")
        if a[0] == "curl" and "169.254.169.254" in a[-1]:
            if not self.imds:
                return 28, "", "curl: (28) Connection timed out"
            return (0, "imds-token", "") if a[-1].endswith("/api/token") else (0, "us-west-2a", "")
        if a[0] == "curl":
            f[a[a.index("-o") + 1]] = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
            return 0, "", ""
        if a[0] == "gpg":
            f[a[a.index("-o") + 1]] = "binary keyring"
            return 0, "", ""
        if a[0] == "modprobe":
            f[f"/sys/module/{a[1]}/uevent"] = ""
            return 0, "", ""
        if a[:2] == ("sysctl", "-p"):
            for line in (f.get(a[2]) or "").splitlines():
                if "=" in line and not line.startswith("#"):
                    k, v = (x.strip() for x in line.split("=", 1))
                    f["/proc/sys/" + k.replace(".", "/")] = v + "\n"
            return 0, "", ""
        if a == ("swapoff", "-a"):
            f["/proc/swaps"] = SWAPS_HEADER
            return 0, "", ""
        if a[0] == "apt-get":
            if a[1] == "update":
                return 0, "", ""
            m = re.search(r"/v(1\.\d+)/deb", f.get("/etc/apt/sources.list.d/kubernetes.list", ""))
            for p in a[a.index("install") + 1:]:
                if p.startswith("-") or p.startswith("DPkg") or p.startswith("Dpkg"):
                    continue
                if p in ("kubelet", "kubeadm", "kubectl"):
                    assert m, "installing Kubernetes packages before the repository is configured"
                    self.packages[p] = f"{m.group(1)}.2-1.1"
                elif p == "kubernetes-cni":
                    self.packages[p] = "1.6.0-1.1"
                elif p == "containerd":
                    self.packages[p] = "1.7.12-0ubuntu2"
            return 0, "", ""
        if a[0] == "dpkg-query":
            out = "".join(f"{p} {self.packages[p]} installed\n" for p in a[4:] if p in self.packages)
            return (0 if all(p in self.packages for p in a[4:]) else 1), out, ""
        if a[:2] == ("apt-mark", "showhold"):
            return 0, "".join(f"{p}\n" for p in sorted(self.held)), ""
        if a[:2] == ("apt-mark", "hold"):
            self.held.update(a[2:])
            return 0, "", ""
        if a[0] == "systemctl":
            unit = a[-1].removesuffix(".service")
            if a[1] == "is-enabled":
                return (0, "enabled\n", "") if unit in self.enabled else (1, "disabled\n", "")
            if a[1] == "is-active":
                return (0, "active\n", "") if unit in self.active else (3, "inactive\n", "")
            if a[1] == "enable":
                self.enabled.add(unit)
                if "--now" in a:
                    self.active.add(unit)
                return 0, "", ""
            if a[1] == "restart":
                self.restarts.append(unit)
                self.active.add(unit)
                return 0, "", ""
            if a[1] == "daemon-reload":
                return 0, "", ""
        if a[0] == "install" or a == ("hostname",):
            return 0, "", ""
        if a[:2] == ("rm", "-f"):
            f.pop(a[2], None)
            return 0, "", ""
        if a[0] == "chown":
            self.owners[a[2]] = a[1]
            return 0, "", ""
        if a[:3] == ("stat", "-c", "%u:%g:%a"):
            if a[3] not in f:
                return 1, "", "No such file"
            return 0, f"{self.owners.get(a[3], '0:0')}:{self.modes.get(a[3], 0o644):o}\n", ""
        if a[0] == "kubeadm":
            return self.kubeadm(a)
        if a[0] == "kubectl":
            return self.kubectl(a)
        raise AssertionError(f"the test machine does not know the command {a}")

    def kubeadm(self, a: tuple[str, ...]) -> tuple[int, str, str]:
        f, c = self.files, self.cluster
        if "kubeadm" not in self.packages:
            return 127, "", "kubeadm: command not found"
        if a[1:3] == ("version", "-o"):
            return 0, "v" + self.packages["kubeadm"].split("-")[0] + "\n", ""
        if a[1] == "reset":
            for p in [p for p in f if p.startswith("/etc/kubernetes/") or p.startswith("/var/lib/kubelet/")]:
                del f[p]
            return 0, "", ""
        if a[1] == "init":
            cfg = f[a[a.index("--config") + 1]]
            token = _yaml_value(cfg, "token")
            assert token and "*" not in token
            c.initialised = True
            c.tokens[token] = self.cluster.clock.now() + timedelta(hours=24)
            f["/etc/kubernetes/admin.conf"] = "apiVersion: v1\nkind: Config\n# admin credentials\n"
            f["/etc/kubernetes/pki/ca.crt"] = c.ca
            f["/etc/kubernetes/manifests/kube-apiserver.yaml"] = "kind: Pod\n"
            f["/etc/kubernetes/kubelet.conf"] = "kind: Config\n"
            c.add_node(self.hostname, _kubelet_arg(cfg, "provider-id") or "", self.address,
                       _kubelet_arg(cfg, "node-labels") or "")
            return 0, "Your Kubernetes control-plane has initialized successfully!\n", ""
        if a[1:3] == ("token", "list"):
            return 0, "".join(json.dumps({"kind": "BootstrapToken", "token": t, "expires": e.isoformat(),
                                          "description": "x"}, indent=2) + "\n"
                              for t, e in c.tokens.items() if e > c.clock.now()), ""
        if a[1:3] == ("token", "create"):
            ttl = int(a[a.index("--ttl") + 1].rstrip("s"))
            c.tokens[a[3]] = c.clock.now() + timedelta(seconds=ttl)
            return 0, a[3] + "\n", ""
        if a[1] == "join":
            cfg = f[a[a.index("--config") + 1]]
            token = _yaml_value(cfg, "token") or ""
            endpoint = _yaml_value(cfg, "apiServerEndpoint")
            hashes = re.findall(r'- "(sha256:[0-9a-f]+)"', cfg)
            if not c.initialised or not c.valid(token):
                self.join_results.append(1)
                return 1, "", JWS_ERROR.format(tid=token.split(".")[0])
            assert endpoint and endpoint.endswith(":6443"), endpoint
            if ca_cert_hash(c.ca) not in hashes:
                self.join_results.append(1)
                return 1, "", "error execution phase preflight: cluster CA found in cluster-info does not match"
            f["/etc/kubernetes/kubelet.conf"] = "kind: Config\n"
            f["/etc/kubernetes/pki/ca.crt"] = c.ca
            c.add_node(self.hostname, _kubelet_arg(cfg, "provider-id") or "", self.address,
                       _kubelet_arg(cfg, "node-labels") or "")
            self.join_results.append(0)
            return 0, "This node has joined the cluster\n", ""
        raise AssertionError(f"unknown kubeadm command {a}")

    def kubectl(self, a: tuple[str, ...]) -> tuple[int, str, str]:
        c = self.cluster
        if "/etc/kubernetes/admin.conf" not in self.files or not c.initialised:
            return 1, "", "The connection to the server localhost:8080 was refused"
        rest = a[3:]
        if rest[:1] == ("apply",):
            if c.apply_failures:
                c.apply_failures -= 1
                return 1, "", "error: the server is currently unable to handle the request"
            m = re.search(r"image: (ghcr.io/flannel-io/flannel:\S+)", self.files[rest[2]])
            c.flannel_image = m.group(1) if m else None
            return 0, "daemonset.apps/kube-flannel-ds created\n", ""
        if "configmap" in rest:
            return 0, "configmap/kubeadm-config\n", ""
        if "daemonset" in rest:
            return (0, c.flannel_image, "") if c.flannel_image else (1, "", "NotFound")
        if rest[:2] == ("get", "nodes"):
            return 0, json.dumps({"items": list(c.nodes.values())}), ""
        raise AssertionError(f"unknown kubectl command {a}")


def test_machine_knows_its_probes() -> None:
    m = Machine(Cluster(Clock()), "10.1.38.128", gpu=True)
    assert m.run(["nvidia-smi", "-L"]).ok
    assert m.run(["which", "containerd"]).stdout.strip() == "/usr/bin/containerd"
    assert not m.run(["kubeadm", "version", "-o", "short"]).ok
