"""Delete node objects: drain first unless told not to. Never the control-plane node."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from hyperpod_k8s.errors import HpkError
from hyperpod_k8s.ops import drain
from hyperpod_k8s.ops.context import OpsContext
from hyperpod_k8s.ops.events import Event, Kind, Outcome, Plan, Reporter, check_cancel
from hyperpod_k8s.ops.targets import refuse_control_plane, resolve_nodes


def plan(ctx: OpsContext, keys: Sequence[str], opts: drain.DrainOptions, *, skip_drain: bool = False) -> Plan:
    refuse_control_plane(resolve_nodes(ctx, keys), "delete")
    if skip_drain:
        p = drain.plan(ctx, keys, drain.DrainOptions(force=True, delete_emptydir_data=True), action="delete")
        p.steps = [f"delete the node object {t.node} (its pods are not evicted first)" for t in p.targets]
        p.warnings.append("--skip-drain: pods on these nodes are not evicted; their controllers recreate them "
                          "elsewhere only after the node object is gone")
    else:
        p = drain.plan(ctx, keys, opts, action="delete")
        p.steps = [*p.steps, *[f"delete the node object {t.node}" for t in p.targets]]
    p.options["skip_drain"] = skip_drain
    p.warnings.append("the instance keeps running; it rejoins only if its kubelet registers again "
                      "(use `hpk8s ops replace` or scale-down to act on the instance)")
    return p


def apply(ctx: OpsContext, p: Plan, report: Reporter, cancel: threading.Event | None = None) -> Outcome:
    out = Outcome("delete")
    names = [t.node for t in p.targets if t.node]
    if not p.options.get("skip_drain"):
        names = drain.drain_many(ctx, names, drain.options_from(p), report, cancel, out)
    for name in names:
        check_cancel(cancel)
        try:
            ctx.cluster.delete_node(name)
        except HpkError as e:
            out.failed[name] = e.one_line()
            out.errors[name] = e
            report(Event(Kind.FAILED, "delete", e.one_line(), name))
            continue
        out.done.append(name)
        report(Event(Kind.FINISHED, "delete", f"deleted node {name}", name))
    ctx.audit.record("delete", result="ok" if out.ok else "failed", nodes=[t.node or "" for t in p.targets],
                     instance_ids=[t.instance_id or "" for t in p.targets], failed=out.failed, options=p.options)
    return out
