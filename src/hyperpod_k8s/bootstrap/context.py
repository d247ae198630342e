"""What every step works with: settings, this node's identity, the facts, the log, the join-info store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from hyperpod_k8s import labels
from hyperpod_k8s.bootstrap.facts import Facts
from hyperpod_k8s.bootstrap.plan import Log
from hyperpod_k8s.bootstrap.settings import Settings
from hyperpod_k8s.errors import AuthError
from hyperpod_k8s.hyperpod import ConfiguredInstance, ProvisioningParameters, ResourceConfig

CONTROLLER = "controller"
WORKER = "worker"
ZONE_PLACEHOLDER = "<availability-zone>"


@dataclass(frozen=True)
class Node:
    role: str  # controller | worker
    instance: ConfiguredInstance
    cluster: ResourceConfig
    params: ProvisioningParameters
    address: str
    zone: str | None = None

    @property
    def cluster_id(self) -> str:
        ident = self.cluster.identity
        return ident.cluster_id or ident.name

    @property
    def provider_id(self) -> str:
        return f"aws:///{self.zone or ZONE_PLACEHOLDER}/{self.instance.instance_id}"

    @property
    def labels(self) -> dict[str, str]:
        return {
            labels.INSTANCE_TYPE: self.instance.instance_type,  # keeps HyperPod's ml. prefix
            labels.INSTANCE_GROUP: self.instance.group,
            labels.INSTANCE_ID: self.instance.instance_id,
        }

    @property
    def labels_arg(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.labels.items())

    def describe(self) -> str:
        i = self.instance
        return f"{self.role} on {i.instance_id} ({i.group}, {i.instance_type}, {self.address})"


class JoinInfoStore(Protocol):
    """Where join info lives: one Secrets Manager secret (JSON)."""

    name: str

    def get(self) -> dict[str, Any] | None: ...

    def put(self, value: dict[str, Any]) -> None: ...


class SecretsManagerStore:
    def __init__(self, fleet: Any, name: str) -> None:
        self.fleet = fleet
        self.name = name

    def get(self) -> dict[str, Any] | None:
        try:
            value: dict[str, Any] | None = self.fleet.get_secret_json(self.name)
            return value
        except AuthError as e:
            raise AuthError(f"cannot read the join info secret {self.name}: {e.message}",
                            "the instance role needs secretsmanager:GetSecretValue on "
                            "arn:aws:secretsmanager:*:*:secret:hyperpod-*") from None

    def put(self, value: dict[str, Any]) -> None:
        try:
            self.fleet.put_secret_json(self.name, value, description="hpk8s: how workers join this cluster")
        except AuthError as e:
            raise AuthError(f"cannot store the join info secret {self.name}: {e.message}",
                            "the instance role needs secretsmanager:CreateSecret and secretsmanager:PutSecretValue "
                            "on arn:aws:secretsmanager:*:*:secret:hyperpod-*") from None


@dataclass
class Context:
    settings: Settings
    node: Node
    facts: Facts
    log: Log
    store: JoinInfoStore | None = None  # None in a dry run: nothing talks to AWS
    dry_run: bool = False
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    hpk8s_command: str = "hpk8s"

    @property
    def secret_name(self) -> str:
        return self.settings.secret_name(self.node.cluster_id)

    def path(self, name: str) -> str:
        return f"{self.settings.config_dir}/{name}"

    def state(self, name: str) -> str:
        return f"{self.settings.state_dir}/{name}"
