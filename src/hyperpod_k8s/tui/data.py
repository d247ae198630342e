"""What the dashboard reads and does, behind one object the app is given (tests hand it a variant).

Everything here blocks on the network: the app only calls it from thread workers.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hyperpod_k8s.cli.context import wants_gzip
from hyperpod_k8s.clients import kube_types as kt
from hyperpod_k8s.errors import HpkError
from hyperpod_k8s.instance_types import EFA, GPU, NEURON
from hyperpod_k8s.ops.pod_worker import PodListWorker, WorkerBroken
from hyperpod_k8s.ops.pod_worker import enabled as pod_worker_enabled
from hyperpod_k8s.tui.live import LiveInventory

if TYPE_CHECKING:
    from hyperpod_k8s.cli.context import App as AppContext
    from hyperpod_k8s.clients.fleet import FleetInstance
    from hyperpod_k8s.ops.events import Event, Outcome, Plan
    from hyperpod_k8s.ops.inventory import GroupSummary, Inventory, NodeRow


@dataclass
class ClusterFacts:
    """The header's slow-changing facts; each part may be missing, with the reason."""

    name: str = "?"
    region: str | None = None
    kubernetes: str | None = None
    token_expires: datetime | None = None
    token_masked: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PodLine:
    namespace: str
    name: str
    phase: str
    gpu: int
    efa: int
    created: str | None


@dataclass
class NodeDetail:
    row: NodeRow
    node: kt.Node | None = None
    pods: list[PodLine] = field(default_factory=list)
    instance: FleetInstance | None = None
    problems: list[str] = field(default_factory=list)


class DashboardData:
    """The dashboard's reads and workflows, over the command's application object."""

    def __init__(self, app_ctx: AppContext) -> None:
        self.ctx = app_ctx
        self._ops: Any = None
        self._lock = threading.Lock()
        self._prepared = False
        self.prepare_s = 0.0  # building the clients (imports, kubeconfig, AWS session): for the benchmark
        self.live: LiveInventory | None = None
        self._pod_worker: PodListWorker | None = None

    def _prepare(self) -> None:
        """Build the application object's lazy parts once, before the workers use them (and time it)."""
        with self._lock:
            if self._prepared:
                return
            t0 = time.perf_counter()
            self.ctx.cluster()
            for part in (self.ctx.resource_config, self.ctx.identity, self.ctx.fleet):
                try:
                    part()
                except HpkError:
                    pass  # reported by whichever read needs it
            # The Kubernetes client's ~1000 modules and classes live as long as the app: out of the
            # collector's sight (as the app's own objects are since mount), a full collection during
            # the first load no longer walks them.
            gc.freeze()
            self._prepared = True
            self.prepare_s = time.perf_counter() - t0

    # -- reads ----------------------------------------------------------------------------

    def inventory(self, on_nodes: Callable[[Inventory], None] | None = None) -> Inventory:
        """The first call lists everything; later ones re-list nodes and instances, pods only without a watch."""
        self._prepare()
        if self.live is None:
            self.live = LiveInventory(self.ctx.sources, first_pods=self._pod_worker)
            self._pod_worker = None
        return self.live.load(on_nodes)

    def prewarm(self) -> None:
        """Start the first pod list in a child process (see ops/pod_worker.py), and build the clients
        in the background while the interface starts: importing the Kubernetes client alone takes half
        a second, which the first load would otherwise wait for."""
        if pod_worker_enabled():
            try:
                self._pod_worker = PodListWorker.start(self.ctx.target.kubeconfig, self.ctx.target.context,
                                                       gzip=wants_gzip(), retry=self.ctx.retry)
            except WorkerBroken:
                pass  # the first load lists the pods itself

        def run() -> None:
            try:
                self._prepare()
            except Exception:  # the first worker that needs the clients builds them again and reports
                pass

        threading.Thread(target=run, name="dashboard-prewarm", daemon=True).start()

    def close(self) -> None:
        if self._pod_worker is not None:
            self._pod_worker.cancel()
        if self.live is not None:
            self.live.stop()

    def facts(self) -> ClusterFacts:
        self._prepare()
        facts = ClusterFacts()
        try:
            ident = self.ctx.identity()
            facts.name, facts.region = ident.name, ident.region
        except HpkError as e:
            facts.problems.append(f"cluster: {e.message}")
            ident = None
        try:
            facts.kubernetes = self.ctx.cluster().version().git_version
        except HpkError as e:
            facts.problems.append(f"version: {e.message}")
        if ident is not None:
            try:
                self._read_token(facts, ident.secret_name)
            except HpkError as e:
                facts.problems.append(f"join token: {e.message}")
        return facts

    def _read_token(self, facts: ClusterFacts, secret_name: str) -> None:
        secret = self.ctx.fleet().get_secret_json(secret_name)
        if secret is None:
            facts.problems.append(f"join token: no secret {secret_name}")
            return
        from hyperpod_k8s.join_info import JoinInfo

        info = JoinInfo.from_secret(secret)
        facts.token_expires = info.expires
        facts.token_masked = info.masked_token()

    def detail(self, row: NodeRow) -> NodeDetail:
        self._prepare()
        d = NodeDetail(row)
        cluster = self.ctx.cluster()
        if row.joined:
            try:
                d.node = cluster.get_node(row.name)
            except HpkError as e:
                d.problems.append(e.message)
            try:
                d.pods = [_pod_line(p) for p in cluster.list_pods(node=row.name, active_only=False)]
            except HpkError as e:
                d.problems.append(e.message)
        if row.instance_id and row.hyperpod_status not in (None, "absent"):
            try:
                d.instance = self.ctx.fleet().describe_instance(row.instance_id)
            except HpkError as e:
                d.problems.append(e.message)
        return d

    # -- workflows ------------------------------------------------------------------------

    def ops_context(self) -> Any:
        self._prepare()
        with self._lock:
            if self._ops is None:
                self._ops = self.ctx.ops_context()
            return self._ops

    def plan(self, action: str, nodes: list[str]) -> Plan:
        from hyperpod_k8s.ops import workflows

        plan: Plan = workflows.plan(self.ops_context(), action, nodes)
        return plan

    def apply(self, plan: Plan, reporter: Callable[[Event], None], cancel: threading.Event) -> Outcome:
        from hyperpod_k8s.ops import workflows

        outcome: Outcome = workflows.apply(self.ops_context(), plan, reporter, cancel=cancel)
        return outcome


@dataclass
class Summary:
    """The roll-up per group and the cluster's total, computed in the worker: 4000 rows cost ~25 ms."""

    groups: list[GroupSummary]
    total: GroupSummary
    joined: int


def summarize(inv: Inventory) -> Summary:
    groups = inv.groups()
    return Summary(groups, inv.totals(groups), sum(1 for r in inv.rows if r.joined))


def _pod_line(p: kt.Pod) -> PodLine:
    gpu = kt.pod_request(p.spec, GPU) + kt.pod_request(p.spec, NEURON)
    return PodLine(p.metadata.namespace, p.metadata.name, p.status.phase or "?", gpu,
                   kt.pod_request(p.spec, EFA), p.metadata.creationTimestamp)
