"""What kubeadm init and join share: the kubelet's per-node flags, and cleaning up a half-done run."""

from __future__ import annotations

from hyperpod_k8s.bootstrap.context import Context
from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Run

KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
CA_CERT = "/etc/kubernetes/pki/ca.crt"
# What kubeadm leaves behind; any of these without a finished run means it crashed half-way.
LEFTOVERS = ("/etc/kubernetes/manifests/kube-apiserver.yaml", "/etc/kubernetes/bootstrap-kubelet.conf",
             "/etc/kubernetes/pki/ca.crt", ADMIN_CONF, KUBELET_CONF, "/var/lib/kubelet/config.yaml")


def kubelet_args(ctx: Context) -> dict[str, str]:
    """Set at init/join so a replaced or late node identifies and labels itself."""
    node = ctx.node
    return {"provider-id": node.provider_id, "node-ip": node.address, "node-labels": node.labels_arg}


def kubelet_args_yaml(ctx: Context, indent: int = 4) -> str:
    pad = " " * indent
    args = kubelet_args(ctx)
    if ctx.settings.minor >= 31:  # v1beta4: a list of name/value pairs
        return "\n".join(f'{pad}- name: "{k}"\n{pad}  value: "{v}"' for k, v in args.items())
    return "\n".join(f'{pad}{k}: "{v}"' for k, v in args.items())


def reset_half_done(host: Host, run: str) -> list[Run]:
    """``kubeadm reset`` first when files of a ``run`` ("an init", "a join") that stopped half-way remain."""
    left = [p for p in LEFTOVERS if host.exists(p)]
    if not left:
        return []
    return [Run(f"clean up {run} that stopped half-way ({', '.join(left[:2])}{'…' if len(left) > 2 else ''})",
                argv=("kubeadm", "reset", "--force"))]
