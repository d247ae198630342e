"""Scale benchmark: the fleet inventory over a 4000-node, 80000-pod cluster, against the naive way.

    python bench/inventory.py                     # full scale: minutes, and ~5 GB for the naive variant
    python bench/inventory.py --pods 20000 --nodes 1000 --skip-naive

A synthetic fleet (objects from hyperpod_k8s.demo.objects, sized like real ones) is served by a small
threaded HTTP server on 127.0.0.1 (bench/fakeapi.py: limit/continue, the terminated-pod field
selector, gzip). Each variant runs in its own subprocess, so its peak RSS (ru_maxrss from wait4) is
its own; wall time is measured around the listing alone (imports and kubeconfig loading excluded):

- inventory: the real code path, ``inventory.build(Sources(Cluster.from_kubeconfig(...)))``;
- floor: the same pages fetched with urllib3 and thrown away (the transfer alone);
- stdlib json: one unpaged GET per list, ``json.loads``, totals folded from the dicts;
- naive: ``CoreV1Api.list_pod_for_all_namespaces()`` + ``list_node()`` into the client's models.

Every variant's totals (pods on nodes, GPUs / Neuron cores / EFA requested) are checked against
what the generator planted.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

ACTIVE = "status.phase!=Succeeded,status.phase!=Failed"
PAGE = 500
TARGET_SPEEDUP = 30.0
TARGET_RSS_MB = 300.0
# A colleague's figures on this kind of machine (2 cores), shown as "reference" in the table; their
# inventory figure is "chunked msgspec decode into small structs", before the gc fix.
REFERENCE = {"naive": (162.0, 4600), "stdlib-json": (14.0, 2900), "inventory": (2.5, 232), "floor": (0.34, None)}

GPU = "nvidia.com/gpu"
NEURON = "aws.amazon.com/neuron"
EFA = "vpc.amazonaws.com/efa"


# -- the synthetic fleet ------------------------------------------------------------------------

def _instance_id(i: int) -> str:
    return "i-0" + hashlib.blake2b(str(i).encode(), digest_size=8).hexdigest()


def _node_plan(n: int) -> list[tuple[str, str, str, str]]:
    """(ip, instance id, type, group) per node: 3 controllers, p5 groups of 500, and a trn1 group."""
    out = []
    trn = n * 15 // 100
    for i in range(n):
        ip = f"10.{1 + i // 60000}.{(i // 240) % 250}.{10 + i % 240}"
        if i < 3:
            itype, group = "ml.m5.2xlarge", "ControllerGroup"
        elif i >= n - trn:
            itype, group = "ml.trn1.32xlarge", "train-trn1"
        else:
            itype, group = "ml.p5.48xlarge", f"train-p5-{(i - 3) // 500}"
        out.append((ip, _instance_id(i), itype, group))
    return out


def _controller_fields(env: int, resources: dict[str, Any]) -> dict[str, Any]:
    """The managedFields entry the Job controller leaves on a pod (its spec, field by field)."""
    envf = {f'k:{{"name":"NCCL_VAR_{i}"}}': {".": {}, "f:name": {}, "f:value": {}} for i in range(env)}
    res = {".": {}, **{f"f:{kind}": {".": {}, **{f"f:{k}": {} for k in vals}} for kind, vals in resources.items()}}
    return {
        "f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app.kubernetes.io/name": {},
                                                          "f:batch.kubernetes.io/controller-uid": {},
                                                          "f:batch.kubernetes.io/job-name": {}},
                       "f:ownerReferences": {".": {}, 'k:{"uid":"5b1f6c7e-3d2a-4c1b-9f0e-8a7d6c5b4a39"}': {}}},
        "f:spec": {
            "f:containers": {'k:{"name":"main"}': {
                ".": {}, "f:args": {}, "f:command": {}, "f:env": {".": {}, **envf}, "f:image": {},
                "f:imagePullPolicy": {}, "f:name": {}, "f:resources": res,
                "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {},
                "f:volumeMounts": {".": {}, 'k:{"mountPath":"/dev/shm"}': {".": {}, "f:mountPath": {}, "f:name": {}},
                                   'k:{"mountPath":"/fsx"}': {".": {}, "f:mountPath": {}, "f:name": {}}}}},
            "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {},
            "f:securityContext": {}, "f:terminationGracePeriodSeconds": {},
            "f:volumes": {".": {}, 'k:{"name":"fsx"}': {".": {}, "f:hostPath": {".": {}, "f:path": {}, "f:type": {}},
                                                        "f:name": {}},
                          'k:{"name":"shm"}': {".": {}, "f:emptyDir": {".": {}, "f:medium": {}, "f:sizeLimit": {}},
                                               "f:name": {}}},
        },
    }


# (name, namespace, env, cpu, memory) of the DaemonSet pods every node runs
_DAEMONS = [("kube-proxy", "kube-system", 2), ("kube-flannel-ds", "kube-flannel", 4),
            ("nvidia-device-plugin-daemonset", "kube-system", 6), ("aws-efa-k8s-device-plugin", "kube-system", 4),
            ("node-exporter", "monitoring", 6)]


class Truth:
    """What the inventory must find: planted while generating."""

    def __init__(self) -> None:
        self.pods_on_nodes = 0
        self.gpu = 0
        self.neuron = 0
        self.efa = 0
        self.terminated = 0

    def as_dict(self) -> dict[str, int]:
        return {"pods": self.pods_on_nodes, "gpu": self.gpu, "neuron": self.neuron, "efa": self.efa}


def generate(n_nodes: int, n_pods: int) -> tuple[list[dict[str, Any]], Iterator[dict[str, Any]], Truth]:
    from hyperpod_k8s.demo.objects import make_node, make_pod, node_name

    now = datetime.now(UTC)
    plan = _node_plan(n_nodes)
    nodes = []
    for k, (ip, iid, itype, group) in enumerate(plan):
        nodes.append(make_node(ip=ip, instance_id=iid, instance_type=itype, group=group, az="us-west-2c",
                               control_plane=group == "ControllerGroup", images=50,
                               gpu_allocatable=7 if k % 97 == 5 and itype == "ml.p5.48xlarge" else None,
                               created=now - timedelta(days=6, minutes=k)))
    truth = Truth()

    def pods() -> Iterator[dict[str, Any]]:
        for j in range(n_pods):
            ip, _iid, itype, group = plan[j % n_nodes]
            node: str | None = node_name(ip)
            layer = j // n_nodes
            accel = NEURON if itype.startswith("ml.trn") else GPU if itype.startswith("ml.p") else None
            kw: dict[str, Any] = {"namespace": "training", "owner_kind": "Job", "env": 16, "cpu": "2",
                                  "memory": "8Gi"}
            gpu = neuron = efa = 0
            if j % 20 == 19:  # 5% finished: they ask for a lot and must count for nothing
                kw.update(phase="Succeeded" if j % 40 == 19 else "Failed", owner_name=f"nccl-tests-{j // 400}")
                gpu = 8
                efa = 32
            elif j % 400 == 7:  # not scheduled yet
                node = None
                kw.update(phase="Pending", owner_name=f"pending-{j}")
                gpu = 8
            elif layer < len(_DAEMONS):
                name, ns, env = _DAEMONS[layer]
                if accel is None and layer in (2, 3):
                    name = "fluent-bit"
                kw.update(namespace=ns, owner_kind="DaemonSet", owner_name=name, env=env, cpu="100m",
                          memory="128Mi", image=f"registry.example/{name}:stable")
            elif layer == len(_DAEMONS) and accel is not None:  # one training worker per accelerated node
                kw.update(owner_name=f"pretrain-{group}", env=16, cpu="180", memory="1800Gi")
                if accel == NEURON:
                    neuron, efa = 16, 8
                else:
                    gpu, efa = 8, 32
            else:  # inference and tooling pods, one GPU now and then
                kw.update(owner_kind="ReplicaSet", owner_name=f"svc-{layer}-{j % 50}", namespace=f"team-{j % 7}",
                          env=10)
                if accel == GPU and j % 3 == 0:
                    gpu = 1
            pod = make_pod(name=f"{kw['owner_name']}-{j:06x}", node=node, gpu=gpu, efa=efa, neuron=neuron,
                           created=now - timedelta(hours=5, seconds=j), **kw)
            spec = pod["spec"]
            requests = spec["containers"][0]["resources"]
            pod["metadata"]["generateName"] = f"{kw['owner_name']}-"
            pod["metadata"]["uid"] = str(hashlib.md5(str(j).encode()).hexdigest())
            pod["metadata"]["resourceVersion"] = str(1_000_000 + j)
            pod["metadata"]["managedFields"].insert(0, {
                "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                "time": pod["metadata"]["creationTimestamp"], "fieldsType": "FieldsV1",
                "fieldsV1": _controller_fields(kw["env"], requests)})
            if j % 11 == 0:  # an init container that asks for less than the main one
                init = dict(spec["containers"][0], name="fetch-data", args=["sync", "s3://bucket/data", "/fsx"])
                init["resources"] = {"requests": {"cpu": "1", "memory": "1Gi"},
                                     **({"limits": {GPU: "1"}} if gpu else {})}
                spec["initContainers"] = [init]
            if kw.get("phase") in ("Succeeded", "Failed"):
                truth.terminated += 1
            elif node is not None:
                truth.pods_on_nodes += 1
                truth.gpu += gpu
                truth.neuron += neuron
                truth.efa += efa
            yield pod

    return nodes, pods(), truth


def build_store(n_nodes: int, n_pods: int) -> tuple[Any, Truth, dict[str, float]]:
    import msgspec

    from fakeapi import Store

    t0 = time.perf_counter()
    nodes, pods, truth = generate(n_nodes, n_pods)
    enc = msgspec.json.Encoder()
    store = Store()
    node_bytes = [enc.encode(n) for n in nodes]
    store.add("/api/v1/nodes", "NodeList", ((b, {}) for b in node_bytes))
    del nodes

    def pod_entries() -> Iterator[tuple[bytes, dict[str, str]]]:
        for p in pods:
            yield enc.encode(p), {"status.phase": p["status"]["phase"], "spec.nodeName": p["spec"].get("nodeName", "")}

    store.add("/api/v1/pods", "PodList", pod_entries())
    pod_sizes = [len(b) for b in store.kinds["/api/v1/pods"].objects]
    stats = {
        "generate_s": time.perf_counter() - t0,
        "node_avg": statistics.fmean(len(b) for b in node_bytes),
        "pod_avg": statistics.fmean(pod_sizes),
        "pods_mb": sum(pod_sizes) / 1e6,
        "nodes_mb": sum(len(b) for b in node_bytes) / 1e6,
    }
    return store, truth, stats


# -- the variants (each in its own process) -------------------------------------------------------

def _vm(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class GcProbe:
    """The longest garbage-collector pause, and how many collections of each generation ran."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_gen = -1
        self.counts = [0, 0, 0]
        self.total = 0.0
        self._t = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
            return
        d = time.perf_counter() - self._t
        gen = info["generation"]
        self.counts[gen] += 1
        self.total += d
        if d > self.longest:
            self.longest, self.longest_gen = d, gen

    def as_dict(self) -> dict[str, Any]:
        return {"gc_longest_s": self.longest, "gc_longest_gen": self.longest_gen, "gc_counts": self.counts,
                "gc_total_s": self.total}


