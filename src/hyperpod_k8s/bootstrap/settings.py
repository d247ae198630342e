"""Bootstrap settings: a TOML file over documented defaults, validated before anything changes.

Every key is optional; unknown keys are refused (a typo must not silently fall back to a default).
Durations are seconds or strings like ``"90s"``, ``"30m"``, ``"6h"``.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from hyperpod_k8s.errors import ConfigError

DEFAULT_LOG_FILE = "/var/log/provision/hpk8s-bootstrap.log"
CONFIG_ENV = "HPK8S_BOOTSTRAP_CONFIG"
LOG_ENV = "HPK8S_BOOTSTRAP_LOG"

# The sandbox (pause) image each Kubernetes minor's kubeadm expects. A minor not listed here needs
# ``sandbox_image`` set explicitly (``kubeadm config images list`` prints it).
SANDBOX_IMAGES = {
    "1.30": "registry.k8s.io/pause:3.9",
    "1.31": "registry.k8s.io/pause:3.10",
    "1.32": "registry.k8s.io/pause:3.10",
    "1.33": "registry.k8s.io/pause:3.10",
    "1.34": "registry.k8s.io/pause:3.10.1",
    "1.35": "registry.k8s.io/pause:3.10.1",
    "1.36": "registry.k8s.io/pause:3.10.1",
}
OLDEST_MINOR = 30  # pkgs.k8s.io and kubeadm's v1beta3/v1beta4 configs from here on

# One /24 per node: kube-controller-manager's default --node-cidr-mask-size for IPv4, which flannel
# (kube-subnet-mgr) takes each node's subnet from.
NODE_CIDR_MASK = 24

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any, key: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"setting {key}: {value!r} is not a duration", 'use seconds or a string like "30m"')
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ConfigError(f"setting {key}: {value!r} is not a duration", 'use seconds or "90s", "30m", "6h"')
        seconds = float(m[1]) * _UNITS[m[2]]
    if seconds <= 0:
        raise ConfigError(f"setting {key}: must be longer than zero, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    s = int(seconds)
    if s % 3600 == 0:
        return f"{s // 3600}h"
    if s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"


@dataclass(frozen=True)
class Settings:
    kubernetes_version: str = "1.35"  # the minor; apt installs its latest patch
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    api_server_port: int = 6443
    flannel_version: str = "v0.27.4"
    flannel_cni_plugin_version: str = "v1.8.0-flannel1"
    flannel_backend: str = "vxlan"
    sandbox_image: str = ""  # default: the one SANDBOX_IMAGES lists for kubernetes_version
    secret_prefix: str = "hyperpod-k8s-"
    token_ttl: float = 24 * 3600
    token_refresh_within: float = 6 * 3600
    token_refresh_every: float = 3600
    join_info_timeout: float = 45 * 60  # worker: wait for the controller to publish join info
    join_attempts: int = 3  # worker: kubeadm join tries when the token turns out expired
    ready_timeout: float = 90 * 60  # controller: wait for every instance to be a Ready node
    ready_poll: float = 30
    command_timeout: float = 20 * 60  # any one command (apt-get, kubeadm init...)
    nvme_path: str = "/opt/dlami/nvme"
    containerd_root: str = ""  # default: <nvme_path>/containerd when nvme_path exists, else /var/lib/containerd
    login_user: str = "ubuntu"
    apt_repo: str = "https://pkgs.k8s.io/core:/stable:"
    config_dir: str = "/etc/hpk8s"
    state_dir: str = "/var/lib/hpk8s"
    hpk8s_command: str = ""  # what the token refresh timer runs; default: the hpk8s beside this Python

    @property
    def minor(self) -> int:
        return int(self.kubernetes_version.split(".")[1])

    @property
    def sandbox(self) -> str:
        return self.sandbox_image or SANDBOX_IMAGES[self.kubernetes_version]

    @property
    def kubeadm_api(self) -> str:
        return "kubeadm.k8s.io/v1beta4" if self.minor >= 31 else "kubeadm.k8s.io/v1beta3"

    @property
    def flannel_image(self) -> str:
        return f"ghcr.io/flannel-io/flannel:{self.flannel_version}"

    @property
    def flannel_cni_plugin_image(self) -> str:
        return f"ghcr.io/flannel-io/flannel-cni-plugin:{self.flannel_cni_plugin_version}"

    def secret_name(self, cluster_id: str) -> str:
        return f"{self.secret_prefix}{cluster_id}"

    def as_table(self) -> list[tuple[str, str]]:
        out = []
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in _DURATIONS:
                v = format_duration(v)
            out.append((f.name, str(v)))
        return out


_DURATIONS = {"token_ttl", "token_refresh_within", "token_refresh_every", "join_info_timeout", "ready_timeout",
              "ready_poll", "command_timeout"}
_INTS = {"api_server_port", "join_attempts"}


def from_mapping(data: dict[str, Any], source: str = "settings") -> Settings:
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}",
                          f"known settings: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _DURATIONS:
            values[key] = parse_duration(value, key)
        elif key in _INTS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{source}: setting {key} should be a whole number, got {value!r}")
            values[key] = value
        else:
            if not isinstance(value, str):
                raise ConfigError(f"{source}: setting {key} should be a string, got {value!r}")
            values[key] = value.strip()
    return replace(Settings(), **values)


def load(path: str | None) -> Settings:
    """Defaults, overridden by the TOML file at ``path`` when given. Not yet validated."""
    if not path:
        return Settings()
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"settings file {path} not found") from None
    except OSError as e:
        raise ConfigError(f"cannot read settings file {path}: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"settings file {path} is not valid TOML: {e}") from None
    return from_mapping(data, path)


def validate(s: Settings, *, instance_count: int, node_addresses: list[str]) -> list[str]:
    """Refuse settings that cannot work (ConfigError, with the numbers); return warnings."""
    warnings: list[str] = []
    m = re.fullmatch(r"1\.(\d+)", s.kubernetes_version)
    if not m:
        raise ConfigError(f"kubernetes_version {s.kubernetes_version!r} is not a minor version like \"1.35\"",
                          "give the minor only; apt installs its latest patch release")
    if int(m[1]) < OLDEST_MINOR:
        raise ConfigError(f"kubernetes_version {s.kubernetes_version} is older than 1.{OLDEST_MINOR}",
                          "use a currently supported release")
    if not s.sandbox_image and s.kubernetes_version not in SANDBOX_IMAGES:
        raise ConfigError(f"kubernetes_version {s.kubernetes_version}: no known sandbox image for it",
                          "set sandbox_image (kubeadm config images list prints the pause image)")
    pod = _network(s.pod_cidr, "pod_cidr")
    svc = _network(s.service_cidr, "service_cidr")
    if pod.prefixlen > NODE_CIDR_MASK:
        raise ConfigError(f"pod_cidr {pod} is smaller than one node's /{NODE_CIDR_MASK}",
                          f"use a /{NODE_CIDR_MASK - 8} or larger")
    subnets = 2 ** (NODE_CIDR_MASK - pod.prefixlen)
    if subnets < instance_count:
        need = NODE_CIDR_MASK - max(instance_count - 1, 1).bit_length()
        raise ConfigError(
            f"pod_cidr {pod} holds {subnets} node subnets of /{NODE_CIDR_MASK} but the cluster has "
            f"{instance_count} instances", f"use a /{need} or larger")
    if subnets < instance_count * 2:
        warnings.append(f"pod_cidr {pod} leaves room for {subnets} nodes and the cluster has {instance_count}:"
                        " little room to scale up")
    if pod.overlaps(svc):
        raise ConfigError(f"pod_cidr {pod} overlaps service_cidr {svc}", "pick ranges that do not overlap")
    inside = [a for a in node_addresses if _in(a, pod) or _in(a, svc)]
    if inside:
        raise ConfigError(f"pod_cidr {pod} or service_cidr {svc} contains instance addresses "
                          f"({', '.join(inside[:3])}{'…' if len(inside) > 3 else ''})",
                          "pick ranges outside the VPC")
    if not 1 <= s.api_server_port <= 65535:
        raise ConfigError(f"api_server_port {s.api_server_port} is not a TCP port")
    if s.join_attempts < 1:
        raise ConfigError("join_attempts must be at least 1")
    if not re.fullmatch(r"v\d+\.\d+\.\d+", s.flannel_version):
        raise ConfigError(f"flannel_version {s.flannel_version!r} is not a release tag like v0.27.4")
    if s.flannel_backend not in ("vxlan", "host-gw", "wireguard"):
        raise ConfigError(f"flannel_backend {s.flannel_backend!r} is not one of vxlan, host-gw, wireguard")
    if not re.fullmatch(r"[A-Za-z0-9/_+=.@-]+", s.secret_prefix):
        raise ConfigError(f"secret_prefix {s.secret_prefix!r} has characters Secrets Manager names cannot hold")
    if s.secret_prefix != Settings.secret_prefix:
        warnings.append(f"secret_prefix {s.secret_prefix!r}: `hpk8s ops token` and the refresh timer use the "
                        "default name hyperpod-k8s-<cluster-id>")
    if not s.secret_prefix.startswith("hyperpod-"):
        warnings.append(f"secret_prefix {s.secret_prefix!r} does not start with hyperpod-: the instance role "
                        "needs Secrets Manager permissions on it beyond the documented secret:hyperpod-*")
    if s.token_refresh_within >= s.token_ttl:
        raise ConfigError(f"token_refresh_within ({format_duration(s.token_refresh_within)}) must be shorter than "
                          f"token_ttl ({format_duration(s.token_ttl)})")
    if s.token_refresh_every >= s.token_refresh_within:
        raise ConfigError(f"token_refresh_every ({format_duration(s.token_refresh_every)}) must be shorter than "
                          f"token_refresh_within ({format_duration(s.token_refresh_within)})",
                          "or a token can expire between two refreshes")
    for key in ("nvme_path", "config_dir", "state_dir"):
        if not getattr(s, key).startswith("/"):
            raise ConfigError(f"{key} {getattr(s, key)!r} must be an absolute path")
    if s.containerd_root and not s.containerd_root.startswith("/"):
        raise ConfigError(f"containerd_root {s.containerd_root!r} must be an absolute path")
    if not re.fullmatch(r"[a-z_][a-z0-9_-]*", s.login_user):
        raise ConfigError(f"login_user {s.login_user!r} is not a user name")
    return warnings


def _network(text: str, key: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise ConfigError(f"{key} {text!r} is not a network: {e}", "write it like 10.244.0.0/16") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise ConfigError(f"{key} {text}: only IPv4 is supported")
    return net


def _in(address: str, net: ipaddress.IPv4Network) -> bool:
    try:
        return ipaddress.ip_address(address) in net
    except ValueError:
        return False


def token_ttl(s: Settings) -> timedelta:
    return timedelta(seconds=s.token_ttl)
