"""Replace a faulty instance: new hardware for a node, done so that it comes back as a Ready node.

Order: keep the join token valid for the whole wait; drain; delete the node object;
``BatchReplaceClusterNodes`` (batches of at most 25), or Slurm's ``scontrol update node=X
state=fail reason="Action:Replace"`` when the API is not available; wait for the new instance to
be Running and its node Ready. Progress is kept in a state file per instance, so running the same
command again after an interruption continues where it stopped.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod_k8s.defaults import REPLACE_WAIT
from hyperpod_k8s.errors import (
    ApiError,
    AuthError,
    ConflictError,
    HpkError,
    IncompleteError,
    NotFoundError,
    TimeoutExpired,
)
from hyperpod_k8s.ops import drain
from hyperpod_k8s.ops.context import OpsContext
from hyperpod_k8s.ops.events import Event, Kind, Outcome, Plan, PlanTarget, Reporter, check_cancel
from hyperpod_k8s.ops.inventory import Flag, NodeRow, instance_id_from_provider_id, parse_time

PLAN_OPTIONS = {"wait_timeout", "skip_drain"}
BATCH = 25
DEFAULT_WAIT = REPLACE_WAIT
PHASES = ("planned", "drained", "deleted", "requested", "done")


@dataclass
class ReplaceState:
    node: str
    instance_id: str
    group: str
    ip: str | None
    phase: str = "planned"
    requested_at: str | None = None
    before_ids: list[str] = field(default_factory=list)
    method: str | None = None  # api / slurm
    new_instance_id: str | None = None

    def reached(self, phase: str) -> bool:
        return PHASES.index(self.phase) >= PHASES.index(phase)


def _state_file(ctx: OpsContext, instance_id: str) -> Any:
    return ctx.state_path(f"replace-{instance_id}.json")


def load_states(ctx: OpsContext) -> list[ReplaceState]:
    base = ctx.state_path("x").parent
    out = []
    for f in sorted(base.glob("replace-*.json")) if base.exists() else []:
        try:
            out.append(ReplaceState(**json.loads(f.read_text())))
        except (ValueError, TypeError):
            continue
    return out


def save(ctx: OpsContext, st: ReplaceState) -> None:
    f = _state_file(ctx, st.instance_id)
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(st), indent=2))
    tmp.replace(f)


def forget(ctx: OpsContext, st: ReplaceState) -> None:
    _state_file(ctx, st.instance_id).unlink(missing_ok=True)


def _row_for(rows: list[NodeRow], key: str) -> NodeRow | None:
    for r in rows:
        if r.joined and key in (r.name, r.instance_id, r.ip):
            return r
    return None


def plan(ctx: OpsContext, keys: Sequence[str], opts: drain.DrainOptions, *, wait_timeout: float = DEFAULT_WAIT,
         skip_drain: bool = False, action: str = "replace") -> Plan:
    if not keys:
        raise ConflictError("no node given", "name the nodes to replace")
    inv = ctx.inventory()
    states_on_disk = load_states(ctx)
    resumable = {s.node: s for s in states_on_disk} | {s.instance_id: s for s in states_on_disk}
    targets: list[PlanTarget] = []
    steps: list[str] = []
    warnings: list[str] = []
    states: list[dict[str, Any]] = []
    for key in keys:
        st = resumable.get(key)
        row = _row_for(inv.rows, key)
        if st is not None and (row is None or row.instance_id == st.instance_id):
            targets.append(PlanTarget(st.node, st.instance_id, st.group, f"resuming: {st.phase}"))
            states.append(asdict(st))
            continue
        if row is None:
            raise NotFoundError(f"no node {key!r} in this cluster", "`hpk8s ops nodes` lists them")
        if row.control_plane or (ctx.resource_config is None and row.group == "ControllerGroup"):
            raise ConflictError(f"refusing to {action} the controller {row.name}",
                                "it runs the Kubernetes control plane and Slurm's controller")
        if inv.instances_source != "ListClusterNodes" and inv.fleet_error is not None:
            err = inv.fleet_error
            raise type(err)(f"cannot {action} without the live instance list: {err.message}", err.hint)
        if not inv.instances_complete:
            why = inv.fleet_error.message if inv.fleet_error else "incomplete"
            raise IncompleteError(f"cannot {action} on a partial instance list: {why}", "nothing was changed; try again")
        if Flag.ORPHAN in row.flags:
            raise ConflictError(f"{row.name}'s instance {row.instance_id} is not in the cluster any more",
                                "nothing to replace: clean the node object up with `hpk8s orphans`")
        if not row.instance_id:
            raise ConflictError(f"{row.name} has no known instance id (no providerID, no IP match)",
                                "replace it from the SageMaker console or with `scontrol` on the controller")
        st = ReplaceState(row.name, row.instance_id, row.group or "", row.ip)
        if skip_drain or row.ready != "Ready":
            st.phase = "drained"
        states.append(asdict(st))
        targets.append(PlanTarget(row.name, row.instance_id, row.group, f"{row.instance_type}, {row.ready}"))
    if action == "replace":
        warnings.append("REPLACE DESTROYS the root and secondary volumes of "
                        + ", ".join(t.instance_id or "?" for t in targets)
                        + ": everything on their local disks (/opt/dlami/nvme included) is lost")
    hours = wait_timeout / 3600
    steps.append(f"make sure the join token stays valid for the whole wait ({hours:g}h + 1h), refreshing it if not")
    for s in states:
        if PHASES.index(s["phase"]) < PHASES.index("drained"):
            steps.append(f"drain {s['node']} (timeout {opts.timeout:g}s)")
        elif s["phase"] == "drained" and not skip_drain:
            steps.append(f"skip the drain of {s['node']} (NotReady: its pods cannot stop; they go with the node object)")
        if PHASES.index(s["phase"]) < PHASES.index("deleted"):
            steps.append(f"delete the node object {s['node']}")
        if PHASES.index(s["phase"]) < PHASES.index("requested"):
            steps.append(f"ask HyperPod to replace {s['instance_id']} (BatchReplaceClusterNodes; Slurm "
                         "`scontrol ... reason=Action:Replace` if the API is unavailable)")
    steps.append(f"wait up to {hours:g}h for each replacement instance to be Running and its node Ready")
    o = drain.plan_options(opts, action)
    o.update({"wait_timeout": wait_timeout, "states": states})
    return Plan(action, targets, steps, warnings, destructive=True, options=o)


def request_replacement(ctx: OpsContext, sts: list[ReplaceState], report: Reporter) -> dict[str, str]:
    """BatchReplaceClusterNodes in batches of 25, Slurm as the fallback. Returns failures by instance."""
    fleet = ctx.fleet()
    failed: dict[str, str] = {}
    before = [i.instance_id for i in fleet.list_instances().instances]
    for k in range(0, len(sts), BATCH):
        batch = sts[k:k + BATCH]
        ids = [s.instance_id for s in batch]
        now = ctx.now().isoformat()
        try:
            r: dict[str, Any] = fleet.call("replace instances", functools.partial(
                fleet.sagemaker.batch_replace_cluster_nodes, ClusterName=fleet.cluster, NodeIds=ids))
        except (AuthError, ApiError) as e:
            report(Event(Kind.WARNING, "replace", f"BatchReplaceClusterNodes unavailable ({e.message}); "
                                                  "falling back to Slurm"))
            for s in batch:
                res = ctx.host.run(["scontrol", "update", f"node={s.node}", "state=fail", "reason=Action:Replace"],
                                   timeout=60)
                if not res.ok:
                    failed[s.instance_id] = (f"BatchReplaceClusterNodes: {e.message}; scontrol: "
                                             f"{(res.stderr or res.stdout).strip()[:200]}")
                    continue
                s.method, s.phase, s.requested_at, s.before_ids = "slurm", "requested", now, before
                save(ctx, s)
                ctx.audit.record("replace-request", result="ok", nodes=[s.node], instance_ids=[s.instance_id],
                                 method="slurm")
                report(Event(Kind.FINISHED, "replace", f"Slurm marked {s.node} failed with Action:Replace", s.node))
            continue
        rid = fleet.request_id(r)
        for f in r.get("Failed", []):
            failed[f.get("NodeId", "?")] = f"{f.get('ErrorCode', '')}: {f.get('Message', '')}"
        for s in batch:
            if s.instance_id in failed:
                continue
            s.method, s.phase, s.requested_at, s.before_ids = "api", "requested", now, before
            save(ctx, s)
            report(Event(Kind.FINISHED, "replace", f"HyperPod is replacing {s.instance_id} ({s.node})", s.node,
                         {"request_id": rid}))
        ctx.audit.record("replace-request", result="ok" if not failed else "partial", nodes=[s.node for s in batch],
                         instance_ids=ids, request_ids=[rid], failed=failed)
    return failed


def wait_for_replacements(ctx: OpsContext, sts: list[ReplaceState], deadline: float, report: Reporter,
                          cancel: threading.Event | None) -> dict[str, str]:
    """Until each old instance has a Running successor whose node is Ready. Returns new node by old id."""
    fleet = ctx.fleet()
    done: dict[str, str] = {}
    last: dict[str, str] = {}
    while True:
        check_cancel(cancel)
        listing = fleet.list_instances()
        nodes = ctx.cluster.list_nodes()
        by_instance = {instance_id_from_provider_id(n.spec.providerID): n for n in nodes}
        for s in sts:
            if s.instance_id in done:
                continue
            asked = parse_time(s.requested_at) or datetime.now(UTC)
            new = None
            for inst in listing.instances:
                if inst.group != s.group:
                    continue
                fresh = inst.instance_id not in s.before_ids
                same_id_relaunched = inst.instance_id == s.instance_id and inst.launch_time is not None \
                    and inst.launch_time >= asked - timedelta(seconds=5)
                if fresh or same_id_relaunched:
                    new = inst
                    break
            if new is None:
                state = "waiting for HyperPod to start a new instance"
            elif new.status != "Running":
                state = f"instance {new.instance_id} is {new.status}"
            else:
                n = by_instance.get(new.instance_id)
                cond = n.condition("Ready") if n else None
                if n is None:
                    state = f"instance {new.instance_id} Running, waiting for its node to join"
                elif cond is None or cond.status != "True":
                    state = f"node {n.metadata.name} joined, not Ready yet"
                else:
                    done[s.instance_id] = n.metadata.name
                    s.new_instance_id, s.phase = new.instance_id, "done"
                    forget(ctx, s)
                    report(Event(Kind.FINISHED, "wait", f"{s.node} replaced: new instance {new.instance_id}, "
                                                        f"node {n.metadata.name} Ready", n.metadata.name,
                                 {"old_instance": s.instance_id, "new_instance": new.instance_id,
                                  "new_node": n.metadata.name}))
                    continue
            if last.get(s.instance_id) != state:
                report(Event(Kind.PROGRESS, "wait", f"{s.node}: {state}", s.node))
                last[s.instance_id] = state
        if len(done) == len(sts):
            return done
        if time.monotonic() >= deadline:
            left = [f"{s.node}: {last.get(s.instance_id, '?')}" for s in sts if s.instance_id not in done]
            raise TimeoutExpired(f"replacement not finished in time: {'; '.join(left)}",
                                 "run the same command again to keep waiting; check the instance in the "
                                 "SageMaker console and /var/log/provision on it")
        ctx.wait()


def apply(ctx: OpsContext, p: Plan, report: Reporter, cancel: threading.Event | None = None) -> Outcome:
    from hyperpod_k8s.ops.join_token import ensure_valid

    out = Outcome(p.action)
    sts = [ReplaceState(**s) for s in p.options["states"]]
    wait_timeout = float(p.options.get("wait_timeout", DEFAULT_WAIT))
    for s in sts:
        save(ctx, s)
    try:
        ensure_valid(ctx, timedelta(seconds=wait_timeout) + timedelta(hours=1), report)
    except HpkError as e:
        for s in sts:
            out.failed[s.node] = f"join token: {e.one_line()}"
            out.errors[s.node] = e
        return out

    to_drain = [s.node for s in sts if not s.reached("drained")]
    if to_drain:
        drained = drain.drain_many(ctx, to_drain, drain.options_from(p), report, cancel, out)
        for s in sts:
            if s.node in drained:
                s.phase = "drained"
                save(ctx, s)
    live = [s for s in sts if s.node not in out.failed]
    for s in live:
        if not s.reached("deleted"):
            check_cancel(cancel)
            ctx.cluster.delete_node(s.node)
            s.phase = "deleted"
            save(ctx, s)
            report(Event(Kind.FINISHED, "delete", f"deleted node object {s.node}", s.node))
    pending = [s for s in live if not s.reached("requested")]
    if pending:
        for iid, why in request_replacement(ctx, pending, report).items():
            node = next((s.node for s in pending if s.instance_id == iid), iid)
            out.failed[node] = why
            out.errors[node] = ApiError(f"replace {node} ({iid}): {why}")
    waiting = [s for s in live if s.reached("requested") and s.node not in out.failed]
    if waiting:
        try:
            new = wait_for_replacements(ctx, waiting, time.monotonic() + wait_timeout, report, cancel)
        except TimeoutExpired as e:
            for s in waiting:
                if s.phase != "done":
                    out.failed[s.node] = e.one_line()
                    out.errors[s.node] = e
            new = {s.instance_id: s.node for s in waiting if s.phase == "done"}
        for s in waiting:
            if s.phase == "done":
                out.done.append(s.node)
                out.details[s.node] = {"old_instance": s.instance_id, "new_instance": s.new_instance_id,
                                       "new_node": new.get(s.instance_id)}
    ctx.audit.record(p.action, result="ok" if out.ok else "failed", nodes=[s.node for s in sts],
                     instance_ids=[s.instance_id for s in sts], failed=out.failed, replaced=out.details)
    return out
