"""The inventory join (nodes ⋈ instances ⋈ pods), pod request arithmetic and the decode's gc pause."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from hyperpod_k8s.clients import kube_types as kt
from hyperpod_k8s.clients.cluster import gc_paused
from hyperpod_k8s.clients.fleet import FleetInstance, InstanceListing
from hyperpod_k8s.demo.objects import make_node, make_pod
from hyperpod_k8s.errors import AuthError, IncompleteError
from hyperpod_k8s.hyperpod import parse_resource_config
from hyperpod_k8s.instance_types import EFA, GPU, NEURON
from hyperpod_k8s.ops.inventory import Flag, Sources, build, fold_pods, instance_id_from_provider_id

P5 = "ml.p5.48xlarge"
TRN = "ml.trn1.32xlarge"
OLD, NEW, A, B, C = ("i-0aaaaaaaaaaaaaaa0", "i-0bbbbbbbbbbbbbbb0", "i-0cccccccccccccc10", "i-0cccccccccccccc20",
                     "i-0cccccccccccccc30")


def node(ip: str, iid: str | None, itype: str = P5, group: str = "train-a", **kw: Any) -> kt.Node:
    return msgspec.convert(make_node(ip=ip, instance_id=iid, instance_type=itype, group=group, **kw), kt.Node)


def pod(name: str, on: str | None, **kw: Any) -> kt.Pod:
    return msgspec.convert(make_pod(name=name, namespace="training", node=on, **kw), kt.Pod)


def inst(iid: str, ip: str | None, itype: str = P5, group: str = "train-a", status: str = "Running",
         dns: bool = True) -> FleetInstance:
    if ip and dns:  # as ListClusterNodes has it
        return FleetInstance(iid, group, itype, status, private_dns=f"ip-{ip.replace('.', '-')}.us-west-2.compute.internal")
    return FleetInstance(iid, group, itype, status, private_ip=ip)


class FakeCluster:
    def __init__(self, nodes: list[kt.Node], pods: list[kt.Pod] | None = None) -> None:
        self.nodes = nodes
        self.pods = pods or []

    def list_nodes(self) -> list[kt.Node]:
        return list(self.nodes)

    def iter_pod_pages(self) -> Iterator[list[kt.Pod]]:
        for i in range(0, len(self.pods), 2):  # pages of two, like limit/continue
            yield self.pods[i:i + 2]


class FakeFleet:
    def __init__(self, listing: InstanceListing | Exception) -> None:
        self.listing = listing

    def list_instances(self) -> InstanceListing:
        if isinstance(self.listing, Exception):
            raise self.listing
        return self.listing


def inventory(nodes: list[kt.Node], instances: list[FleetInstance], pods: list[kt.Pod] | None = None,
              complete: bool = True) -> dict[str, Any]:
    listing = InstanceListing(instances, complete=complete,
                              error=None if complete else IncompleteError("stopped after a page"))
    inv = build(Sources(FakeCluster(nodes, pods), FakeFleet(listing)))  # type: ignore[arg-type]
    return {r.name: r for r in inv.rows}


def test_provider_id_parsing() -> None:
    assert instance_id_from_provider_id("aws:///us-west-2c/i-0123456789abcdef0") == "i-0123456789abcdef0"
    for bad in (None, "", "aws:///us-west-2c/", "kind://docker/n1", "aws:///us-west-2c/i-XYZ"):
        assert instance_id_from_provider_id(bad) is None


def test_provider_id_match_beats_ip_and_hostname() -> None:
    # The node's IP and hostname point at instance B; its providerID names A, and A is who it is.
    rows = inventory([node("10.1.0.20", A)], [inst(A, "10.1.0.10"), inst(B, "10.1.0.20")])
    r = rows["ip-10-1-0-20"]
    assert (r.instance_id, r.matched_by, r.hyperpod_status, r.flags) == (A, "provider-id", "Running", [])
    assert rows[B].flags == [Flag.NOT_JOINED] and not rows[B].joined


def test_ip_fallback_only_for_nodes_without_provider_id() -> None:
    n = node("10.1.0.10", None)
    n.metadata.name = "gpu-node-7"  # not the instance's hostname: only the IP can match
    rows = inventory([n], [inst(A, "10.1.0.10", dns=False)])
    r = rows["gpu-node-7"]
    assert (r.instance_id, r.matched_by, r.flags, r.group) == (A, "ip", [], "train-a")
    assert A not in rows  # claimed: no not-joined row


def test_reused_ip_does_not_match_the_node_of_the_old_instance() -> None:
    # HyperPod replaced OLD by NEW at the same IP (and so the same hostname); the old node object lingers.
    old = node("10.1.0.10", OLD, ready="Unknown", ready_reason="NodeStatusUnknown")
    rows = inventory([old], [inst(NEW, "10.1.0.10")])
    orphan = rows["ip-10-1-0-10"]
    assert orphan.instance_id == OLD and orphan.matched_by is None
    assert orphan.flags == [Flag.NOT_READY, Flag.ORPHAN] and orphan.hyperpod_status == "absent"
    fresh = rows[NEW]
    assert fresh.flags == [Flag.NOT_JOINED] and fresh.ip == "10.1.0.10" and fresh.ready == "-"


def test_fallback_cannot_steal_an_instance_a_node_owns() -> None:
    # Node 2 joined without a providerID and has the IP that instance A had; node 1 *is* A.
    stray = node("10.1.0.10", None)
    stray.metadata.name = "stray"
    rows = inventory([node("10.1.0.10", A), stray], [inst(A, "10.1.0.10")])
    assert rows["ip-10-1-0-10"].matched_by == "provider-id"
    assert rows["stray"].matched_by is None and Flag.ORPHAN in rows["stray"].flags


def test_hostname_fallback() -> None:
    # No providerID and no InternalIP match: the node name is the instance's private DNS host.
    n = node("10.1.0.30", None)
    n.status.addresses = [a for a in n.status.addresses if a.type != "InternalIP"]
    rows = inventory([n], [FleetInstance(C, "train-a", P5, "Running",
                                         private_dns="ip-10-1-0-30.us-west-2.compute.internal", private_ip="10.9.9.9")])
    assert rows["ip-10-1-0-30"].matched_by == "hostname" and rows["ip-10-1-0-30"].instance_id == C


def test_incomplete_listing_flags_no_orphan_and_no_not_joined() -> None:
    rows = inventory([node("10.1.0.10", OLD)], [inst(NEW, "10.1.0.11")], complete=False)
    assert rows["ip-10-1-0-10"].flags == [] and rows["ip-10-1-0-10"].hyperpod_status is None
    assert rows[NEW].flags == []


def test_offline_resource_config_flags_no_orphan() -> None:
    rc = parse_resource_config({
        "ClusterConfig": {"ClusterArn": "arn:aws:sagemaker:us-west-2:111122223333:cluster/abc"},
        "InstanceGroups": [{"Name": "train-a", "InstanceType": P5, "Instances": [
            {"InstanceId": A, "CustomerIpAddress": "10.1.0.10"}, {"InstanceId": B, "CustomerIpAddress": "10.1.0.11"}]}],
    })
    nodes = [node("10.1.0.10", A), node("10.1.0.12", OLD)]
    inv = build(Sources(FakeCluster(nodes), None, rc, setup_error=AuthError("no credentials")))  # type: ignore[arg-type]
    rows = {r.name: r for r in inv.rows}
    assert inv.instances_source == "resource_config.json (offline)" and not inv.instances_complete
    assert isinstance(inv.fleet_error, AuthError)
    assert rows["ip-10-1-0-10"].matched_by == "provider-id" and rows["ip-10-1-0-10"].hyperpod_status is None
    assert not any(f in r.flags for r in inv.rows for f in (Flag.ORPHAN, Flag.NOT_JOINED))
    assert not rows[B].joined and rows[B].flags == []


def test_no_fleet_at_all() -> None:
    inv = build(Sources(FakeCluster([node("10.1.0.10", A)]), FakeFleet(AuthError("denied"))))  # type: ignore[arg-type]
    assert inv.instances_source == "none" and isinstance(inv.fleet_error, AuthError)
    assert inv.rows[0].flags == [] and inv.rows[0].instance_id == A  # still known from the providerID


def test_device_flags() -> None:
    nodes = [
        node("10.1.0.10", A, gpu_capacity=8, gpu_allocatable=7),  # a GPU fell off the bus
        node("10.1.0.11", B, gpu_capacity=4),  # half the GPUs never showed up
        node("10.1.0.12", C, efa_capacity=0),  # no EFA device plugin
    ]
    rows = inventory(nodes, [inst(A, "10.1.0.10"), inst(B, "10.1.0.11"), inst(C, "10.1.0.12")])
    a, b, c = rows["ip-10-1-0-10"], rows["ip-10-1-0-11"], rows["ip-10-1-0-12"]
    assert a.flags == [Flag.FAILED_DEVICE] and (a.accel.capacity, a.accel.allocatable) == (8, 7)
    assert b.flags == [Flag.MISSING_DEVICE] and (b.accel.expected, b.accel.capacity) == (8, 4)
    assert c.flags == [Flag.MISSING_DEVICE] and (c.efa.expected, c.efa.capacity) == (32, 0)


def test_neuron_on_trainium() -> None:
    nodes = [node("10.1.0.10", A, itype=TRN, group="trn")]
    pods = [pod("trainer", "ip-10-1-0-10", neuron=16, efa=8), pod("helper", "ip-10-1-0-10", gpu=1)]
    rows = inventory(nodes, [inst(A, "10.1.0.10", itype=TRN, group="trn")], pods)
    r = rows["ip-10-1-0-10"]
    assert r.accel_resource == NEURON
    assert r.accel.as_dict() == {"expected": 16, "capacity": 16, "allocatable": 16, "requested": 16}
    assert r.efa.as_dict() == {"expected": 8, "capacity": 8, "allocatable": 8, "requested": 8}
    assert r.flags == [] and r.pods == 2 and r.group == "trn"


def test_instance_unhealthy_and_not_ready() -> None:
    rows = inventory([node("10.1.0.10", A, ready="False", ready_reason="KubeletNotReady")],
                     [inst(A, "10.1.0.10", status="SystemUpdating"), inst(B, "10.1.0.11", status="Pending")])
    assert rows["ip-10-1-0-10"].flags == [Flag.NOT_READY, Flag.INSTANCE_UNHEALTHY]
    assert rows[B].flags == [Flag.NOT_JOINED, Flag.INSTANCE_UNHEALTHY]


# -- pod requests ---------------------------------------------------------------------------------

def _spec(containers: list[dict[str, Any]], init: list[dict[str, Any]] | None = None,
          overhead: dict[str, str] | None = None) -> kt.PodSpec:
    return msgspec.convert({"nodeName": "n", "containers": containers, "initContainers": init or [],
                            "overhead": overhead or {}}, kt.PodSpec)


def _c(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": "c", "resources": {"requests": requests or {}, "limits": limits or {}}}


def test_init_containers_max_rule() -> None:
    containers = [_c({GPU: "2"}), _c({GPU: "2"})]
    assert kt.pod_request(_spec(containers, [_c({GPU: "6"})]), GPU) == 6  # the big init container wins
    assert kt.pod_request(_spec(containers, [_c({GPU: "3"}), _c({GPU: "1"})]), GPU) == 4  # the sum wins
    assert kt.pod_request(_spec(containers), EFA) == 0


def test_limits_only_implies_the_request() -> None:
    assert kt.pod_request(_spec([_c(limits={GPU: "8"})]), GPU) == 8
    assert kt.pod_request(_spec([_c({GPU: "1"}, {GPU: "8"})]), GPU) == 1  # an explicit request is the request
    assert kt.pod_request(_spec([_c({"cpu": "1"}, {EFA: "4"})], [_c(limits={EFA: "32"})]), EFA) == 32


def test_overhead_is_added() -> None:
    assert kt.pod_request(_spec([_c({GPU: "1"})], [_c({GPU: "4"})], overhead={GPU: "1"}), GPU) == 5


@pytest.mark.parametrize("value, expected", [
    ("8", 8), ("1k", 1000), ("1Ki", 1024), ("2500m", 2), ("", 0), (None, 0), ("nonsense", 0), (7, 7), ("1e3", 1000),
])
def test_quantities(value: Any, expected: int) -> None:
    assert kt.quantity_int(value) == expected


def test_fold_ignores_terminated_and_unscheduled_pods() -> None:
    pods = [
        pod("running", "n1", gpu=8, efa=32),
        pod("pending-on-node", "n1", gpu=1, phase="Pending"),
        pod("done", "n1", gpu=8, efa=32, phase="Succeeded"),
        pod("crashed", "n2", gpu=8, phase="Failed"),
        pod("unscheduled", None, gpu=8, phase="Pending"),
    ]
    totals = fold_pods([pods[:2], [], pods[2:]])
    assert set(totals) == {"n1"}
    t = totals["n1"]
    assert (t.pods, t.gpu, t.efa, t.neuron) == (2, 9, 32, 0)


def test_pod_totals_reach_the_rows() -> None:
    nodes = [node("10.1.0.10", A)]
    pods = [pod(f"w{i}", "ip-10-1-0-10", gpu=2, efa=8) for i in range(3)] + [
        pod("old", "ip-10-1-0-10", gpu=8, phase="Failed")]
    r = inventory(nodes, [inst(A, "10.1.0.10")], pods)["ip-10-1-0-10"]
    assert (r.pods, r.accel.requested, r.efa.requested) == (3, 6, 24)


def test_rows_shown_before_the_pods_then_filled_equal_one_join() -> None:
    """build(on_nodes=...) fills the early rows with the pod totals instead of joining again: same rows."""
    nodes = [node("10.1.0.10", A), node("10.1.0.11", B, itype=TRN, group="trn"),
             node("10.1.0.12", None, ready="False")]
    pods = [pod(f"w{i}", "ip-10-1-0-10", gpu=2, efa=8) for i in range(3)] + [
        pod("n", "ip-10-1-0-11", neuron=4), pod("x", "ip-10-1-0-12", gpu=1), pod("gone", "ip-10-9-9-9", gpu=8)]
    fleet = FakeFleet(InstanceListing([inst(A, "10.1.0.10"), inst(B, "10.1.0.11", TRN, "trn"),
                                       inst(C, "10.1.0.99", status="Pending")]))
    early: list[Any] = []
    src = Sources(FakeCluster(nodes, pods), fleet)  # type: ignore[arg-type]
    filled = build(src, on_nodes=early.append)
    joined = build(src)
    assert len(early) == 1 and not early[0].pods_loaded and all(r.pods == 0 for r in early[0].rows)
    assert filled.rows == joined.rows and filled.pods_loaded
    by_name = {r.name: r for r in filled.rows}
    assert (by_name["ip-10-1-0-10"].pods, by_name["ip-10-1-0-10"].accel.requested) == (3, 6)
    assert by_name["ip-10-1-0-11"].accel_resource == NEURON and by_name["ip-10-1-0-11"].accel.requested == 4
    assert by_name[C].pods == 0 and Flag.NOT_JOINED in by_name[C].flags
    assert Flag.NOT_READY in by_name["ip-10-1-0-12"].flags and by_name["ip-10-1-0-12"].accel.requested == 1


# -- the collector during decode --------------------------------------------------------------------

def test_gc_paused_is_reference_counted_across_threads() -> None:
    """inventory.build decodes pods in a worker while the main thread decodes nodes, both under
    gc_paused: the first to finish must not switch the collector back on under the other."""
    assert gc.isenabled()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def a() -> None:
        with gc_paused():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b() -> None:
        a_in.wait(5)
        with gc_paused():
            b_in.set()
            a_out.wait(5)
            seen["b after a left"] = gc.isenabled()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"b after a left": False}
    assert gc.isenabled()


def test_gc_paused_nested_and_restores_a_disabled_collector() -> None:
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_build_leaves_the_collector_on() -> None:
    build(Sources(FakeCluster([node("10.1.0.10", A)], [pod("p", "ip-10-1-0-10")]),  # type: ignore[arg-type]
                  FakeFleet(InstanceListing([inst(A, "10.1.0.10")]))))
    assert gc.isenabled()


def test_build_pages_through_the_emulator(demo: Any) -> None:
    """Small pages (limit/continue over HTTP) give the same inventory as one big page."""
    from hyperpod_k8s.clients.cluster import Cluster
    from hyperpod_k8s.clients.fleet import Fleet

    ep = demo.endpoints
    fleet = Fleet(ep.cluster, region=ep.region, endpoint_url=ep.aws_endpoint)
    small = Cluster.from_kubeconfig(ep.kubeconfig, page_size=2)
    big = Cluster.from_kubeconfig(ep.kubeconfig)
    pages = list(small.iter_pod_pages())
    assert len(pages) > 10 and all(len(p) <= 2 for p in pages)
    names = [p.metadata.name for page in pages for p in page]
    assert len(names) == len(set(names)) and not any(n.startswith("nccl-tests") for n in names)  # finished
    assert len(small.list_nodes()) == 17
    a = build(Sources(small, fleet)).as_dict()
    b = build(Sources(big, fleet)).as_dict()
    for row in a["nodes"] + b["nodes"]:
        row.pop("age_seconds")  # measured from each inventory's own taken_at
    assert a["nodes"] == b["nodes"] and a["totals"] == b["totals"]
    assert a["totals"]["accelerators"]["requested"] == 100
