"""What moto's SageMaker lacks for HyperPod, added on its backend in-process.

- ``ListClusterNodes`` paginates by a key cluster nodes do not have, so every page repeats page one;
  we page by instance id.
- Nodes gain ``PrivatePrimaryIp`` / ``PrivateDnsHostname`` and realistic ``i-`` instance ids.
- ``BatchDeleteClusterNodes``, ``BatchReplaceClusterNodes``, ``BatchRebootClusterNodes`` and
  ``UpdateCluster`` (instance counts) are implemented.
- Instance status moves with time: a replaced or added instance is ``Pending`` for
  ``provisioning_seconds`` and then ``Running``; a rebooting one is ``SystemUpdating`` meanwhile.
- ``faults``: per-operation callables the tests use to inject AccessDenied, throttling or a page
  that fails half-way through a listing.

Everything goes through moto's server over HTTP; only the backend is extended.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker import models as sm_models
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse

_installed = False
_lock = threading.Lock()

# operation name (snake case) -> callable(params) raising a moto/botocore-shaped error, or None
faults: dict[str, Callable[[dict[str, Any]], None]] = {}
provisioning_seconds = 3.0
# Called after an instance is created, replaced or rebooted: (cluster name, node, event).
listeners: list[Callable[[str, Any, str], None]] = []


def new_instance_id() -> str:
    return "i-0" + secrets.token_hex(8)


def _ip_to_dns(ip: str, region: str) -> str:
    return f"ip-{ip.replace('.', '-')}.{region}.compute.internal"


class _Fault(Exception):
    pass


def _check_fault(op: str, params: dict[str, Any]) -> None:
    f = faults.get(op)
    if f is not None:
        f(params)


def _cluster(backend: Any, name: str) -> Any:
    if name.startswith("arn:"):
        name = name.split("/")[-1]
    cluster = backend.clusters.get(name)
    if cluster is None:
        raise ValidationError(message=f"Could not find cluster '{name}'.")
    return cluster


def _status(node: Any) -> str:
    until = getattr(node, "busy_until", 0.0)
    if until and time.time() >= until:
        node.busy_until = 0.0
        node.status = "Running"
        for cb in list(listeners):
            cb(node.cluster_name, node, "running")
    return str(node.status)


def _summary(node: Any) -> dict[str, Any]:
    out = {
        "InstanceGroupName": node.instance_group_name,
        "InstanceId": node.instance_id,
        "InstanceType": node.instance_type,
        "LaunchTime": node.launch_time,
        "InstanceStatus": {"Status": _status(node), "Message": getattr(node, "status_message", "")},
    }
    if getattr(node, "private_ip", None):
        out["PrivateDnsHostname"] = _ip_to_dns(node.private_ip, node.region_name)
    return out


def _details(node: Any) -> dict[str, Any]:
    out = _summary(node)
    out["LifeCycleConfig"] = node.life_cycle_config
    out["ThreadsPerCore"] = node.threads_per_core
    if getattr(node, "private_ip", None):
        out["PrivatePrimaryIp"] = node.private_ip
        out["Placement"] = {"AvailabilityZone": getattr(node, "az", f"{node.region_name}a")}
    return out


def add_node(backend: Any, cluster: Any, group: dict[str, Any], *, instance_id: str | None = None,
             ip: str | None = None, az: str | None = None, status: str = "Running",
             busy_seconds: float = 0.0) -> Any:
    node: Any = sm_models.ClusterNode(
        region_name=backend.region_name, account_id=backend.account_id, cluster_name=cluster.cluster_name,
        instance_group_name=group["InstanceGroupName"], instance_type=group["InstanceType"],
        life_cycle_config=group.get("LifeCycleConfig", {}), execution_role=group.get("ExecutionRole", ""),
        node_id=instance_id or new_instance_id(), threads_per_core=group.get("ThreadsPerCore"),
    )
    node.private_ip = ip or _free_ip(cluster)
    node.az = az or f"{backend.region_name}a"
    node.status = status
    node.status_message = ""
    node.busy_until = time.time() + busy_seconds if busy_seconds else 0.0
    node.launch_time = datetime.now(UTC)
    cluster.nodes[node.instance_id] = node
    return node


def _free_ip(cluster: Any) -> str:
    used = {getattr(n, "private_ip", None) for n in cluster.nodes.values()}
    for third in range(1, 250):
        for fourth in range(10, 250):
            ip = f"10.1.{third}.{fourth}"
            if ip not in used:
                return ip
    raise RuntimeError("no free demo IP")


def _group(cluster: Any, name: str) -> dict[str, Any] | None:
    for g in cluster.instance_groups:
        if g["InstanceGroupName"] == name:
            return g
    return None


def _recount(cluster: Any, *, set_target: bool = False) -> None:
    for g in cluster.instance_groups:
        g["CurrentCount"] = sum(1 for n in cluster.nodes.values() if n.instance_group_name == g["InstanceGroupName"])
        if set_target:
            g["TargetCount"] = g["CurrentCount"]


# -- backend -------------------------------------------------------------------------------------

def list_cluster_nodes(self: Any, cluster_name: str, max_results: int | None = None,
                       next_token: str | None = None, instance_group_name_contains: str | None = None,
                       sort_order: str | None = None, **_: Any) -> tuple[list[Any], str | None]:
    cluster = _cluster(self, cluster_name)
    def key(n: Any) -> str:  # one order for sorting and for the page token
        return f"{n.launch_time.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')}|{n.instance_id}"

    nodes = sorted(cluster.nodes.values(), key=key, reverse=sort_order == "Descending")
    if instance_group_name_contains:
        nodes = [n for n in nodes if instance_group_name_contains in n.instance_group_name]
    # The token says where the previous page ended (sort key of its last node), not which node comes
    # next: a node deleted between two pages must not break the listing.
    start = 0
    if next_token:
        try:
            after = base64.urlsafe_b64decode(next_token.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise ValidationError(message="The NextToken is not valid.") from None
        descending = sort_order == "Descending"
        start = next((i for i, n in enumerate(nodes) if (key(n) < after if descending else key(n) > after)),
                     len(nodes))
    size = int(max_results or 100)
    page = nodes[start:start + size]
    token = base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if page and start + size < len(nodes) else None
    return page, token


def batch_nodes(self: Any, cluster_name: str, node_ids: list[str], action: str) -> dict[str, Any]:
    cluster = _cluster(self, cluster_name)
    ok: list[str] = []
    failed: list[dict[str, str]] = []
    for nid in node_ids or []:
        node = cluster.nodes.get(nid)
        if node is None:
            failed.append({"NodeId": nid, "Code": "NodeIdNotFound", "ErrorCode": "InstanceIdNotFound",
                           "Message": f"Node {nid} not found in cluster {cluster.cluster_name}"})
            continue
        if action != "delete" and _status(node) != "Running":
            failed.append({"NodeId": nid, "Code": "InvalidNodeStatus", "ErrorCode": "InvalidInstanceStatus",
                           "Message": f"Node {nid} is {node.status}"})
            continue
        ok.append(nid)
        if action == "delete":
            del cluster.nodes[nid]
        elif action == "replace":
            group = _group(cluster, node.instance_group_name) or {
                "InstanceGroupName": node.instance_group_name, "InstanceType": node.instance_type}
            del cluster.nodes[nid]
            new = add_node(self, cluster, group, ip=node.private_ip, az=getattr(node, "az", None),
                           status="Pending", busy_seconds=provisioning_seconds)
            new.replaced = nid
            for cb in list(listeners):
                cb(cluster.cluster_name, new, f"replaced:{nid}")
        elif action == "reboot":
            node.status = "SystemUpdating"
            node.busy_until = time.time() + provisioning_seconds
            for cb in list(listeners):
                cb(cluster.cluster_name, node, "rebooting")
    _recount(cluster)
    return {"Successful": ok, "Failed": failed}


def update_cluster(self: Any, cluster_name: str, instance_groups: list[dict[str, Any]]) -> str:
    cluster = _cluster(self, cluster_name)
    for spec in instance_groups or []:
        group = _group(cluster, spec["InstanceGroupName"])
        if group is None:
            raise ValidationError(message=f"Instance group {spec['InstanceGroupName']} does not exist.")
        want = int(spec["InstanceCount"])
        have = [n for n in cluster.nodes.values() if n.instance_group_name == group["InstanceGroupName"]]
        group["TargetCount"] = want
        for _ in range(want - len(have)):
            new = add_node(self, cluster, group, status="Pending", busy_seconds=provisioning_seconds)
            for cb in list(listeners):
                cb(cluster.cluster_name, new, "added")
    _recount(cluster)
    return str(cluster.arn)


# -- responses -----------------------------------------------------------------------------------

def _r_list_cluster_nodes(self: Any) -> ActionResult:
    params = dict(self.params)
    _check_fault("list_cluster_nodes", params)
    nodes, token = self.sagemaker_backend.list_cluster_nodes(
        cluster_name=self._get_param("ClusterName"), max_results=self._get_param("MaxResults"),
        next_token=self._get_param("NextToken"),
        instance_group_name_contains=self._get_param("InstanceGroupNameContains"),
        sort_order=self._get_param("SortOrder"),
    )
    out: dict[str, Any] = {"ClusterNodeSummaries": [_summary(n) for n in nodes]}
    if token:
        out["NextToken"] = token
    return ActionResult(out)


def _r_describe_cluster_node(self: Any) -> ActionResult:
    _check_fault("describe_cluster_node", dict(self.params))
    cluster = _cluster(self.sagemaker_backend, self._get_param("ClusterName"))
    nid = self._get_param("NodeId")
    node = cluster.nodes.get(nid)
    if node is None:
        raise ValidationError(message=f"Could not find node '{nid}' in cluster '{cluster.cluster_name}'.")
    return ActionResult({"NodeDetails": _details(node)})


def _r_describe_cluster(self: Any) -> ActionResult:
    _check_fault("describe_cluster", dict(self.params))
    cluster = _cluster(self.sagemaker_backend, self._get_param("ClusterName"))
    _recount(cluster)
    return ActionResult(cluster.describe())


def _batch_response(action: str) -> Callable[[Any], ActionResult]:
    def handler(self: Any) -> ActionResult:
        _check_fault(f"batch_{action}_cluster_nodes", dict(self.params))
        ids = self._get_param("NodeIds") or []
        if action != "delete" and not 1 <= len(ids) <= 25:
            raise ValidationError(message="NodeIds must hold between 1 and 25 instance ids.")
        result = batch_nodes(self.sagemaker_backend, self._get_param("ClusterName"), ids, action)
        if action == "delete":
            failed = [{"NodeId": f["NodeId"], "Code": f["Code"], "Message": f["Message"]} for f in result["Failed"]]
        else:
            failed = [{"NodeId": f["NodeId"], "ErrorCode": f["ErrorCode"], "Message": f["Message"]}
                      for f in result["Failed"]]
        return ActionResult({"Successful": result["Successful"], "Failed": failed})

    handler.__name__ = f"batch_{action}_cluster_nodes"
    return handler


def _r_update_cluster(self: Any) -> ActionResult:
    _check_fault("update_cluster", dict(self.params))
    arn = update_cluster(self.sagemaker_backend, self._get_param("ClusterName"), self._get_param("InstanceGroups"))
    return ActionResult({"ClusterArn": arn})


def install() -> None:
    """Patch moto's SageMaker backend and responses; idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        backend_cls = sm_models.SageMakerModelBackend
        backend_cls.list_cluster_nodes = list_cluster_nodes  # type: ignore[method-assign, assignment]
        resp = SageMakerResponse
        resp.list_cluster_nodes = _r_list_cluster_nodes  # type: ignore[method-assign]
        resp.describe_cluster_node = _r_describe_cluster_node  # type: ignore[method-assign]
        resp.describe_cluster = _r_describe_cluster  # type: ignore[method-assign]
        resp.update_cluster = _r_update_cluster  # type: ignore[attr-defined]
        for action in ("delete", "replace", "reboot"):
            setattr(resp, f"batch_{action}_cluster_nodes", _batch_response(action))
        _installed = True


def create_cluster(backend: Any, name: str, groups: list[dict[str, Any]]) -> Any:
    """A cluster with no instances yet (``add_node`` adds them); bypasses moto's S3-prefix checks."""
    specs = []
    for g in groups:
        specs.append({
            "InstanceGroupName": g["name"], "InstanceType": g["type"], "InstanceCount": 0,
            "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-hpk8s-demo/lcc/", "OnCreate": "on_create.sh"},
            "ExecutionRole": f"arn:aws:iam::{backend.account_id}:role/hpk8s-demo", "ThreadsPerCore": 1,
        })
    cluster = sm_models.Cluster(cluster_name=name, region_name=backend.region_name, account_id=backend.account_id,
                                instance_groups=specs, vpc_config={"SecurityGroupIds": [], "Subnets": []})
    backend.clusters[name] = cluster
    return cluster
