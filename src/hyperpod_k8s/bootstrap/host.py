"""The Host seam: the only way hpk8s touches a machine (commands, files).

Bootstrap steps and the Slurm fallback of the workflows run commands and read or write files
only through a :class:`Host`. :class:`LocalHost` does it for real; :class:`RecordingHost` answers
from canned facts and records what would have run, which is also how ``--dry-run`` renders a plan.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Host(Protocol):
    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None,
            check: bool = False, env: dict[str, str] | None = None) -> CommandResult: ...

    def read(self, path: str) -> str | None:
        """The file's text, or None when it does not exist."""
        ...

    def write(self, path: str, data: str, mode: int = 0o644) -> None: ...

    def exists(self, path: str) -> bool: ...


class CommandFailed(Exception):
    def __init__(self, result: CommandResult) -> None:
        super().__init__(f"{' '.join(result.argv)} exited {result.returncode}: "
                         f"{(result.stderr or result.stdout).strip()[-300:]}")
        self.result = result


class LocalHost:
    """This machine, for real."""

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None,
            check: bool = False, env: dict[str, str] | None = None) -> CommandResult:
        try:
            p = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=timeout,
                               env={**os.environ, **env} if env else None)
            result = CommandResult(tuple(argv), p.returncode, p.stdout, p.stderr)
        except FileNotFoundError:
            result = CommandResult(tuple(argv), 127, "", f"{argv[0]}: command not found")
        except subprocess.TimeoutExpired:
            result = CommandResult(tuple(argv), 124, "", f"{argv[0]}: timed out after {timeout}s")
        if check and not result.ok:
            raise CommandFailed(result)
        return result

    def read(self, path: str) -> str | None:
        try:
            return Path(path).read_text()
        except FileNotFoundError:
            return None

    def write(self, path: str, data: str, mode: int = 0o644) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.hpk8s-tmp")
        tmp.write_text(data)
        os.chmod(tmp, mode)
        os.replace(tmp, p)  # atomic: a crash never leaves half a file

    def exists(self, path: str) -> bool:
        return os.path.exists(path)


Responder = Callable[[tuple[str, ...]], CommandResult | None]


@dataclass
class RecordingHost:
    """A host built from canned facts that records what runs and what is written.

    ``commands`` maps an argv prefix (tuple) to a result; the longest matching prefix wins, and
    unmatched commands succeed with empty output. ``files`` is the file system.
    """

    files: dict[str, str] = field(default_factory=dict)
    commands: dict[tuple[str, ...], CommandResult | Responder] = field(default_factory=dict)
    ran: list[tuple[str, ...]] = field(default_factory=list)
    written: list[tuple[str, int]] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None,
            check: bool = False, env: dict[str, str] | None = None) -> CommandResult:
        key = tuple(argv)
        self.ran.append(key)
        result: CommandResult | None = None
        for n in range(len(key), 0, -1):
            canned = self.commands.get(key[:n])
            if canned is not None:
                result = canned(key) if callable(canned) else canned
                if result is not None:
                    result = CommandResult(key, result.returncode, result.stdout, result.stderr)
                    break
        if result is None:
            result = CommandResult(key, 0)
        if check and not result.ok:
            raise CommandFailed(result)
        return result

    def read(self, path: str) -> str | None:
        return self.files.get(path)

    def write(self, path: str, data: str, mode: int = 0o644) -> None:
        self.files[path] = data
        self.modes[path] = mode
        self.written.append((path, mode))

    def exists(self, path: str) -> bool:
        return path in self.files or any(f.startswith(path.rstrip("/") + "/") for f in self.files)


# Commands a dry run may really execute: read-only probes of the machine. Anything else is refused,
# so a bug in a step's check() cannot change the machine during --dry-run.
_READ_ONLY: tuple[tuple[str, ...], ...] = (
    ("ip", "-j"), ("nvidia-smi", "-L"), ("which",), ("dpkg-query",), ("apt-mark", "showhold"),
    ("systemctl", "is-enabled"), ("systemctl", "is-active"), ("id", "-u"), ("stat",), ("hostname",),
)


_MUTATING = {"apply", "create", "delete", "patch", "edit", "label", "annotate", "replace", "drain", "cordon",
             "uncordon", "taint", "scale", "set", "exec", "cp"}


def is_read_only(argv: Sequence[str]) -> bool:
    key = tuple(argv)
    if any(key[:len(p)] == p for p in _READ_ONLY):
        return True
    if key[:3] in (("kubeadm", "version", "-o"), ("kubeadm", "token", "list")):
        return True
    if key[:1] == ("kubectl",):
        return "get" in key and not _MUTATING & set(key)
    # IMDS (placement, instance id): a token PUT and GETs to the link-local address only.
    return bool(key) and key[0] == "curl" and all("169.254.169.254" in a for a in key if a.startswith("http"))


class DryRunHost:
    """This machine, read only: probes run for real, everything else is refused.

    ``--dry-run`` plans with it, so the plan reflects what is already done here.
    """

    def __init__(self, local: LocalHost | None = None) -> None:
        self.local = local or LocalHost()

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None,
            check: bool = False, env: dict[str, str] | None = None) -> CommandResult:
        if not is_read_only(argv):
            raise PermissionError(f"dry run: refusing to run {' '.join(argv)}")
        return self.local.run(argv, input=input, timeout=timeout if timeout is not None else 5, check=check, env=env)

    def read(self, path: str) -> str | None:
        try:
            return self.local.read(path)
        except (PermissionError, IsADirectoryError, UnicodeDecodeError):
            return None

    def write(self, path: str, data: str, mode: int = 0o644) -> None:
        raise PermissionError(f"dry run: refusing to write {path}")

    def exists(self, path: str) -> bool:
        return self.local.exists(path)