def _totals_from_rows(inv: Any) -> dict[str, int]:
    out = {"pods": 0, "gpu": 0, "neuron": 0, "efa": 0}
    for r in inv.rows:
        out["pods"] += r.pods
        out["efa"] += r.efa.requested
        out["neuron" if r.accel_resource == NEURON else "gpu"] += r.accel.requested
    return out


def child_inventory(kubeconfig: str, use_gzip: bool) -> dict[str, Any]:
    from hyperpod_k8s.clients.cluster import Cluster
    from hyperpod_k8s.ops.inventory import Sources, build

    cluster = Cluster.from_kubeconfig(kubeconfig, gzip=use_gzip)
    cluster.version()  # connect once, outside the timing
    base = _vm("VmRSS")
    probe = GcProbe()
    t0 = time.perf_counter()
    inv = build(Sources(cluster))
    wall = time.perf_counter() - t0
    gc.callbacks.remove(probe)
    tracked = len(gc.get_objects())
    t1 = time.perf_counter()
    gc.collect()  # what the next full collection costs the program that holds this inventory
    full = time.perf_counter() - t1
    return {"wall": wall, "base_rss_mb": base, "totals": _totals_from_rows(inv), "rows": len(inv.rows),
            "tracked_objects": tracked, "full_gc_after_s": full, "frozen": gc.get_freeze_count(),
            **probe.as_dict()}


