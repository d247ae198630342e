"""``hpk8s ops dashboard``: the Textual dashboard (textual is imported only when it runs)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hyperpod_k8s.cli import options as opt
from hyperpod_k8s.cli.context import App
from hyperpod_k8s.errors import ConfigError


def dashboard(
    read_only: Annotated[bool, typer.Option("--read-only", envvar="HPK8S_READ_ONLY", show_envvar=True,
                                            help="Show the fleet only: every action key is switched off.")] = False,
    refresh: Annotated[float, typer.Option("--refresh", metavar="SECONDS", envvar="HPK8S_REFRESH",
                                           show_envvar=True, help="Seconds between table refreshes (0: only on r).")
                       ] = 10.0,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    cluster: opt.ClusterName = None,
    region: opt.Region = None,
    resource_config: opt.ResourceConfig = None,
    demo: opt.Demo = False,
) -> None:
    """The fleet at a glance (nodes, GPUs, EFA, instance groups) with the workflows on keys.

    Keys: ? help, / filter, p problems only, c/u cordon/uncordon, d drain, x delete, R replace,
    b reboot, t token refresh, o orphan cleanup, r refresh, q quit. Every action shows its plan and asks.
    """
    if refresh < 0:
        raise ConfigError(f"--refresh {refresh} is negative", "give seconds between refreshes, or 0 for manual")
    if not demo:
        from hyperpod_k8s.clients.cluster import resolve_kubeconfig

        resolve_kubeconfig(kubeconfig)  # a missing file is a one-line error here, not a STALE screen later
    # Textual reads keys from stdin and draws on stderr: without a terminal on both it cannot work.
    if not (_is_tty(sys.__stdin__) and _is_tty(sys.__stderr__)):
        raise ConfigError("the dashboard needs an interactive terminal (stdin or stderr is not one)",
                          "for scripts use 'hpk8s ops nodes -o json'")
    app_ctx = App(opt.Target(kubeconfig, context, cluster, region, resource_config, demo))
    from hyperpod_k8s.tui.app import create_app

    create_app(app_ctx, read_only=read_only, refresh_seconds=refresh).run()


def _is_tty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
