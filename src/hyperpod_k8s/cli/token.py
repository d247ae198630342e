"""``hpk8s ops token refresh|show``: the join token workers and replacements use."""

from __future__ import annotations

from typing import Annotated

import typer

from hyperpod_k8s.cli import options as opt
from hyperpod_k8s.cli.context import App
from hyperpod_k8s.cli.workflow import run
from hyperpod_k8s.errors import NotFoundError

token_app = typer.Typer(help="The Kubernetes join token kept in Secrets Manager.", no_args_is_help=True)


@token_app.command("refresh")
def refresh(
    ttl: Annotated[str, typer.Option("--ttl", help="How long the new token is valid (24h, 90m, 2d).")] = "24h",
    if_expiring_within: Annotated[str | None, typer.Option(
        "--if-expiring-within", help="Only refresh when the current token expires within this (6h).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and stop.")] = False,
    output: opt.OutputOpt = opt.Output.table,
    kubeconfig: opt.Kubeconfig = None, context: opt.Context = None, cluster: opt.ClusterName = None,
    region: opt.Region = None, resource_config: opt.ResourceConfig = None, demo: opt.Demo = False,
) -> None:
    """Mint a bootstrap token through the Kubernetes API and store it with the CA hash in Secrets Manager.

    Safe to run from a timer: adding a token takes nothing away, so it does not ask. The token is
    never printed, only its id.
    """
    app = App(opt.Target(kubeconfig, context, cluster, region, resource_config, demo))
    run(app, "token-refresh", [], yes=True, dry_run=dry_run, output=output, ttl=ttl,
        if_expiring_within=if_expiring_within)


@token_app.command("show")
def show(
    output: opt.OutputOpt = opt.Output.table,
    kubeconfig: opt.Kubeconfig = None, context: opt.Context = None, cluster: opt.ClusterName = None,
    region: opt.Region = None, resource_config: opt.ResourceConfig = None, demo: opt.Demo = False,
) -> None:
    """Show the join info in Secrets Manager: endpoint, masked token, CA hash, expiry."""
    from datetime import UTC, datetime

    from hyperpod_k8s.ops.join_token import read_join_info

    app = App(opt.Target(kubeconfig, context, cluster, region, resource_config, demo))
    ctx = app.ops_context()
    info = read_join_info(ctx)
    name = ctx.identity.secret_name if ctx.identity else "?"
    if info is None:
        raise NotFoundError(f"no join secret {name}", "create one with `hpk8s ops token refresh`")
    left = (info.expires - datetime.now(UTC)) if info.expires else None
    data = {"secret": name, "endpoint": info.endpoint, "token": info.masked_token(),
            "ca_cert_hashes": list(info.ca_cert_hashes),
            "expires": info.expires.isoformat() if info.expires else None,
            "expires_in_seconds": int(left.total_seconds()) if left is not None else None,
            "expired": info.expired()}
    if output == opt.Output.json:
        from hyperpod_k8s.cli.render import print_json

        print_json(data)
        return
    from hyperpod_k8s.cli.render import age, out

    when = f"{info.expires:%Y-%m-%d %H:%M} UTC" if info.expires else "unknown"
    state = "EXPIRED" if info.expired() else (f"in {age(left.total_seconds())}" if left is not None else "")
    for k, v in [("secret", name), ("endpoint", info.endpoint), ("token", info.masked_token()),
                 ("CA hash", ", ".join(info.ca_cert_hashes)), ("expires", f"{when} ({state})")]:
        out().print(f"{k:>9}  {v}", markup=False)
