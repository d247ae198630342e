"""Publish join info (endpoint, bootstrap token, CA hash, expiry) in Secrets Manager, create or update.

Current means: the secret names our endpoint and CA, its token is live in the cluster and does not
expire within ``token_refresh_within``. Otherwise a live token with enough time left is reused
(the one kubeadm init made), or a new one is created, and the secret is rewritten.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hyperpod_k8s.bootstrap.context import Context
from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Do, Step, StepFailed, done, run_command
from hyperpod_k8s.bootstrap.settings import format_duration
from hyperpod_k8s.bootstrap.steps.kubeadm_common import CA_CERT
from hyperpod_k8s.errors import ConfigError
from hyperpod_k8s.join_info import JoinInfo, ca_cert_hash, mask, new_token

DESCRIPTION = "hpk8s join token"


def live_tokens(host: Host) -> dict[str, datetime | None]:
    """Bootstrap tokens kubeadm knows, with their expiry (``kubeadm token list -o json``: a JSON stream)."""
    r = host.run(["kubeadm", "token", "list", "-o", "json"])
    if not r.ok:
        return {}
    tokens: dict[str, datetime | None] = {}
    decoder = json.JSONDecoder()
    text, pos = r.stdout, 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        if isinstance(obj, dict) and isinstance(obj.get("token"), str):
            exp = obj.get("expires")
            try:
                when = datetime.fromisoformat(exp.replace("Z", "+00:00")) if isinstance(exp, str) else None
            except ValueError:
                when = None
            tokens[obj["token"]] = when
    return tokens


class PublishJoinInfo(Step):
    name = "join-info"
    title = "publish how workers join, in Secrets Manager"

    def endpoint(self) -> str:
        return f"{self.ctx.node.address}:{self.ctx.settings.api_server_port}"

    def check(self, host: Host) -> Changes:
        ctx = self.ctx
        ttl = format_duration(ctx.settings.token_ttl)
        plan = Do(f"store join info in secret {ctx.secret_name} (create or update)", fn=self.publish, details=[
            f"endpoint {self.endpoint()}, CA hash of {CA_CERT},",
            f"a live bootstrap token with over {format_duration(ctx.settings.token_refresh_within)} left "
            f"(the one kubeadm init made), else a new one valid {ttl}; its expiry",
        ])
        if ctx.store is None or not host.exists(CA_CERT):
            return Changes([plan])
        ca = ca_cert_hash(host.read(CA_CERT) or "")
        raw = ctx.store.get()
        if raw is None:
            return Changes([plan])
        try:
            info = JoinInfo.from_secret(raw, ctx.secret_name)
        except ConfigError:
            return Changes([plan])
        ctx.log.hide(info.token, info.masked_token())
        window = timedelta(seconds=ctx.settings.token_refresh_within)
        if (info.endpoint == self.endpoint() and ca in info.ca_cert_hashes and info.token in live_tokens(host)
                and not info.expiring_within(window, ctx.now())):
            return done(f"secret {ctx.secret_name} is current: {info.describe()}")
        return Changes([plan])

    def publish(self, host: Host, ctx: Context) -> None:
        pem = host.read(CA_CERT)
        if pem is None:
            raise StepFailed(f"{CA_CERT} is missing: kubeadm init did not finish", "re-run hpk8s bootstrap")
        ca = ca_cert_hash(pem)
        now = ctx.now()
        keep = now + timedelta(seconds=ctx.settings.token_refresh_within)
        usable = {t: e for t, e in live_tokens(host).items() if e is None or e > keep}
        for t in usable:
            ctx.log.hide(t, mask(t))
        if usable:
            token = max(usable, key=lambda t: usable[t] or datetime.max.replace(tzinfo=UTC))
            expires = usable[token]
            ctx.log(f"reusing bootstrap token {mask(token)}")
        else:
            token = new_token()
            ctx.log.hide(token, mask(token))
            ttl = int(ctx.settings.token_ttl)
            run_command(host, ctx, ["kubeadm", "token", "create", token, "--ttl", f"{ttl}s",
                                    "--description", DESCRIPTION], what="create a bootstrap token")
            expires = now + timedelta(seconds=ttl)
        info = JoinInfo(endpoint=self.endpoint(), token=token, ca_cert_hashes=(ca,),
                        expires=expires.replace(microsecond=0) if expires else None)
        assert ctx.store is not None
        ctx.store.put(info.to_secret())
        ctx.log(f"stored join info in secret {ctx.secret_name}: {info.describe()}")
