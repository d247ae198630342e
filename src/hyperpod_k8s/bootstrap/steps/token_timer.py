"""A systemd timer on the controller that runs ``hpk8s ops token refresh`` before the token expires."""

from __future__ import annotations

import os

from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Run, Step, write_if_changed
from hyperpod_k8s.bootstrap.render import render
from hyperpod_k8s.bootstrap.settings import format_duration

UNIT = "hpk8s-token-refresh"
UNIT_DIR = "/etc/systemd/system"


class TokenRefreshTimer(Step):
    name = "token-timer"
    title = f"install {UNIT}.timer so scale-up and replacement never meet an expired token"

    def check(self, host: Host) -> Changes:
        ctx = self.ctx
        s, ident = ctx.settings, ctx.node.cluster.identity
        service = render(f"{UNIT}.service", resource_config=os.path.abspath(ctx.node.cluster.path), region=ident.region or "",
                         cluster=ident.arn or ident.name, hpk8s=ctx.hpk8s_command,
                         within=format_duration(s.token_refresh_within), ttl=format_duration(s.token_ttl))
        timer = render(f"{UNIT}.timer", every=format_duration(s.token_refresh_every))
        files = [w for w in (write_if_changed(host, f"{UNIT_DIR}/{UNIT}.service", service),
                             write_if_changed(host, f"{UNIT_DIR}/{UNIT}.timer", timer)) if w]
        changes = Changes(files, reason=f"{UNIT}.timer installed, enabled and active")
        if files:
            changes.append(Run("reload systemd units", argv=("systemctl", "daemon-reload")))
        enabled = host.run(["systemctl", "is-enabled", f"{UNIT}.timer"]).stdout.strip() == "enabled"
        active = host.run(["systemctl", "is-active", f"{UNIT}.timer"]).stdout.strip() == "active"
        if files or not (enabled and active):
            changes.append(Run("start the timer now and at boot",
                               argv=("systemctl", "enable", "--now", f"{UNIT}.timer")))
        return changes
