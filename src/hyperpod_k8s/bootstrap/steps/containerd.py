"""containerd: installed, configured from our template, memlock unlimited, restarted only on change.

A marker file is written before the configuration changes and removed after the restart, so a run
that crashed in between still restarts containerd when it resumes.
"""

from __future__ import annotations

from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Run, Step, Write, write_if_changed
from hyperpod_k8s.bootstrap.render import render

CONFIG = "/etc/containerd/config.toml"
DROP_IN = "/etc/systemd/system/containerd.service.d/hpk8s.conf"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
APT_OPTS = ("-o", "DPkg::Lock::Timeout=600", "-o", "Dpkg::Options::=--force-confold")


def data_root(settings_root: str, nvme: bool, nvme_path: str) -> str:
    if settings_root:
        return settings_root
    return f"{nvme_path}/containerd" if nvme else "/var/lib/containerd"


def containerd_config(*, data_root: str, sandbox_image: str, kubernetes_version: str,
                      nvidia_runtime: str | None) -> str:
    nvidia = render("containerd-nvidia.toml", binary=nvidia_runtime) if nvidia_runtime else ""
    return render("containerd-config.toml", data_root=data_root, sandbox_image=sandbox_image,
                  kubernetes_version=kubernetes_version, default_runtime="nvidia" if nvidia_runtime else "runc",
                  nvidia_runtime=nvidia)


DROP_IN_TEXT = """\
# hpk8s bootstrap: GPU and EFA workloads pin memory (NCCL, libfabric); the vendor unit stays untouched.
[Service]
LimitMEMLOCK=infinity
"""


class Containerd(Step):
    name = "containerd"
    title = "containerd installed, configured for the kubelet, memlock unlimited"

    def config_text(self) -> str:
        s, f = self.ctx.settings, self.ctx.facts
        runtime = f.nvidia_runtime if (f.gpu and f.nvidia_runtime) else None
        return containerd_config(data_root=data_root(s.containerd_root, f.nvme, s.nvme_path),
                                 sandbox_image=s.sandbox, kubernetes_version=s.kubernetes_version,
                                 nvidia_runtime=runtime)

    def check(self, host: Host) -> Changes:
        marker = self.ctx.state("containerd-restart-pending")
        changes = Changes(reason=f"{CONFIG} and {DROP_IN} up to date, containerd running")
        installed = host.run(["which", "containerd"]).ok
        if not installed:
            changes.append(Run("install containerd (Ubuntu package)", env=APT_ENV,
                               argv=("apt-get", "install", "-y", "-q", *APT_OPTS, "containerd"), attempts=3))
        files = [w for w in (write_if_changed(host, CONFIG, self.config_text(), summary=f"write {CONFIG}"),
                             write_if_changed(host, DROP_IN, DROP_IN_TEXT, summary=f"write {DROP_IN}"))
                 if w is not None]
        pending = host.exists(marker)
        if files or pending:
            if not pending:
                changes.append(Write("remember that containerd needs a restart (survives a crash)", path=marker,
                                     content="containerd configuration changed; restart pending\n", old=None))
            changes.extend(files)
            changes.append(Run("reload systemd units", argv=("systemctl", "daemon-reload")))
            changes.append(Run("restart containerd with the new configuration",
                               argv=("systemctl", "restart", "containerd")))
            changes.append(Run("clear the restart marker", argv=("rm", "-f", marker)))
        enabled = host.run(["systemctl", "is-enabled", "containerd"]).stdout.strip() == "enabled"
        active = host.run(["systemctl", "is-active", "containerd"]).stdout.strip() == "active"
        if not (enabled and active) or not installed:
            changes.append(Run("start containerd now and at boot", argv=("systemctl", "enable", "--now", "containerd")))
        return changes
