"""A worker joins: wait for join info, then ``kubeadm join`` from a generated JoinConfiguration.

Done means ``/etc/kubernetes/kubelet.conf`` exists (kubeadm writes it once the node's kubelet holds
its own credentials). Files of a join that stopped half-way are cleaned with ``kubeadm reset``.
A token the API server rejects (expired, or deleted) is set aside: the secret is read again until
it holds another one, and the join retried, ``join_attempts`` times in all.
"""

from __future__ import annotations

import random
import re

from hyperpod_k8s.bootstrap.context import Context
from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Do, Step, StepFailed, command_line, done, run_command
from hyperpod_k8s.bootstrap.render import render
from hyperpod_k8s.bootstrap.settings import format_duration
from hyperpod_k8s.bootstrap.steps.kubeadm_common import KUBELET_CONF, kubelet_args_yaml, reset_half_done
from hyperpod_k8s.errors import ConfigError, TimeoutExpired, UnavailableError
from hyperpod_k8s.join_info import JoinInfo

CONFIG_NAME = "kubeadm-join.yaml"
# What kubeadm says when the API server does not know the token (expired and cleaned up, or deleted).
TOKEN_REJECTED = re.compile(
    r"could not find a JWS signature|token id \S+ is invalid|has expired|token .*expired|"
    r"Unauthorized|failed to get config map: .*forbidden", re.I)
REFRESH_HINT = ("on the controller run `hpk8s ops token refresh`, then re-run "
                "`hpk8s bootstrap --role worker` on this instance")


def join_config(ctx: Context, endpoint: str, token: str, hashes: tuple[str, ...]) -> str:
    return render("kubeadm-join.yaml", api=ctx.settings.kubeadm_api, endpoint=endpoint, token=token,
                  ca_hashes="\n".join(f'      - "{h}"' for h in hashes), kubelet_args=kubelet_args_yaml(ctx))


def backoff(attempt: int, first: float = 2.0, cap: float = 60.0) -> float:
    """Exponential backoff with jitter: a random pause in [d/2, d], d = first·2^attempt capped."""
    d = min(cap, first * 2 ** attempt)
    return d / 2 + random.random() * d / 2


def wait_for_join_info(ctx: Context, deadline: float, rejected: set[str]) -> JoinInfo:
    """Poll the secret until it holds usable join info; AccessDenied ends it at once (AuthError)."""
    assert ctx.store is not None
    name = ctx.store.name
    attempt = 0
    last = ""
    while True:
        why = ""
        try:
            raw = ctx.store.get()
            if raw is None:
                why = f"secret {name} does not exist yet (the controller publishes it after kubeadm init)"
            else:
                info = JoinInfo.from_secret(raw, f"secret {name}")
                ctx.log.hide(info.token, info.masked_token())
                if info.token in rejected:
                    why = f"secret {name} still holds the rejected token {info.masked_token()}"
                elif info.expired(ctx.now()):
                    why = f"the token in secret {name} expired ({info.describe()}); waiting for a refresh"
                else:
                    return info
        except (ConfigError, UnavailableError) as e:  # half-written or unreadable for now: keep waiting
            why = e.one_line()
        if why != last:
            ctx.log(why, "join")
            last = why
        if ctx.monotonic() >= deadline:
            raise TimeoutExpired(f"no usable join info after {format_duration(ctx.settings.join_info_timeout)}: {why}",
                                 "is the controller up? see its /var/log/provision/hpk8s-bootstrap.log; "
                                 + REFRESH_HINT)
        ctx.sleep(max(0.0, min(backoff(attempt), deadline - ctx.monotonic())))
        attempt += 1


class KubeadmJoin(Step):
    name = "kubeadm-join"
    title = "join the cluster"

    def check(self, host: Host) -> Changes:
        ctx = self.ctx
        if host.exists(KUBELET_CONF):
            return done(f"joined already ({KUBELET_CONF} exists)")
        changes = Changes(reset_half_done(host, "a join"))
        path = ctx.path(CONFIG_NAME)
        shown = join_config(ctx, "<endpoint from the secret>", "<token from the secret>",
                            ("<CA hash from the secret>",))
        changes.append(Do(
            f"wait up to {format_duration(ctx.settings.join_info_timeout)} for join info in secret {ctx.secret_name}, "
            f"write {path} (mode 0600) and join", fn=self.join,
            details=[f"$ {command_line(('kubeadm', 'join', '--config', path))}", f"{path}:"]
            + ["  | " + line for line in shown.splitlines()]))
        return changes

    def join(self, host: Host, ctx: Context) -> None:
        path = ctx.path(CONFIG_NAME)
        deadline = ctx.monotonic() + ctx.settings.join_info_timeout
        rejected: set[str] = set()
        attempts = ctx.settings.join_attempts
        for attempt in range(1, attempts + 1):
            info = wait_for_join_info(ctx, deadline, rejected)
            ctx.log(f"join info: {info.describe()}", self.name)
            ctx.log(f"write {path} (mode 0600)", self.name)
            host.write(path, join_config(ctx, info.endpoint, info.token, info.ca_cert_hashes), 0o600)
            argv = ["kubeadm", "join", "--config", path]
            try:
                run_command(host, ctx, argv, what="kubeadm join")
                return
            except StepFailed as e:
                if not TOKEN_REJECTED.search(e.message):
                    raise
                rejected.add(info.token)
                ctx.log(f"the API server rejected token {info.masked_token()} (expired?); "
                        f"{'reading the secret again' if attempt < attempts else 'giving up'}", self.name)
                run_command(host, ctx, ["kubeadm", "reset", "--force"], what="clean up the failed join")
        raise StepFailed(f"kubeadm join: the token in secret {ctx.secret_name} was rejected {attempts} times",
                         REFRESH_HINT)


