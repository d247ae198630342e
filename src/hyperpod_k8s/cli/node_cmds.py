"""Node workflows: cordon, uncordon, drain, delete, replace, reboot, scale-down."""

from __future__ import annotations

from typing import Annotated

import typer

from hyperpod_k8s.cli import options as opt
from hyperpod_k8s.cli.context import App
from hyperpod_k8s.cli.workflow import run
from hyperpod_k8s.defaults import DRAIN_TIMEOUT as DEFAULT_TIMEOUT
from hyperpod_k8s.defaults import REBOOT_WAIT, REPLACE_WAIT

Nodes = Annotated[list[str], typer.Argument(help="Node names, instance ids (i-...) or InternalIPs.",
                                            show_default=False)]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking (needed when stdin is not a terminal).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan and stop; nothing changes.")]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the pods to be gone, per node.")]
Grace = Annotated[int | None, typer.Option("--grace-period", help="Seconds each pod gets to stop [default: the pod's own].")]
EmptyDir = Annotated[bool, typer.Option("--delete-emptydir-data",
                                        help="Evict pods with disk-backed emptyDir volumes (their data is lost).")]
Force = Annotated[bool, typer.Option("--force", help="Also delete pods no controller owns (they are not recreated).")]
NoEviction = Annotated[bool, typer.Option("--disable-eviction",
                                          help="Delete pods instead of evicting them: bypasses PodDisruptionBudgets.")]
Reason = Annotated[str, typer.Option("--reason", help="Why; recorded on the node and in the audit log.")]


def _app(kubeconfig: str | None, context: str | None, cluster: str | None, region: str | None,
         resource_config: str | None, demo: bool) -> App:
    return App(opt.Target(kubeconfig, context, cluster, region, resource_config, demo))


def cordon(nodes: Nodes, reason: Reason = "", output: opt.OutputOpt = opt.Output.table,
           kubeconfig: opt.Kubeconfig = None, context: opt.Context = None, cluster: opt.ClusterName = None,
           region: opt.Region = None, resource_config: opt.ResourceConfig = None, demo: opt.Demo = False) -> None:
    """Mark nodes unschedulable (running pods stay), noting who, why and when on the node."""
    run(_app(kubeconfig, context, cluster, region, resource_config, demo), "cordon", nodes, yes=True,
        dry_run=False, output=output, reason=reason)


def uncordon(nodes: Nodes, output: opt.OutputOpt = opt.Output.table,
             kubeconfig: opt.Kubeconfig = None, context: opt.Context = None, cluster: opt.ClusterName = None,
             region: opt.Region = None, resource_config: opt.ResourceConfig = None, demo: opt.Demo = False) -> None:
    """Make nodes schedulable again."""
    run(_app(kubeconfig, context, cluster, region, resource_config, demo), "uncordon", nodes, yes=True,
        dry_run=False, output=output)


def drain(nodes: Nodes, yes: Yes = False, dry_run: DryRun = False, timeout: Timeout = DEFAULT_TIMEOUT,
          grace_period: Grace = None, delete_emptydir_data: EmptyDir = False, force: Force = False,
          disable_eviction: NoEviction = False, reason: Reason = "", output: opt.OutputOpt = opt.Output.table,
          kubeconfig: opt.Kubeconfig = None, context: opt.Context = None, cluster: opt.ClusterName = None,
          region: opt.Region = None, resource_config: opt.ResourceConfig = None, demo: opt.Demo = False) -> None:
    """Cordon, then evict the pods (honouring PodDisruptionBudgets) until they are gone.

    DaemonSet and static pods stay. Several nodes drain at once. On timeout the node stays cordoned
    and the remaining pods are named (exit 7).
    """
    run(_app(kubeconfig, context, cluster, region, resource_config, demo), "drain", nodes, yes=yes,
        dry_run=dry_run, output=output, timeout=timeout, grace_period=grace_period,
        delete_emptydir_data=delete_emptydir_data, force=force, disable_eviction=disable_eviction, reason=reason)


def delete(nodes: Nodes, yes: Yes = False, dry_run: DryRun = False,
           skip_drain: Annotated[bool, typer.Option("--skip-drain", help="Delete the node objects without draining.")] = False,
           timeout: Timeout = DEFAULT_TIMEOUT, grace_period: Grace = None, delete_emptydir_data: EmptyDir = False,
           force: Force = False, disable_eviction: NoEviction = False, output: opt.OutputOpt = opt.Output.table,
           kubeconfig: opt.Kubeconfig = None, context: opt.Context = None, cluster: opt.ClusterName = None,
           region: opt.Region = None, resource_config: opt.ResourceConfig = None, demo: opt.Demo = False) -> None:
    """Drain, then delete the node objects. Refuses the control-plane node (exit 9)."""
    run(_app(kubeconfig, context, cluster, region, resource_config, demo), "delete", nodes, yes=yes,
        dry_run=dry_run, output=output, typed_confirm=True, skip_drain=skip_drain, timeout=timeout,
        grace_period=grace_period, delete_emptydir_data=delete_emptydir_data, force=force,
        disable_eviction=disable_eviction, reason="delete")


