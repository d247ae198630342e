"""The ``hpk8s`` command: Typer app, and the one place errors become a line on stderr and an exit code.

Heavy libraries (kubernetes, boto3, textual, questionary) are imported inside the commands that use
them, so ``hpk8s --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hyperpod_k8s import __version__
from hyperpod_k8s.cli import bootstrap as bootstrap_cmd
from hyperpod_k8s.cli import dashboard as dashboard_cmd
from hyperpod_k8s.cli import demo as demo_cmd
from hyperpod_k8s.cli import node_cmds
from hyperpod_k8s.cli import nodes as nodes_cmd
from hyperpod_k8s.cli import orphans as orphans_cmd
from hyperpod_k8s.cli.token import token_app
from hyperpod_k8s.errors import ExitCode, HpkError

app = typer.Typer(
    name="hpk8s",
    help="Install and operate a self-managed Kubernetes cluster on Amazon SageMaker HyperPod.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rich help costs ~100-250 ms of imports (rich.markdown, rich.traceback, pygments),
    # more than the rest of `hpk8s --help` together (bench/cli_startup.py). Tables still use rich.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
ops_app = typer.Typer(help="Operate the cluster: inventory, and the workflows on nodes and instances.",
                      no_args_is_help=True)
demo_app = typer.Typer(help="The embedded demo cluster (emulated Kubernetes API and AWS).", no_args_is_help=True)
app.add_typer(ops_app, name="ops")
app.add_typer(demo_app, name="demo")

ops_app.command("nodes")(nodes_cmd.nodes)
ops_app.command("dashboard")(dashboard_cmd.dashboard)
for _name in ("cordon", "uncordon", "drain", "delete", "replace", "reboot", "scale-up", "scale-down"):
    ops_app.command(_name)(getattr(node_cmds, _name.replace("-", "_")))
ops_app.command("orphans")(orphans_cmd.orphans)
ops_app.add_typer(token_app, name="token")
# Scripts and cron call this one at the top level.
app.command("orphans")(orphans_cmd.orphans)
demo_app.command("serve")(demo_cmd.serve)
app.command("bootstrap")(bootstrap_cmd.bootstrap)

_verbose = False


def _version(value: bool) -> None:
    if value:
        print(f"hpk8s {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", envvar="HPK8S_VERBOSE",
                                          help="Show tracebacks and debug details on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    global _verbose
    _verbose = verbose


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, then turn whatever it raised into one line and an exit code."""
    # typer >= 0.2x vendors click: it raises its own ClickException, not click's (and importing
    # click as well would cost startup time).
    try:
        from typer._click.exceptions import ClickException
    except ImportError:
        from click import ClickException  # type: ignore[assignment]

    from hyperpod_k8s.cli import context

    code: int = ExitCode.OK
    try:
        result = app(args=argv, prog_name="hpk8s", standalone_mode=False)
        code = result if isinstance(result, int) else ExitCode.OK
    except HpkError as e:
        if _verbose:
            import traceback

            traceback.print_exc()
        print(f"error: {e.one_line()}", file=sys.stderr)
        code = e.exit_code
    except typer.Exit as e:
        code = e.exit_code
    except ClickException as e:
        e.show()
        code = ExitCode.USAGE if e.exit_code == 2 else e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        code = 130
    except Exception as e:
        if _verbose:
            import traceback

            traceback.print_exc()
        print(f"error: internal error: {type(e).__name__}: {e} (run with -v for the traceback)", file=sys.stderr)
        code = ExitCode.INTERNAL
    finally:
        try:
            context.close()
        except Exception as e:  # closing must not hide the command's own outcome
            print(f"warning: cleanup failed: {e}", file=sys.stderr)
    sys.stdout.flush()
    sys.exit(int(code))
