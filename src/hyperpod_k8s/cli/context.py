"""The application object a command works with: built lazily from the options, closed once."""

from __future__ import annotations

import os
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from hyperpod_k8s.cli.options import Target
from hyperpod_k8s.clients.retry import DEFAULT_POLICY, RetryPolicy
from hyperpod_k8s.errors import ConfigError, HpkError
from hyperpod_k8s.hyperpod import (
    DEFAULT_RESOURCE_CONFIG,
    RESOURCE_CONFIG_ENV,
    ClusterIdentity,
    ResourceConfig,
    load_resource_config,
    parse_cluster_arn,
)

if TYPE_CHECKING:
    from hyperpod_k8s.bootstrap.host import Host
    from hyperpod_k8s.clients.cluster import Cluster
    from hyperpod_k8s.clients.fleet import Fleet
    from hyperpod_k8s.demo.server import DemoCluster
    from hyperpod_k8s.ops.context import OpsContext
    from hyperpod_k8s.ops.inventory import Sources

# Closed by main() after the command: demo servers, clients.
_stack = ExitStack()


def retry_policy() -> RetryPolicy:
    """HPK8S_RETRY_DELAYS="0.2,0.5,1" overrides the backoff (seconds between attempts)."""
    raw = os.environ.get("HPK8S_RETRY_DELAYS")
    if raw is None:
        return DEFAULT_POLICY
    try:
        delays = tuple(float(x) for x in raw.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"HPK8S_RETRY_DELAYS={raw!r} is not a comma-separated list of seconds") from None
    return RetryPolicy(delays=delays)


def wants_gzip() -> bool:
    """gzip pays on slow links only (see Cluster); HPK8S_GZIP=1 turns it on."""
    return os.environ.get("HPK8S_GZIP", "").lower() in ("1", "true", "yes")


class App:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.retry = retry_policy()
        self._cluster: Cluster | None = None
        self._fleet: Fleet | None = None
        self._rc: ResourceConfig | None = None
        self._rc_read = False
        self.demo: DemoCluster | None = None
        # The dashboard's workers ask for these from several threads at once: build each once.
        self._lock = threading.RLock()
        if target.demo:
            self._start_demo()

    def _start_demo(self) -> None:
        try:
            from hyperpod_k8s.demo.server import DemoCluster
        except ImportError as e:
            raise ConfigError(f"--demo needs the demo extras ({e.name} is not installed)",
                              "pip install 'hyperpod-k8s[demo]'") from None
        self.demo = _stack.enter_context(DemoCluster())
        assert self.demo.endpoints is not None
        ep = self.demo.endpoints
        # The demo's own endpoints win over whatever the shell points at.
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(key, None)
        os.environ.update(ep.env())
        self.target.kubeconfig = ep.kubeconfig
        self.target.context = None
        self.target.cluster = ep.cluster
        self.target.region = ep.region
        self.target.resource_config = ep.resource_config

    # -- what the options point at --------------------------------------------------------------

    def resource_config(self) -> ResourceConfig | None:
        """The instance's resource_config.json; None only when the default path simply is not there.

        A file that cannot be read raises, every time it is asked for (never a silent None later).
        """
        with self._lock:
            if not self._rc_read:
                path = self.target.resource_config or os.environ.get(RESOURCE_CONFIG_ENV)
                if path is not None or Path(DEFAULT_RESOURCE_CONFIG).exists():
                    self._rc = load_resource_config(path)
                self._rc_read = True
            return self._rc

    def identity(self) -> ClusterIdentity:
        name = self.target.cluster
        rc = self.resource_config()
        if name:
            ident = parse_cluster_arn(name) or ClusterIdentity(name=name)
            if rc is not None and rc.identity.name == ident.name:
                ident = rc.identity
        elif rc is not None:
            ident = rc.identity
        else:
            raise ConfigError("which HyperPod cluster? no --cluster given and no resource_config.json at "
                              f"{DEFAULT_RESOURCE_CONFIG}", "pass --cluster NAME (or set HPK8S_CLUSTER)")
        region = self.target.region or ident.region
        return ClusterIdentity(name=ident.name, cluster_id=ident.cluster_id, region=region,
                               account=ident.account, arn=ident.arn)

    def cluster(self) -> Cluster:
        with self._lock:
            return self._build_cluster()

    def _build_cluster(self) -> Cluster:
        if self._cluster is None:
            from hyperpod_k8s.clients.cluster import Cluster

            self._cluster = Cluster.from_kubeconfig(self.target.kubeconfig, self.target.context, retry=self.retry,
                                                    gzip=wants_gzip())
            _stack.callback(self._cluster.api_client.close)
        return self._cluster

    def fleet(self) -> Fleet:
        with self._lock:
            if self._fleet is None:
                from hyperpod_k8s.clients.fleet import Fleet

                ident = self.identity()
                self._fleet = Fleet(ident.arn or ident.name, region=ident.region, retry=self.retry)
            return self._fleet

    def ops_context(self) -> OpsContext:
        """What the workflows need; the fleet is built on first use, so Kubernetes-only work needs no AWS."""
        from hyperpod_k8s.ops.audit import AuditLog
        from hyperpod_k8s.ops.context import OpsContext

        try:
            ident: ClusterIdentity | None = self.identity()
        except HpkError:
            ident = None
        audit = AuditLog(os.path.join(self.demo.workdir or "", "audit.jsonl")) if self.demo else AuditLog()
        poll = os.environ.get("HPK8S_POLL_SECONDS")
        try:
            poll_seconds = float(poll) if poll else (1.0 if self.demo else 5.0)
        except ValueError:
            raise ConfigError(f"HPK8S_POLL_SECONDS={poll!r} is not a number of seconds") from None
        return OpsContext(cluster=self.cluster(), identity=ident, fleet_factory=self.fleet,
                          resource_config=self.resource_config(), audit=audit, poll_seconds=poll_seconds,
                          host=self.host())

    def host(self) -> Host:
        from hyperpod_k8s.bootstrap.host import LocalHost

        return LocalHost()

    def identity_label(self) -> str:
        try:
            ident = self.identity()
            name = f"{ident.name} ({ident.region or 'region?'})"
        except HpkError:
            name = "?"
        return f"HyperPod cluster {name} · Kubernetes API {self.cluster().server}"

    def sources(self) -> Sources:
        """Inventory sources. The Kubernetes side must work; a resource_config.json or a fleet that
        cannot be read or set up becomes the inventory's fleet error: the nodes are still shown, the
        HyperPod side is marked unknown, and the command exits with that error afterwards."""
        from hyperpod_k8s.ops.inventory import Sources

        cluster = self.cluster()
        rc_error: HpkError | None = None
        try:
            rc = self.resource_config()
        except HpkError as e:
            rc, rc_error = None, e
        try:
            fleet = self.fleet()
        except HpkError as e:
            return Sources(cluster, None, rc, setup_error=rc_error or e)
        return Sources(cluster, fleet, rc, setup_error=rc_error)


def close() -> None:
    _stack.close()
