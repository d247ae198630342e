"""Wait until every instance of the cluster is a Ready Kubernetes node (timeout in the settings)."""

from __future__ import annotations

import json
from typing import Any

from hyperpod_k8s.bootstrap.context import Context
from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Do, Step, done
from hyperpod_k8s.bootstrap.settings import format_duration
from hyperpod_k8s.bootstrap.steps.kubeadm_init import kubectl
from hyperpod_k8s.errors import TimeoutExpired
from hyperpod_k8s.hyperpod import ConfiguredInstance


def _ready(node: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in node.get("status", {}).get("conditions", []))


def not_ready(instances: list[ConfiguredInstance], nodes: list[dict[str, Any]]) -> list[ConfiguredInstance]:
    """Instances without a Ready node, matched by providerID, then node name or InternalIP."""
    ready_ids: set[str] = set()
    ready_names: set[str | None] = set()
    ready_ips: set[str | None] = set()
    for n in nodes:
        if not _ready(n):
            continue
        pid = n.get("spec", {}).get("providerID") or ""
        if pid:
            ready_ids.add(pid.rsplit("/", 1)[-1])
        ready_names.add(n.get("metadata", {}).get("name"))
        ready_ips.update(a.get("address") for a in n.get("status", {}).get("addresses", [])
                         if a.get("type") == "InternalIP")
    return [i for i in instances
            if i.instance_id not in ready_ids and i.hostname not in ready_names and i.customer_ip not in ready_ips]


def list_nodes(host: Host) -> list[dict[str, Any]] | None:
    r = host.run(kubectl("get", "nodes", "-o", "json"))
    if not r.ok:
        return None
    try:
        items = json.loads(r.stdout).get("items", [])
    except (json.JSONDecodeError, AttributeError):
        return None
    return items if isinstance(items, list) else None


def _names(instances: list[ConfiguredInstance], limit: int = 8) -> str:
    names = [i.hostname or i.instance_id for i in instances]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


class WaitReady(Step):
    name = "wait-ready"
    title = "wait until every instance is a Ready node"

    def check(self, host: Host) -> Changes:
        instances = self.ctx.node.cluster.instances
        nodes = list_nodes(host)
        if nodes is not None and not not_ready(instances, nodes):
            return done(f"all {len(instances)} instances are Ready nodes")
        timeout = format_duration(self.ctx.settings.ready_timeout)
        return Changes([Do(f"wait up to {timeout} for {len(instances)} instances to be Ready nodes", fn=self.wait,
                           details=[_names(instances, 20)])])

    def wait(self, host: Host, ctx: Context) -> None:
        instances = ctx.node.cluster.instances
        deadline = ctx.monotonic() + ctx.settings.ready_timeout
        last = ""
        while True:
            nodes = list_nodes(host)
            missing = instances if nodes is None else not_ready(instances, nodes)
            if not missing:
                ctx.log(f"all {len(instances)} instances are Ready nodes", self.name)
                return
            status = f"{len(instances) - len(missing)}/{len(instances)} Ready; waiting for {_names(missing)}"
            if nodes is None:
                status = "the API server does not answer yet; " + status
            if status != last:
                ctx.log(status, self.name)
                last = status
            if ctx.monotonic() >= deadline:
                raise TimeoutExpired(
                    f"after {format_duration(ctx.settings.ready_timeout)}, {len(missing)} of {len(instances)} "
                    f"instances are not Ready nodes: {_names(missing)}",
                    "check their /var/log/provision/hpk8s-bootstrap.log; re-run to wait again "
                    "(setting ready_timeout)")
            ctx.sleep(ctx.settings.ready_poll)
