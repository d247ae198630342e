"""Operator workflows end to end against the emulators (Kubernetes over HTTP, moto's SageMaker and
Secrets Manager over HTTP), plus the fault cases an operator meets."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import boto3
import pytest

from conftest import aws_error
from hyperpod_k8s.bootstrap.host import CommandResult, RecordingHost
from hyperpod_k8s.clients.cluster import Cluster
from hyperpod_k8s.clients.fleet import Fleet
from hyperpod_k8s.clients.retry import RetryPolicy
from hyperpod_k8s.demo import moto_ext
from hyperpod_k8s.demo.objects import make_node
from hyperpod_k8s.demo.server import DemoCluster
from hyperpod_k8s.errors import ConflictError, IncompleteError, TimeoutExpired
from hyperpod_k8s.hyperpod import load_resource_config
from hyperpod_k8s.ops import workflows
from hyperpod_k8s.ops.audit import AuditLog
from hyperpod_k8s.ops.context import OpsContext
from hyperpod_k8s.ops.events import Cancelled, Event, Kind

FAST = RetryPolicy(delays=(0.01, 0.01))


def make_ctx(demo: DemoCluster, tmp_path: Path, host: RecordingHost | None = None) -> OpsContext:
    ep = demo.endpoints
    assert ep is not None
    rc = load_resource_config(ep.resource_config)
    return OpsContext(
        cluster=Cluster.from_kubeconfig(ep.kubeconfig, retry=FAST), identity=rc.identity,
        fleet_factory=lambda: Fleet(ep.cluster, region=ep.region, retry=FAST), resource_config=rc,
        host=host or RecordingHost(), audit=AuditLog(str(tmp_path / "audit.jsonl"), "tester@test"),
        poll_seconds=0.05, state_dir=str(tmp_path / "state"),
    )


class Events(list[Event]):
    def __call__(self, e: Event) -> None:
        self.append(e)

    def text(self) -> str:
        return "\n".join(e.message for e in self)


def node(demo: DemoCluster, name: str) -> dict | None:  # type: ignore[type-arg]
    return demo.get("v1/nodes", None, name)


def pods_on(demo: DemoCluster, ctx: OpsContext, name: str) -> list[str]:
    return [p.key for p in ctx.cluster.list_pods(node=name)]


@pytest.fixture
def ctx(demo: DemoCluster, tmp_path: Path) -> OpsContext:
    return make_ctx(demo, tmp_path)


# -- cordon / drain / delete -------------------------------------------------------------------

def test_cordon_records_who_why_when_and_uncordon_clears(demo: DemoCluster, ctx: OpsContext) -> None:
    name = demo.fleet.instances[1].node
    ev = Events()
    out = workflows.apply(ctx, workflows.plan(ctx, "cordon", [name], reason="bad NCCL bandwidth"), ev)
    assert out.ok
    n = node(demo, name)
    assert n["spec"]["unschedulable"] is True
    ann = n["metadata"]["annotations"]
    assert ann["hyperpod-k8s/cordoned-by"] == "tester@test"
    assert ann["hyperpod-k8s/cordon-reason"] == "bad NCCL bandwidth"
    assert "hyperpod-k8s/cordoned-at" in ann
    workflows.apply(ctx, workflows.plan(ctx, "uncordon", [name]), ev)
    n = node(demo, name)
    assert not n["spec"].get("unschedulable")
    assert "hyperpod-k8s/cordoned-by" not in n["metadata"]["annotations"]
    assert [e["action"] for e in ctx.audit.entries()] == ["cordon", "uncordon"]


def test_drain_evicts_workloads_and_leaves_daemonsets(demo: DemoCluster, ctx: OpsContext) -> None:
    name = demo.fleet.instances[1].node  # runs a training pod, coredns and four DaemonSet pods
    before = pods_on(demo, ctx, name)
    assert any("llama3" in p for p in before) and any("coredns" in p for p in before)
    p = workflows.plan(ctx, "drain", [name])
    assert p.targets[0].detail.startswith("2 pods to evict (8 GPUs)")
    ev = Events()
    out = workflows.apply(ctx, p, ev)
    assert out.ok and out.done == [name]
    left = pods_on(demo, ctx, name)
    assert left and all(k.split("/")[1].startswith(("kube-proxy", "kube-flannel", "nvidia-device", "aws-efa"))
                        for k in left)
    assert node(demo, name)["spec"]["unschedulable"] is True
    assert any(e.kind == Kind.PROGRESS and "2 pods left" in e.message for e in ev)


def test_drain_by_instance_id_and_ip(demo: DemoCluster, ctx: OpsContext) -> None:
    inst = demo.fleet.instances[2]
    assert workflows.plan(ctx, "drain", [inst.instance_id]).targets[0].node == inst.node
    assert workflows.plan(ctx, "drain", [inst.ip]).targets[0].node == inst.node


def _pdb(demo: DemoCluster, name: str, job: str, min_available: int = 1) -> None:
    demo.put("policy/v1/poddisruptionbudgets", {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "training"},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"job-name": job}}}})


def test_pdb_blocks_then_releases(demo: DemoCluster, ctx: OpsContext) -> None:
    target = demo.fleet.instances[13].node  # the mixtral fine-tune pod runs here, alone in its job
    _pdb(demo, "mixtral-pdb", "mixtral-finetune")
    ev = Events()
    released = threading.Event()

    def watch(e: Event) -> None:
        ev(e)
        if "blocked by PodDisruptionBudget mixtral-pdb" in e.message and not released.is_set():
            released.set()
            # the operator (or the job) lets go: the budget is removed
            ctx.cluster.request("DELETE", "/apis/policy/v1/namespaces/training/poddisruptionbudgets/mixtral-pdb")

    out = workflows.apply(ctx, workflows.plan(ctx, "drain", [target], timeout=30), watch)
    assert released.is_set(), ev.text()
    assert out.ok, out.failed
    assert not any("mixtral" in p for p in pods_on(demo, ctx, target))


def test_drain_timeout_names_remaining_pods_and_keeps_cordon(demo: DemoCluster, ctx: OpsContext) -> None:
    target = demo.fleet.instances[13].node
    _pdb(demo, "mixtral-pdb", "mixtral-finetune")
    out = workflows.apply(ctx, workflows.plan(ctx, "drain", [target], timeout=0.5), Events())
    assert not out.ok
    err = out.errors[target]
    assert isinstance(err, TimeoutExpired)
    assert "training/mixtral-finetune-worker-0" in err.message and "mixtral-pdb" in err.message
    assert "stays cordoned" in (err.hint or "")
    assert node(demo, target)["spec"]["unschedulable"] is True
    assert any("mixtral" in p for p in pods_on(demo, ctx, target))


def test_two_pdbs_matching_is_a_plain_error(demo: DemoCluster, ctx: OpsContext) -> None:
    target = demo.fleet.instances[13].node
    _pdb(demo, "one", "mixtral-finetune", 0)
    _pdb(demo, "two", "mixtral-finetune", 0)
    out = workflows.apply(ctx, workflows.plan(ctx, "drain", [target], timeout=20), Events())
    assert not out.ok
    assert "more than one PodDisruptionBudget" in out.failed[target]


def test_drain_refuses_unmanaged_pods_without_force(demo: DemoCluster, ctx: OpsContext) -> None:
    from hyperpod_k8s.demo.objects import make_pod

    target = demo.fleet.instances[4].node
    demo.put("v1/pods", make_pod(name="debug-shell", namespace="default", node=target, owner_kind=""))
    with pytest.raises(ConflictError, match=r"debug-shell.*--force"):
        workflows.plan(ctx, "drain", [target])
    assert not node(demo, target)["spec"].get("unschedulable")  # nothing changed
    out = workflows.apply(ctx, workflows.plan(ctx, "drain", [target], force=True), Events())
    assert out.ok and not any("debug-shell" in p for p in pods_on(demo, ctx, target))


def test_delete_drains_then_deletes_and_refuses_control_plane(demo: DemoCluster, ctx: OpsContext) -> None:
    with pytest.raises(ConflictError, match="control-plane"):
        workflows.plan(ctx, "delete", [demo.fleet.instances[0].node])
    target = demo.fleet.instances[5].node
    out = workflows.apply(ctx, workflows.plan(ctx, "delete", [target]), Events())
    assert out.ok and node(demo, target) is None


# -- replace / reboot / scale ------------------------------------------------------------------

def test_replace_end_to_end(demo: DemoCluster, ctx: OpsContext) -> None:
    sick = demo.fleet.instances[3]  # the node whose GPU fell off the bus
    p = workflows.plan(ctx, "replace", [sick.node], wait_timeout=30)
    assert any("DESTROYS" in w and sick.instance_id in w for w in p.warnings)
    ev = Events()
    out = workflows.apply(ctx, p, ev)
    assert out.ok, out.failed
    d = out.details[sick.node]
    assert d["old_instance"] == sick.instance_id and d["new_instance"] != sick.instance_id
    n = ctx.cluster.get_node(d["new_node"])
    assert d["new_instance"] in (n.spec.providerID or "") and n.condition("Ready").status == "True"
    assert n.status.allocatable["nvidia.com/gpu"] == "8"  # new hardware
    ids = {i.instance_id for i in ctx.fleet().list_instances().instances}
    assert sick.instance_id not in ids and d["new_instance"] in ids
    audit = [e for e in ctx.audit.entries() if e["action"] in ("replace", "replace-request")]
    assert audit and audit[-1]["result"] == "ok" and audit[0]["aws_request_ids"][0]
    assert not list(Path(ctx.state_dir or "").glob("replace-*.json"))  # state cleaned up


def test_replace_refuses_controller_and_orphan(demo: DemoCluster, ctx: OpsContext) -> None:
    with pytest.raises(ConflictError, match="controller"):
        workflows.plan(ctx, "replace", [demo.fleet.instances[0].node])
    with pytest.raises(ConflictError, match="orphans"):
        workflows.plan(ctx, "replace", [demo.fleet.orphan_nodes[0]["metadata"]["name"]])


def test_replace_interrupted_after_the_api_call_resumes(demo: DemoCluster, ctx: OpsContext, tmp_path: Path) -> None:
    target = demo.fleet.instances[6]
    cancel = threading.Event()
    ev = Events()

    def stop_after_request(e: Event) -> None:
        ev(e)
        if e.step == "replace" and e.kind == Kind.FINISHED:
            cancel.set()  # the operator's session drops right after HyperPod accepted the request

    with pytest.raises(Cancelled):
        workflows.apply(ctx, workflows.plan(ctx, "replace", [target.node], wait_timeout=30), stop_after_request,
                        cancel)
    states = list((tmp_path / "state").glob("replace-*.json"))
    assert len(states) == 1 and json.loads(states[0].read_text())["phase"] == "requested"

    ctx2 = make_ctx(demo, tmp_path)  # a new session, the same command
    p = workflows.plan(ctx2, "replace", [target.node], wait_timeout=30)
    assert p.targets[0].detail == "resuming: requested"
    assert not any(s.startswith(("drain", "delete the node", "ask HyperPod")) for s in p.steps)
    ev2 = Events()
    out = workflows.apply(ctx2, p, ev2)
    assert out.ok, out.failed
    assert not any(e.step == "replace" for e in ev2)  # not asked twice
    assert out.details[target.node]["old_instance"] == target.instance_id


def test_replace_falls_back_to_slurm(demo: DemoCluster, tmp_path: Path) -> None:
    moto_ext.faults["batch_replace_cluster_nodes"] = aws_error(
        "AccessDeniedException", "not authorized to perform sagemaker:BatchReplaceClusterNodes")
    target = demo.fleet.instances[7]

    def scontrol(argv: tuple[str, ...]) -> CommandResult:
        # Slurm's Action:Replace makes HyperPod replace the instance; play that part in moto.
        moto_ext.batch_nodes(demo.sagemaker, "k8s-demo", [target.instance_id], "replace")
        return CommandResult(argv, 0)

    host = RecordingHost(commands={("scontrol", "update"): scontrol})
    ctx = make_ctx(demo, tmp_path, host)
    ev = Events()
    out = workflows.apply(ctx, workflows.plan(ctx, "replace", [target.node], wait_timeout=30), ev)
    assert out.ok, out.failed
    assert host.ran == [("scontrol", "update", f"node={target.node}", "state=fail", "reason=Action:Replace")]
    assert "falling back to Slurm" in ev.text()


def test_reboot_waits_for_ready_and_uncordons(demo: DemoCluster, ctx: OpsContext) -> None:
    target = demo.fleet.instances[9]
    ev = Events()
    out = workflows.apply(ctx, workflows.plan(ctx, "reboot", [target.node], wait_timeout=30), ev)
    assert out.ok, out.failed
    n = ctx.cluster.get_node(target.node)
    assert not n.spec.unschedulable and n.condition("Ready").status == "True"
    assert "Ready again" in ev.text()


def test_scale_up_refreshes_token_and_raises_count(demo: DemoCluster, ctx: OpsContext) -> None:
    p = workflows.plan(ctx, "scale-up", [], group="train-a", count=10)
    out = workflows.apply(ctx, p, Events())
    assert out.ok, out.failed
    groups = {g.name: g for g in ctx.fleet().describe_cluster().groups}
    assert groups["train-a"].target == 10 and groups["train-a"].current == 10
    with pytest.raises(Exception, match="not more"):
        workflows.plan(ctx, "scale-up", [], group="train-a", count=3)


def test_scale_down_deletes_instance_and_node(demo: DemoCluster, ctx: OpsContext) -> None:
    target = demo.fleet.instances[10]
    out = workflows.apply(ctx, workflows.plan(ctx, "scale-down", [target.node]), Events())
    assert out.ok, out.failed
    assert node(demo, target.node) is None
    assert target.instance_id not in {i.instance_id for i in ctx.fleet().list_instances().instances}


# -- orphans -----------------------------------------------------------------------------------

def test_orphans_finds_exactly_the_planted_one_over_many_pages(demo: DemoCluster, ctx: OpsContext) -> None:
    cluster = demo.sagemaker.clusters["k8s-demo"]
    group = cluster.instance_groups[1]
    for _ in range(110):  # more than one page of ListClusterNodes (100)
        moto_ext.add_node(demo.sagemaker, cluster, group)
    p = workflows.plan(ctx, "orphans", [])
    orphan = demo.fleet.orphan_nodes[0]["metadata"]["name"]
    assert [t.node for t in p.targets] == [orphan]
    # the replacement instance reuses the orphan's IP: it is not-joined, not a match for the old node
    out = workflows.apply(ctx, p, Events())
    assert out.done == [orphan] and node(demo, orphan) is None
    assert len(ctx.cluster.list_nodes()) == 16


def test_orphans_listing_failing_half_way_deletes_nothing(demo: DemoCluster, ctx: OpsContext) -> None:
    cluster = demo.sagemaker.clusters["k8s-demo"]
    for _ in range(110):
        moto_ext.add_node(demo.sagemaker, cluster, cluster.instance_groups[1])
    fail = aws_error("InternalFailure", "boom", 500)
    moto_ext.faults["list_cluster_nodes"] = lambda params: fail(params) if params.get("NextToken") else None
    with pytest.raises(IncompleteError, match="cannot judge orphans"):
        workflows.plan(ctx, "orphans", [])
    assert node(demo, demo.fleet.orphan_nodes[0]["metadata"]["name"]) is not None


def test_ready_node_without_instance_is_not_deleted(demo: DemoCluster, ctx: OpsContext) -> None:
    ghost = make_node(ip="10.1.77.7", instance_id="i-0deadbeefdeadbeef", instance_type="ml.p5.48xlarge",
                      group="train-a")
    demo.put("v1/nodes", ghost)
    p = workflows.plan(ctx, "orphans", [])
    assert "ip-10-1-77-7" not in [t.node for t in p.targets]
    assert any("ip-10-1-77-7" in w and "Ready" in w for w in p.warnings)


def test_recent_notready_orphan_waits_for_grace(demo: DemoCluster, ctx: OpsContext) -> None:
    p = workflows.plan(ctx, "orphans", [], grace="2h")  # the planted orphan went away 42 minutes ago
    assert p.targets == [] and any("grace" in w for w in p.warnings)


# -- token -------------------------------------------------------------------------------------

def test_token_refresh_updates_the_secret_and_the_cluster(demo: DemoCluster, ctx: OpsContext) -> None:
    from hyperpod_k8s.join_info import JoinInfo

    before = JoinInfo.from_secret(ctx.fleet().get_secret_json("hyperpod-k8s-k8s-demo") or {})
    out = workflows.apply(ctx, workflows.plan(ctx, "token-refresh", [], ttl="12h"), Events())
    assert out.ok
    after = JoinInfo.from_secret(ctx.fleet().get_secret_json("hyperpod-k8s-k8s-demo") or {})
    assert after.token != before.token and after.ca_cert_hashes == before.ca_cert_hashes
    assert after.endpoint == "10.1.113.28:6443"
    secret = demo.get("v1/secrets", "kube-system", f"bootstrap-token-{after.token_id}")
    assert secret is not None and secret["type"] == "bootstrap.kubernetes.io/token"
    import base64

    assert base64.b64decode(secret["data"]["token-secret"]).decode() == after.token.split(".")[1]
    assert base64.b64decode(secret["data"]["auth-extra-groups"]) == b"system:bootstrappers:kubeadm:default-node-token"


def test_token_refresh_reads_the_original_samples_keys(demo: DemoCluster, ctx: OpsContext) -> None:
    sm = ctx.fleet().secrets
    sm.put_secret_value(SecretId="hyperpod-k8s-k8s-demo", SecretString=json.dumps({
        "master_addr_port": "10.1.113.28:6443", "token": "abcdef.0123456789abcdef",
        "discovery_token_ca_cert_hash": "sha256:" + "ab" * 32}))
    p = workflows.plan(ctx, "token-refresh", [], if_expiring_within="6h")  # no expiry known: refresh
    assert p.targets and "abcdef.****************" in p.steps[-1]


# -- the CLI -----------------------------------------------------------------------------------

def test_cli_refuses_without_tty_and_yes(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    target = demo.fleet.instances[2].node
    for args in (["ops", "drain", target], ["ops", "replace", target], ["orphans"]):
        r = cli(*args)
        assert r.code == 8, (args, r.err)
        assert "stdin is not a terminal" in r.err and "--yes" in r.err
    assert not node(demo, target)["spec"].get("unschedulable")


def test_cli_orphans_exit_codes(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    r = cli("orphans", "--dry-run", "-o", "json")
    assert r.code == 10
    plan = json.loads(r.out.splitlines()[0])["plan"]
    assert [t["node"] for t in plan["targets"]] == [demo.fleet.orphan_nodes[0]["metadata"]["name"]]
    r = cli("orphans", "--yes")
    assert r.code == 11 and "deleted orphan node" in r.err
    r = cli("orphans", "--yes")
    assert r.code == 0


def test_cli_replace_demo_ends_with_a_new_ready_node(cli, demo: DemoCluster, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HPK8S_POLL_SECONDS", "0.1")
    target = demo.fleet.instances[3]
    r = cli("ops", "replace", target.node, "--yes", "-o", "json", "--wait-timeout", "30")
    assert r.code == 0, r.err
    outcome = json.loads(r.out.splitlines()[-1])["outcome"]
    assert outcome["ok"] and outcome["details"][target.node]["new_instance"] != target.instance_id


def test_cli_bad_input(cli, demo: DemoCluster) -> None:  # type: ignore[no-untyped-def]
    r = cli("ops", "drain", "ip-10-9-9-9", "--yes")
    assert r.code == 3 and r.err.startswith("error: no node 'ip-10-9-9-9'")
    r = cli("ops", "delete", demo.fleet.instances[0].node, "--yes")
    assert r.code == 9
    r = cli("ops", "token", "refresh", "--ttl", "soon")
    assert r.code == 2 and "not a duration" in r.err
    r = cli("ops", "scale-up", "--group", "nope", "--count", "3", "--yes")
    assert r.code == 3


def test_token_never_in_output_or_logs(cli, demo: DemoCluster, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HPK8S_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    outputs = []
    for args in (["ops", "token", "refresh"], ["ops", "token", "refresh", "-o", "json"], ["ops", "token", "show"],
                 ["ops", "token", "show", "-o", "json"], ["-v", "ops", "token", "refresh", "--ttl", "2h"]):
        r = cli(*args)
        assert r.code == 0, r.err
        outputs.append(r.out + r.err)
    sm = boto3.client("secretsmanager", region_name="us-west-2", endpoint_url=demo.endpoints.aws_endpoint)
    token = json.loads(sm.get_secret_value(SecretId="hyperpod-k8s-k8s-demo")["SecretString"])["token"]
    secret_part = token.split(".")[1]
    audit = (tmp_path / "audit.jsonl").read_text()
    assert audit.count("token-refresh") == 3
    for text in [*outputs, audit]:
        assert secret_part not in text
    assert token.split(".")[0] + ".****************" in outputs[-1]  # the last refresh names it, masked
