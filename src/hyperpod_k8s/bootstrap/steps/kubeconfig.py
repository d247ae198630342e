"""The admin kubeconfig for the login user (``~/.kube/config``, mode 0600, owned by them)."""

from __future__ import annotations

from hyperpod_k8s.bootstrap.context import Context
from hyperpod_k8s.bootstrap.host import Host
from hyperpod_k8s.bootstrap.plan import Changes, Do, Step, StepFailed, done, run_command
from hyperpod_k8s.bootstrap.steps.kubeadm_common import ADMIN_CONF


def passwd_entry(host: Host, user: str) -> tuple[int, int, str] | None:
    """(uid, gid, home) from /etc/passwd, or None when there is no such user."""
    for line in (host.read("/etc/passwd") or "").splitlines():
        parts = line.split(":")
        if len(parts) >= 6 and parts[0] == user:
            return int(parts[2]), int(parts[3]), parts[5]
    return None


class AdminKubeconfig(Step):
    name = "kubeconfig"
    title = "give the login user kubectl access"

    def check(self, host: Host) -> Changes:
        user = self.ctx.settings.login_user
        entry = passwd_entry(host, user)
        if entry is None and not self.ctx.dry_run:
            return done(f"no user {user} on this instance (setting login_user)")
        uid, gid, home = entry or (1000, 1000, f"/home/{user}")
        target = f"{home}/.kube/config"
        admin = host.read(ADMIN_CONF)
        if admin is not None and host.read(target) == admin:
            st = host.run(["stat", "-c", "%u:%g:%a", target]).stdout.strip()
            if st == f"{uid}:{gid}:600":
                return done(f"{target} matches {ADMIN_CONF}, mode 0600, owner {user}")

        def copy(host: Host, ctx: Context) -> None:
            text = host.read(ADMIN_CONF)
            if text is None:
                raise StepFailed(f"{ADMIN_CONF} is missing: kubeadm init did not finish", "re-run hpk8s bootstrap")
            run_command(host, ctx, ["install", "-d", "-m", "0700", "-o", str(uid), "-g", str(gid), f"{home}/.kube"])
            ctx.log(f"write {target} (mode 0600)")
            host.write(target, text, 0o600)
            run_command(host, ctx, ["chown", f"{uid}:{gid}", target])

        return Changes([Do(f"copy {ADMIN_CONF} to {target}, mode 0600, owner {user}", fn=copy)])
