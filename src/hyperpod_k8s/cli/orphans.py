"""``hpk8s orphans``: delete node objects whose HyperPod instance is gone. Cron-safe."""

from __future__ import annotations

from typing import Annotated

import typer

from hyperpod_k8s.cli import options as opt
from hyperpod_k8s.cli.context import App
from hyperpod_k8s.cli.workflow import run

FOUND = 10  # orphans found and left in place (--dry-run)
DELETED = 11  # orphans found and deleted


def orphans(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking (cron, scripts).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list them.")] = False,
    grace: Annotated[str, typer.Option("--grace", help="How long a node must have been NotReady (10m, 1h).")] = "10m",
    output: opt.OutputOpt = opt.Output.table,
    kubeconfig: opt.Kubeconfig = None, context: opt.Context = None, cluster: opt.ClusterName = None,
    region: opt.Region = None, resource_config: opt.ResourceConfig = None, demo: opt.Demo = False,
) -> None:
    """Find nodes whose instance is not in the HyperPod cluster any more, and delete them.

    A candidate's instance is absent from the complete ListClusterNodes list (by instance id), it has
    been NotReady for --grace, and it is not the control plane. If the instance list cannot be read
    completely nothing is deleted. Exit codes: 0 no orphans, 10 orphans found (not deleted:
    --dry-run), 11 orphans deleted; 4/5/6 the check failed; 8 not confirmed.
    """
    app = App(opt.Target(kubeconfig, context, cluster, region, resource_config, demo))
    plan, outcome = run(app, "orphans", [], yes=yes, dry_run=dry_run, output=output, grace=grace)
    if outcome is not None and outcome.done:
        raise typer.Exit(DELETED)
    if outcome is None and plan.targets:
        raise typer.Exit(FOUND)
