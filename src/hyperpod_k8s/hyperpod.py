"""The files HyperPod gives an instance, and the cluster identity derived from them.

``resource_config.json`` is written by HyperPod to every instance (path in
``SAGEMAKER_RESOURCE_CONFIG_PATH``); ``provisioning_parameters.json`` is uploaded by the cluster
owner beside the lifecycle scripts and names the controller and login groups.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperpod_k8s.errors import ConfigError, NotFoundError

DEFAULT_RESOURCE_CONFIG = "/opt/ml/config/resource_config.json"
RESOURCE_CONFIG_ENV = "SAGEMAKER_RESOURCE_CONFIG_PATH"

# arn:aws:sagemaker:us-west-2:111122223333:cluster/kb8v11zrrpvr
_CLUSTER_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):cluster/(?P<id>[A-Za-z0-9][A-Za-z0-9-]*)$"
)


@dataclass(frozen=True)
class ClusterIdentity:
    name: str
    cluster_id: str | None = None
    region: str | None = None
    account: str | None = None
    arn: str | None = None

    @property
    def secret_name(self) -> str:
        """Secrets Manager name of the join info; matches the IAM pattern ``secret:hyperpod-*``."""
        return f"hyperpod-k8s-{self.cluster_id or self.name}"


def parse_cluster_arn(arn: str) -> ClusterIdentity | None:
    m = _CLUSTER_ARN.match(arn.strip())
    if not m:
        return None
    return ClusterIdentity(
        name=m["id"], cluster_id=m["id"], region=m["region"], account=m["account"], arn=arn.strip()
    )


@dataclass(frozen=True)
class ConfiguredInstance:
    instance_id: str
    name: str
    group: str
    instance_type: str
    customer_ip: str | None
    agent_ip: str | None

    @property
    def hostname(self) -> str | None:
        """The node name Kubernetes gets on HyperPod: ``ip-10-1-113-28``."""
        return f"ip-{self.customer_ip.replace('.', '-')}" if self.customer_ip else None


@dataclass(frozen=True)
class InstanceGroupConfig:
    name: str
    instance_type: str
    instances: tuple[ConfiguredInstance, ...]


@dataclass(frozen=True)
class ResourceConfig:
    identity: ClusterIdentity
    groups: tuple[InstanceGroupConfig, ...]
    path: str = ""

    @property
    def instances(self) -> list[ConfiguredInstance]:
        return [i for g in self.groups for i in g.instances]

    def group(self, name: str) -> InstanceGroupConfig:
        for g in self.groups:
            if g.name == name:
                return g
        known = ", ".join(g.name for g in self.groups) or "none"
        raise NotFoundError(f"instance group {name!r} is not in {self.path or 'resource_config.json'}",
                            f"known groups: {known}")

    def find_by_ip(self, ip: str) -> ConfiguredInstance | None:
        for i in self.instances:
            if ip in (i.customer_ip, i.agent_ip):
                return i
        return None


def _require(obj: Any, key: str, where: str, kind: type, path: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ConfigError(f"{path}: {where} has no {key!r}",
                          "is this a HyperPod resource_config.json? see shared/samples for the shape")
    value = obj[key]
    if not isinstance(value, kind):
        raise ConfigError(f"{path}: {where}.{key} should be a {kind.__name__}, got {type(value).__name__}")
    return value


def parse_resource_config(data: Any, path: str = "resource_config.json") -> ResourceConfig:
    cfg = _require(data, "ClusterConfig", "the top level", dict, path)
    arn = _require(cfg, "ClusterArn", "ClusterConfig", str, path)
    name = cfg.get("ClusterName")
    ident = parse_cluster_arn(arn)
    if ident is None:
        raise ConfigError(f"{path}: ClusterConfig.ClusterArn {arn!r} is not a SageMaker cluster ARN",
                          "expected arn:aws:sagemaker:<region>:<account>:cluster/<id>")
    if isinstance(name, str) and name:
        ident = ClusterIdentity(name=name, cluster_id=ident.cluster_id, region=ident.region,
                                account=ident.account, arn=ident.arn)
    groups = []
    for gi, g in enumerate(_require(data, "InstanceGroups", "the top level", list, path)):
        where = f"InstanceGroups[{gi}]"
        gname = _require(g, "Name", where, str, path)
        gtype = _require(g, "InstanceType", where, str, path)
        instances = []
        for ii, inst in enumerate(_require(g, "Instances", where, list, path)):
            iw = f"{where}.Instances[{ii}]"
            instances.append(ConfiguredInstance(
                instance_id=_require(inst, "InstanceId", iw, str, path),
                name=str(inst.get("InstanceName") or ""),
                group=gname,
                instance_type=gtype,
                customer_ip=inst.get("CustomerIpAddress"),
                agent_ip=inst.get("AgentIpAddress"),
            ))
        groups.append(InstanceGroupConfig(gname, gtype, tuple(instances)))
    return ResourceConfig(identity=ident, groups=tuple(groups), path=path)


def resource_config_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get(RESOURCE_CONFIG_ENV) or DEFAULT_RESOURCE_CONFIG


def load_json_file(path: str, what: str) -> Any:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{what} not found at {path}") from None
    except OSError as e:
        raise ConfigError(f"cannot read {what} at {path}: {e.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{what} at {path} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                          "fix or restore the file") from None


def load_resource_config(path: str | None = None) -> ResourceConfig:
    real = resource_config_path(path)
    return parse_resource_config(load_json_file(real, "resource_config.json"), real)


@dataclass(frozen=True)
class ProvisioningParameters:
    controller_group: str
    login_group: str | None = None
    worker_groups: tuple[str, ...] = field(default_factory=tuple)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


def parse_provisioning_parameters(data: Any, path: str = "provisioning_parameters.json") -> ProvisioningParameters:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    ctl = data.get("controller_group")
    if not isinstance(ctl, str) or not ctl:
        raise ConfigError(f"{path}: 'controller_group' is missing or empty",
                          "it names the instance group that runs the Kubernetes control plane")
    login = data.get("login_group")
    workers = tuple(
        str(w.get("instance_group_name")) for w in data.get("worker_groups") or []
        if isinstance(w, dict) and w.get("instance_group_name")
    )
    return ProvisioningParameters(controller_group=ctl, login_group=login if isinstance(login, str) else None,
                                  worker_groups=workers, raw=data)


def load_provisioning_parameters(path: str) -> ProvisioningParameters:
    return parse_provisioning_parameters(load_json_file(path, "provisioning_parameters.json"), path)
