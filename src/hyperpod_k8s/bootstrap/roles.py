"""What a controller and a worker run, in order. Every instance gets the common steps first."""

from __future__ import annotations

from hyperpod_k8s.bootstrap.context import CONTROLLER, Context
from hyperpod_k8s.bootstrap.plan import Step
from hyperpod_k8s.bootstrap.steps.containerd import Containerd
from hyperpod_k8s.bootstrap.steps.flannel import Flannel
from hyperpod_k8s.bootstrap.steps.join_info import PublishJoinInfo
from hyperpod_k8s.bootstrap.steps.kubeadm_init import KubeadmInit
from hyperpod_k8s.bootstrap.steps.kubeadm_join import KubeadmJoin
from hyperpod_k8s.bootstrap.steps.kubeconfig import AdminKubeconfig
from hyperpod_k8s.bootstrap.steps.modules import KernelModules
from hyperpod_k8s.bootstrap.steps.packages import KubernetesPackages
from hyperpod_k8s.bootstrap.steps.swap import SwapOff
from hyperpod_k8s.bootstrap.steps.sysctl import Sysctl
from hyperpod_k8s.bootstrap.steps.token_timer import TokenRefreshTimer
from hyperpod_k8s.bootstrap.steps.wait_ready import WaitReady

COMMON: tuple[type[Step], ...] = (KernelModules, Sysctl, SwapOff, Containerd, KubernetesPackages)
# Join info goes out right after init, so workers can join while the rest is set up; the timer right
# after it, so a wait that times out still leaves the token refreshed.
CONTROLLER_STEPS: tuple[type[Step], ...] = (*COMMON, KubeadmInit, PublishJoinInfo, TokenRefreshTimer,
                                            AdminKubeconfig, Flannel, WaitReady)
WORKER_STEPS: tuple[type[Step], ...] = (*COMMON, KubeadmJoin)


def steps_for(ctx: Context) -> list[Step]:
    kinds = CONTROLLER_STEPS if ctx.node.role == CONTROLLER else WORKER_STEPS
    return [k(ctx) for k in kinds]
