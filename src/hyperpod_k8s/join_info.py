"""What a worker needs to join: API endpoint, bootstrap token, CA certificate hash(es), expiry.

Stored in Secrets Manager as JSON (``hyperpod-k8s-<cluster-id>``) by ``hpk8s bootstrap`` on the
controller and by the token refresh; read by workers. Clusters made by the original sample wrote
``master_addr_port`` / ``token`` / ``discovery_token_ca_cert_hash``; those keys are read too.

The token is a credential: nothing here puts it in a ``repr`` or a log line; use :meth:`masked_token`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod_k8s.errors import ConfigError

# kubeadm's bootstrap token shape: 6-character id, a dot, 16-character secret; [a-z0-9] only.
TOKEN_RE = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
_HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_ALPHABET = string.ascii_lowercase + string.digits


def new_token() -> str:
    """A fresh random bootstrap token in kubeadm's format."""
    pick = secrets.choice
    return "".join(pick(_ALPHABET) for _ in range(6)) + "." + "".join(pick(_ALPHABET) for _ in range(16))


def mask(token: str) -> str:
    """``q7x2mb.****************``: the id (public, shows up in ``kubeadm token list``) and stars."""
    if "." in token:
        tid, rest = token.split(".", 1)
        return f"{tid}.{'*' * len(rest)}"
    return "*" * len(token)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class JoinInfo:
    endpoint: str  # host:port of the API server, e.g. 10.1.113.28:6443
    token: str = field(repr=False)
    ca_cert_hashes: tuple[str, ...] = ()
    expires: datetime | None = None  # None: unknown (the original sample wrote no expiry)

    def __repr__(self) -> str:
        return (f"JoinInfo(endpoint={self.endpoint!r}, token={self.masked_token()!r}, "
                f"ca_cert_hashes={self.ca_cert_hashes!r}, expires={self.expires!r})")

    @classmethod
    def from_secret(cls, data: dict[str, Any], name: str = "the join secret") -> JoinInfo:
        """Parse the secret's JSON (new keys first, the original sample's keys as a fallback)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{name} does not hold a JSON object")
        endpoint = data.get("endpoint") or data.get("master_addr_port")
        token = data.get("token")
        hashes: Any = data.get("ca_cert_hashes")
        if not hashes and data.get("discovery_token_ca_cert_hash"):
            hashes = [data["discovery_token_ca_cert_hash"]]
        if isinstance(hashes, str):
            hashes = [hashes]
        missing = [k for k, v in (("endpoint", endpoint), ("token", token), ("ca_cert_hashes", hashes)) if not v]
        if missing:
            raise ConfigError(f"{name} lacks {', '.join(missing)}",
                              "run `hpk8s ops token refresh` on the controller to rewrite it")
        if not isinstance(token, str) or not TOKEN_RE.match(token):
            raise ConfigError(f"{name} holds a token that is not a kubeadm bootstrap token",
                              "run `hpk8s ops token refresh` on the controller to rewrite it")
        norm = []
        for h in hashes:
            h = str(h).strip().lower()
            if not h.startswith("sha256:"):
                h = "sha256:" + h
            if not _HASH_RE.match(h):
                raise ConfigError(f"{name} holds a CA certificate hash that is not sha256:<64 hex digits>")
            norm.append(h)
        return cls(endpoint=str(endpoint).strip(), token=token, ca_cert_hashes=tuple(norm),
                   expires=_parse_time(data.get("expires")))

    def to_secret(self) -> dict[str, Any]:
        value: dict[str, Any] = {"endpoint": self.endpoint, "token": self.token,
                                 "ca_cert_hashes": list(self.ca_cert_hashes)}
        if self.expires is not None:
            value["expires"] = self.expires.astimezone(UTC).replace(microsecond=0).isoformat()
        return value

    def masked_token(self) -> str:
        return mask(self.token)

    @property
    def token_id(self) -> str:
        return self.token.split(".", 1)[0]

    def expiring_within(self, window: timedelta, now: datetime | None = None) -> bool:
        """True when the token expires within ``window`` (or already has). Unknown expiry counts as
        expiring: the original sample's tokens had kubeadm's default 24h TTL and no recorded date."""
        if self.expires is None:
            return True
        now = now or datetime.now(UTC)
        return self.expires - now <= window

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires is not None and self.expiring_within(timedelta(0), now)

    def describe(self) -> str:
        when = self.expires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if self.expires else "unknown"
        return f"endpoint {self.endpoint}, token {self.masked_token()}, expires {when}"


# -- the CA certificate hash kubeadm pins to (sha256 of the DER SubjectPublicKeyInfo) ----------------

def _der_element(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    end = pos + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, pos, end


def ca_cert_hash(pem: str) -> str:
    """``sha256:<hex>`` of the certificate's SubjectPublicKeyInfo, as ``kubeadm join`` expects.

    A small DER walk (Certificate → tbsCertificate → 7th field, or 6th without the version), so
    neither ``openssl`` nor a crypto library is needed.
    """
    m = re.search(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", pem, re.S)
    if not m:
        raise ConfigError("the CA certificate is not PEM")
    try:
        der = base64.b64decode("".join(m.group(1).split()))
        tag, start, _ = _der_element(der, 0)  # Certificate
        tag2, pos, tbs_end = _der_element(der, start)  # tbsCertificate
        if tag != 0x30 or tag2 != 0x30:
            raise ValueError("not a certificate")
        fields: list[tuple[int, int, int, int]] = []
        while pos < tbs_end and len(fields) < 7:
            ftag, fstart, fend = _der_element(der, pos)
            header = fstart - pos
            fields.append((ftag, pos, fend, header))
            pos = fend
        # the optional [0] EXPLICIT version comes first when present
        index = 6 if fields and fields[0][0] == 0xA0 else 5
        _, spki_start, spki_end, _ = fields[index]
        spki = der[spki_start:spki_end]
    except (ValueError, IndexError) as e:
        raise ConfigError(f"cannot read the CA certificate: {e}") from None
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def expiry_after(ttl: timedelta, now: datetime | None = None) -> datetime:
    return ((now or datetime.now(UTC)) + ttl).replace(microsecond=0)
