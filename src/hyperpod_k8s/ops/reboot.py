"""Reboot instances: drain, BatchRebootClusterNodes, wait for the node to be Ready again, uncordon."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta

from hyperpod_k8s.defaults import REBOOT_WAIT
from hyperpod_k8s.errors import TimeoutExpired
from hyperpod_k8s.ops import drain
from hyperpod_k8s.ops.batches import run_batches
from hyperpod_k8s.ops.context import OpsContext
from hyperpod_k8s.ops.cordon import UNCORDON_PATCH
from hyperpod_k8s.ops.events import Event, Kind, Outcome, Plan, PlanTarget, Reporter, check_cancel
from hyperpod_k8s.ops.inventory import parse_time
from hyperpod_k8s.ops.replace import BATCH
from hyperpod_k8s.ops.replace import plan as replace_plan

PLAN_OPTIONS = {"wait_timeout"}
DEFAULT_WAIT = REBOOT_WAIT


def plan(ctx: OpsContext, keys: Sequence[str], opts: drain.DrainOptions, *,
         wait_timeout: float = DEFAULT_WAIT) -> Plan:
    # The same checks as a replacement (live instance list, not the controller, an instance id).
    base = replace_plan(ctx, keys, opts, wait_timeout=wait_timeout, action="reboot")
    targets = [PlanTarget(t.node, t.instance_id, t.group, t.detail) for t in base.targets]
    steps = []
    for t in targets:
        steps += [f"drain {t.node}", f"reboot instance {t.instance_id} (BatchRebootClusterNodes)",
                  f"wait up to {wait_timeout:g}s for {t.node} to be Ready again", f"uncordon {t.node}"]
    o = drain.plan_options(opts, "reboot")
    o["wait_timeout"] = wait_timeout
    return Plan("reboot", targets, steps, [], destructive=True, options=o)


def apply(ctx: OpsContext, p: Plan, report: Reporter, cancel: threading.Event | None = None) -> Outcome:
    out = Outcome("reboot")
    fleet = ctx.fleet()
    ids = {t.node: t.instance_id for t in p.targets if t.node and t.instance_id}
    drained = drain.drain_many(ctx, list(ids), drain.options_from(p), report, cancel, out)
    asked_at = ctx.now() - timedelta(seconds=1)
    accepted, request_ids = run_batches(
        fleet, "reboot instances", drained, ids, BATCH,
        lambda batch: fleet.sagemaker.batch_reboot_cluster_nodes(ClusterName=fleet.cluster, NodeIds=batch), out)
    for n in accepted:
        report(Event(Kind.FINISHED, "reboot", f"rebooting {n} ({ids[n]})", n))
    waiting = list(accepted)
    deadline = time.monotonic() + float(p.options.get("wait_timeout", DEFAULT_WAIT))
    while waiting:
        check_cancel(cancel)
        statuses = {i.instance_id: i.status for i in fleet.list_instances().instances}
        for n in list(waiting):
            node = ctx.cluster.get_node(n)
            cond = node.condition("Ready")
            since = parse_time(cond.lastTransitionTime) if cond else None
            back = (statuses.get(ids[n]) == "Running" and cond is not None and cond.status == "True"
                    and since is not None and since >= asked_at)
            if back:
                ctx.cluster.patch_node(n, UNCORDON_PATCH)
                waiting.remove(n)
                out.done.append(n)
                report(Event(Kind.FINISHED, "reboot", f"{n} is Ready again and uncordoned", n))
        if waiting and time.monotonic() >= deadline:
            for n in waiting:
                late = TimeoutExpired(f"{n} was not Ready again in time after the reboot",
                                      "it stays cordoned; check the instance in the SageMaker console")
                out.failed[n], out.errors[n] = late.one_line(), late
            break
        if waiting:
            ctx.wait()
    ctx.audit.record("reboot", result="ok" if out.ok else "failed", nodes=list(ids), instance_ids=list(ids.values()),
                     request_ids=request_ids, failed=out.failed)
    return out
