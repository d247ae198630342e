"""The demo fleet: what the embedded demo cluster is seeded with.

A controller ``ml.m5.2xlarge`` and 16 ``ml.p5.48xlarge`` workers in two groups, with the faults an
operator meets in real life planted among them:

- one worker whose GPU allocatable dropped to 7 (a GPU fell off the bus; its pod still asks for 8);
- one NotReady node whose instance is gone (HyperPod replaced it: an orphan node), and
- that replacement instance, which never joined Kubernetes (same IP, new instance id);
- training pods requesting GPUs and EFA, DaemonSet and control-plane pods, and finished pods that
  the server-side filter must drop.

Instance ids and IPs are derived from fixed seeds, so every demo run shows the same fleet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod_k8s.demo.objects import make_node, make_pod, node_name

CLUSTER_NAME = "k8s-demo"
REGION = "us-west-2"
ACCOUNT = "123456789012"
AZ = "us-west-2c"


def fixed_instance_id(seed: str) -> str:
    return "i-0" + hashlib.sha256(seed.encode()).hexdigest()[:16]


@dataclass
class DemoInstance:
    instance_id: str
    group: str
    instance_type: str
    ip: str
    joined: bool = True
    gpu_allocatable: int | None = None
    launched: datetime | None = None

    @property
    def node(self) -> str:
        return node_name(self.ip)


@dataclass
class DemoFleet:
    groups: list[tuple[str, str]]  # (name, instance type)
    instances: list[DemoInstance]
    orphan_nodes: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    @property
    def nodes(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        out = []
        for i in self.instances:
            if not i.joined:
                continue
            ctl = i.group == "ControllerGroup"
            out.append(make_node(ip=i.ip, instance_id=i.instance_id, instance_type=i.instance_type, group=i.group,
                                 az=AZ, control_plane=ctl, gpu_allocatable=i.gpu_allocatable,
                                 created=i.launched or now - timedelta(days=6)))
        return out + self.orphan_nodes


def demo_fleet() -> DemoFleet:
    now = datetime.now(UTC)
    groups = [("ControllerGroup", "ml.m5.2xlarge"), ("train-a", "ml.p5.48xlarge"), ("train-b", "ml.p5.48xlarge")]
    instances = [DemoInstance(fixed_instance_id("controller"), "ControllerGroup", "ml.m5.2xlarge", "10.1.113.28",
                              launched=now - timedelta(days=9))]
    for g, third in (("train-a", 38), ("train-b", 29)):
        for k in range(8):
            instances.append(DemoInstance(fixed_instance_id(f"{g}-{k}"), g, "ml.p5.48xlarge",
                                          f"10.1.{third}.{128 + k * 7}", launched=now - timedelta(days=6)))
    # A GPU fell off the bus on train-a #3: the device plugin now advertises 7.
    sick = instances[3]
    sick.gpu_allocatable = 7
    # train-b #8 was replaced by HyperPod's auto-recovery: its new instance never joined (the join
    # token had expired), and the old node object lingers NotReady: the orphan.
    replaced = instances[-1]
    replaced.joined = False
    replaced.launched = now - timedelta(minutes=40)
    old_id = fixed_instance_id("train-b-7-before-replacement")
    orphan = make_node(ip=replaced.ip, instance_id=old_id, instance_type="ml.p5.48xlarge", group="train-b", az=AZ,
                       created=now - timedelta(days=6), ready="Unknown", ready_reason="NodeStatusUnknown",
                       heartbeat=now - timedelta(minutes=42))

    fleet = DemoFleet(groups=groups, instances=instances, orphan_nodes=[orphan],
                      namespaces=["default", "kube-system", "kube-public", "kube-node-lease", "kube-flannel", "training"])
    joined = [i for i in instances if i.joined]
    workers = [i for i in joined if i.group != "ControllerGroup"]
    ctl = joined[0]
    pods = fleet.pods
    created = now - timedelta(hours=7)

    for comp in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        pods.append(make_pod(name=f"{comp}-{ctl.node}", namespace="kube-system", node=ctl.node, owner_kind="",
                             mirror=True, image=f"registry.k8s.io/{comp}:v1.33.5", env=0, cpu="250m",
                             memory="256Mi", created=now - timedelta(days=9)))
    for i in [*joined, DemoInstance(old_id, "train-b", "ml.p5.48xlarge", replaced.ip)]:
        suffix = hashlib.sha1(i.instance_id.encode()).hexdigest()[:5]
        ds = [("kube-system", "kube-proxy"), ("kube-flannel", "kube-flannel-ds")]
        if i.group != "ControllerGroup":
            ds += [("kube-system", "nvidia-device-plugin-daemonset"), ("kube-system", "aws-efa-k8s-device-plugin")]
        for ns, name in ds:
            pods.append(make_pod(name=f"{name}-{suffix}", namespace=ns, node=i.node, owner_kind="DaemonSet",
                                 owner_name=name, env=2, cpu="100m", memory="128Mi",
                                 image=f"registry.example/{name}:stable", created=now - timedelta(days=6)))
    for k, w in enumerate(workers[:2]):
        pods.append(make_pod(name=f"coredns-674b8bbfcf-{'xq7rk' if k else 'm2d9w'}", namespace="kube-system",
                             node=w.node, owner_kind="ReplicaSet", owner_name="coredns-674b8bbfcf",
                             lbl={"k8s-app": "kube-dns"}, env=0, cpu="100m", memory="70Mi"))

    # A 12-node pre-training job (8 GPUs and 32 EFA each) and a small fine-tune.
    train_nodes = workers[:12]
    for k, w in enumerate(train_nodes):
        pods.append(make_pod(name=f"llama3-70b-pretrain-worker-{k}", namespace="training", node=w.node, gpu=8,
                             efa=32, owner_name="llama3-70b-pretrain", lbl={"job-name": "llama3-70b-pretrain"},
                             created=created))
    pods.append(make_pod(name="mixtral-finetune-worker-0", namespace="training", node=workers[12].node, gpu=4,
                         efa=16, owner_name="mixtral-finetune", lbl={"job-name": "mixtral-finetune"},
                         created=now - timedelta(minutes=50)))
    # Finished pods: they hold nothing, and the server-side filter must drop them.
    for k in range(6):
        w = workers[13 + k % 2]
        pods.append(make_pod(name=f"nccl-tests-{k}", namespace="training", node=w.node, gpu=8, efa=32,
                             phase="Succeeded" if k % 3 else "Failed", owner_name="nccl-tests",
                             created=now - timedelta(days=1)))
    return fleet
