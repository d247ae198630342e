"""Running a workflow from the command line: show the plan, confirm, apply, render progress."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hyperpod_k8s.cli import options as opt
from hyperpod_k8s.cli.context import App
from hyperpod_k8s.errors import ApiError, Declined

if TYPE_CHECKING:
    from hyperpod_k8s.ops.events import Event, Outcome, Plan


def render_plan(p: Plan, dry_run: bool) -> None:
    from rich.text import Text

    from hyperpod_k8s.cli.render import out

    con = out()
    head = f"Plan: {p.action}" + (" (dry run: nothing will change)" if dry_run else "")
    con.print(Text(head, style="bold"))
    for t in p.targets:
        bits = [b for b in (t.node, t.instance_id, t.group) if b]
        con.print(f"  target  {' · '.join(bits)}" + (f"  ({t.detail})" if t.detail else ""), markup=False)
    for i, s in enumerate(p.steps, 1):
        con.print(f"  {i:>2}. {s}", markup=False)
    for w in p.warnings:
        con.print(Text(f"  ! {w}", style="bold yellow"))


def confirm(p: Plan, *, typed: bool = False) -> None:
    """Ask on the terminal; refuse at once when there is none (questionary would read a pipe).

    ``typed``: the operator types the node name (or, for several, how many) instead of answering y.
    """
    if not sys.stdin.isatty():
        raise Declined(f"refusing to {p.action} without confirmation: stdin is not a terminal",
                       "re-run with --yes, or --dry-run to see the plan")
    import questionary

    if typed:
        if len(p.targets) == 1:
            expect = p.targets[0].node or p.targets[0].instance_id or ""
            prompt = f"Type the node name ({expect}) to {p.action} it:"
        else:
            expect = str(len(p.targets))
            prompt = f"Type the number of nodes ({expect}) to {p.action} them:"
        answer = questionary.text(prompt).ask()
        if answer is None or answer.strip() != expect:
            raise Declined(f"{p.action} not confirmed (expected {expect!r}); nothing changed")
        return
    what = p.targets[0].node or p.targets[0].group or p.targets[0].detail if len(p.targets) == 1 else \
        f"these {len(p.targets)} nodes"
    ok = questionary.confirm(f"{p.action} {what}?", default=False).ask()
    if not ok:
        raise Declined(f"{p.action} not confirmed; nothing changed")


class CliReporter:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def __call__(self, e: Event) -> None:
        if self.as_json:
            from hyperpod_k8s.cli.render import print_json

            print_json({"event": e.as_dict()}, line=True)
            return
        from rich.text import Text

        from hyperpod_k8s.cli.render import err

        style = {"failed": "bold red", "warning": "yellow", "finished": "green"}.get(str(e.kind), "")
        err().print(Text(f"{e.at:%H:%M:%S} {e.kind:<8} {e.message}", style=style))


def run(app: App, action: str, nodes: Sequence[str], *, yes: bool, dry_run: bool, output: opt.Output,
        typed_confirm: bool = False, **options: Any) -> tuple[Plan, Outcome | None]:
    """Plan, show, confirm, apply. Returns the plan and, when it was applied, the outcome."""
    from hyperpod_k8s.ops import workflows

    ctx = app.ops_context()
    p = workflows.plan(ctx, action, list(nodes), **options)
    as_json = output == opt.Output.json
    if as_json:
        from hyperpod_k8s.cli.render import print_json

        print_json({"plan": p.as_dict(), "dry_run": dry_run}, line=True)
    else:
        render_plan(p, dry_run)
    if dry_run or not p.targets:
        return p, None
    if not yes:
        confirm(p, typed=typed_confirm)
    outcome = workflows.apply(ctx, p, CliReporter(as_json), None)
    finish(outcome, as_json)
    return p, outcome


def finish(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        from hyperpod_k8s.cli.render import print_json

        print_json({"outcome": outcome.as_dict()}, line=True)
    else:
        from hyperpod_k8s.cli.render import out

        if outcome.done:
            out().print(f"{outcome.action}: done for {', '.join(outcome.done)}", markup=False)
        for node, d in outcome.details.items():
            if isinstance(d, dict) and d.get("new_node"):
                out().print(f"  {node}: instance {d.get('old_instance')} -> {d.get('new_instance')}, "
                            f"node {d['new_node']} Ready", markup=False)
    if not outcome.ok:
        err = outcome.first_error()
        if err is not None and len(outcome.failed) == 1:
            raise err
        if err is not None:
            err.message = f"{outcome.action} failed for {', '.join(outcome.failed)}: {err.message}"
            raise err
        raise ApiError(f"{outcome.action} failed for {', '.join(outcome.failed)}")
