"""Scale an instance group: up (refresh the join token, raise the count) or down (drain, delete instances)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from hyperpod_k8s.errors import ConfigError, HpkError, NotFoundError
from hyperpod_k8s.ops import drain
from hyperpod_k8s.ops.batches import run_batches
from hyperpod_k8s.ops.context import OpsContext
from hyperpod_k8s.ops.events import Event, Kind, Outcome, Plan, PlanTarget, Reporter, check_cancel
from hyperpod_k8s.ops.replace import plan as replace_plan

# BatchDeleteClusterNodes takes at most 99 instances in one call.
DELETE_BATCH = 99
_SPEC_KEYS = ("InstanceGroupName", "InstanceType", "LifeCycleConfig", "ExecutionRole", "ThreadsPerCore",
              "InstanceStorageConfigs", "OnStartDeepHealthChecks", "OverrideVpcConfig", "TrainingPlanArn")


def plan_up(ctx: OpsContext, group: str | None = None, count: int | None = None, **_: Any) -> Plan:
    if not group or count is None:
        raise ConfigError("scale-up needs --group and --count")
    desc = ctx.fleet().describe_cluster()
    g = next((x for x in desc.groups if x.name == group), None)
    if g is None:
        raise NotFoundError(f"no instance group {group!r} in {desc.name}",
                            f"groups: {', '.join(x.name for x in desc.groups)}")
    if count <= max(g.current, g.target):
        raise ConfigError(f"{group} already has {g.current} instances (target {g.target}); --count {count} is "
                          "not more", "scale-up raises the count; use scale-down NODE... to remove instances")
    steps = ["make sure the join token stays valid for at least 6h (refresh it if not)",
             f"raise {group} ({g.instance_type}) from {g.target} to {count} instances (UpdateCluster)",
             "new instances run the lifecycle scripts and join; watch them with `hpk8s ops nodes`"]
    return Plan("scale-up", [PlanTarget(None, None, group, f"{g.target} -> {count} {g.instance_type}")], steps,
                destructive=False, options={"group": group, "count": count})


def plan_down(ctx: OpsContext, keys: Sequence[str], opts: drain.DrainOptions) -> Plan:
    base = replace_plan(ctx, keys, opts, action="scale-down")
    targets = [PlanTarget(t.node, t.instance_id, t.group, t.detail) for t in base.targets]
    steps = [f"drain {t.node}" for t in targets]
    steps.append("delete instances " + ", ".join(t.instance_id or "?" for t in targets) + " (BatchDeleteClusterNodes)")
    steps += [f"delete the node object {t.node}" for t in targets]
    warnings = ["the instances are terminated: their local disks are lost and the groups shrink"]
    return Plan("scale-down", targets, steps, warnings, destructive=True, options=drain.plan_options(opts, "scale-down"))


def apply(ctx: OpsContext, p: Plan, report: Reporter, cancel: threading.Event | None = None) -> Outcome:
    from hyperpod_k8s.ops.join_token import ensure_valid

    out = Outcome(p.action)
    fleet = ctx.fleet()
    if p.action == "scale-up":
        group, count = str(p.options["group"]), int(p.options["count"])
        try:
            ensure_valid(ctx, timedelta(hours=6), report)
            raw = fleet.call("describe the cluster", lambda: fleet.sagemaker.describe_cluster(ClusterName=fleet.cluster))
            spec = next(g for g in raw["InstanceGroups"] if g["InstanceGroupName"] == group)
            body = {k: spec[k] for k in _SPEC_KEYS if spec.get(k) is not None}
            body["InstanceCount"] = count
            r = fleet.call("update the cluster", lambda: fleet.sagemaker.update_cluster(
                ClusterName=fleet.cluster, InstanceGroups=[body]))
        except HpkError as e:
            out.failed[group], out.errors[group] = e.one_line(), e
            ctx.audit.record("scale-up", result="failed", group=group, count=count, error=e.one_line())
            return out
        out.done.append(group)
        report(Event(Kind.FINISHED, "scale-up", f"{group} target is now {count} instances"))
        ctx.audit.record("scale-up", result="ok", group=group, count=count, request_ids=[fleet.request_id(r)])
        return out

    ids = {t.node: t.instance_id for t in p.targets if t.node and t.instance_id}
    drained = drain.drain_many(ctx, list(ids), drain.options_from(p), report, cancel, out)
    accepted, request_ids = run_batches(
        fleet, "delete instances", drained, ids, DELETE_BATCH,
        lambda batch: fleet.sagemaker.batch_delete_cluster_nodes(ClusterName=fleet.cluster, NodeIds=batch), out)
    for n in accepted:
        check_cancel(cancel)
        ctx.cluster.delete_node(n)
        out.done.append(n)
        report(Event(Kind.FINISHED, "scale-down", f"deleted instance {ids[n]} and node {n}", n))
    ctx.audit.record("scale-down", result="ok" if out.ok else "failed", nodes=list(ids),
                     instance_ids=list(ids.values()), request_ids=request_ids, failed=out.failed)
    return out
