"""The join info shared by bootstrap and the token refresh: secret format, masking, expiry, CA hash."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from hyperpod_k8s.errors import ConfigError
from hyperpod_k8s.join_info import TOKEN_RE, JoinInfo, ca_cert_hash, expiry_after, mask, new_token

TOKEN = "q7x2mb.8f3k1v0c9d2e4a6b"
HASH = "sha256:" + "3f" * 32
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_new_keys_round_trip() -> None:
    data = {"endpoint": "10.1.113.28:6443", "token": TOKEN, "ca_cert_hashes": [HASH],
            "expires": "2026-11-29T12:00:00+00:00"}
    info = JoinInfo.from_secret(data)
    assert info.endpoint == "10.1.113.28:6443" and info.ca_cert_hashes == (HASH,)
    assert info.expires == NOW + timedelta(days=1)
    assert info.to_secret() == data


def test_original_sample_keys_are_read() -> None:
    info = JoinInfo.from_secret({"master_addr_port": "10.1.113.28:6443", "token": TOKEN,
                                 "discovery_token_ca_cert_hash": "3f" * 32})
    assert info.endpoint == "10.1.113.28:6443" and info.ca_cert_hashes == (HASH,) and info.expires is None
    assert info.expiring_within(timedelta(hours=6), NOW)  # unknown expiry counts as expiring


def test_the_token_never_shows() -> None:
    info = JoinInfo("10.1.113.28:6443", TOKEN, (HASH,), NOW)
    assert info.masked_token() == "q7x2mb.****************" == mask(TOKEN)
    assert TOKEN not in repr(info) and TOKEN not in info.describe() and TOKEN not in str(info)


def test_expiry() -> None:
    info = JoinInfo("e:6443", TOKEN, (HASH,), NOW + timedelta(hours=5))
    assert info.expiring_within(timedelta(hours=6), NOW)
    assert not info.expiring_within(timedelta(hours=4), NOW)
    assert not info.expired(NOW) and info.expired(NOW + timedelta(hours=5))
    assert expiry_after(timedelta(hours=24), NOW) == NOW + timedelta(hours=24)
    assert JoinInfo.from_secret({"endpoint": "e", "token": TOKEN, "ca_cert_hashes": [HASH],
                                 "expires": "2026-11-29T12:00:00Z"}).expires == NOW + timedelta(days=1)


@pytest.mark.parametrize("data", [
    {}, {"endpoint": "e", "token": TOKEN}, {"endpoint": "e", "token": "nope", "ca_cert_hashes": [HASH]},
    {"endpoint": "e", "token": TOKEN, "ca_cert_hashes": ["sha256:12"]},
])
def test_bad_secrets_are_refused_without_echoing_the_token(data: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as e:
        JoinInfo.from_secret(data, "secret hyperpod-k8s-x")
    assert TOKEN not in e.value.one_line() and "hyperpod-k8s-x" in e.value.one_line()


def test_new_tokens_have_kubeadms_shape() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50 and all(TOKEN_RE.match(t) for t in tokens)


def test_ca_hash_is_the_sha256_of_the_subject_public_key_info() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from test_bootstrap_machine import make_ca_pem

    pem = make_ca_pem()
    cert = x509.load_pem_x509_certificate(pem.encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    assert ca_cert_hash(pem) == "sha256:" + hashlib.sha256(spki).hexdigest()
    with pytest.raises(ConfigError):
        ca_cert_hash("not a certificate")
