"""Kernel modules containerd and Kubernetes networking need: overlay, br_netfilter."""

from __future__ import annotations

from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Run, Step, write_if_changed

MODULES = ("overlay", "br_netfilter")
CONF = "/etc/modules-load.d/hpk8s.conf"


class KernelModules(Step):
    name = "modules"
    title = "load overlay and br_netfilter now and at every boot"

    def check(self, host: Host) -> Changes:
        changes = Changes()
        w = write_if_changed(host, CONF, "# hpk8s bootstrap: loaded at boot by systemd-modules-load\n"
                             + "".join(f"{m}\n" for m in MODULES), summary=f"persist in {CONF}")
        if w:
            changes.append(w)
        for m in MODULES:
            # /sys/module/<name> exists for loaded modules and for ones built into the kernel
            if not host.exists(f"/sys/module/{m}"):
                changes.append(Run(f"load {m}", argv=("modprobe", m)))
        changes.reason = f"{', '.join(MODULES)} loaded and listed in {CONF}"
        return changes
