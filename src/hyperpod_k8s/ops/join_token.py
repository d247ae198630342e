"""Join-token refresh without a kubeadm binary.

A bootstrap token is a ``bootstrap.kubernetes.io/token`` Secret in ``kube-system`` (as kubeadm
creates it); the CA hash is sha256 of the cluster CA's SubjectPublicKeyInfo, read from the
``cluster-info`` ConfigMap in ``kube-public``. The join secret in Secrets Manager is then updated so
scale-up and replacement instances find a valid token. The token is never printed: only its id.
"""

from __future__ import annotations

import base64
import re
import threading
from datetime import timedelta
from typing import Any

from hyperpod_k8s.errors import ConfigError, HpkError, NotFoundError
from hyperpod_k8s.join_info import JoinInfo, ca_cert_hash, expiry_after, new_token
from hyperpod_k8s.ops.context import OpsContext
from hyperpod_k8s.ops.events import Event, Kind, Outcome, Plan, PlanTarget, Reporter, check_cancel

DEFAULT_TTL = timedelta(hours=24)
NODE_GROUP = "system:bootstrappers:kubeadm:default-node-token"

_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_duration(text: str | timedelta | None, what: str = "duration") -> timedelta | None:
    """``24h``, ``90m``, ``1d12h``, ``600`` (seconds)."""
    if text is None or isinstance(text, timedelta):
        return text
    s = str(text).strip()
    if s.isdigit():
        return timedelta(seconds=int(s))
    m = _DURATION.match(s)
    if not s or not m or not any(m.groups()):
        raise ConfigError(f"{what} {text!r} is not a duration", "write e.g. 24h, 90m, 1d12h or 600 (seconds)")
    d, h, mi, se = (int(x or 0) for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=se)


