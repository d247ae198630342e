"""What a workflow needs, in one object: the two facades, the Host, the audit log and a clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hyperpod_k8s.bootstrap.host import Host, LocalHost
from hyperpod_k8s.errors import ConfigError, HpkError
from hyperpod_k8s.ops.audit import AuditLog

if TYPE_CHECKING:
    from hyperpod_k8s.clients.cluster import Cluster
    from hyperpod_k8s.clients.fleet import Fleet
    from hyperpod_k8s.hyperpod import ClusterIdentity, ResourceConfig
    from hyperpod_k8s.ops.inventory import Inventory


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class OpsContext:
    cluster: Cluster
    identity: ClusterIdentity | None
    fleet_factory: Callable[[], Fleet] | None = None
    resource_config: ResourceConfig | None = None
    host: Host = field(default_factory=LocalHost)
    audit: AuditLog = field(default_factory=AuditLog)
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = _now
    poll_seconds: float = 5.0
    state_dir: str | None = None  # where interrupted workflows keep their progress
    _fleet: Fleet | None = None
    _fleet_error: HpkError | None = None

    @property
    def actor(self) -> str:
        return self.audit.who

    def fleet(self) -> Fleet:
        """The AWS facade; raises the setup error (no cluster named, no credentials) when there is none."""
        if self._fleet is None:
            if self._fleet_error is not None:
                raise self._fleet_error
            if self.fleet_factory is None:
                raise ConfigError("this needs the HyperPod cluster, and none is configured",
                                  "pass --cluster NAME or run where resource_config.json exists")
            try:
                self._fleet = self.fleet_factory()
            except HpkError as e:
                self._fleet_error = e
                raise
        return self._fleet

    def inventory(self, *, with_pods: bool = False) -> Inventory:
        from hyperpod_k8s.ops import inventory

        try:
            fleet: Fleet | None = self.fleet()
            setup_error = None
        except HpkError as e:
            fleet, setup_error = None, e
        return inventory.build(inventory.Sources(self.cluster, fleet, self.resource_config, setup_error),
                               with_pods=with_pods)

    def state_path(self, name: str) -> Path:
        base = Path(self.state_dir) if self.state_dir else Path(self.audit.path).parent / "state"
        return base / name

    def wait(self, seconds: float | None = None) -> None:
        self.sleep(self.poll_seconds if seconds is None else seconds)
