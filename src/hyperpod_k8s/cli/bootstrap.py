"""``hpk8s bootstrap``: the headless node bootstrap the HyperPod lifecycle scripts run as root.

Only typer is imported here; the bootstrap itself (and boto3) load when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer


def bootstrap(
    role: Annotated[str, typer.Option(
        "--role", envvar="HPK8S_ROLE", show_envvar=True, metavar="controller|worker|auto",
        help="controller, worker, or auto: the role of this instance's group in resource_config.json "
             "(the controller group is named in provisioning_parameters.json).")] = "auto",
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan for this machine (steps, files, commands) and change nothing.")] = False,
    config: Annotated[str | None, typer.Option(
        "--config", envvar="HPK8S_BOOTSTRAP_CONFIG", show_envvar=True,
        help="Settings file (TOML) (default: built-in defaults; see README).")] = None,
    resource_config: Annotated[str | None, typer.Option(
        "--resource-config", envvar="SAGEMAKER_RESOURCE_CONFIG_PATH", show_envvar=True,
        help="HyperPod resource_config.json (default: /opt/ml/config/resource_config.json).")] = None,
    provisioning_parameters: Annotated[str | None, typer.Option(
        "--provisioning-parameters", envvar="HPK8S_PROVISIONING_PARAMETERS", show_envvar=True,
        help="provisioning_parameters.json (default: /opt/ml/config/provisioning_parameters.json).")] = None,
    node_ip: Annotated[str | None, typer.Option(
        "--node-ip", envvar="HPK8S_NODE_IP", show_envvar=True,
        help="This instance's address (default: the default-route interface's).")] = None,
    log_file: Annotated[str | None, typer.Option(
        "--log-file", envvar="HPK8S_BOOTSTRAP_LOG", show_envvar=True,
        help="Log file (default: /var/log/provision/hpk8s-bootstrap.log); not written by --dry-run.")] = None,
) -> int:
    """Turn this HyperPod instance into a Kubernetes controller or worker (headless, idempotent)."""
    from hyperpod_k8s.bootstrap.run import Options
    from hyperpod_k8s.bootstrap.run import bootstrap as run_bootstrap

    return run_bootstrap(Options(role=role.strip().lower(), dry_run=dry_run, config=config, resource_config=resource_config,
                                 provisioning_parameters=provisioning_parameters, node_ip=node_ip,
                                 log_file=log_file))
