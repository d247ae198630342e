"""Facts about this machine: read-only probes through the Host, gathered once before planning.

- address: the IPv4 address of the interface the default route leaves by (``ip -j route show
  default``, then ``ip -j -4 addr show dev <if>``); HyperPod instances have more than one
  interface, so no interface name is assumed.
- instance id: from resource_config.json (matched by that address); ``board_asset_tag`` (DMI, the
  EC2 instance id on Nitro) is only a cross-check.
- availability zone: IMDSv2 (``placement/availability-zone``); when IMDS does not answer, a real
  run asks SageMaker DescribeClusterNode instead (see :mod:`hyperpod_k8s.bootstrap.run`).
- GPU: ``nvidia-smi -L`` lists a GPU; the NVIDIA container runtime is found with ``which``.
- NVMe: the instance store mount HyperPod's DLAMI provides (``nvme_path``) exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hyperpod_k8s.bootstrap.host import Host

IMDS = "http://169.254.169.254/latest"
BOARD_ASSET_TAG = "/sys/devices/virtual/dmi/id/board_asset_tag"


@dataclass(frozen=True)
class Facts:
    address: str | None = None
    interface: str | None = None
    nvme: bool = False
    gpu: bool = False
    nvidia_runtime: str | None = None  # path of nvidia-container-runtime
    hw_instance_id: str | None = None
    availability_zone: str | None = None

    def lines(self) -> list[str]:
        return [
            f"address: {self.address or '?'} ({self.interface})",
            f"NVMe instance store: {'yes' if self.nvme else 'no'}",
            f"GPU: {'yes' if self.gpu else 'no'}; NVIDIA container runtime: {self.nvidia_runtime or 'no'}",
            f"availability zone: {self.availability_zone or 'unknown here (IMDS did not answer; a real run then asks SageMaker DescribeClusterNode)'}",
        ]


def default_route(host: Host) -> tuple[str | None, str | None]:
    """(interface, IPv4 address) of the default route, or Nones."""
    r = host.run(["ip", "-j", "route", "show", "default"])
    try:
        routes = json.loads(r.stdout) if r.ok and r.stdout.strip() else []
    except json.JSONDecodeError:
        routes = []
    # lowest metric first: the route the kernel uses
    routes = sorted((x for x in routes if isinstance(x, dict) and x.get("dev")), key=lambda x: x.get("metric", 0))
    if not routes:
        return None, None
    dev = str(routes[0]["dev"])
    prefsrc = routes[0].get("prefsrc")
    a = host.run(["ip", "-j", "-4", "addr", "show", "dev", dev])
    try:
        links = json.loads(a.stdout) if a.ok and a.stdout.strip() else []
    except json.JSONDecodeError:
        links = []
    addrs = [i.get("local") for link in links for i in link.get("addr_info", [])
             if i.get("family") == "inet" and i.get("scope", "global") == "global" and i.get("local")]
    if prefsrc and prefsrc in addrs:
        return dev, str(prefsrc)
    return dev, (str(addrs[0]) if addrs else (str(prefsrc) if prefsrc else None))


def imds(host: Host, path: str) -> str | None:
    t = host.run(["curl", "-fsS", "--connect-timeout", "1", "--max-time", "3", "-X", "PUT",
                  "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60", f"{IMDS}/api/token"])
    if not t.ok or not t.stdout.strip():
        return None
    r = host.run(["curl", "-fsS", "--connect-timeout", "1", "--max-time", "3",
                  "-H", f"X-aws-ec2-metadata-token: {t.stdout.strip()}", f"{IMDS}/meta-data/{path}"])
    return r.stdout.strip() or None if r.ok else None


def gather(host: Host, *, nvme_path: str, address: str | None = None) -> Facts:
    interface: str | None = "given by --node-ip"
    if address is None:
        interface, address = default_route(host)
        interface = interface or "no default route"
    smi = host.run(["nvidia-smi", "-L"])
    gpu = smi.ok and "GPU " in smi.stdout
    w = host.run(["which", "nvidia-container-runtime"])
    runtime = w.stdout.strip().splitlines()[0] if w.ok and w.stdout.strip() else None
    tag = (host.read(BOARD_ASSET_TAG) or "").strip()
    return Facts(
        address=address, interface=interface, nvme=host.exists(nvme_path), gpu=gpu, nvidia_runtime=runtime,
        hw_instance_id=tag if tag.startswith("i-") else None,
        availability_zone=imds(host, "placement/availability-zone"),
    )
