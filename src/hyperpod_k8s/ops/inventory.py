"""The fleet inventory: Kubernetes nodes joined with HyperPod instances and pod requests.

Nodes and instances are matched by EC2 instance id (the kubelet's ``providerID``,
``aws:///<az>/<instance-id>``); InternalIP and then hostname are a fallback only for nodes that joined
without a providerID, because IPs get reused by new instances. Pods are folded into per-node totals
as pages arrive, so the inventory never holds the pod list itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from hyperpod_k8s import labels
from hyperpod_k8s.clients import kube_types as kt
from hyperpod_k8s.clients.cluster import gc_paused
from hyperpod_k8s.errors import HpkError
from hyperpod_k8s.instance_types import EFA, GPU, NEURON, expected_for

if TYPE_CHECKING:
    from hyperpod_k8s.clients.cluster import Cluster
    from hyperpod_k8s.clients.fleet import Fleet, FleetInstance, InstanceListing
    from hyperpod_k8s.hyperpod import ResourceConfig

_PROVIDER_ID = re.compile(r"^aws:///(?P<az>[^/]*)/(?P<id>i-[0-9a-f]+)$")


class Flag(StrEnum):
    FAILED_DEVICE = "failed-device"  # allocatable < capacity: a GPU/EFA device went bad
    MISSING_DEVICE = "missing-device"  # capacity < expected: hardware or device plugin missing
    NOT_JOINED = "not-joined"  # a HyperPod instance with no Kubernetes node
    ORPHAN = "orphan"  # a node whose instance is not in the cluster any more
    NOT_READY = "not-ready"
    INSTANCE_UNHEALTHY = "instance-unhealthy"  # HyperPod status other than Running


def instance_id_from_provider_id(provider_id: str | None) -> str | None:
    if not provider_id:
        return None
    m = _PROVIDER_ID.match(provider_id)
    return m["id"] if m else None


@dataclass
class Counts:
    """One extended resource on one node (or summed over a group)."""

    expected: int | None = None
    capacity: int = 0
    allocatable: int = 0
    requested: int = 0

    def add(self, other: Counts) -> None:
        if other.expected is not None:
            self.expected = (self.expected or 0) + other.expected
        self.capacity += other.capacity
        self.allocatable += other.allocatable
        self.requested += other.requested

    @property
    def failed(self) -> bool:
        return self.allocatable < self.capacity

    @property
    def missing(self) -> bool:
        return self.expected is not None and self.capacity < self.expected

    def as_dict(self) -> dict[str, int | None]:
        return {"expected": self.expected, "capacity": self.capacity,
                "allocatable": self.allocatable, "requested": self.requested}


@dataclass
class PodTotals:
    pods: int = 0
    gpu: int = 0
    neuron: int = 0
    efa: int = 0


@dataclass
class NodeRow:
    name: str  # the Kubernetes node name; for an instance that never joined, its instance id
    instance_id: str | None
    group: str | None
    instance_type: str | None
    hyperpod_status: str | None  # None: unknown (instance list unreadable or incomplete)
    ready: str  # Ready / NotReady / Unknown / "-" (no node)
    cordoned: bool
    taints: list[str]
    created: datetime | None
    ip: str | None
    accel_resource: str
    accel: Counts
    efa: Counts
    pods: int
    flags: list[Flag]
    joined: bool = True
    matched_by: str | None = None  # provider-id / ip / hostname
    control_plane: bool = False
    ready_since: datetime | None = None
    kubelet_version: str = ""

    @property
    def healthy(self) -> bool:
        return not self.flags

    def age_seconds(self, now: datetime) -> float | None:
        return (now - self.created).total_seconds() if self.created else None

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "name": self.name, "joined": self.joined, "instance_id": self.instance_id, "group": self.group,
            "instance_type": self.instance_type, "hyperpod_status": self.hyperpod_status,
            "ready": self.ready, "cordoned": self.cordoned, "taints": self.taints,
            "created": self.created.isoformat() if self.created else None,
            "age_seconds": self.age_seconds(now), "ip": self.ip, "control_plane": self.control_plane,
            "matched_by": self.matched_by, "accelerator_resource": self.accel_resource,
            "accelerators": self.accel.as_dict(), "efa": self.efa.as_dict(), "pods": self.pods,
            "flags": [str(f) for f in self.flags], "kubelet_version": self.kubelet_version,
        }


@dataclass
class GroupSummary:
    name: str
    instance_type: str
    instances: int = 0
    nodes: int = 0
    ready: int = 0
    problems: int = 0
    accel: Counts = field(default_factory=lambda: Counts(expected=0))
    efa: Counts = field(default_factory=lambda: Counts(expected=0))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "instance_type": self.instance_type, "instances": self.instances,
                "nodes": self.nodes, "ready": self.ready, "problems": self.problems,
                "accelerators": self.accel.as_dict(), "efa": self.efa.as_dict()}


@dataclass
class Inventory:
    rows: list[NodeRow]
    taken_at: datetime
    instances_source: str  # "ListClusterNodes", "resource_config.json (offline)" or "none"
    instances_complete: bool
    fleet_error: HpkError | None = None
    pods_loaded: bool = True

    def groups(self) -> list[GroupSummary]:
        out: dict[str, GroupSummary] = {}
        for r in self.rows:
            key = r.group or "(no group)"
            g = out.get(key)
            if g is None:
                g = out[key] = GroupSummary(key, r.instance_type or "")
            if r.instance_id and r.hyperpod_status is not None and Flag.ORPHAN not in r.flags:
                g.instances += 1
            if r.joined:
                g.nodes += 1
                g.ready += r.ready == "Ready"
            g.problems += not r.healthy
            g.accel.add(r.accel)
            g.efa.add(r.efa)
        return sorted(out.values(), key=lambda g: g.name)

    def totals(self, groups: list[GroupSummary] | None = None) -> GroupSummary:
        """The whole fleet; pass ``groups()`` when you have it already."""
        t = GroupSummary("total", "")
        for g in self.groups() if groups is None else groups:
            t.instances += g.instances
            t.nodes += g.nodes
            t.ready += g.ready
            t.problems += g.problems
            t.accel.add(g.accel)
            t.efa.add(g.efa)
        return t

    def find(self, name_or_id: str) -> NodeRow | None:
        for r in self.rows:
            if name_or_id in (r.name, r.instance_id, r.ip):
                return r
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "taken_at": self.taken_at.isoformat(),
            "instances_source": self.instances_source,
            "instances_complete": self.instances_complete,
            "fleet_error": self.fleet_error.one_line() if self.fleet_error else None,
            "nodes": [r.as_dict(self.taken_at) for r in self.rows],
            "groups": [g.as_dict() for g in self.groups()],
            "totals": self.totals().as_dict(),
        }


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def fold_pods(pages: Iterable[list[kt.Pod]], into: dict[str, PodTotals] | None = None) -> dict[str, PodTotals]:
    """Per-node totals of non-terminated pods, page by page (one pass; no nodes x pods loop)."""
    totals = into if into is not None else {}
    with gc_paused():
        for page in pages:
            for pod in page:
                node = pod.spec.nodeName
                if not node or pod.terminated:
                    continue
                t = totals.get(node)
                if t is None:
                    t = totals[node] = PodTotals()
                t.pods += 1
                spec = pod.spec
                t.gpu += kt.pod_request(spec, GPU)
                t.neuron += kt.pod_request(spec, NEURON)
                t.efa += kt.pod_request(spec, EFA)
    return totals


@dataclass(frozen=True)
class _Instance:
    """An instance as the join sees it, from the live list or from resource_config.json."""

    instance_id: str
    group: str
    instance_type: str
    status: str | None
    ip: str | None
    hostname: str | None


def _from_listing(items: Iterable[FleetInstance]) -> list[_Instance]:
    return [
        _Instance(i.instance_id, i.group, i.instance_type, i.status, i.ip,
                  i.private_dns.split(".", 1)[0] if i.private_dns else None)
        for i in items
    ]


def _from_resource_config(rc: ResourceConfig) -> list[_Instance]:
    return [_Instance(i.instance_id, i.group, i.instance_type, None, i.customer_ip, i.hostname)
            for i in rc.instances]


def _ready(node: kt.Node) -> tuple[str, datetime | None]:
    c = node.condition("Ready")
    if c is None:
        return "Unknown", None
    state = {"True": "Ready", "False": "NotReady"}.get(c.status, "Unknown")
    return state, parse_time(c.lastTransitionTime)


def join(nodes: list[kt.Node], instances: list[_Instance] | None, pod_totals: dict[str, PodTotals] | None, *,
         live: bool, complete: bool) -> list[NodeRow]:
    """The one join. ``instances`` None means nothing is known about the fleet.

    Orphan and not-joined flags need the complete live list: partial or offline data never makes a
    node look gone.
    """
    by_id = {i.instance_id: i for i in instances or []}
    by_ip = {i.ip: i for i in instances or [] if i.ip}
    by_host = {i.hostname: i for i in instances or [] if i.hostname}
    matched: dict[str, tuple[_Instance, str]] = {}
    claimed: set[str] = set()

    # First the authoritative match, so that the fallback cannot steal an instance a node owns.
    for n in nodes:
        iid = instance_id_from_provider_id(n.spec.providerID)
        if iid and iid in by_id:
            matched[n.metadata.name] = (by_id[iid], "provider-id")
            claimed.add(iid)
    for n in nodes:
        if n.metadata.name in matched or instance_id_from_provider_id(n.spec.providerID):
            continue  # a node with a providerID is that instance or nobody: IPs get reused
        ip = n.address("InternalIP")
        cand = by_ip.get(ip) if ip else None
        how = "ip"
        if cand is None or cand.instance_id in claimed:
            cand, how = by_host.get(n.metadata.name), "hostname"
        if cand is not None and cand.instance_id not in claimed:
            matched[n.metadata.name] = (cand, how)
            claimed.add(cand.instance_id)

    rows: list[NodeRow] = []
    for n in nodes:
        meta = n.metadata
        inst, how = matched.get(meta.name, (None, None))  # type: ignore[assignment]
        iid = inst.instance_id if inst else instance_id_from_provider_id(n.spec.providerID)
        itype = (inst.instance_type if inst else None) or meta.labels.get(labels.INSTANCE_TYPE)
        group = (inst.group if inst else None) or meta.labels.get(labels.INSTANCE_GROUP)
        exp = expected_for(itype)
        res = exp.accel_resource
        if res == GPU and NEURON in n.status.capacity:
            res = NEURON
        accel_expected = exp.neuron if res == NEURON else exp.gpu
        tot = (pod_totals or {}).get(meta.name, PodTotals())
        accel = Counts(accel_expected, kt.quantity_int(n.status.capacity.get(res)),
                       kt.quantity_int(n.status.allocatable.get(res)), tot.neuron if res == NEURON else tot.gpu)
        efa = Counts(exp.efa, kt.quantity_int(n.status.capacity.get(EFA)),
                     kt.quantity_int(n.status.allocatable.get(EFA)), tot.efa)
        ready, since = _ready(n)
        flags: list[Flag] = []
        if ready != "Ready":
            flags.append(Flag.NOT_READY)
        if accel.failed or efa.failed:
            flags.append(Flag.FAILED_DEVICE)
        if accel.missing or efa.missing:
            flags.append(Flag.MISSING_DEVICE)
        status: str | None = inst.status if inst else None
        if live and complete and inst is None:
            flags.append(Flag.ORPHAN)
            status = "absent"
        if status is not None and status not in ("Running", "absent"):
            flags.append(Flag.INSTANCE_UNHEALTHY)
        rows.append(NodeRow(
            name=meta.name, instance_id=iid, group=group, instance_type=itype, hyperpod_status=status,
            ready=ready, cordoned=n.spec.unschedulable, taints=[str(t) for t in n.spec.taints],
            created=parse_time(meta.creationTimestamp), ip=n.address("InternalIP"), accel_resource=res,
            accel=accel, efa=efa, pods=tot.pods, flags=flags, joined=True, matched_by=how,
            control_plane=labels.CONTROL_PLANE in meta.labels, ready_since=since,
            kubelet_version=n.status.nodeInfo.kubeletVersion if n.status.nodeInfo else "",
        ))

    for inst in instances or []:
        if inst.instance_id in claimed:
            continue
        exp = expected_for(inst.instance_type)
        flags = [Flag.NOT_JOINED] if live and complete else []
        if inst.status is not None and inst.status != "Running":
            flags.append(Flag.INSTANCE_UNHEALTHY)
        rows.append(NodeRow(
            # The hostname may still belong to an old node object (IPs are reused): name it by instance.
            name=inst.instance_id, instance_id=inst.instance_id, group=inst.group,
            instance_type=inst.instance_type, hyperpod_status=inst.status, ready="-", cordoned=False,
            taints=[], created=None, ip=inst.ip, accel_resource=exp.accel_resource,
            accel=Counts(exp.accel), efa=Counts(exp.efa), pods=0, flags=flags, joined=False,
        ))
    rows.sort(key=lambda r: (r.group or "~", r.name))
    return rows


@dataclass
class Sources:
    """Where the inventory reads from; any of them may be absent."""

    cluster: Cluster
    fleet: Fleet | None = None
    resource_config: ResourceConfig | None = None
    setup_error: HpkError | None = None  # why there is no fleet, when there is none


def read_instances(src: Sources) -> tuple[list[_Instance] | None, str, bool, HpkError | None]:
    """The live instance list, or the offline fallback, and how far to trust it."""
    listing: InstanceListing | None = None
    error: HpkError | None = src.setup_error
    if src.fleet is not None:
        try:
            listing = src.fleet.list_instances()
        except HpkError as e:
            error = e
    if listing is not None:
        return _from_listing(listing.instances), "ListClusterNodes", listing.complete, listing.error or error
    if src.resource_config is not None:
        return _from_resource_config(src.resource_config), "resource_config.json (offline)", False, error
    return None, "none", False, error


def build(src: Sources, *, with_pods: bool = True, on_nodes: Callable[[Inventory], None] | None = None,
          pod_totals: Callable[[], dict[str, PodTotals]] | None = None) -> Inventory:
    """Nodes, instances and pods read concurrently, then joined once.

    ``on_nodes`` gets an early inventory without pod totals, so a screen can show rows before the
    (much larger) pod list has arrived. ``pod_totals`` replaces the pod list (a watch-fed ledger).
    """
    if pod_totals is None and with_pods:
        def pod_totals() -> dict[str, PodTotals]:
            return fold_pods(src.cluster.iter_pod_pages())

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="inventory") as pool:
        fleet_f = pool.submit(read_instances, src)
        pods_f = pool.submit(pod_totals) if pod_totals is not None else None
        try:
            nodes = src.cluster.list_nodes()
            instances, source, complete, fleet_error = fleet_f.result()
        except BaseException:
            if pods_f is not None:
                pods_f.cancel()
            raise
        live = source == "ListClusterNodes"
        now = datetime.now(UTC)
        early: list[NodeRow] | None = None
        if on_nodes is not None and pods_f is not None:
            early = join(nodes, instances, None, live=live, complete=complete)
            on_nodes(Inventory(early, now, source, complete, fleet_error, pods_loaded=False))
        totals = pods_f.result() if pods_f is not None else None
    if early is not None and totals is not None:
        rows = with_pod_totals(early, totals)  # the join is done; this costs a fraction of it
    else:
        rows = join(nodes, instances, totals, live=live, complete=complete)
    return Inventory(rows, datetime.now(UTC), source, complete, fleet_error, pods_loaded=totals is not None)


def with_pod_totals(rows: list[NodeRow], totals: dict[str, PodTotals]) -> list[NodeRow]:
    """Rows joined without pod totals, with them: new rows (the first ones may be on screen already).

    Only the requested columns and the pod count depend on the pods; no flag does.
    """
    none = PodTotals()
    with gc_paused():
        return [_filled(r, totals.get(r.name, none) if r.joined else none) for r in rows]


def _filled(r: NodeRow, tot: PodTotals) -> NodeRow:
    new = object.__new__(NodeRow)  # a shallow copy; copy.copy goes through __reduce_ex__, 6x slower
    new.__dict__.update(r.__dict__)
    new.accel = Counts(r.accel.expected, r.accel.capacity, r.accel.allocatable,
                       tot.neuron if r.accel_resource == NEURON else tot.gpu)
    new.efa = Counts(r.efa.expected, r.efa.capacity, r.efa.allocatable, tot.efa)
    new.pods = tot.pods
    return new
