"""The embedded demo cluster: a Kubernetes API emulator and moto's AWS server, seeded with a fleet.

Both listen on 127.0.0.1 and are reached over HTTP through the same code paths as a real cluster:
a kubeconfig file points at the emulator, ``AWS_ENDPOINT_URL`` at moto.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from hyperpod_k8s.demo import fleet as demo_fleet
from hyperpod_k8s.demo.fleet import ACCOUNT, AZ, CLUSTER_NAME, REGION, DemoFleet
from hyperpod_k8s.demo.objects import ts as _ts

T = TypeVar("T")


@dataclass(frozen=True)
class DemoEndpoints:
    kubeconfig: str
    aws_endpoint: str
    resource_config: str
    provisioning_parameters: str
    cluster: str
    region: str

    def env(self) -> dict[str, str]:
        """The environment that points hpk8s, kubectl and the aws CLI at this demo cluster."""
        return {
            "KUBECONFIG": self.kubeconfig,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "SAGEMAKER_RESOURCE_CONFIG_PATH": self.resource_config,
            "HPK8S_CLUSTER": self.cluster,
        }


class DemoCluster:
    """Start with :meth:`start` (or ``with DemoCluster() as demo``); everything stops with :meth:`stop`."""

    def __init__(self, *, seed: bool = True, workdir: str | None = None,
                 fleet: DemoFleet | None = None, provisioning_seconds: float = 3.0) -> None:
        self.seed = seed
        self.fleet = fleet if fleet is not None else (demo_fleet.demo_fleet() if seed else None)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.workdir = workdir
        self.provisioning_seconds = provisioning_seconds
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self.emulator: Any = None
        self.k8s_port = 0
        self._moto: Any = None
        self.endpoints: DemoEndpoints | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> DemoCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> DemoCluster:
        from moto.server import ThreadedMotoServer

        from hyperpod_k8s.demo import moto_ext

        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hpk8s-demo-")
            self.workdir = self._tmp.name
        moto_ext.install()
        # werkzeug logs every request of moto's server to stderr; the demo's output is ours.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_ext.provisioning_seconds = self.provisioning_seconds
        self._reset_moto()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        aws_endpoint = f"http://{host}:{port}"
        self._start_kubernetes()
        self.endpoints = self._write_files(aws_endpoint)
        if self.fleet is not None:
            self._seed(self.fleet)
        moto_ext.listeners.append(self._on_instance_event)
        return self

    def stop(self) -> None:
        from hyperpod_k8s.demo import moto_ext

        if self._on_instance_event in moto_ext.listeners:
            moto_ext.listeners.remove(self._on_instance_event)
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @staticmethod
    def _reset_moto() -> None:
        from moto.sagemaker.models import sagemaker_backends
        from moto.secretsmanager.models import secretsmanager_backends

        sagemaker_backends.reset()
        secretsmanager_backends.reset()

    def _start_kubernetes(self) -> None:
        import kmock

        from hyperpod_k8s.demo.emulator import HyperPodKubernetesEmulator

        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            self._stop = asyncio.Event()
            self.emulator = HyperPodKubernetesEmulator()
            async with self.emulator, kmock.Server(self.emulator) as server:
                self.k8s_port = server.port
                ready.set()
                await self._stop.wait()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            try:
                self.loop.run_until_complete(serve())
            except BaseException as e:  # surfaced to start() below
                failure.append(e)
                ready.set()
            finally:
                self.loop.close()

        self._thread = threading.Thread(target=run, name="hpk8s-demo-kubernetes", daemon=True)
        self._thread.start()
        ready.wait(timeout=30)
        if failure:
            raise RuntimeError(f"the demo Kubernetes emulator did not start: {failure[0]}")

    def _write_files(self, aws_endpoint: str) -> DemoEndpoints:
        assert self.workdir is not None
        wd = Path(self.workdir)
        kubeconfig = wd / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": CLUSTER_NAME, "cluster": {"server": f"http://127.0.0.1:{self.k8s_port}"}}],
            "users": [{"name": "kubernetes-admin", "user": {"token": "demo-admin-token"}}],
            "contexts": [{"name": f"kubernetes-admin@{CLUSTER_NAME}",
                          "context": {"cluster": CLUSTER_NAME, "user": "kubernetes-admin"}}],
            "current-context": f"kubernetes-admin@{CLUSTER_NAME}",
        }, indent=2))
        kubeconfig.chmod(0o600)
        rc = wd / "resource_config.json"
        pp = wd / "provisioning_parameters.json"
        fleet = self.fleet
        groups: list[dict[str, Any]] = []
        for gname, gtype in (fleet.groups if fleet else []):
            assert fleet is not None
            groups.append({"Name": gname, "InstanceType": gtype, "Instances": [
                {"InstanceId": i.instance_id, "InstanceName": f"{gname}-{n + 1}", "CustomerIpAddress": i.ip,
                 "AgentIpAddress": f"172.16.{100 + n}.{10 + n}"}
                for n, i in enumerate(x for x in fleet.instances if x.group == gname)]})
        rc.write_text(json.dumps({"ClusterConfig": {
            "ClusterArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:cluster/{CLUSTER_NAME}",
            "ClusterName": CLUSTER_NAME}, "InstanceGroups": groups}, indent=2))
        pp.write_text(json.dumps({
            "version": "1.0.0", "workload_manager": "slurm", "controller_group": "ControllerGroup",
            "worker_groups": [{"instance_group_name": g, "partition_name": t}
                              for g, t in (fleet.groups if fleet else []) if g != "ControllerGroup"],
        }, indent=2))
        return DemoEndpoints(str(kubeconfig), aws_endpoint, str(rc), str(pp), CLUSTER_NAME, REGION)

    # -- state access ---------------------------------------------------------------------

    def in_loop(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine on the emulator's loop (where its objects live) and wait for it."""
        assert self.loop is not None
        fut: Future[T] = asyncio.run_coroutine_threadsafe(fn(), self.loop)
        return fut.result(timeout=30)

    def put(self, resource: str, obj: dict[str, Any]) -> None:
        """Create or overwrite an object, with a watch event, as if an API client had written it."""
        em = self.emulator

        async def put() -> None:
            import kmock

            res = kmock.resource(resource)
            meta = obj.setdefault("metadata", {})
            ns = meta.get("namespace")
            key = (res, ns, meta["name"])
            async with em._lock:
                em.stamp(obj, ns)
                existed = key in em.objects and not em.objects[key].deleted
                if existed:
                    em.overwrite(key, obj)
                else:
                    em.objects[key] = obj
                await em._buses[res].put({"type": "MODIFIED" if existed else "ADDED", "object": em.objects[key].raw})

        self.in_loop(put)

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        em = self.emulator

        async def get() -> dict[str, Any] | None:
            import kmock

            key = (kmock.resource(resource), namespace, name)
            async with em._lock:
                if key not in em.objects or em.objects[key].deleted:
                    return None
                return json.loads(json.dumps(em.objects[key].raw))

        return self.in_loop(get)

    @property
    def sagemaker(self) -> Any:
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[ACCOUNT][REGION]

    def _seed(self, fleet: DemoFleet) -> None:
        from hyperpod_k8s.demo import moto_ext

        backend = self.sagemaker
        cluster = moto_ext.create_cluster(backend, CLUSTER_NAME, [{"name": g, "type": t} for g, t in fleet.groups])
        groups = {g["InstanceGroupName"]: g for g in cluster.instance_groups}
        for inst in fleet.instances:
            node = moto_ext.add_node(backend, cluster, groups[inst.group], instance_id=inst.instance_id,
                                     ip=inst.ip, az=AZ)
            if inst.launched is not None:
                node.launch_time = inst.launched
        moto_ext._recount(cluster, set_target=True)

        em = self.emulator

        async def seed_k8s() -> None:
            async with em._lock:
                for ns in fleet.namespaces:
                    em.put_object("v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": ns}, "status": {"phase": "Active"}})
                for node in fleet.nodes:
                    em.put_object("v1/nodes", node)
                for pod in fleet.pods:
                    em.put_object("v1/pods", pod)

        self.in_loop(seed_k8s)
        pem = self._seed_cluster_info()
        self._seed_join_secret(pem)

    def _seed_cluster_info(self) -> str:
        """kube-public/cluster-info as kubeadm publishes it: the API endpoint and the cluster CA."""
        import base64

        from hyperpod_k8s.demo.pki import self_signed_ca

        pem = self_signed_ca("kubernetes")
        kubeconfig = (
            "apiVersion: v1\nkind: Config\nclusters:\n- name: \"\"\n  cluster:\n"
            f"    certificate-authority-data: {base64.b64encode(pem.encode()).decode()}\n"
            "    server: https://10.1.113.28:6443\ncontexts: []\ncurrent-context: \"\"\nusers: []\n"
        )
        self.put("v1/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "cluster-info", "namespace": "kube-public"},
                                   "data": {"kubeconfig": kubeconfig}})
        return pem

    def _on_instance_event(self, cluster: str, node: Any, event: str) -> None:
        """Play the instance's part: a new instance runs the lifecycle scripts and joins; a rebooting
        one goes NotReady and comes back. (Called from moto's thread as instance states move.)"""
        from hyperpod_k8s.demo.objects import make_node, node_name

        if self.emulator is None or self.loop is None or self.loop.is_closed():
            return
        name = node_name(node.private_ip)
        if event == "rebooting":
            self._set_ready(name, "Unknown", "NodeStatusUnknown")
            node.rebooting = True
        elif event == "running":
            if getattr(node, "rebooting", False):
                node.rebooting = False
                self._set_ready(name, "True", "KubeletReady")
                return
            obj = make_node(ip=node.private_ip, instance_id=node.instance_id, instance_type=node.instance_type,
                            group=node.instance_group_name, az=getattr(node, "az", AZ), created=datetime.now(UTC))
            self.put("v1/nodes", obj)

    def _set_ready(self, name: str, status: str, reason: str) -> None:
        """The kubelet's Ready condition moving, as the node controller would record it."""
        current = self.get("v1/nodes", None, name)
        if current is None:
            return
        for c in current.get("status", {}).get("conditions", []):
            if c.get("type") == "Ready":
                c.update(status=status, reason=reason, lastTransitionTime=_ts(datetime.now(UTC)))
        self.put("v1/nodes", current)

    def _seed_join_secret(self, ca_pem: str) -> None:
        """The join info bootstrap left in Secrets Manager (token shown masked everywhere)."""
        import boto3

        from hyperpod_k8s.join_info import ca_cert_hash

        assert self.endpoints is not None
        sm = boto3.client("secretsmanager", region_name=REGION, endpoint_url=self.endpoints.aws_endpoint,
                          aws_access_key_id="demo", aws_secret_access_key="demo")
        expires = datetime.now(UTC) + timedelta(hours=17)
        sm.create_secret(Name=f"hyperpod-k8s-{CLUSTER_NAME}", SecretString=json.dumps({
            "endpoint": "10.1.113.28:6443",
            "token": "q7x2mb.8f3k1v0c9d2e4a6b",
            "ca_cert_hashes": [ca_cert_hash(ca_pem)],
            "expires": expires.replace(microsecond=0).isoformat(),
        }))


