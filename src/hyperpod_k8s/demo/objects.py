"""Realistic Kubernetes Node and Pod objects, as a kubeadm cluster on HyperPod has them.

Shared by the demo cluster and the benchmarks; sizes follow what real objects weigh (a GPU node
with its image list ~13 KB of JSON, a training pod with env, volumes and managedFields ~5 KB).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod_k8s import labels
from hyperpod_k8s.instance_types import EFA, GPU, NEURON, expected_for

KUBELET_VERSION = "v1.33.5"


def ts(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def node_name(ip: str) -> str:
    return f"ip-{ip.replace('.', '-')}"


def _images(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        digest = hashlib.sha256(f"image-{i}".encode()).hexdigest()
        repo = ["nvcr.io/nvidia/pytorch", "public.ecr.aws/hpc-cloud/nccl-tests", "docker.io/flannel/flannel",
                "registry.k8s.io/kube-proxy", "nvcr.io/nvidia/k8s-device-plugin",
                "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/aws-efa-k8s-device-plugin"][i % 6]
        out.append({"names": [f"{repo}@sha256:{digest}", f"{repo}:24.{i % 12:02d}-py3"],
                    "sizeBytes": 9_000_000_000 - i * 37_000_000})
    return out


def make_node(*, ip: str, instance_id: str | None, instance_type: str, group: str, az: str = "us-west-2a",
              created: datetime | None = None, ready: str = "True", ready_reason: str = "KubeletReady",
              gpu_capacity: int | None = None, gpu_allocatable: int | None = None,
              efa_capacity: int | None = None, efa_allocatable: int | None = None,
              control_plane: bool = False, unschedulable: bool = False, images: int = 24,
              heartbeat: datetime | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    created = created or now - timedelta(days=3)
    heartbeat = heartbeat or now
    exp = expected_for(instance_type)
    accel = NEURON if exp.neuron else GPU
    cap_accel = (exp.accel or 0) if gpu_capacity is None else gpu_capacity
    alloc_accel = cap_accel if gpu_allocatable is None else gpu_allocatable
    cap_efa = (exp.efa or 0) if efa_capacity is None else efa_capacity
    alloc_efa = cap_efa if efa_allocatable is None else efa_allocatable
    big = instance_type.endswith("48xlarge") or instance_type.endswith("32xlarge")
    capacity = {
        "cpu": "192" if big else "8", "memory": "2097152000Ki" if big else "32036800Ki",
        "ephemeral-storage": "524275692Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0", "pods": "110",
    }
    allocatable = dict(capacity, memory="2096937000Ki" if big else "31934400Ki", **{"ephemeral-storage": "483173420153"})
    if cap_accel:
        capacity[accel] = str(cap_accel)
        allocatable[accel] = str(alloc_accel)
    if cap_efa:
        capacity[EFA] = str(cap_efa)
        allocatable[EFA] = str(alloc_efa)
    name = node_name(ip)
    lbl = {
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
        labels.INSTANCE_TYPE: instance_type, labels.INSTANCE_GROUP: group,
        "topology.kubernetes.io/region": az[:-1], "topology.kubernetes.io/zone": az,
    }
    if instance_id:
        lbl[labels.INSTANCE_ID] = instance_id
    if control_plane:
        lbl[labels.CONTROL_PLANE] = ""
        lbl["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
    conditions = []
    for ctype, reason, msg in [
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]:
        status = "False" if ready == "True" else "Unknown"
        conditions.append({"type": ctype, "status": status, "reason": reason if status == "False" else "NodeStatusUnknown",
                           "message": msg if status == "False" else "Kubelet stopped posting node status.",
                           "lastHeartbeatTime": ts(heartbeat), "lastTransitionTime": ts(created)})
    conditions.append({
        "type": "Ready", "status": ready, "reason": ready_reason,
        "message": "kubelet is posting ready status" if ready == "True" else "Kubelet stopped posting node status.",
        "lastHeartbeatTime": ts(heartbeat), "lastTransitionTime": ts(heartbeat if ready != "True" else created),
    })
    spec: dict[str, Any] = {"podCIDR": f"10.244.{int(ip.split('.')[2]) % 256}.0/24",
                            "podCIDRs": [f"10.244.{int(ip.split('.')[2]) % 256}.0/24"]}
    if instance_id:
        spec["providerID"] = f"aws:///{az}/{instance_id}"
    taints = []
    if control_plane:
        taints.append({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
    if unschedulable:
        spec["unschedulable"] = True
        taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                       "timeAdded": ts(now)})
    if ready != "True":
        taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": ts(heartbeat)})
        taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": ts(heartbeat)})
    if taints:
        spec["taints"] = taints
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "labels": lbl, "creationTimestamp": ts(created),
            "annotations": {
                "flannel.alpha.coreos.com/backend-data": '{"VNI":1,"VtepMAC":"6a:1f:0c:2e:93:4b"}',
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/kube-subnet-manager": "true",
                "flannel.alpha.coreos.com/public-ip": ip,
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": spec,
        "status": {
            "capacity": capacity, "allocatable": allocatable, "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": hashlib.md5(ip.encode()).hexdigest(), "systemUUID": "ec2" + hashlib.md5(name.encode()).hexdigest()[3:],
                "bootID": hashlib.sha1(ip.encode()).hexdigest()[:36], "kernelVersion": "6.8.0-1021-aws",
                "osImage": "Ubuntu 22.04.5 LTS", "containerRuntimeVersion": "containerd://1.7.27",
                "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux", "architecture": "amd64",
            },
            "images": _images(images),
        },
    }


def make_pod(*, name: str, namespace: str, node: str | None, gpu: int = 0, efa: int = 0, neuron: int = 0,
             phase: str = "Running", owner_kind: str = "Job", owner_name: str = "", lbl: dict[str, str] | None = None,
             created: datetime | None = None, mirror: bool = False, image: str = "nvcr.io/nvidia/pytorch:24.07-py3",
             env: int = 12, cpu: str = "4", memory: str = "16Gi") -> dict[str, Any]:
    created = created or datetime.now(UTC) - timedelta(hours=5)
    requests: dict[str, str] = {"cpu": cpu, "memory": memory}
    if gpu:
        requests[GPU] = str(gpu)
    if efa:
        requests[EFA] = str(efa)
    if neuron:
        requests[NEURON] = str(neuron)
    limits = {k: v for k, v in requests.items() if k != "cpu"}
    meta: dict[str, Any] = {
        "name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": owner_name or name, **(lbl or {})},
        "creationTimestamp": ts(created),
    }
    if owner_kind:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1" if owner_kind != "Job" else "batch/v1",
                                    "kind": owner_kind, "name": owner_name or name, "controller": True,
                                    "blockOwnerDeletion": True, "uid": hashlib.md5(owner_name.encode()).hexdigest()}]
    if mirror:
        meta["annotations"] = {labels.MIRROR_POD: hashlib.md5(name.encode()).hexdigest(),
                               "kubernetes.io/config.source": "file"}
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node or "", "controller": True}]
    meta["managedFields"] = [{
        "manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": ts(created),
        "fieldsType": "FieldsV1", "subresource": "status",
        "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {},
                                  "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}},
    }]
    container = {
        "name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
        "command": ["torchrun"], "args": ["--nnodes=16", "--nproc-per-node=8", "train.py", "--config=cfg.yaml"],
        "env": [{"name": f"NCCL_VAR_{i}", "value": f"value-{i}"} for i in range(env)],
        "resources": {"requests": requests, "limits": limits},
        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}, {"name": "fsx", "mountPath": "/fsx"},
                         {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                          "readOnly": True}],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    spec: dict[str, Any] = {
        "containers": [container], "restartPolicy": "Never" if owner_kind == "Job" else "Always",
        "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
        "schedulerName": "default-scheduler", "priority": 0, "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300}],
        "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Gi"}},
                    {"name": "fsx", "hostPath": {"path": "/fsx", "type": "Directory"}},
                    {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
    }
    if node:
        spec["nodeName"] = node
    status: dict[str, Any] = {"phase": phase, "qosClass": "Burstable"}
    if node and phase == "Running":
        status.update({
            "hostIP": "10.1.0.1", "podIP": "10.244.1.10", "startTime": ts(created),
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": ts(created)}
                           for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                     "PodScheduled")],
            "containerStatuses": [{"name": "main", "ready": True, "restartCount": 0, "started": True,
                                   "image": image, "imageID": f"{image}@sha256:{'a' * 64}",
                                   "containerID": f"containerd://{hashlib.sha256(name.encode()).hexdigest()}",
                                   "state": {"running": {"startedAt": ts(created)}}}],
        })
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
