"""Plan, apply and dry-run over steps.

A :class:`Step` looks before it acts: ``check(host)`` probes read-only and returns the
:class:`Changes` still needed (empty, with a reason, when the work is done); ``apply(host, changes)``
makes exactly those. The runner checks each step right before applying it, so a later step sees
what the earlier ones did, and a re-run after a crash skips what is finished. ``--dry-run`` prints
the changes instead of applying them.
"""

from __future__ import annotations

import difflib
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from hyperpod_k8s.bootstrap.host import CommandResult, Host
from hyperpod_k8s.errors import ConfigError, ExitCode, HpkError

if TYPE_CHECKING:
    from hyperpod_k8s.bootstrap.context import Context


class StepFailed(HpkError):
    """A command or an AWS call of a step failed (after its retries). Re-running resumes from that step."""

    exit_code = ExitCode.STEP_FAILED


# -- the log: timestamped lines to stdout and the log file, secrets masked -----------------------

class Log:
    def __init__(self, path: str | None, stream: IO[str] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = path
        self.stream = stream if stream is not None else sys.stdout
        self.clock = clock
        self._secrets: dict[str, str] = {}
        self._file: IO[str] | None = None
        if path:
            try:
                from pathlib import Path

                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as e:
                raise ConfigError(f"cannot write the log file {path}: {e.strerror}",
                                  "run as root, or pass --log-file (HPK8S_BOOTSTRAP_LOG)") from None

    def hide(self, secret: str, shown_as: str) -> None:
        """Never write ``secret``; write ``shown_as`` in its place."""
        if secret:
            self._secrets[secret] = shown_as

    def redact(self, text: str) -> str:
        for secret, shown in self._secrets.items():
            text = text.replace(secret, shown)
        return text

    def __call__(self, message: str, step: str = "") -> None:
        stamp = self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        where = f" [{step}]" if step else ""
        line = self.redact(f"{stamp}{where} {message}")
        self.stream.write(line + "\n")
        self.stream.flush()
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# -- changes ------------------------------------------------------------------------------------

@dataclass
class Change:
    summary: str

    def plan_lines(self, redact: Callable[[str], str]) -> list[str]:
        return []

    def apply(self, host: Host, ctx: Context) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def command_line(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


@dataclass
class Run(Change):
    argv: tuple[str, ...] = ()
    env: dict[str, str] | None = None
    attempts: int = 1  # >1: retry with a growing pause (an API server still starting, apt locks)
    pause: float = 5.0
    timeout: float | None = None
    hint: str | None = None

    def plan_lines(self, redact: Callable[[str], str]) -> list[str]:
        env = "".join(f"{k}={v} " for k, v in (self.env or {}).items())
        more = f"   (up to {self.attempts} attempts)" if self.attempts > 1 else ""
        return [f"$ {redact(env + command_line(self.argv))}{more}"]

    def apply(self, host: Host, ctx: Context) -> None:
        run_command(host, ctx, self.argv, env=self.env, attempts=self.attempts, pause=self.pause,
                    timeout=self.timeout, hint=self.hint, what=self.summary)


def run_command(host: Host, ctx: Context, argv: Sequence[str], *, env: dict[str, str] | None = None,
                attempts: int = 1, pause: float = 5.0, timeout: float | None = None,
                hint: str | None = None, what: str = "") -> CommandResult:
    """Run a command; on failure retry, then raise StepFailed with the tail of its output."""
    result: CommandResult | None = None
    for attempt in range(1, attempts + 1):
        ctx.log(f"$ {command_line(argv)}" + (f"   (attempt {attempt}/{attempts})" if attempt > 1 else ""))
        result = host.run(argv, env=env, timeout=timeout or ctx.settings.command_timeout)
        if result.ok:
            return result
        lines = (result.stderr or result.stdout).strip().splitlines()[-3:]
        ctx.log(f"  exited {result.returncode}: {' | '.join(lines)}")
        if attempt < attempts:
            ctx.sleep(pause * attempt)
    assert result is not None
    tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
    raise StepFailed(ctx.log.redact(f"{what + ': ' if what else ''}`{command_line(argv)}` exited "
                                    f"{result.returncode}: {tail}"),
                     hint or f"see {ctx.log.path or 'the log'}; re-running resumes from this step")


@dataclass
class Write(Change):
    path: str = ""
    content: str = ""
    mode: int = 0o644
    old: str | None = None  # what is there now (None: no file)
    show: bool = True  # False: too long or not useful to print in a plan; the size is shown

    def plan_lines(self, redact: Callable[[str], str]) -> list[str]:
        if not self.show:
            return [f"({len(self.content.splitlines())} lines, mode {self.mode:04o})"]
        if self.old is None:
            return [f"new file, mode {self.mode:04o}:"] + ["  | " + redact(line) for line in self.content.splitlines()]
        diff = list(difflib.unified_diff(self.old.splitlines(), self.content.splitlines(), f"{self.path} (now)",
                                         f"{self.path} (planned)", lineterm="", n=2))
        return [f"changed, mode {self.mode:04o}:"] + ["  " + redact(line) for line in diff]

    def apply(self, host: Host, ctx: Context) -> None:
        ctx.log(f"write {self.path} (mode {self.mode:04o})")
        host.write(self.path, self.content, self.mode)


@dataclass
class Do(Change):
    """A change whose work is decided while it runs (kubeadm output, polling, AWS)."""

    fn: Callable[[Host, Context], None] | None = None
    details: list[str] = field(default_factory=list)

    def plan_lines(self, redact: Callable[[str], str]) -> list[str]:
        return [redact(d) for d in self.details]

    def apply(self, host: Host, ctx: Context) -> None:
        assert self.fn is not None
        self.fn(host, ctx)


class Changes(list[Change]):
    """The changes a step still needs; when empty, ``reason`` says why nothing is left."""

    def __init__(self, items: Sequence[Change] = (), reason: str = "") -> None:
        super().__init__(items)
        self.reason = reason


def done(reason: str) -> Changes:
    return Changes((), reason)


def write_if_changed(host: Host, path: str, content: str, mode: int = 0o644, summary: str = "",
                     show: bool = True) -> Write | None:
    """A Write when the file differs from ``content`` (text or mode unknown counts as same mode)."""
    old = host.read(path)
    if old == content:
        return None
    return Write(summary or f"write {path}", path=path, content=content, mode=mode, old=old, show=show)


# -- steps ---------------------------------------------------------------------------------------

class Step:
    name = "step"
    title = ""  # what the step is for, one line

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def check(self, host: Host) -> Changes:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, host: Host, changes: Changes) -> None:
        for change in changes:
            self.ctx.log(change.summary, self.name)
            change.apply(host, self.ctx)


@dataclass
class StepReport:
    name: str
    title: str
    changes: Changes


def run_steps(steps: Sequence[Step], host: Host, ctx: Context, *, dry_run: bool) -> list[StepReport]:
    """Check each step and, unless dry-running, apply what it still needs; return what was planned."""
    reports = []
    n = len(steps)
    for i, step in enumerate(steps, 1):
        started = time.monotonic()
        changes = step.check(host)
        reports.append(StepReport(step.name, step.title, changes))
        if dry_run:
            continue
        if not changes:
            ctx.log(f"[{i}/{n}] nothing to do: {changes.reason}", step.name)
            continue
        ctx.log(f"[{i}/{n}] {step.title}: {len(changes)} change(s)", step.name)
        try:
            step.apply(host, changes)
        except OSError as e:  # a file that cannot be written, a directory that cannot be made
            raise StepFailed(f"{step.name}: {e}", "re-running resumes from this step") from None
        ctx.log(f"[{i}/{n}] done in {time.monotonic() - started:.1f}s", step.name)
    return reports


def render_plan(reports: Sequence[StepReport], redact: Callable[[str], str]) -> list[str]:
    lines: list[str] = []
    n = len(reports)
    for i, r in enumerate(reports, 1):
        if not r.changes:
            lines.append(f"[{i}/{n}] {r.name}: nothing to do ({r.changes.reason})")
            continue
        lines.append(f"[{i}/{n}] {r.name}: {r.title}")
        for c in r.changes:
            lines.append(f"  - {redact(c.summary)}")
            lines.extend("      " + line for line in c.plan_lines(redact))
    return lines
