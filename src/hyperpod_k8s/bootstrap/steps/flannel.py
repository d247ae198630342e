"""The pod network: flannel from the manifest shipped in the package, pinned, pod CIDR filled in."""

from __future__ import annotations

from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Run, Step, write_if_changed
from hyperpod_k8s.bootstrap.render import render
from hyperpod_k8s.bootstrap.settings import Settings
from hyperpod_k8s.bootstrap.steps.kubeadm_init import kubectl

MANIFEST = "kube-flannel.yaml"


def flannel_manifest(s: Settings) -> str:
    return render(MANIFEST, flannel_version=s.flannel_version, backend=s.flannel_backend, pod_cidr=s.pod_cidr,
                  flannel_image=s.flannel_image, cni_plugin_image=s.flannel_cni_plugin_image)


class Flannel(Step):
    name = "flannel"
    title = "install the pod network (flannel)"

    def check(self, host: Host) -> Changes:
        s = self.ctx.settings
        path = self.ctx.path(MANIFEST)
        w = write_if_changed(host, path, flannel_manifest(s),
                             summary=f"write {path} (flannel {s.flannel_version}, pod CIDR {s.pod_cidr})")
        live = host.run(kubectl("-n", "kube-flannel", "get", "daemonset", "kube-flannel-ds",
                                "-o", "jsonpath={.spec.template.spec.containers[0].image}"))
        if w is None and live.ok and live.stdout.strip() == s.flannel_image:
            return Changes(reason=f"{path} applied, kube-flannel-ds runs {s.flannel_image}")
        changes = Changes([w] if w else [])
        # The API server may still be settling right after kubeadm init.
        changes.append(Run("apply it", argv=tuple(kubectl("apply", "-f", path)), attempts=10, pause=6))
        return changes
