"""Options shared by the operator commands, declared once; each names its environment variable."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import typer


class Output(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"


Kubeconfig = Annotated[str | None, typer.Option(
    "--kubeconfig", envvar="KUBECONFIG", show_envvar=True,
    help="Kubeconfig file [default: ~/.kube/config, then /etc/kubernetes/admin.conf].")]
Context = Annotated[str | None, typer.Option(
    "--context", envvar="HPK8S_CONTEXT", show_envvar=True, help="Kubeconfig context to use.")]
ClusterName = Annotated[str | None, typer.Option(
    "--cluster", envvar="HPK8S_CLUSTER", show_envvar=True,
    help="HyperPod cluster name or ARN [default: from resource_config.json].")]
Region = Annotated[str | None, typer.Option(
    "--region", envvar="AWS_REGION", show_envvar=True,
    help="AWS region [default: from the cluster ARN in resource_config.json].")]
ResourceConfig = Annotated[str | None, typer.Option(
    "--resource-config", envvar="SAGEMAKER_RESOURCE_CONFIG_PATH", show_envvar=True,
    help="HyperPod resource_config.json [default: /opt/ml/config/resource_config.json].")]
Demo = Annotated[bool, typer.Option(
    "--demo", envvar="HPK8S_DEMO", show_envvar=True,
    help="Run against a fresh embedded demo cluster (emulated Kubernetes API and AWS) instead.")]
OutputOpt = Annotated[Output, typer.Option(
    "--output", "-o", envvar="HPK8S_OUTPUT", show_envvar=True, case_sensitive=False,
    help="table for people (wide adds instance id, type and IP), json for scripts.")]


@dataclass
class Target:
    """Where an operator command points: one Kubernetes cluster and one HyperPod cluster."""

    kubeconfig: str | None = None
    context: str | None = None
    cluster: str | None = None
    region: str | None = None
    resource_config: str | None = None
    demo: bool = False