def human(td: timedelta) -> str:
    """24h, 90m, 1d12h: durations as the options take them."""
    secs = int(td.total_seconds())
    d, rem = divmod(secs, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    text = "".join(f"{v}{u}" for v, u in ((d, "d"), (h, "h"), (m, "m"), (s, "s")) if v)
    return text or "0s"


def read_join_info(ctx: OpsContext) -> JoinInfo | None:
    if ctx.identity is None:
        raise ConfigError("which HyperPod cluster? no --cluster and no resource_config.json",
                          "pass --cluster NAME")
    data = ctx.fleet().get_secret_json(ctx.identity.secret_name)
    return JoinInfo.from_secret(data, ctx.identity.secret_name) if data is not None else None


def cluster_ca_and_endpoint(ctx: OpsContext) -> tuple[str, str | None]:
    """The CA certificate (PEM) and the API endpoint host:port, from kube-public/cluster-info."""
    import yaml

    try:
        cm = ctx.cluster.get_json("/api/v1/namespaces/kube-public/configmaps/cluster-info",
                                  what="read kube-public/cluster-info")
    except NotFoundError:
        raise NotFoundError("the cluster has no kube-public/cluster-info ConfigMap",
                            "was it created by kubeadm init? the CA hash cannot be computed without it") from None
    try:
        kubeconfig = yaml.safe_load(cm.get("data", {}).get("kubeconfig", "")) or {}
        cluster = kubeconfig["clusters"][0]["cluster"]
        pem = base64.b64decode(cluster["certificate-authority-data"]).decode()
    except (KeyError, IndexError, TypeError, ValueError, yaml.YAMLError):
        raise ConfigError("kube-public/cluster-info does not hold a kubeconfig with the CA certificate") from None
    server = str(cluster.get("server", ""))
    endpoint = re.sub(r"^https?://", "", server).rstrip("/") or None
    return pem, endpoint


def plan(ctx: OpsContext, ttl: str | timedelta | None = None, if_expiring_within: str | timedelta | None = None,
         **_: Any) -> Plan:
    ttl_td = parse_duration(ttl, "--ttl") or DEFAULT_TTL
    if ttl_td < timedelta(minutes=10):
        raise ConfigError(f"--ttl {ttl} is too short", "a join can take minutes; use at least 10m")
    within = parse_duration(if_expiring_within, "--if-expiring-within")
    current = read_join_info(ctx)
    name = ctx.identity.secret_name if ctx.identity else "?"
    opts: dict[str, Any] = {"ttl_seconds": int(ttl_td.total_seconds())}
    if current is not None and within is not None and not current.expiring_within(within, ctx.now()):
        return Plan("token-refresh", [], [f"the join token in {name} is valid until {current.expires:%Y-%m-%d %H:%M} UTC, "
                                          f"beyond {if_expiring_within}: nothing to do"],
                    destructive=False, options=opts)
    state = "absent" if current is None else f"token {current.masked_token()}, expires " + (
        f"{current.expires:%Y-%m-%d %H:%M} UTC" if current.expires else "unknown")
    steps = [
        f"create a bootstrap token valid for {human(ttl_td)} (kube-system Secret, groups {NODE_GROUP})",
        "compute the CA certificate hash from kube-public/cluster-info",
        f"store endpoint, token, CA hash and expiry in Secrets Manager secret {name} (now: {state})",
    ]
    return Plan("token-refresh", [PlanTarget(None, None, detail=f"secret {name}")], steps, destructive=False,
                options=opts)


def create_bootstrap_token(ctx: OpsContext, ttl: timedelta) -> tuple[str, Any]:
    token = new_token()
    tid, secret = token.split(".")
    expires = expiry_after(ttl, ctx.now())

    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()

    ctx.cluster.post_json("/api/v1/namespaces/kube-system/secrets", {
        "apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
        "metadata": {"name": f"bootstrap-token-{tid}", "namespace": "kube-system"},
        "data": {
            "token-id": b64(tid), "token-secret": b64(secret),
            "expiration": b64(expires.strftime("%Y-%m-%dT%H:%M:%SZ")),
            "usage-bootstrap-authentication": b64("true"), "usage-bootstrap-signing": b64("true"),
            "auth-extra-groups": b64(NODE_GROUP), "description": b64(f"hpk8s token refresh by {ctx.actor}"),
        },
    }, what="create a bootstrap token")
    return token, expires


def refresh(ctx: OpsContext, ttl: timedelta, report: Reporter) -> tuple[JoinInfo, str]:
    """Mint a token, pin the CA hash, update the secret; returns the new info and the AWS request id."""
    assert ctx.identity is not None
    previous = read_join_info(ctx)
    pem, endpoint = cluster_ca_and_endpoint(ctx)
    ca_hash = ca_cert_hash(pem)
    token, expires = create_bootstrap_token(ctx, ttl)
    info = JoinInfo(endpoint=endpoint or (previous.endpoint if previous else ""), token=token,
                    ca_cert_hashes=(ca_hash,), expires=expires)
    if not info.endpoint:
        raise ConfigError("cannot tell the API endpoint: cluster-info has no server and the secret had none")
    request_id = ctx.fleet().put_secret_json(ctx.identity.secret_name, info.to_secret(),
                                             description="hpk8s: Kubernetes join info for HyperPod instances")
    report(Event(Kind.FINISHED, "token-refresh",
                 f"join token {info.masked_token()} stored in {ctx.identity.secret_name}, valid until "
                 f"{expires:%Y-%m-%d %H:%M} UTC"))
    return info, request_id


def ensure_valid(ctx: OpsContext, for_at_least: timedelta, report: Reporter) -> JoinInfo:
    """Refresh the join token unless it stays valid for ``for_at_least`` (workflows that wait for joins)."""
    current = read_join_info(ctx)
    if current is not None and not current.expiring_within(for_at_least, ctx.now()):
        report(Event(Kind.INFO, "token", f"join token {current.masked_token()} valid until "
                                         f"{current.expires:%Y-%m-%d %H:%M} UTC: kept"))
        return current
    info, request_id = refresh(ctx, max(DEFAULT_TTL, for_at_least + timedelta(hours=1)), report)
    ctx.audit.record("token-refresh", result="ok", request_ids=[request_id], token=info.masked_token(),
                     expires=info.expires, reason="before a workflow that waits for nodes to join")
    return info


def apply(ctx: OpsContext, p: Plan, report: Reporter, cancel: threading.Event | None = None) -> Outcome:
    out = Outcome("token-refresh")
    if not p.targets:
        return out
    check_cancel(cancel)
    try:
        info, request_id = refresh(ctx, timedelta(seconds=int(p.options["ttl_seconds"])), report)
    except HpkError as e:
        out.failed["secret"] = e.one_line()
        out.errors["secret"] = e
        ctx.audit.record("token-refresh", result="failed", error=e.one_line())
        return out
    out.done.append(ctx.identity.secret_name if ctx.identity else "secret")
    out.details = {"token": info.masked_token(), "expires": info.expires.isoformat() if info.expires else None,
                   "endpoint": info.endpoint, "ca_cert_hashes": list(info.ca_cert_hashes)}
    ctx.audit.record("token-refresh", result="ok", request_ids=[request_id], token=info.masked_token(),
                     expires=info.expires)
    return out
