"""Swap off now and at boot: the kubelet refuses to start with swap on (its default)."""

from __future__ import annotations

from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Run, Step, Write

FSTAB = "/etc/fstab"


def active_swaps(proc_swaps: str | None) -> list[str]:
    lines = (proc_swaps or "").splitlines()[1:]  # first line is the header
    return [line.split()[0] for line in lines if line.strip()]


def without_swap(fstab: str) -> str:
    out = []
    for line in fstab.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.lstrip().startswith("#") and parts[2] == "swap":
            line = "# disabled by hpk8s bootstrap (kubelet needs swap off): " + line
        out.append(line)
    return "\n".join(out) + ("\n" if fstab.endswith("\n") else "")


class SwapOff(Step):
    name = "swap"
    title = "turn swap off now and at boot"

    def check(self, host: Host) -> Changes:
        changes = Changes(reason="no active swap and none in /etc/fstab")
        active = active_swaps(host.read("/proc/swaps"))
        if active:
            changes.append(Run(f"turn off swap on {', '.join(active)}", argv=("swapoff", "-a")))
        fstab = host.read(FSTAB)
        if fstab is not None:
            new = without_swap(fstab)
            if new != fstab:
                changes.append(Write("comment out swap in /etc/fstab", path=FSTAB, content=new, old=fstab))
        return changes
