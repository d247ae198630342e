"""One entry point for every workflow, used alike by the CLI and the dashboard.

    p = plan(ctx, "drain", ["ip-10-1-38-142"], timeout=600)
    outcome = apply(ctx, p, reporter, cancel)

``plan`` reads only; it raises :mod:`hyperpod_k8s.errors` on bad input (unknown node, the control
plane, incomplete data). ``apply`` changes things and reports :class:`~hyperpod_k8s.ops.events.Event`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

from hyperpod_k8s.errors import ConfigError
from hyperpod_k8s.ops.context import OpsContext
from hyperpod_k8s.ops.events import Outcome, Plan, Reporter

# action -> module in hyperpod_k8s.ops with apply(ctx, plan, reporter, cancel); imported on use.
_MODULES = {
    "cordon": "cordon", "uncordon": "cordon", "drain": "drain", "delete": "delete", "replace": "replace",
    "reboot": "reboot", "token-refresh": "join_token", "orphans": "orphans", "scale-up": "scale",
    "scale-down": "scale",
}
ACTIONS = tuple(_MODULES)


def _module(action: str) -> Any:
    name = _MODULES.get(action)
    if name is None:
        raise ConfigError(f"unknown workflow {action!r}", f"one of: {', '.join(ACTIONS)}")
    return importlib.import_module(f"hyperpod_k8s.ops.{name}")


def drain_options(options: dict[str, Any]) -> Any:
    from hyperpod_k8s.ops.drain import DrainOptions

    known = set(DrainOptions.__dataclass_fields__)
    return DrainOptions(**{k: v for k, v in options.items() if k in known and v is not None})


def _extra(mod: Any, options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in mod.PLAN_OPTIONS}


# How each action's plan is called: nodes and options in, the module's own signature out.
_PLANNERS: dict[str, Callable[[Any, OpsContext, Sequence[str], dict[str, Any]], Plan]] = {
    "cordon": lambda m, c, n, o: m.plan(c, n, reason=o.get("reason", "")),
    "uncordon": lambda m, c, n, o: m.plan(c, n, uncordon=True),
    "drain": lambda m, c, n, o: m.plan(c, n, drain_options(o)),
    "delete": lambda m, c, n, o: m.plan(c, n, drain_options(o), skip_drain=bool(o.get("skip_drain"))),
    "replace": lambda m, c, n, o: m.plan(c, n, drain_options(o), **_extra(m, o)),
    "reboot": lambda m, c, n, o: m.plan(c, n, drain_options(o), **_extra(m, o)),
    "token-refresh": lambda m, c, n, o: m.plan(c, **o),
    "orphans": lambda m, c, n, o: m.plan(c, **o),
    "scale-up": lambda m, c, n, o: m.plan_up(c, **o),
    "scale-down": lambda m, c, n, o: m.plan_down(c, n, drain_options(o)),
}


def plan(ctx: OpsContext, action: str, nodes: Sequence[str], **options: Any) -> Plan:
    mod = _module(action)
    return _PLANNERS[action](mod, ctx, nodes, options)


def apply(ctx: OpsContext, p: Plan, reporter: Reporter, cancel: threading.Event | None = None) -> Outcome:
    outcome: Outcome = _module(p.action).apply(ctx, p, reporter, cancel)
    return outcome
