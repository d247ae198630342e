"""The control plane: ``kubeadm init`` from a generated configuration, once.

Done means our marker (written after a successful init) is there, or the cluster answers with its
``kubeadm-config`` (a controller initialised before hpk8s kept markers). Files kubeadm leaves
without either mean an init stopped half-way: ``kubeadm reset`` first, then init again.
"""

from __future__ import annotations

from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Run, Step, Write, done
from hyperpod_k8s.bootstrap.render import render
from hyperpod_k8s.bootstrap.steps.kubeadm_common import ADMIN_CONF, kubelet_args_yaml, reset_half_done
from hyperpod_k8s.join_info import mask, new_token

CONFIG_NAME = "kubeadm-init.yaml"
MARKER = "kubeadm-init.done"


def kubectl(*args: str) -> list[str]:
    return ["kubectl", "--kubeconfig", ADMIN_CONF, *args]


def kubeadm_version(host: Host, minor: str) -> str:
    """The installed kubeadm's own version (what init must match); a label when none is installed yet."""
    r = host.run(["kubeadm", "version", "-o", "short"])
    v = r.stdout.strip()
    return v if r.ok and v.startswith(f"v{minor}.") else f"stable-{minor}"


class KubeadmInit(Step):
    name = "kubeadm-init"
    title = "initialise the control plane"

    def check(self, host: Host) -> Changes:
        ctx = self.ctx
        s, node = ctx.settings, ctx.node
        marker = ctx.state(MARKER)
        if host.exists(marker) and host.exists(ADMIN_CONF):
            return done(f"initialised earlier ({marker})")
        if host.exists(ADMIN_CONF) and host.run(kubectl("-n", "kube-system", "get", "configmap", "kubeadm-config",
                                                        "-o", "name")).ok:
            return done(f"initialised earlier ({ADMIN_CONF} works and kube-system/kubeadm-config exists)")
        changes = Changes(reset_half_done(host, "an init"))
        token = new_token()
        ctx.log.hide(token, mask(token))
        config = render(
            "kubeadm-init.yaml", api=s.kubeadm_api, token=token, token_ttl=f"{int(s.token_ttl)}s",
            address=node.address, port=s.api_server_port, kubelet_args=kubelet_args_yaml(ctx),
            cluster_name=node.cluster.identity.name, kubernetes_version=kubeadm_version(host, s.kubernetes_version),
            pod_cidr=s.pod_cidr, service_cidr=s.service_cidr, hostname=node.instance.hostname or node.address)
        path = ctx.path(CONFIG_NAME)
        changes.append(Write(f"write {path}", path=path, content=config, mode=0o600, old=host.read(path)))
        changes.append(Run("kubeadm init", argv=("kubeadm", "init", "--config", path, "--skip-token-print"),
                           hint="see the log; `kubeadm reset --force` is run first on the next attempt"))
        changes.append(Write("remember the control plane is initialised", path=marker,
                             content="kubeadm init finished\n", old=None))
        return changes