def _floor_pages(base: str, path: str, selector: str | None, use_gzip: bool, http: Any) -> int:
    cont: str | None = None
    wire = 0
    while True:
        fields: dict[str, Any] = {"limit": PAGE}
        if selector:
            fields["fieldSelector"] = selector
        if cont:
            fields["continue"] = cont
        headers = {"Accept": "application/json", **({"Accept-Encoding": "gzip"} if use_gzip else {})}
        r = http.request("GET", base + path, fields=fields, headers=headers, preload_content=False)
        body = r.read(decode_content=False)
        wire += len(body)
        if r.status != 200:
            raise RuntimeError(f"{path}: HTTP {r.status}")
        if r.headers.get("Content-Encoding") == "gzip":
            import zlib

            head = zlib.decompressobj(31).decompress(body, 400)
        else:
            head = body[:400]
        m = re.search(rb'"continue":"([^"]+)"', head)
        del body
        if not m:
            return wire
        cont = m[1].decode()


def child_floor(server: str, use_gzip: bool) -> dict[str, Any]:
    import urllib3

    http = urllib3.PoolManager()
    http.request("GET", server + "/version/")
    base = _vm("VmRSS")
    t0 = time.perf_counter()
    wire = _floor_pages(server, "/api/v1/nodes", None, use_gzip, http)
    wire += _floor_pages(server, "/api/v1/pods", ACTIVE, use_gzip, http)
    return {"wall": time.perf_counter() - t0, "base_rss_mb": base, "wire_bytes": wire}


