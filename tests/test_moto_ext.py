"""moto's SageMaker with the HyperPod extensions (demo/moto_ext.py), through boto3 over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import aws_error
from hyperpod_k8s.clients.fleet import Fleet
from hyperpod_k8s.clients.retry import NO_RETRY
from hyperpod_k8s.demo import moto_ext
from hyperpod_k8s.demo.fleet import CLUSTER_NAME, REGION
from hyperpod_k8s.demo.server import DemoCluster
from hyperpod_k8s.errors import AuthError


@pytest.fixture
def sm(demo: DemoCluster) -> Any:
    assert demo.endpoints is not None
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=demo.endpoints.aws_endpoint,
                        aws_access_key_id="demo", aws_secret_access_key="demo")


def _all_pages(sm: Any, **kw: Any) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = sm.list_cluster_nodes(ClusterName=CLUSTER_NAME, **kw, **({"NextToken": token} if token else {}))
        yield page
        token = page.get("NextToken")
        if not token:
            return


def _grow(demo: DemoCluster, extra: int) -> set[str]:
    backend = demo.sagemaker
    cluster = backend.clusters[CLUSTER_NAME]
    group = next(g for g in cluster.instance_groups if g["InstanceGroupName"] == "train-a")
    for _ in range(extra):
        moto_ext.add_node(backend, cluster, group)
    return set(cluster.nodes)


def _wait_status(sm: Any, node_id: str, want: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = sm.describe_cluster_node(ClusterName=CLUSTER_NAME, NodeId=node_id)["NodeDetails"]["InstanceStatus"]
        if st["Status"] == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"{node_id} never reached {want} (last {st})")


def test_list_pages_every_instance_exactly_once(demo: DemoCluster, sm: Any) -> None:
    expected = _grow(demo, 140)
    assert len(expected) == 157
    pages = list(_all_pages(sm, MaxResults=20))
    ids = [s["InstanceId"] for p in pages for s in p["ClusterNodeSummaries"]]
    assert len(pages) == 8 and all(len(p["ClusterNodeSummaries"]) == 20 for p in pages[:-1])
    assert len(ids) == len(set(ids)) == 157
    assert set(ids) == expected
    # The Fleet facade sees the same list, complete.
    listing = Fleet(CLUSTER_NAME, region=REGION, endpoint_url=demo.endpoints.aws_endpoint).list_instances(20)
    assert listing.complete and listing.pages == 8 and {i.instance_id for i in listing.instances} == expected


def test_summaries_and_details_carry_addresses(demo: DemoCluster, sm: Any) -> None:
    summaries = [s for p in _all_pages(sm) for s in p["ClusterNodeSummaries"]]
    assert len(summaries) == 17
    for s in summaries:
        assert s["InstanceId"].startswith("i-0") and len(s["InstanceId"]) == 19
        assert s["PrivateDnsHostname"].startswith("ip-")
        assert s["PrivateDnsHostname"].endswith(f".{REGION}.compute.internal")
        details = sm.describe_cluster_node(ClusterName=CLUSTER_NAME, NodeId=s["InstanceId"])["NodeDetails"]
        ip = details["PrivatePrimaryIp"]
        assert s["PrivateDnsHostname"].split(".")[0] == "ip-" + ip.replace(".", "-")
        assert details["InstanceGroupName"] == s["InstanceGroupName"]
    seeded = {i.instance_id: i.ip for i in demo.fleet.instances}
    got = {s["InstanceId"]: sm.describe_cluster_node(ClusterName=CLUSTER_NAME, NodeId=s["InstanceId"])
           ["NodeDetails"]["PrivatePrimaryIp"] for s in summaries}
    assert got == seeded


def test_sort_filter_and_bad_token(sm: Any) -> None:
    asc = [s["InstanceId"] for p in _all_pages(sm, MaxResults=5) for s in p["ClusterNodeSummaries"]]
    desc = [s["InstanceId"] for p in _all_pages(sm, MaxResults=5, SortOrder="Descending")
            for s in p["ClusterNodeSummaries"]]
    assert desc == asc[::-1]
    train_b = [s for p in _all_pages(sm, InstanceGroupNameContains="train-b") for s in p["ClusterNodeSummaries"]]
    assert len(train_b) == 8 and {s["InstanceGroupName"] for s in train_b} == {"train-b"}
    with pytest.raises(ClientError) as e:
        sm.list_cluster_nodes(ClusterName=CLUSTER_NAME, NextToken="i-0nope")
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_replace_gives_a_new_instance_pending_then_running(demo: DemoCluster, sm: Any) -> None:
    old = demo.fleet.instances[5]
    events: list[tuple[str, str]] = []
    moto_ext.listeners.append(lambda cluster, node, event: events.append((node.instance_id, event)))
    try:
        r = sm.batch_replace_cluster_nodes(ClusterName=CLUSTER_NAME, NodeIds=[old.instance_id, "i-0000000000000dead"])
        assert r["Successful"] == [old.instance_id]
        assert [(f["NodeId"], f["ErrorCode"]) for f in r["Failed"]] == [("i-0000000000000dead", "InstanceIdNotFound")]
        summaries = [s for p in _all_pages(sm) for s in p["ClusterNodeSummaries"]]
        ids = {s["InstanceId"] for s in summaries}
        assert old.instance_id not in ids and len(ids) == 17
        (new,) = [s for s in summaries if s["InstanceId"] not in {i.instance_id for i in demo.fleet.instances}]
        assert new["InstanceGroupName"] == old.group and new["InstanceStatus"]["Status"] == "Pending"
        details = sm.describe_cluster_node(ClusterName=CLUSTER_NAME, NodeId=new["InstanceId"])["NodeDetails"]
        assert details["PrivatePrimaryIp"] == old.ip  # HyperPod reuses the address: why IPs cannot be identity
        # A Pending instance cannot be replaced again.
        again = sm.batch_replace_cluster_nodes(ClusterName=CLUSTER_NAME, NodeIds=[new["InstanceId"]])
        assert again["Successful"] == [] and again["Failed"][0]["ErrorCode"] == "InvalidInstanceStatus"
        _wait_status(sm, new["InstanceId"], "Running")
        assert (new["InstanceId"], f"replaced:{old.instance_id}") in events and (new["InstanceId"], "running") in events
    finally:
        moto_ext.listeners.clear()


def test_reboot_keeps_the_instance(demo: DemoCluster, sm: Any) -> None:
    target = demo.fleet.instances[2].instance_id
    r = sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER_NAME, NodeIds=[target])
    assert r["Successful"] == [target] and r["Failed"] == []
    st = sm.describe_cluster_node(ClusterName=CLUSTER_NAME, NodeId=target)["NodeDetails"]["InstanceStatus"]
    assert st["Status"] == "SystemUpdating"
    _wait_status(sm, target, "Running")


def test_delete_removes_and_recounts(demo: DemoCluster, sm: Any) -> None:
    gone = [i.instance_id for i in demo.fleet.instances if i.group == "train-a"][:2]
    r = sm.batch_delete_cluster_nodes(ClusterName=CLUSTER_NAME, NodeIds=[*gone, "i-0000000000000dead"])
    assert sorted(r["Successful"]) == sorted(gone)
    assert [(f["NodeId"], f["Code"]) for f in r["Failed"]] == [("i-0000000000000dead", "NodeIdNotFound")]
    ids = {s["InstanceId"] for p in _all_pages(sm) for s in p["ClusterNodeSummaries"]}
    assert len(ids) == 15 and not ids & set(gone)
    groups = {g["InstanceGroupName"]: g for g in sm.describe_cluster(ClusterName=CLUSTER_NAME)["InstanceGroups"]}
    assert groups["train-a"]["CurrentCount"] == 6
    with pytest.raises(ClientError) as e:
        sm.describe_cluster_node(ClusterName=CLUSTER_NAME, NodeId=gone[0])
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_replace_and_reboot_take_at_most_25_ids(demo: DemoCluster, sm: Any) -> None:
    ids = [i.instance_id for i in demo.fleet.instances] + [f"i-0{n:016x}" for n in range(9)]
    assert len(ids) == 26
    for call in (sm.batch_replace_cluster_nodes, sm.batch_reboot_cluster_nodes):
        with pytest.raises(ClientError) as e:
            call(ClusterName=CLUSTER_NAME, NodeIds=ids)
        assert e.value.response["Error"]["Code"] == "ValidationException"
    assert all(s["InstanceStatus"]["Status"] == "Running" for p in _all_pages(sm) for s in p["ClusterNodeSummaries"])


def test_update_cluster_adds_pending_instances(demo: DemoCluster, sm: Any) -> None:
    sm.update_cluster(ClusterName=CLUSTER_NAME, InstanceGroups=[{
        "InstanceGroupName": "train-b", "InstanceCount": 10, "InstanceType": "ml.p5.48xlarge",
        "LifeCycleConfig": {"SourceS3Uri": "s3://b/lcc/", "OnCreate": "on_create.sh"},
        "ExecutionRole": "arn:aws:iam::123456789012:role/x"}])
    train_b = [s for p in _all_pages(sm, InstanceGroupNameContains="train-b") for s in p["ClusterNodeSummaries"]]
    assert len(train_b) == 10
    assert sorted(s["InstanceStatus"]["Status"] for s in train_b).count("Pending") == 2
    groups = {g["InstanceGroupName"]: g for g in sm.describe_cluster(ClusterName=CLUSTER_NAME)["InstanceGroups"]}
    assert (groups["train-b"]["CurrentCount"], groups["train-b"]["TargetCount"]) == (10, 10)


def test_faults_inject_access_denied(demo: DemoCluster, sm: Any) -> None:
    moto_ext.faults["list_cluster_nodes"] = aws_error(
        "AccessDeniedException", "User is not authorized to perform: sagemaker:ListClusterNodes")
    with pytest.raises(ClientError) as e:
        sm.list_cluster_nodes(ClusterName=CLUSTER_NAME)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "sagemaker:ListClusterNodes" in e.value.response["Error"]["Message"]
    # Other operations are untouched, and the facade maps the fault to an AuthError.
    assert sm.describe_cluster(ClusterName=CLUSTER_NAME)["ClusterName"] == CLUSTER_NAME
    fleet = Fleet(CLUSTER_NAME, region=REGION, endpoint_url=demo.endpoints.aws_endpoint, retry=NO_RETRY)
    with pytest.raises(AuthError, match="AccessDeniedException on ListClusterNodes"):
        fleet.list_instances()
    moto_ext.faults.clear()
    assert len(fleet.list_instances().instances) == 17


def test_unknown_cluster(sm: Any) -> None:
    with pytest.raises(ClientError) as e:
        sm.list_cluster_nodes(ClusterName="no-such-cluster")
    assert "Could not find cluster 'no-such-cluster'" in e.value.response["Error"]["Message"]


def test_deleting_the_next_instance_between_pages_does_not_break_the_listing(demo: DemoCluster, sm: Any) -> None:
    first = sm.list_cluster_nodes(ClusterName=CLUSTER_NAME, MaxResults=5)
    seen = [s["InstanceId"] for s in first["ClusterNodeSummaries"]]
    everything = [s["InstanceId"] for s in sm.list_cluster_nodes(ClusterName=CLUSTER_NAME)["ClusterNodeSummaries"]]
    doomed = everything[5]  # the first instance of the next page
    sm.batch_delete_cluster_nodes(ClusterName=CLUSTER_NAME, NodeIds=[doomed])
    token = first.get("NextToken")
    while token:
        page = sm.list_cluster_nodes(ClusterName=CLUSTER_NAME, MaxResults=5, NextToken=token)
        seen += [s["InstanceId"] for s in page["ClusterNodeSummaries"]]
        token = page.get("NextToken")
    assert seen == [i for i in everything if i != doomed]
