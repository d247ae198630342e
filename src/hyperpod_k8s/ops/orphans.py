"""Orphan nodes: node objects whose HyperPod instance is not in the cluster any more.

Judged only on the complete, live ListClusterNodes list (every page): if it cannot be read
completely, nothing is deleted. A candidate must also be NotReady for at least the grace period (a
Ready node has a live kubelet, whatever the list says) and must not be the control plane.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from hyperpod_k8s.errors import HpkError, IncompleteError
from hyperpod_k8s.ops.context import OpsContext
from hyperpod_k8s.ops.events import Event, Kind, Outcome, Plan, PlanTarget, Reporter, check_cancel
from hyperpod_k8s.ops.inventory import Flag
from hyperpod_k8s.ops.join_token import parse_duration

DEFAULT_GRACE = timedelta(minutes=10)


def plan(ctx: OpsContext, grace: str | timedelta | None = None, **_: Any) -> Plan:
    grace_td = parse_duration(grace, "--grace") or DEFAULT_GRACE
    inv = ctx.inventory()
    if inv.instances_source != "ListClusterNodes":
        err = inv.fleet_error
        raise type(err)(f"cannot judge orphans: {err.message}", err.hint) if err else IncompleteError(
            "cannot judge orphans without the live HyperPod instance list")
    if not inv.instances_complete:
        detail = inv.fleet_error.message if inv.fleet_error else "the instance list is incomplete"
        raise IncompleteError(f"cannot judge orphans: {detail}", "nothing was deleted; try again")
    now = ctx.now()
    targets: list[PlanTarget] = []
    skipped: list[dict[str, str]] = []
    for r in inv.rows:
        if Flag.ORPHAN not in r.flags:
            continue
        reason = f"instance {r.instance_id or '(no providerID)'} is not in the cluster"
        if r.control_plane:
            skipped.append({"node": r.name, "why": "control-plane node: never deleted here"})
        elif r.ready == "Ready":
            skipped.append({"node": r.name, "why": f"{reason}, but the node is Ready (its kubelet is alive): "
                                                   "check its providerID"})
        elif r.ready_since is not None and now - r.ready_since < grace_td:
            mins = int((now - r.ready_since).total_seconds() // 60)
            skipped.append({"node": r.name, "why": f"{reason}; NotReady for {mins}m only (grace {grace_td})"})
        else:
            since = f", {r.ready} since {r.ready_since:%Y-%m-%d %H:%M} UTC" if r.ready_since else ""
            targets.append(PlanTarget(r.name, r.instance_id, r.group, reason + since))
    steps = [f"delete the node object {t.node} ({t.detail})" for t in targets]
    warnings = [f"kept {s['node']}: {s['why']}" for s in skipped]
    return Plan("orphans", targets, steps, warnings, destructive=True,
                options={"grace_seconds": int(grace_td.total_seconds()), "skipped": skipped,
                         "instances_checked": sum(1 for r in inv.rows if r.instance_id and Flag.ORPHAN not in r.flags)})


def apply(ctx: OpsContext, p: Plan, report: Reporter, cancel: threading.Event | None = None) -> Outcome:
    out = Outcome("orphans")
    for t in p.targets:
        check_cancel(cancel)
        assert t.node is not None
        try:
            ctx.cluster.delete_node(t.node)
        except HpkError as e:
            out.failed[t.node] = e.one_line()
            out.errors[t.node] = e
            report(Event(Kind.FAILED, "orphans", e.one_line(), t.node))
            continue
        out.done.append(t.node)
        report(Event(Kind.FINISHED, "orphans", f"deleted orphan node {t.node} ({t.detail})", t.node))
    ctx.audit.record("orphans", result="ok" if out.ok else "failed", nodes=[t.node or "" for t in p.targets],
                     instance_ids=[t.instance_id or "" for t in p.targets], failed=out.failed,
                     skipped=p.options.get("skipped"))
    return out
