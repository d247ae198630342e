"""Drain: cordon, then evict through the Eviction API until the pods are gone.

Rules, as ``kubectl drain`` has them, with defaults for GPU training pods:
- DaemonSet pods and mirror (static) pods are skipped; finished pods hold nothing and are ignored.
- A pod no controller owns is only deleted with ``force`` (nothing would recreate it).
- A pod with a disk-backed emptyDir is only evicted with ``delete_emptydir_data``. A memory-backed
  emptyDir (``/dev/shm`` of every training pod) does not block: RAM is lost on any restart anyway.
- A 429 from a PodDisruptionBudget is retried with backoff and reported with the budget's name; a
  500 because several budgets match is an error for that pod, said plainly.
- Done means the pods are gone, not that their evictions were accepted. On timeout the node stays
  cordoned and the remaining pods are named.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hyperpod_k8s import labels
from hyperpod_k8s.clients import kube_types as kt
from hyperpod_k8s.defaults import DRAIN_TIMEOUT
from hyperpod_k8s.errors import ConflictError, HpkError, TimeoutExpired
from hyperpod_k8s.ops.context import OpsContext
from hyperpod_k8s.ops.cordon import cordon_node
from hyperpod_k8s.ops.events import Cancelled, Event, Kind, Outcome, Plan, PlanTarget, Reporter, check_cancel, count
from hyperpod_k8s.ops.inventory import instance_id_from_provider_id
from hyperpod_k8s.ops.targets import resolve_nodes
from hyperpod_k8s.selectors import selector_matches

DEFAULT_TIMEOUT = DRAIN_TIMEOUT
MAX_IN_FLIGHT = 16  # evictions asked for but not yet finished, per node
MAX_PARALLEL_NODES = 8


@dataclass(frozen=True)
class DrainOptions:
    timeout: float = DEFAULT_TIMEOUT
    grace_period: int | None = None
    delete_emptydir_data: bool = False
    force: bool = False
    disable_eviction: bool = False
    max_in_flight: int = MAX_IN_FLIGHT
    reason: str = ""


@dataclass(frozen=True)
class PodVerdict:
    pod: kt.Pod
    action: str  # evict / skip / block
    why: str = ""


def judge(pod: kt.Pod, opts: DrainOptions) -> PodVerdict:
    ctl = pod.controller
    if pod.terminated:
        return PodVerdict(pod, "skip", "finished")
    if labels.MIRROR_POD in pod.metadata.annotations:
        return PodVerdict(pod, "skip", "static (mirror) pod")
    if ctl is not None and ctl.kind == "DaemonSet":
        return PodVerdict(pod, "skip", "DaemonSet pod")
    if ctl is None and not opts.force:
        return PodVerdict(pod, "block", "no controller would recreate it (use --force to delete it)")
    disk_empty_dirs = [v.name for v in pod.spec.volumes if v.emptyDir is not None and v.emptyDir.medium != "Memory"]
    if disk_empty_dirs and not opts.delete_emptydir_data:
        return PodVerdict(pod, "block", f"its emptyDir {', '.join(disk_empty_dirs)} would be lost "
                                        "(use --delete-emptydir-data)")
    return PodVerdict(pod, "evict")


def plan(ctx: OpsContext, keys: Sequence[str], opts: DrainOptions, *, action: str = "drain") -> Plan:
    nodes = resolve_nodes(ctx, keys)
    targets, steps, blocked = [], [], []
    for n in nodes:
        name = n.metadata.name
        verdicts = [judge(p, opts) for p in ctx.cluster.list_pods(node=name)]
        evict = [v for v in verdicts if v.action == "evict"]
        skip = [v for v in verdicts if v.action == "skip"]
        blocked += [f"{name}: {v.pod.key}: {v.why}" for v in verdicts if v.action == "block"]
        gpus = sum(v.pod.request("nvidia.com/gpu") for v in evict)
        targets.append(PlanTarget(name, instance_id_from_provider_id(n.spec.providerID),
                                  n.metadata.labels.get(labels.INSTANCE_GROUP),
                                  f"{count(len(evict), 'pod')} to evict ({count(gpus, 'GPU')}), {len(skip)} left alone"))
        how = "delete" if opts.disable_eviction else "evict"
        steps.append(f"cordon {name}, then {how} {count(len(evict), 'pod')}"
                     + (f": {', '.join(v.pod.key for v in evict[:6])}{' …' if len(evict) > 6 else ''}" if evict else ""))
    if blocked:
        raise ConflictError(f"cannot drain: {'; '.join(blocked[:5])}{' …' if len(blocked) > 5 else ''}")
    warnings = []
    if opts.disable_eviction:
        warnings.append("--disable-eviction deletes pods directly: PodDisruptionBudgets are NOT honoured")
    return Plan(action, targets, steps, warnings, destructive=True, options=plan_options(opts, action))


def plan_options(opts: DrainOptions, action: str) -> dict[str, Any]:
    """The drain settings as a plan carries them (plain data: shown, serialised, read back by apply)."""
    return {"timeout": opts.timeout, "grace_period": opts.grace_period,
            "delete_emptydir_data": opts.delete_emptydir_data, "force": opts.force,
            "disable_eviction": opts.disable_eviction, "reason": opts.reason or action}


def options_from(p: Plan) -> DrainOptions:
    o = p.options
    return DrainOptions(timeout=float(o.get("timeout", DEFAULT_TIMEOUT)), grace_period=o.get("grace_period"),
                        delete_emptydir_data=bool(o.get("delete_emptydir_data")), force=bool(o.get("force")),
                        disable_eviction=bool(o.get("disable_eviction")), reason=str(o.get("reason") or "drain"))


def _pdb_names(ctx: OpsContext, pod: kt.Pod) -> list[str]:
    try:
        data = ctx.cluster.get_json(f"/apis/policy/v1/namespaces/{pod.metadata.namespace}/poddisruptionbudgets",
                                    what="list PodDisruptionBudgets")
    except HpkError:
        return []
    return [str(p.get("metadata", {}).get("name")) for p in data.get("items", [])
            if selector_matches(p.get("spec", {}).get("selector"), pod.metadata.labels)]


def drain_node(ctx: OpsContext, name: str, opts: DrainOptions, report: Reporter,
               cancel: threading.Event | None = None) -> None:
    """Drain one node; returns when its pods are gone, raises on timeout or a pod that cannot go."""
    report(Event(Kind.STARTED, "cordon", f"cordoning {name}", name))
    cordon_node(ctx, name, opts.reason or "drain")
    deadline = time.monotonic() + opts.timeout
    asked: set[str] = set()  # evictions accepted (or deletions sent) for these pods
    next_try: dict[str, tuple[float, float]] = {}  # pod -> (when, backoff) after a PDB said no
    blocked_by: dict[str, str] = {}
    errors: dict[str, str] = {}
    last_left = -1
    while True:
        check_cancel(cancel)
        verdicts = [judge(p, opts) for p in ctx.cluster.list_pods(node=name)]
        remaining = [v.pod for v in verdicts if v.action != "skip"]
        stuck = [v for v in verdicts if v.action == "block"]
        if stuck:  # a pod that appeared after the plan and may not be evicted
            raise ConflictError(f"{name}: {stuck[0].pod.key}: {stuck[0].why}; the node stays cordoned")
        if not remaining:
            report(Event(Kind.FINISHED, "drain", f"{name} drained", name))
            return
        keys = {p.key for p in remaining}
        for k in list(blocked_by):
            if k not in keys:
                del blocked_by[k]
        if errors and keys <= set(errors):
            first = next(iter(errors.items()))
            raise ConflictError(f"{name}: cannot evict {first[0]}: {first[1]}",
                                "fix the PodDisruptionBudgets or use --disable-eviction; the node stays cordoned")
        now = time.monotonic()
        if now >= deadline:
            left = ", ".join(sorted(keys)[:6]) + (" …" if len(keys) > 6 else "")
            why = f"; blocked by {', '.join(sorted(set(blocked_by.values())))}" if blocked_by else ""
            raise TimeoutExpired(f"drain of {name} timed out after {opts.timeout:g}s with {count(len(keys), 'pod')} left: "
                                 f"{left}{why}",
                                 "the node stays cordoned; retry with a longer --timeout, resolve the budget, "
                                 "or --disable-eviction")
        in_flight = sum(1 for k in keys if k in asked)
        for pod in remaining:
            if in_flight >= opts.max_in_flight:
                break
            k = pod.key
            if k in asked or k in errors or next_try.get(k, (0.0, 0.0))[0] > now:
                continue
            if opts.disable_eviction:
                ctx.cluster.delete_pod(pod.metadata.namespace, pod.metadata.name, grace_period=opts.grace_period)
                asked.add(k)
                in_flight += 1
                continue
            ev = ctx.cluster.evict_pod(pod.metadata.namespace, pod.metadata.name, grace_period=opts.grace_period)
            if ev.result in ("accepted", "gone"):
                asked.add(k)
                in_flight += 1
                blocked_by.pop(k, None)
            elif ev.result == "blocked":
                pdbs = _pdb_names(ctx, pod)
                blocked_by[k] = f"PodDisruptionBudget {', '.join(pdbs)}" if pdbs else "a PodDisruptionBudget"
                _, backoff = next_try.get(k, (0.0, ctx.poll_seconds))
                next_try[k] = (now + backoff, min(backoff * 2, max(ctx.poll_seconds * 8, 30.0)))
            else:
                errors[k] = ev.message or "the API server refused the eviction"
                report(Event(Kind.WARNING, "evict", f"{k}: {errors[k]}", name))
        if len(keys) != last_left or blocked_by:
            msg = f"{name}: {count(len(keys), 'pod')} left"
            if blocked_by:
                msg += f", {len(blocked_by)} blocked by {', '.join(sorted(set(blocked_by.values())))}"
            report(Event(Kind.PROGRESS, "drain", msg, name,
                         {"left": len(keys), "blocked": dict(blocked_by), "pods": sorted(keys)[:20]}))
            last_left = len(keys)
        ctx.wait(min(ctx.poll_seconds, max(deadline - time.monotonic(), 0.01)))


def drain_many(ctx: OpsContext, names: Sequence[str], opts: DrainOptions, report: Reporter,
               cancel: threading.Event | None, out: Outcome) -> list[str]:
    """Drain several nodes at once; returns the ones that drained, records the others in ``out``."""
    lock = threading.Lock()
    ok: list[str] = []

    def one(name: str) -> None:
        try:
            drain_node(ctx, name, opts, report, cancel)
        except Cancelled:
            raise
        except HpkError as e:
            with lock:
                out.failed[name] = e.one_line()
                out.errors[name] = e
            report(Event(Kind.FAILED, "drain", e.one_line(), name))
            return
        with lock:
            ok.append(name)

    with ThreadPoolExecutor(max_workers=max(1, min(len(names), MAX_PARALLEL_NODES)),
                            thread_name_prefix="drain") as pool:
        for f in [pool.submit(one, n) for n in names]:
            f.result()
    return [n for n in names if n in ok]


def apply(ctx: OpsContext, p: Plan, report: Reporter, cancel: threading.Event | None = None) -> Outcome:
    opts = options_from(p)
    out = Outcome(p.action)
    names = [t.node for t in p.targets if t.node]
    out.done = drain_many(ctx, names, opts, report, cancel, out)
    ctx.audit.record(p.action, result="ok" if out.ok else "failed", nodes=names,
                     instance_ids=[t.instance_id or "" for t in p.targets], failed=out.failed, options=p.options)
    return out
