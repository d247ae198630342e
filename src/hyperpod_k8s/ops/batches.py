"""SageMaker's Batch*ClusterNodes calls in batches, with per-instance failures mapped back to nodes."""

from __future__ import annotations

from collections.abc import Callable

from hyperpod_k8s.clients.fleet import Fleet
from hyperpod_k8s.errors import ApiError, HpkError
from hyperpod_k8s.ops.events import Outcome


def run_batches(fleet: Fleet, what: str, nodes: list[str], ids: dict[str, str], size: int,
                call: Callable[[list[str]], dict[str, object]], out: Outcome) -> tuple[list[str], list[str]]:
    """Call ``call(instance_ids)`` per batch of ``size``; failures go into ``out`` by node.

    Returns the nodes whose instances the API accepted, and the AWS request ids.
    """
    accepted: list[str] = []
    request_ids: list[str] = []
    for k in range(0, len(nodes), size):
        batch = nodes[k:k + size]
        try:
            r = fleet.call(what, lambda b=batch: call([ids[n] for n in b]))  # type: ignore[misc]
        except HpkError as e:
            for n in batch:
                out.failed[n], out.errors[n] = e.one_line(), e
            continue
        request_ids.append(fleet.request_id(r))
        bad = {str(f.get("NodeId")): f"{f.get('ErrorCode') or f.get('Code', '')}: {f.get('Message', '')}"
               for f in r.get("Failed", []) or []}  # type: ignore[attr-defined]
        for n in batch:
            if ids[n] in bad:
                out.failed[n] = bad[ids[n]]
                out.errors[n] = ApiError(f"{what} for {n} ({ids[n]}): {bad[ids[n]]}")
            else:
                accepted.append(n)
    return accepted, request_ids