WaitTimeout = Annotated[float, typer.Option("--wait-timeout", help="Seconds to wait for the new or rebooted node to be Ready.")]


def replace(nodes: Nodes, yes: Yes = False, dry_run: DryRun = False,
            wait_timeout: WaitTimeout = REPLACE_WAIT,
            skip_drain: Annotated[bool, typer.Option("--skip-drain", help="Do not drain first (the node is broken anyway).")] = False,
            timeout: Timeout = DEFAULT_TIMEOUT, grace_period: Grace = None, delete_emptydir_data: EmptyDir = False,
            force: Force = False, disable_eviction: NoEviction = False, output: opt.OutputOpt = opt.Output.table,
            kubeconfig: opt.Kubeconfig = None, context: opt.Context = None, cluster: opt.ClusterName = None,
            region: opt.Region = None, resource_config: opt.ResourceConfig = None, demo: opt.Demo = False) -> None:
    """Replace faulty instances with new hardware and wait for their nodes to be Ready.

    DESTROYS the instances' root and secondary volumes. Refreshes the join token first if it would
    expire during the wait, drains, deletes the node object, then BatchReplaceClusterNodes (Slurm's
    scontrol Action:Replace when the API is unavailable). Run it again after an interruption: it
    continues where it stopped. Refuses the controller.
    """
    run(_app(kubeconfig, context, cluster, region, resource_config, demo), "replace", nodes, yes=yes,
        dry_run=dry_run, output=output, typed_confirm=True, wait_timeout=wait_timeout, skip_drain=skip_drain,
        timeout=timeout, grace_period=grace_period, delete_emptydir_data=delete_emptydir_data, force=force,
        disable_eviction=disable_eviction, reason="replace")


def reboot(nodes: Nodes, yes: Yes = False, dry_run: DryRun = False, wait_timeout: WaitTimeout = REBOOT_WAIT,
           timeout: Timeout = DEFAULT_TIMEOUT, grace_period: Grace = None, delete_emptydir_data: EmptyDir = False,
           force: Force = False, disable_eviction: NoEviction = False, output: opt.OutputOpt = opt.Output.table,
           kubeconfig: opt.Kubeconfig = None, context: opt.Context = None, cluster: opt.ClusterName = None,
           region: opt.Region = None, resource_config: opt.ResourceConfig = None, demo: opt.Demo = False) -> None:
    """Drain, reboot the instances (BatchRebootClusterNodes), wait until Ready, uncordon."""
    run(_app(kubeconfig, context, cluster, region, resource_config, demo), "reboot", nodes, yes=yes,
        dry_run=dry_run, output=output, wait_timeout=wait_timeout, timeout=timeout, grace_period=grace_period,
        delete_emptydir_data=delete_emptydir_data, force=force, disable_eviction=disable_eviction, reason="reboot")


def scale_up(group: Annotated[str, typer.Option("--group", "-g", help="Instance group to grow.")],
             count: Annotated[int, typer.Option("--count", help="The group's new instance count.")],
             yes: Yes = False, dry_run: DryRun = False, output: opt.OutputOpt = opt.Output.table,
             kubeconfig: opt.Kubeconfig = None, context: opt.Context = None, cluster: opt.ClusterName = None,
             region: opt.Region = None, resource_config: opt.ResourceConfig = None, demo: opt.Demo = False) -> None:
    """Refresh the join token if needed, then raise an instance group's count (UpdateCluster)."""
    run(_app(kubeconfig, context, cluster, region, resource_config, demo), "scale-up", [], yes=yes,
        dry_run=dry_run, output=output, group=group, count=count)


def scale_down(nodes: Nodes, yes: Yes = False, dry_run: DryRun = False, timeout: Timeout = DEFAULT_TIMEOUT,
               grace_period: Grace = None, delete_emptydir_data: EmptyDir = False, force: Force = False,
               disable_eviction: NoEviction = False, output: opt.OutputOpt = opt.Output.table,
               kubeconfig: opt.Kubeconfig = None, context: opt.Context = None, cluster: opt.ClusterName = None,
               region: opt.Region = None, resource_config: opt.ResourceConfig = None, demo: opt.Demo = False) -> None:
    """Drain, delete the instances (BatchDeleteClusterNodes), delete the node objects."""
    run(_app(kubeconfig, context, cluster, region, resource_config, demo), "scale-down", nodes, yes=yes,
        dry_run=dry_run, output=output, typed_confirm=True, timeout=timeout, grace_period=grace_period,
        delete_emptydir_data=delete_emptydir_data, force=force, disable_eviction=disable_eviction,
        reason="scale-down")