def _fold_dicts(pods: list[dict[str, Any]]) -> dict[str, int]:
    out = {"pods": 0, "gpu": 0, "neuron": 0, "efa": 0}

    def req(c: dict[str, Any], res: str) -> int:
        r = c.get("resources") or {}
        v = (r.get("requests") or {}).get(res)
        if v is None:
            v = (r.get("limits") or {}).get(res)
        return int(v or 0)

    for p in pods:
        if not p["spec"].get("nodeName") or p["status"].get("phase") in ("Succeeded", "Failed"):
            continue
        out["pods"] += 1
        for res, key in ((GPU, "gpu"), (NEURON, "neuron"), (EFA, "efa")):
            total = sum(req(c, res) for c in p["spec"].get("containers") or [])
            for c in p["spec"].get("initContainers") or []:
                total = max(total, req(c, res))
            out[key] += total
    return out


def child_json(server: str) -> dict[str, Any]:
    import urllib3

    http = urllib3.PoolManager()
    http.request("GET", server + "/version/")
    base = _vm("VmRSS")
    t0 = time.perf_counter()
    nodes = json.loads(http.request("GET", server + "/api/v1/nodes").data)["items"]
    pods = json.loads(http.request("GET", server + "/api/v1/pods", fields={"fieldSelector": ACTIVE}).data)["items"]
    totals = _fold_dicts(pods)
    return {"wall": time.perf_counter() - t0, "base_rss_mb": base, "totals": totals, "rows": len(nodes)}


def child_naive(kubeconfig: str) -> dict[str, Any]:
    from kubernetes import client, config

    config.load_kube_config(kubeconfig)
    v1 = client.CoreV1Api()
    client.VersionApi(v1.api_client).get_code()  # connect once, outside the timing
    base = _vm("VmRSS")
    t0 = time.perf_counter()
    pods = v1.list_pod_for_all_namespaces(field_selector=ACTIVE)
    nodes = v1.list_node()
    out = {"pods": 0, "gpu": 0, "neuron": 0, "efa": 0}

    def req(c: Any, res: str) -> int:
        r = c.resources
        v = (r.requests or {}).get(res) if r else None
        if v is None and r is not None:
            v = (r.limits or {}).get(res)
        return int(v or 0)

    for p in pods.items:
        if not p.spec.node_name or p.status.phase in ("Succeeded", "Failed"):
            continue
        out["pods"] += 1
        for res, key in ((GPU, "gpu"), (NEURON, "neuron"), (EFA, "efa")):
            total = sum(req(c, res) for c in p.spec.containers or [])
            for c in p.spec.init_containers or []:
                total = max(total, req(c, res))
            out[key] += total
    return {"wall": time.perf_counter() - t0, "base_rss_mb": base, "totals": out, "rows": len(nodes.items)}


def child_main(args: argparse.Namespace) -> None:
    if args.child == "inventory":
        res = child_inventory(args.kubeconfig, args.gzip)
    elif args.child == "floor":
        res = child_floor(args.server, args.gzip)
    elif args.child == "stdlib-json":
        res = child_json(args.server)
    elif args.child == "naive":
        res = child_naive(args.kubeconfig)
    else:
        raise SystemExit(f"unknown variant {args.child}")
    res["vmhwm_mb"] = _vm("VmHWM")
    print("RESULT " + json.dumps(res), flush=True)


# -- the parent: serve, run, report -------------------------------------------------------------

