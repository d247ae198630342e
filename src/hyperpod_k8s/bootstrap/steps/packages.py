"""kubelet, kubeadm and kubectl of the configured minor, from the Kubernetes apt repository, held;
kubelet enabled (it waits for kubeadm to configure it)."""

from __future__ import annotations

from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Run, Step, write_if_changed
from hyperpod_k8s.bootstrap.steps.containerd import APT_ENV, APT_OPTS

PACKAGES = ("kubelet", "kubeadm", "kubectl")
# The CNI plugins flannel delegates to (bridge, host-local, portmap, loopback) live in /opt/cni/bin.
EXTRA = ("kubernetes-cni",)
KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
SOURCES = "/etc/apt/sources.list.d/kubernetes.list"


def installed_versions(host: Host, packages: tuple[str, ...]) -> dict[str, str]:
    r = host.run(["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Status}\\n", *packages])
    versions = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "installed":
            versions[parts[0]] = parts[1]
    return versions


class KubernetesPackages(Step):
    name = "packages"
    title = "kubelet, kubeadm, kubectl installed from the Kubernetes apt repository and held"

    def check(self, host: Host) -> Changes:
        s = self.ctx.settings
        minor = s.kubernetes_version
        repo = f"{s.apt_repo}/v{minor}/deb/"
        changes = Changes()
        key_changes = []
        if not host.exists(KEYRING):
            tmp = self.ctx.state("kubernetes-release.key")
            key_changes = [
                Run(f"download the signing key of the v{minor} repository", attempts=3,
                    argv=("curl", "-fsSL", "--retry", "5", "-o", tmp, f"{repo}Release.key")),
                Run("store it as an apt keyring", argv=("gpg", "--batch", "--yes", "--dearmor", "-o", KEYRING, tmp)),
            ]
            changes.append(Run("create /etc/apt/keyrings", argv=("install", "-d", "-m", "0755", "/etc/apt/keyrings")))
            changes.append(Run("create the state directory", argv=("install", "-d", "-m", "0700", s.state_dir)))
            changes.extend(key_changes)
        src = write_if_changed(host, SOURCES, f"# hpk8s bootstrap: Kubernetes {minor} packages\n"
                               f"deb [signed-by={KEYRING}] {repo} /\n", summary=f"point apt at {repo}")
        if src:
            changes.append(src)
        have = installed_versions(host, (*PACKAGES, *EXTRA))
        wrong = [p for p in PACKAGES if not have.get(p, "").startswith(f"{minor}.")]
        missing_extra = [p for p in EXTRA if p not in have]
        if wrong or missing_extra or src:
            if src or key_changes or wrong:
                changes.append(Run("refresh the package lists", argv=("apt-get", "update", "-q"), env=APT_ENV,
                                   attempts=3, pause=10))
            if wrong or missing_extra:
                changes.append(Run(f"install {', '.join(wrong + missing_extra)} (Kubernetes {minor})", env=APT_ENV,
                                   attempts=3, pause=10,
                                   argv=("apt-get", "install", "-y", "-q", "--allow-change-held-packages",
                                         "--allow-downgrades", *APT_OPTS, *PACKAGES, *EXTRA)))
        held = set(host.run(["apt-mark", "showhold"]).stdout.split())
        if wrong or not set(PACKAGES) <= held:
            changes.append(Run("hold them (no upgrade behind the cluster's back)", argv=("apt-mark", "hold", *PACKAGES)))
        if host.run(["systemctl", "is-enabled", "kubelet"]).stdout.strip() != "enabled":
            changes.append(Run("enable kubelet at boot", argv=("systemctl", "enable", "kubelet")))
        shown = ", ".join(f"{p} {have[p]}" for p in PACKAGES if p in have)
        changes.reason = f"{shown} installed and held, kubelet enabled"
        return changes
