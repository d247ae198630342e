"""Cordon and uncordon, with annotations saying who cordoned, why and when."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from hyperpod_k8s import labels
from hyperpod_k8s.errors import HpkError
from hyperpod_k8s.ops.context import OpsContext
from hyperpod_k8s.ops.events import Event, Kind, Outcome, Plan, PlanTarget, Reporter, check_cancel
from hyperpod_k8s.ops.inventory import instance_id_from_provider_id
from hyperpod_k8s.ops.targets import resolve_nodes


def cordon_patch(ctx: OpsContext, reason: str) -> dict[str, object]:
    return {"spec": {"unschedulable": True}, "metadata": {"annotations": {
        labels.CORDONED_BY: ctx.actor, labels.CORDON_REASON: reason,
        labels.CORDONED_AT: ctx.now().isoformat(timespec="seconds")}}}


UNCORDON_PATCH: dict[str, object] = {"spec": {"unschedulable": None}, "metadata": {"annotations": {
    labels.CORDONED_BY: None, labels.CORDON_REASON: None, labels.CORDONED_AT: None}}}


def cordon_node(ctx: OpsContext, name: str, reason: str) -> None:
    ctx.cluster.patch_node(name, cordon_patch(ctx, reason))


def plan(ctx: OpsContext, keys: Sequence[str], *, uncordon: bool = False, reason: str = "") -> Plan:
    nodes = resolve_nodes(ctx, keys)
    verb = "uncordon" if uncordon else "cordon"
    targets = [PlanTarget(n.metadata.name, instance_id_from_provider_id(n.spec.providerID),
                          n.metadata.labels.get(labels.INSTANCE_GROUP), detail="already cordoned" if n.spec.unschedulable and not uncordon else
                          "not cordoned" if uncordon and not n.spec.unschedulable else "") for n in nodes]
    steps = [f"mark {t.node} {'schedulable again' if uncordon else 'unschedulable (running pods stay)'}"
             for t in targets]
    return Plan(verb, targets, steps, destructive=False, options={"reason": reason or f"{verb} by {ctx.actor}"})


def apply(ctx: OpsContext, p: Plan, report: Reporter, cancel: threading.Event | None = None) -> Outcome:
    out = Outcome(p.action)
    for t in p.targets:
        check_cancel(cancel)
        assert t.node is not None
        try:
            if p.action == "uncordon":
                ctx.cluster.patch_node(t.node, UNCORDON_PATCH)
            else:
                cordon_node(ctx, t.node, str(p.options.get("reason", "")))
        except HpkError as e:
            out.failed[t.node] = e.one_line()
            out.errors[t.node] = e
            report(Event(Kind.FAILED, p.action, e.one_line(), t.node))
            continue
        out.done.append(t.node)
        report(Event(Kind.FINISHED, p.action, f"{p.action}ed {t.node}", t.node))
    ctx.audit.record(p.action, result="ok" if out.ok else "failed", nodes=[t.node or "" for t in p.targets],
                     instance_ids=[t.instance_id or "" for t in p.targets], reason=p.options.get("reason"),
                     failed=out.failed)
    return out
