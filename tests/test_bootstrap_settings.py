"""Bootstrap settings: defaults, the TOML file, and validation before anything changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperpod_k8s.bootstrap.settings import Settings, from_mapping, load, parse_duration, validate
from hyperpod_k8s.errors import ConfigError

ADDRS = ["10.1.113.28", "10.1.38.128", "10.1.29.16"]


def check(count: int = 3, **kw: object) -> list[str]:
    return validate(from_mapping(dict(kw)), instance_count=count, node_addresses=ADDRS)


def test_defaults_are_valid_and_current() -> None:
    s = Settings()
    assert check() == []
    assert s.minor >= 33 and s.sandbox == "registry.k8s.io/pause:3.10.1"
    assert s.kubeadm_api == "kubeadm.k8s.io/v1beta4"


def test_file_overrides_defaults(tmp_path: Path) -> None:
    f = tmp_path / "hpk8s.toml"
    f.write_text('kubernetes_version = "1.33"\npod_cidr = "10.200.0.0/16"\nready_timeout = "2h"\n'
                 "join_info_timeout = 600\n")
    s = load(str(f))
    assert (s.kubernetes_version, s.pod_cidr, s.ready_timeout, s.join_info_timeout) == \
        ("1.33", "10.200.0.0/16", 7200, 600)
    assert s.sandbox == "registry.k8s.io/pause:3.10"


def test_a_pod_cidr_too_small_for_the_cluster_is_refused_with_the_numbers() -> None:
    with pytest.raises(ConfigError) as e:
        check(count=300, pod_cidr="10.244.0.0/16")
    assert e.value.one_line() == ("pod_cidr 10.244.0.0/16 holds 256 node subnets of /24 but the cluster has "
                                  "300 instances (use a /15 or larger)")
    with pytest.raises(ConfigError, match="holds 2 node subnets of /24 but the cluster has 3 instances"):
        check(pod_cidr="10.244.0.0/23")
    assert "little room to scale up" in check(count=3, pod_cidr="10.244.0.0/22")[0]


@pytest.mark.parametrize(("kw", "message"), [
    ({"pod_cidr": "10.244.0.0/33"}, "is not a network"),
    ({"pod_cidr": "10.244.1.0/16"}, "is not a network"),
    ({"pod_cidr": "10.96.0.0/16"}, "overlaps service_cidr"),
    ({"pod_cidr": "10.0.0.0/8", "service_cidr": "172.20.0.0/16"}, "contains instance addresses"),
    ({"pod_cidr": "fd00::/64"}, "only IPv4"),
    ({"pod_cidr": "10.244.0.0/25"}, "smaller than one node's /24"),
    ({"kubernetes_version": "1.29"}, "older than 1.30"),
    ({"kubernetes_version": "v1.35.2"}, "not a minor version"),
    ({"kubernetes_version": "1.99"}, "set sandbox_image"),
    ({"token_refresh_within": "30h"}, "must be shorter than token_ttl"),
    ({"flannel_version": "latest"}, "not a release tag"),
    ({"secret_prefix": "bad name!"}, "cannot hold"),
    ({"login_user": "Root User"}, "not a user name"),
])
def test_bad_settings_are_refused(kw: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        check(**kw)


def test_unknown_and_mistyped_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown setting.*pod_cdir"):
        from_mapping({"pod_cdir": "10.0.0.0/16"})
    with pytest.raises(ConfigError, match="should be a whole number"):
        from_mapping({"api_server_port": "6443"})
    f = tmp_path / "bad.toml"
    f.write_text("pod_cidr = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(str(f))
    with pytest.raises(ConfigError, match="not found"):
        load(str(tmp_path / "missing.toml"))


def test_durations() -> None:
    assert parse_duration("90s", "k") == 90 and parse_duration("30m", "k") == 1800
    assert parse_duration("1.5h", "k") == 5400 and parse_duration(45, "k") == 45
    for bad in ("soon", -1, 0, True):
        with pytest.raises(ConfigError):
            parse_duration(bad, "k")


def test_an_unusual_secret_prefix_is_a_warning() -> None:
    assert any("secret:hyperpod-*" in w for w in check(secret_prefix="k8s-join-"))