def run_variant(name: str, args: argparse.Namespace, server: str, kubeconfig: str,
                use_gzip: bool = False, store: Any = None) -> dict[str, Any]:
    """One variant in a fresh interpreter; its peak RSS is the VmHWM it reports at the end.

    (Not wait4's ru_maxrss: Linux carries the pre-exec address space's high-water mark into it, and
    with posix_spawn/vfork that is this parent's, which holds the whole serialized fleet.)
    """
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--server", server,
            "--kubeconfig", kubeconfig]
    if use_gzip:
        argv.append("--gzip")
    if store is not None:
        store.bytes_sent = 0
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    res: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
    if proc.returncode != 0 or not res:
        raise SystemExit(f"variant {name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    res["process_s"] = elapsed
    res["peak_rss_mb"] = res["vmhwm_mb"]
    if store is not None:
        res["wire_mb"] = store.bytes_sent / 1e6
    return res


def _median_run(name: str, repeat: int, *a: Any, **kw: Any) -> dict[str, Any]:
    runs = [run_variant(name, *a, **kw) for _ in range(repeat)]
    runs.sort(key=lambda r: r["wall"])
    med = dict(runs[len(runs) // 2])
    med["walls"] = [r["wall"] for r in runs]
    med["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return med


def write_kubeconfig(server: str, directory: str) -> str:
    path = Path(directory) / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "bench", "cluster": {"server": server}}],
        "users": [{"name": "bench", "user": {"token": "bench-token"}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
        "current-context": "bench",
    }))
    return str(path)


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python bench/inventory.py",
        description="Time and peak RSS of the fleet inventory over a synthetic cluster served on 127.0.0.1, "
                    "side by side with the naive kubernetes-client way and the bare transfer of the same bytes.",
        epilog=f"Targets: inventory at least {TARGET_SPEEDUP:.0f}x faster than the naive way, peak RSS under "
               f"{TARGET_RSS_MB:.0f} MB. The full-scale naive variant takes minutes and several GB.")
    p.add_argument("--nodes", type=int, default=4000, help="Kubernetes nodes (default: 4000).")
    p.add_argument("--pods", type=int, default=80000, help="pods, 5%% of them finished (default: 80000).")
    p.add_argument("--skip-naive", action="store_true",
                   help="skip the slow variants (client models; stdlib json); no speed-up ratio then.")
    p.add_argument("--no-gzip", action="store_true", help="skip the gzip measurements.")
    p.add_argument("--repeat", type=int, default=3, help="runs of the fast variants; the median is shown (default 3).")
    p.add_argument("--json", metavar="FILE", help="also write all figures as JSON to FILE.")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--server", help=argparse.SUPPRESS)
    p.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    p.add_argument("--gzip", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child_main(args)
        return 0

    from fakeapi import FakeApiServer

    print(f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    print(f"generating {args.nodes} nodes and {args.pods} pods ...", flush=True)
    store, truth, stats = build_store(args.nodes, args.pods)
    print(f"  {stats['generate_s']:.1f} s; node {stats['node_avg'] / 1024:.1f} KiB avg "
          f"({stats['nodes_mb']:.0f} MB), pod {stats['pod_avg'] / 1024:.1f} KiB avg "
          f"({stats['pods_mb']:.0f} MB of pod JSON), {truth.terminated} finished pods", flush=True)
    wire: dict[str, float] = {}
    t0 = time.perf_counter()
    for gz in ([False] if args.no_gzip else [False, True]):
        total = store.prerender("/api/v1/nodes", "", PAGE, gz) + store.prerender("/api/v1/pods", ACTIVE, PAGE, gz)
        wire["gzip" if gz else "identity"] = total / 1e6
    print(f"  pages rendered in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{k} {v:.0f} MB on the wire" for k, v in wire.items()), flush=True)
    gc.collect()
    gc.freeze()  # the parent's store is big and immortal: keep the collector off it while serving

    results: dict[str, dict[str, Any]] = {}
    with FakeApiServer(store) as srv, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = write_kubeconfig(srv.url, tmp)
        common = (args, srv.url, kubeconfig)
        plan: list[tuple[str, str, bool, int]] = [("floor", "floor", False, args.repeat),
                                                  ("inventory", "inventory", False, args.repeat)]
        if not args.no_gzip:
            plan += [("floor gzip", "floor", True, args.repeat), ("inventory gzip", "inventory", True, args.repeat)]
        if not args.skip_naive:
            plan += [("stdlib-json", "stdlib-json", False, 1), ("naive", "naive", False, 1)]
        for label, variant, gz, repeat in plan:
            print(f"running {label} ...", flush=True)
            results[label] = _median_run(variant, repeat, *common, use_gzip=gz, store=store)
            r = results[label]
            print(f"  {r['wall']:.2f} s (runs: {', '.join(f'{w:.2f}' for w in r['walls'])}), "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)

    return report(args, results, truth, stats, wire)


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]], truth: Truth,
           stats: dict[str, float], wire: dict[str, float]) -> int:
    inv = results["inventory"]
    naive = results.get("naive")
    print()
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
          "(other work on the machine slows every variant)")
    print(f"Fleet: {args.nodes} nodes ({stats['node_avg'] / 1024:.1f} KiB each), {args.pods} pods "
          f"({stats['pod_avg'] / 1024:.1f} KiB each, {stats['pods_mb']:.0f} MB), page size {PAGE}; "
          f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    print()
    head = f"{'variant':<16} {'wall s':>8} {'peak RSS MB':>12} {'RSS at start':>13} {'wire MB':>8} " \
           f"{'vs inventory':>13} {'reference':>14}  totals"
    print(head)
    print("-" * len(head))
    for label, r in results.items():
        ok = "-"
        if "totals" in r:
            ok = "correct" if r["totals"] == truth.as_dict() else f"WRONG {r['totals']} != {truth.as_dict()}"
        ratio = r["wall"] / inv["wall"]
        ref = REFERENCE.get(label)
        ref_s = f"{ref[0]:g} s/{_fmt(ref[1], '.0f')} MB" if ref else ""
        print(f"{label:<16} {r['wall']:>8.2f} {r['peak_rss_mb']:>12.0f} {r['base_rss_mb']:>13.0f} "
              f"{_fmt(r.get('wire_mb'), '.0f'):>8} {ratio:>12.1f}x {ref_s:>14}  {ok}")
    print("reference: a colleague's figures at 4000 nodes / 80000 pods on a 2-core machine (inventory: "
          "chunked msgspec decode, before the gc_paused fix)")
    print()
    print(f"gc during the inventory build: longest pause {inv['gc_longest_s'] * 1000:.1f} ms "
          f"(generation {inv['gc_longest_gen']}), collections per generation {inv['gc_counts']}, "
          f"total {inv['gc_total_s'] * 1000:.0f} ms; afterwards {inv['tracked_objects']} tracked objects, "
          f"a full collection takes {inv['full_gc_after_s'] * 1000:.1f} ms (frozen: {inv['frozen']})")
    if "inventory gzip" in results:
        g = results["inventory gzip"]
        print(f"gzip vs identity on loopback: inventory {g['wall']:.2f} s vs {inv['wall']:.2f} s "
              f"({(g['wall'] / inv['wall'] - 1) * 100:+.0f}%), peak RSS {g['peak_rss_mb']:.0f} vs "
              f"{inv['peak_rss_mb']:.0f} MB; wire {wire['gzip']:.0f} MB vs {wire['identity']:.0f} MB "
              f"({wire['identity'] / wire['gzip']:.1f}x smaller)")
    print()
    checks: list[tuple[str, bool | None, str]] = []
    if naive is not None:
        speed = naive["wall"] / inv["wall"]
        checks.append((f"inventory >= {TARGET_SPEEDUP:.0f}x faster than naive", speed >= TARGET_SPEEDUP,
                       f"{speed:.1f}x ({naive['wall']:.1f} s / {inv['wall']:.2f} s)"))
    else:
        checks.append((f"inventory >= {TARGET_SPEEDUP:.0f}x faster than naive", None, "naive skipped"))
    checks.append((f"inventory peak RSS < {TARGET_RSS_MB:.0f} MB", inv["peak_rss_mb"] < TARGET_RSS_MB,
                   f"{inv['peak_rss_mb']:.0f} MB"))
    checks.append(("inventory totals match the planted fleet", inv["totals"] == truth.as_dict(),
                   json.dumps(inv["totals"])))
    failed = False
    for what, ok, detail in checks:
        verdict = "SKIP" if ok is None else "PASS" if ok else "FAIL"
        failed |= ok is False
        print(f"{verdict:<5} {what}: {detail}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "truth": truth.as_dict(), "fleet": stats,
                                               "wire_mb": wire, "nodes": args.nodes, "pods": args.pods},
                                              indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
