"""The audit log: one JSON line per change hpk8s makes (who, when, what, to which nodes and instances)."""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SYSTEM_PATH = "/var/log/hpk8s/audit.jsonl"


def default_path() -> str:
    """HPK8S_AUDIT_LOG, else /var/log/hpk8s when writable (root on the controller), else ~/.local/state."""
    env = os.environ.get("HPK8S_AUDIT_LOG")
    if env:
        return env
    sys_dir = Path(SYSTEM_PATH).parent
    if os.access(sys_dir, os.W_OK) or (not sys_dir.exists() and os.access(sys_dir.parent, os.W_OK)):
        return SYSTEM_PATH
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return str(state / "hpk8s" / "audit.jsonl")


def actor() -> str:
    """The person behind the change: the sudo user when run with sudo, and the host."""
    user = os.environ.get("SUDO_USER") or os.environ.get("HPK8S_ACTOR")
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
    return f"{user}@{socket.gethostname()}"


class AuditLog:
    def __init__(self, path: str | None = None, who: str | None = None) -> None:
        self.path = path or default_path()
        self.who = who or actor()
        self._lock = threading.Lock()

    def record(self, action: str, *, result: str, nodes: list[str] | None = None,
               instance_ids: list[str] | None = None, request_ids: list[str] | None = None,
               **details: Any) -> dict[str, Any]:
        entry = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "who": self.who, "action": action,
            "nodes": nodes or [], "instance_ids": instance_ids or [], "aws_request_ids": request_ids or [],
            "result": result, **details,
        }
        line = json.dumps(entry, sort_keys=True, default=str)
        with self._lock:
            p = Path(self.path)
            p.parent.mkdir(parents=True, exist_ok=True)
            with p.open("a") as f:
                f.write(line + "\n")
        return entry

    def entries(self) -> list[dict[str, Any]]:
        try:
            return [json.loads(x) for x in Path(self.path).read_text().splitlines() if x.strip()]
        except FileNotFoundError:
            return []
