"""Turning what the operator typed (node name, instance id or IP) into Kubernetes nodes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hyperpod_k8s import labels
from hyperpod_k8s.errors import ConfigError, ConflictError, NotFoundError
from hyperpod_k8s.ops.inventory import instance_id_from_provider_id

if TYPE_CHECKING:
    from hyperpod_k8s.clients import kube_types as kt
    from hyperpod_k8s.ops.context import OpsContext


def resolve_nodes(ctx: OpsContext, keys: Sequence[str]) -> list[kt.Node]:
    if not keys:
        raise ConfigError("no node given", "name one or more nodes (name, instance id or InternalIP)")
    found: dict[str, kt.Node] = {}
    listed: list[kt.Node] | None = None
    for key in keys:
        node = None
        try:
            node = ctx.cluster.get_node(key)
        except NotFoundError:
            if listed is None:
                listed = ctx.cluster.list_nodes()
            for n in listed:
                if key in (instance_id_from_provider_id(n.spec.providerID), n.address("InternalIP"),
                           n.metadata.labels.get(labels.INSTANCE_ID)):
                    node = n
                    break
        if node is None:
            raise NotFoundError(f"no node {key!r} in this cluster",
                                "give a node name, an instance id or an InternalIP; `hpk8s ops nodes` lists them")
        found.setdefault(node.metadata.name, node)
    return list(found.values())


def is_control_plane(node: kt.Node) -> bool:
    return labels.CONTROL_PLANE in node.metadata.labels or "node-role.kubernetes.io/master" in node.metadata.labels


def refuse_control_plane(nodes: Sequence[kt.Node], action: str) -> None:
    cp = [n.metadata.name for n in nodes if is_control_plane(n)]
    if cp:
        raise ConflictError(f"refusing to {action} the control-plane node {', '.join(cp)}",
                            "the cluster would lose its API server; this tool never does that")
