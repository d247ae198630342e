"""One entry point for every workflow, used alike by the CLI and the dashboard.

    p = plan(ctx, "drain", ["ip-10-1-38-142"], timeout=600)
    outcome = apply(ctx, p, reporter, cancel)

``plan`` reads only; it raises :mod:`hyperpod_k8s.errors` on bad input (unknown node, the control
plane, incomplete data). ``apply`` changes things and reports :class:`~hyperpod_k8s.ops.events.Event`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from hyperpod_k8s.errors import ConfigError
from hyperpod_k8s.ops.context import OpsContext
from hyperpod_k8s.ops.events import Outcome, Plan, Reporter

ACTIONS = ("cordon", "uncordon", "drain", "delete", "replace", "reboot", "token-refresh", "orphans",
           "scale-up", "scale-down")


def _drain_options(options: dict[str, Any]) -> Any:
    from hyperpod_k8s.ops.drain import DrainOptions

    known = set(DrainOptions.__dataclass_fields__)
    return DrainOptions(**{k: v for k, v in options.items() if k in known and v is not None})


def plan(ctx: OpsContext, action: str, nodes: Sequence[str], **options: Any) -> Plan:
    if action in ("cordon", "uncordon"):
        from hyperpod_k8s.ops import cordon

        return cordon.plan(ctx, nodes, uncordon=action == "uncordon", reason=options.get("reason", ""))
    if action == "drain":
        from hyperpod_k8s.ops import drain

        return drain.plan(ctx, nodes, _drain_options(options))
    if action == "delete":
        from hyperpod_k8s.ops import delete

        return delete.plan(ctx, nodes, _drain_options(options), skip_drain=bool(options.get("skip_drain")))
    if action == "replace":
        from hyperpod_k8s.ops import replace

        return replace.plan(ctx, nodes, _drain_options(options), **{k: v for k, v in options.items()
                                                                     if k in replace.PLAN_OPTIONS})
    if action == "reboot":
        from hyperpod_k8s.ops import reboot

        return reboot.plan(ctx, nodes, _drain_options(options), **{k: v for k, v in options.items()
                                                                    if k in reboot.PLAN_OPTIONS})
    if action == "token-refresh":
        from hyperpod_k8s.ops import join_token

        return join_token.plan(ctx, **options)
    if action == "orphans":
        from hyperpod_k8s.ops import orphans

        return orphans.plan(ctx, **options)
    if action in ("scale-up", "scale-down"):
        from hyperpod_k8s.ops import scale

        if action == "scale-up":
            return scale.plan_up(ctx, **options)
        return scale.plan_down(ctx, nodes, _drain_options(options))
    raise ConfigError(f"unknown workflow {action!r}", f"one of: {', '.join(ACTIONS)}")


def apply(ctx: OpsContext, p: Plan, reporter: Reporter, cancel: threading.Event | None = None) -> Outcome:
    action = p.action
    if action in ("cordon", "uncordon"):
        from hyperpod_k8s.ops import cordon

        return cordon.apply(ctx, p, reporter, cancel)
    if action == "drain":
        from hyperpod_k8s.ops import drain

        return drain.apply(ctx, p, reporter, cancel)
    if action == "delete":
        from hyperpod_k8s.ops import delete

        return delete.apply(ctx, p, reporter, cancel)
    if action == "replace":
        from hyperpod_k8s.ops import replace

        return replace.apply(ctx, p, reporter, cancel)
    if action == "reboot":
        from hyperpod_k8s.ops import reboot

        return reboot.apply(ctx, p, reporter, cancel)
    if action == "token-refresh":
        from hyperpod_k8s.ops import join_token

        return join_token.apply(ctx, p, reporter, cancel)
    if action == "orphans":
        from hyperpod_k8s.ops import orphans

        return orphans.apply(ctx, p, reporter, cancel)
    if action in ("scale-up", "scale-down"):
        from hyperpod_k8s.ops import scale

        return scale.apply(ctx, p, reporter, cancel)
    raise ConfigError(f"unknown workflow {action!r}", f"one of: {', '.join(ACTIONS)}")
