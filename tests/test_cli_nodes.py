"""`hpk8s ops nodes` end to end: the CLI over HTTP against the demo cluster, and its failure modes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from conftest import DATA, aws_error
from hyperpod_k8s.demo import moto_ext
from hyperpod_k8s.demo.server import DemoCluster


def _by_name(data: dict) -> dict:  # type: ignore[type-arg]
    return {n["name"]: n for n in data["nodes"]}


def test_demo_table_shows_the_planted_faults(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("ops", "nodes", "--demo")
    assert r.code == 0, r.err
    assert "failed-device" in r.out and "orphan" in r.out and "not-joined" in r.out
    assert "Instance groups" in r.out and "train-a" in r.out and "train-b" in r.out
    assert r.err == ""


def test_json_flags_match_the_seeded_fleet(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    r = cli("ops", "nodes", "-o", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    nodes = data["nodes"]
    assert len([n for n in nodes if n["joined"]]) == 17  # controller, 15 workers, the orphan
    flagged = {n["name"]: n["flags"] for n in nodes if n["flags"]}
    sick = demo.fleet.instances[3]
    replaced = demo.fleet.instances[-1]
    assert flagged == {
        sick.node: ["failed-device"],
        replaced.node: ["not-ready", "orphan"],  # the old node object of the replaced instance
        replaced.instance_id: ["not-joined"],  # its replacement, same IP, never joined
    }
    row = _by_name(data)[sick.node]
    assert row["accelerators"] == {"expected": 8, "capacity": 8, "allocatable": 7, "requested": 8}
    assert row["efa"] == {"expected": 32, "capacity": 32, "allocatable": 32, "requested": 32}
    assert row["instance_id"] == sick.instance_id and row["matched_by"] == "provider-id"
    # Finished pods are not counted: nccl-tests pods sit on workers 13 and 14 and ask for 8 GPUs.
    idle = _by_name(data)[demo.fleet.instances[1 + 14].node]
    assert idle["accelerators"]["requested"] == 0
    totals = data["totals"]
    assert totals["accelerators"] == {"expected": 136, "capacity": 128, "allocatable": 127, "requested": 100}
    assert data["instances_complete"] is True and data["instances_source"] == "ListClusterNodes"
    groups = {g["name"]: g for g in data["groups"]}
    assert groups["train-b"]["instances"] == 8 and groups["train-b"]["ready"] == 7


def test_filters(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(cli("ops", "nodes", "-o", "json", "--group", "train-a").out)
    assert {n["group"] for n in data["nodes"]} == {"train-a"} and len(data["nodes"]) == 8
    data = json.loads(cli("ops", "nodes", "-o", "json", "--unhealthy").out)
    assert len(data["nodes"]) == 3
    sick = demo.fleet.instances[3]
    for key in (sick.node, sick.instance_id, sick.ip):
        data = json.loads(cli("ops", "nodes", "-o", "json", "--node", key).out)
        assert [n["name"] for n in data["nodes"]] == [sick.node]


def test_unknown_node_and_group(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    r = cli("ops", "nodes", "--node", "ip-10-9-9-9")
    assert r.code == 3 and r.out == ""
    assert r.err.startswith("error: no node or instance 'ip-10-9-9-9'") and r.err.count("\n") == 1
    r = cli("ops", "nodes", "--group", "nope")
    assert r.code == 3 and "no instance group nope" in r.err


def test_malformed_resource_config(cli, demo: DemoCluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "rc.json"
    bad.write_text('{"ClusterConfig": {"ClusterArn": "arn:aws:sagemaker:us-west-2:1:cluster/x"')
    r = cli("ops", "nodes", "--resource-config", str(bad), "--cluster", "")
    assert r.code == 2 and "is not valid JSON" in r.err and r.err.count("\n") == 1
    assert "ip-10-1-38-142" in r.out  # the Kubernetes side is still shown, HyperPod columns unknown
    bad.write_text('{"InstanceGroups": []}')
    r = cli("ops", "nodes", "--resource-config", str(bad), "--cluster", "")
    assert r.code == 2 and "has no 'ClusterConfig'" in r.err


def test_missing_resource_config(cli, demo: DemoCluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = cli("ops", "nodes", "--resource-config", str(tmp_path / "nope.json"))
    assert r.code == 2 and "resource_config.json not found" in r.err


def test_kubeconfig_missing_or_pointing_nowhere(cli, demo: DemoCluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = cli("ops", "nodes", "--kubeconfig", str(tmp_path / "none"))
    assert r.code == 2 and "does not exist" in r.err and "Traceback" not in r.err
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = json.loads(Path(demo.endpoints.kubeconfig).read_text())
    cfg["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"
    nowhere = tmp_path / "kubeconfig"
    nowhere.write_text(json.dumps(cfg))
    r = cli("ops", "nodes", "--kubeconfig", str(nowhere))
    assert r.code == 5
    assert "cannot reach the Kubernetes API" in r.err and r.err.count("\n") == 1 and r.out == ""


def test_no_kubeconfig_anywhere(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("hyperpod_k8s.clients.cluster.ADMIN_CONF", "/nonexistent/admin.conf")
    r = cli("ops", "nodes", "--cluster", "x", "--region", "us-west-2")
    assert r.code == 2 and "no kubeconfig found" in r.err


def test_access_denied_on_list_cluster_nodes(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    moto_ext.faults["list_cluster_nodes"] = aws_error(
        "AccessDeniedException", "User is not authorized to perform: sagemaker:ListClusterNodes")
    r = cli("ops", "nodes", "-o", "json")
    assert r.code == 4
    assert r.err.startswith("error: ") and "AccessDeniedException" in r.err and r.err.count("\n") == 1
    data = json.loads(r.out)  # the Kubernetes side is still shown, from the offline resource_config
    assert data["instances_source"] == "resource_config.json (offline)"
    assert not any("orphan" in n["flags"] or "not-joined" in n["flags"] for n in data["nodes"])


def test_throttling_then_success(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    calls = {"n": 0}
    throttle = aws_error("ThrottlingException", "Rate exceeded")

    def twice(params: dict) -> None:  # type: ignore[type-arg]
        calls["n"] += 1
        if calls["n"] <= 2:
            throttle(params)

    moto_ext.faults["list_cluster_nodes"] = twice
    r = cli("ops", "nodes", "-o", "json")
    assert r.code == 0, r.err
    assert calls["n"] == 3
    assert any("orphan" in n["flags"] for n in json.loads(r.out)["nodes"])


def test_throttling_forever_gives_up(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    moto_ext.faults["list_cluster_nodes"] = aws_error("ThrottlingException", "Rate exceeded")
    r = cli("ops", "nodes")
    assert r.code == 5 and "throttled" in r.err


def test_listing_failing_half_way_is_incomplete_and_names_no_orphan(cli, demo: DemoCluster, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("hyperpod_k8s.clients.fleet.Fleet.list_instances.__defaults__", (5,))
    fail = aws_error("InternalFailure", "internal error", 500)

    def second_page(params: dict) -> None:  # type: ignore[type-arg]
        if params.get("NextToken"):
            fail(params)

    moto_ext.faults["list_cluster_nodes"] = second_page
    r = cli("ops", "nodes", "-o", "json")
    assert r.code == 6
    assert "stopped after 5 instances" in r.err and r.err.count("\n") == 1
    data = json.loads(r.out)
    assert data["instances_complete"] is False
    assert not any(f in n["flags"] for n in data["nodes"] for f in ("orphan", "not-joined"))


def test_no_aws_credentials(cli, demo: DemoCluster, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    r = cli("ops", "nodes")
    assert r.code == 4 and "no usable AWS credentials" in r.err


def test_unknown_cluster(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    r = cli("ops", "nodes", "--cluster", "no-such-cluster", "-o", "json")
    assert r.code == 3 and "Could not find cluster 'no-such-cluster'" in r.err


def test_sample_resource_config_identity(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    # The sample names a cluster moto does not have: the identity comes from the file, the error says so.
    r = cli("ops", "nodes", "--resource-config", str(DATA / "resource_config.json"), "--cluster", "")
    assert r.code == 3 and "kb8v11zrrpvr" in r.err


def test_verbose_shows_traceback(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    r = cli("-v", "ops", "nodes", "--node", "nope")
    assert r.code == 3 and "Traceback" in r.err
