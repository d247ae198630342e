"""Kernel settings for bridged pod traffic and forwarding, persisted and applied."""

from __future__ import annotations

from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Run, Step, write_if_changed

CONF = "/etc/sysctl.d/99-hpk8s.conf"
SETTINGS = {
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "net.ipv4.ip_forward": "1",
}


def proc_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


class Sysctl(Step):
    name = "sysctl"
    title = "let iptables see bridged traffic and forward packets"

    def check(self, host: Host) -> Changes:
        changes = Changes(reason="set in " + CONF + " and applied: " + ", ".join(f"{k}={v}" for k, v in SETTINGS.items()))
        content = "# hpk8s bootstrap: pod networking (flannel) needs these\n" + "".join(
            f"{k} = {v}\n" for k, v in SETTINGS.items())
        w = write_if_changed(host, CONF, content, summary=f"persist in {CONF}")
        if w:
            changes.append(w)
        live = {k: (host.read(proc_path(k)) or "").strip() for k in SETTINGS}
        if w or any(live[k] != v for k, v in SETTINGS.items()):
            changes.append(Run("apply now", argv=("sysctl", "-p", CONF)))
        return changes
