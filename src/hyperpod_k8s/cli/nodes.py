"""``hpk8s ops nodes``: the fleet inventory as a table or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hyperpod_k8s.cli import options as opt
from hyperpod_k8s.cli.context import App
from hyperpod_k8s.errors import NotFoundError

if TYPE_CHECKING:
    from hyperpod_k8s.ops.inventory import Inventory, NodeRow


def nodes(
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Only these instance groups (repeatable).")] = None,
    unhealthy: Annotated[bool, typer.Option("--unhealthy", help="Only nodes and instances with a problem flag.")] = False,
    node: Annotated[list[str] | None, typer.Option("--node", "-n", help="Only this node (name, instance id or IP; repeatable).")] = None,
    output: opt.OutputOpt = opt.Output.table,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    cluster: opt.ClusterName = None,
    region: opt.Region = None,
    resource_config: opt.ResourceConfig = None,
    demo: opt.Demo = False,
) -> None:
    """Nodes joined with their HyperPod instances: GPU/EFA requested/allocatable/capacity, health flags.

    Exit codes: 0 all read; 3 a --node or --group that does not exist; 2/4/5/6 the HyperPod instance
    list could not be read (fully): the table is still printed, with HyperPod columns as '?'.
    """
    from hyperpod_k8s.ops import inventory as inv_mod

    app = App(opt.Target(kubeconfig, context, cluster, region, resource_config, demo))
    inv = inv_mod.build(app.sources())
    rows = select(inv, group, node, unhealthy)
    if output == opt.Output.json:
        from hyperpod_k8s.cli.render import print_json

        data = inv.as_dict()
        data["nodes"] = [r.as_dict(inv.taken_at) for r in rows]
        print_json(data)
    else:
        render_table(inv, rows, title=app.identity_label(), wide=output == opt.Output.wide)
    if inv.fleet_error is not None:
        raise inv.fleet_error


def select(inv: Inventory, groups: list[str] | None, names: list[str] | None, unhealthy: bool) -> list[NodeRow]:
    rows = inv.rows
    if groups:
        known = {r.group for r in rows}
        missing = [g for g in groups if g not in known]
        if missing:
            raise NotFoundError(f"no instance group {', '.join(missing)}",
                                f"groups here: {', '.join(sorted(g for g in known if g))}")
        rows = [r for r in rows if r.group in groups]
    if names:
        picked = []
        for n in names:
            row = inv.find(n)
            if row is None:
                raise NotFoundError(f"no node or instance {n!r} in this cluster",
                                    "give a node name, an instance id (i-...) or an InternalIP")
            picked.append(row)
        rows = [r for r in rows if any(r is p for p in picked)]
    if unhealthy:
        rows = [r for r in rows if not r.healthy]
    return rows


def render_table(inv: Inventory, rows: list[NodeRow], title: str = "", wide: bool = False) -> None:
    from rich.table import Table
    from rich.text import Text

    from hyperpod_k8s.cli.render import age, counts, out, warn

    con = out()
    t = Table(title=title or None, title_justify="left", box=None, pad_edge=False, header_style="bold",
              padding=(0, 1, 0, 0), caption="GPU, EFA: requested/allocatable/capacity", caption_justify="left")
    t.add_column("NODE", no_wrap=True)
    t.add_column("GROUP", overflow="ellipsis", no_wrap=True, max_width=None if wide else 12)
    if wide:
        t.add_column("INSTANCE", no_wrap=True)
        t.add_column("TYPE", no_wrap=True)
        t.add_column("IP", no_wrap=True)
    t.add_column("STATUS", min_width=7, overflow="fold")
    t.add_column("GPU", no_wrap=True)
    t.add_column("EFA", no_wrap=True)
    t.add_column("PODS", justify="right")
    t.add_column("AGE", justify="right")
    t.add_column("FLAGS", min_width=10, overflow="fold")
    for r in rows:
        flags = " ".join(str(f) for f in r.flags) or "ok"
        cells: list[Text | str] = [Text(r.name, style="red" if r.flags else ""), r.group or "-"]
        if wide:
            cells += [r.instance_id or "-", r.instance_type or "-", r.ip or "-"]
        cells += [
            Text(status_text(r), style="" if r.ready == "Ready" and not r.cordoned and
                 r.hyperpod_status in ("Running", None) else "yellow"),
            counts(r.accel, r.joined), counts(r.efa, r.joined),
            str(r.pods) if r.joined else "-", age(r.age_seconds(inv.taken_at)),
            Text(flags, style="bold red" if r.flags else "green"),
        ]
        t.add_row(*cells)
    con.print(t)
    con.print()
    g = Table(title="Instance groups", title_justify="left", box=None, pad_edge=False, header_style="bold",
              padding=(0, 1, 0, 0))
    g.add_column("GROUP", overflow="ellipsis", no_wrap=True, min_width=7)
    if wide:
        g.add_column("TYPE", no_wrap=True)
    for col in ("INST", "NODES", "READY", "GPU r/a/c/exp", "EFA r/a/c/exp", "PROBLEMS"):
        g.add_column(col, no_wrap=True, justify="right" if col in ("INST", "NODES", "READY", "PROBLEMS") else "left")
    for s in [*inv.groups(), inv.totals()]:
        cells2: list[Text | str] = [s.name]
        if wide:
            cells2.append(s.instance_type or "")
        cells2 += [str(s.instances), str(s.nodes), str(s.ready),
                   f"{s.accel.requested}/{s.accel.allocatable}/{s.accel.capacity}/{s.accel.expected}",
                   f"{s.efa.requested}/{s.efa.allocatable}/{s.efa.capacity}/{s.efa.expected}",
                   Text(str(s.problems), style="bold red" if s.problems else "green")]
        g.add_row(*cells2)
    con.print(g)
    if inv.fleet_error is not None:
        return  # the error line that follows says what is missing, once
    if inv.instances_source != "ListClusterNodes":
        warn(f"HyperPod instances from {inv.instances_source}: status unknown, orphan and not-joined not judged")
    elif not inv.instances_complete:
        warn("the HyperPod instance list is incomplete: no node is called an orphan on partial data")


def status_text(r: NodeRow) -> str:
    """Kubernetes state, with the HyperPod state when it is not the usual Running."""
    parts = [r.ready if r.joined else "NoNode"]
    if r.cordoned:
        parts.append("Cordoned")
    if r.hyperpod_status is None:
        parts.append("HP:?")
    elif r.hyperpod_status != "Running":
        parts.append(f"HP:{r.hyperpod_status}")
    return " ".join(parts)
