"""The selected node in full: why it is flagged, conditions, taints, labels, pods, its HyperPod instance."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from hyperpod_k8s.cli.render import age
from hyperpod_k8s.ops.inventory import Flag, NodeRow, parse_time
from hyperpod_k8s.tui.data import NodeDetail

FLAG_MEANING = {
    Flag.FAILED_DEVICE: "allocatable < capacity: a GPU or EFA device failed",
    Flag.MISSING_DEVICE: "capacity < expected for the type: hardware or device plugin missing",
    Flag.NOT_JOINED: "a HyperPod instance with no Kubernetes node",
    Flag.ORPHAN: "a node whose instance is no longer in the HyperPod cluster",
    Flag.NOT_READY: "the kubelet does not report Ready",
    Flag.INSTANCE_UNHEALTHY: "HyperPod reports the instance as not Running",
}
# Labels worth a line; the rest are in `kubectl describe node`.
INTERESTING = ("node.kubernetes.io/instance-type", "hyperpod-k8s/", "topology.kubernetes.io/zone",
               "node-role.kubernetes.io/", "sagemaker.amazonaws.com/", "kubernetes.io/hostname")


def _since(ts: str | None, now: datetime) -> str:
    t = parse_time(ts)
    return age((now - t).total_seconds()) if t else "-"


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def render_detail(d: NodeDetail, now: datetime) -> RenderableType:
    r = d.row
    parts: list[RenderableType] = []
    head = Text(r.name, style="bold red" if r.flags else "bold")
    head.append(f"  {r.instance_type or '?'} · {r.group or 'no group'} · {r.instance_id or 'no instance id'}",
                style="")
    parts.append(head)
    parts.append(Text(f"IP {r.ip or '-'} · kubelet {r.kubelet_version or '-'} · matched by {r.matched_by or '-'}"
                      + (" · control plane" if r.control_plane else ""), style="dim"))
    for f in r.flags:
        parts.append(Text(f"! {f}: {FLAG_MEANING.get(f, '')}", style="bold red"))
    res = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    for col in ("", "requested", "allocatable", "capacity", "expected"):
        res.add_column(col, justify="right" if col else "left")
    for label, cnt in ((r.accel_resource, r.accel), ("vpc.amazonaws.com/efa", r.efa)):
        res.add_row(label, str(cnt.requested), str(cnt.allocatable), str(cnt.capacity),
                    "?" if cnt.expected is None else str(cnt.expected))
    parts.append(res)
    for problem in d.problems:
        parts.append(Text(f"could not read: {problem}", style="bold yellow"))
    if d.node is not None:
        n = d.node
        parts.append(_section("Conditions"))
        for c in n.status.conditions:
            bad = (c.status != "True") if c.type == "Ready" else (c.status == "True")
            line = Text(f"{c.type:<18} {c.status:<7} {_since(c.lastTransitionTime, now):>4} {c.reason}",
                        style="bold red" if bad else "")
            if bad and c.message:
                line.append(f"  {c.message}")
            parts.append(line)
        parts.append(_section("Taints"))
        parts.append(Text("\n".join(str(t) for t in n.spec.taints) or "none",
                          style="yellow" if n.spec.taints else "dim"))
        labels = sorted((k, v) for k, v in n.metadata.labels.items() if k.startswith(INTERESTING))
        parts.append(_section("Labels"))
        parts.append(Text("\n".join(f"{k}={v}" for k, v in labels) or "none"))
    if r.joined:
        parts.append(_section(f"Pods ({len(d.pods)})"))
        if d.pods:
            t = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
            for col in ("NAMESPACE/NAME", "PHASE", "GPU", "EFA", "AGE"):
                t.add_column(col, justify="right" if col in ("GPU", "EFA", "AGE") else "left",
                             no_wrap=True, overflow="ellipsis")
            for p in sorted(d.pods, key=lambda p: (-p.gpu, p.namespace, p.name)):
                done = p.phase in ("Succeeded", "Failed")
                t.add_row(f"{p.namespace}/{p.name}", p.phase, str(p.gpu or "-"), str(p.efa or "-"),
                          _since(p.created, now), style="dim" if done else "")
            parts.append(t)
        else:
            parts.append(Text("none", style="dim"))
    parts.append(_section("HyperPod instance"))
    if d.instance is not None:
        i = d.instance
        st = Text(f"{i.status}", style="" if i.status == "Running" else "bold red")
        if i.status_message:
            st.append(f"  {i.status_message}")
        parts.append(st)
        launched = age((now - i.launch_time).total_seconds()) if i.launch_time else "-"
        parts.append(Text(f"launched {launched} ago · {i.private_dns or '-'} · {i.ip or '-'}"))
    elif r.hyperpod_status == "absent":
        parts.append(Text("gone from ListClusterNodes (this node is an orphan)", style="bold red"))
    else:
        parts.append(Text("unknown" if r.hyperpod_status is None else r.hyperpod_status, style="dim"))
    return Group(*parts)


class NodeDetailPane(VerticalScroll):
    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(Text("select a node", style="dim"), id="detail-body")

    def show(self, d: NodeDetail, now: datetime) -> None:
        self.query_one("#detail-body", Static).update(render_detail(d, now))

    def show_row(self, r: NodeRow) -> None:
        self.query_one("#detail-body", Static).update(Text(f"{r.name}\nloading…", style="dim"))
