"""The HyperPod files: resource_config.json and provisioning_parameters.json, and what breaks them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import DATA
from hyperpod_k8s.errors import ConfigError, ExitCode, NotFoundError
from hyperpod_k8s.hyperpod import (
    load_provisioning_parameters,
    load_resource_config,
    parse_cluster_arn,
    parse_provisioning_parameters,
    parse_resource_config,
    resource_config_path,
)


def _one_line(e: pytest.ExceptionInfo[ConfigError]) -> str:
    text = e.value.one_line()
    assert "\n" not in text and e.value.exit_code == ExitCode.USAGE
    return text


def test_sample_resource_config() -> None:
    rc = load_resource_config(str(DATA / "resource_config.json"))
    ident = rc.identity
    assert ident.name == "k8s-demo"  # ClusterName wins over the id in the ARN
    assert (ident.cluster_id, ident.region, ident.account) == ("kb8v11zrrpvr", "us-west-2", "111122223333")
    assert ident.secret_name == "hyperpod-k8s-kb8v11zrrpvr"
    assert [g.name for g in rc.groups] == ["ControllerGroup", "WorkerGroup"]
    assert [i.instance_id for i in rc.group("WorkerGroup").instances] == ["i-0cbbe3075137ffa1d", "i-0cc2532921ec06344"]
    ctl = rc.instances[0]
    assert (ctl.group, ctl.instance_type, ctl.customer_ip, ctl.hostname) == (
        "ControllerGroup", "ml.m5.2xlarge", "10.1.113.28", "ip-10-1-113-28")
    assert rc.find_by_ip("172.16.98.182") == rc.instances[2]  # the agent IP finds it too
    assert rc.find_by_ip("10.9.9.9") is None
    with pytest.raises(NotFoundError, match="known groups: ControllerGroup, WorkerGroup"):
        rc.group("nope")


def test_sample_provisioning_parameters() -> None:
    pp = load_provisioning_parameters(str(DATA / "provisioning_parameters.json"))
    assert pp.controller_group == "ControllerGroup"
    assert pp.login_group == "LoginGroup"
    assert pp.worker_groups == ("WorkerGroup",)
    assert pp.raw["fsx_mountname"] == "abcdefgh"


def test_provisioning_parameters_without_login_or_workers() -> None:
    pp = parse_provisioning_parameters({"controller_group": "ctl", "worker_groups": [{"partition_name": "x"}, "junk"]})
    assert (pp.controller_group, pp.login_group, pp.worker_groups) == ("ctl", None, ())


@pytest.mark.parametrize("data, message", [
    ([], "expected a JSON object"),
    ({}, "'controller_group' is missing or empty"),
    ({"controller_group": ""}, "'controller_group' is missing or empty"),
    ({"controller_group": 3}, "'controller_group' is missing or empty"),
])
def test_provisioning_parameters_errors(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_provisioning_parameters(data, "pp.json")
    assert message in _one_line(e) and _one_line(e).startswith("pp.json: ")


def _rc(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "resource_config.json").read_text())
    data.update(over)
    return data


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("ClusterConfig"), "the top level has no 'ClusterConfig'"),
    (lambda d: d["ClusterConfig"].pop("ClusterArn"), "ClusterConfig has no 'ClusterArn'"),
    (lambda d: d.pop("InstanceGroups"), "the top level has no 'InstanceGroups'"),
    (lambda d: d.update(InstanceGroups={}), "InstanceGroups should be a list, got dict"),
    (lambda d: d["InstanceGroups"][1].pop("InstanceType"), "InstanceGroups[1] has no 'InstanceType'"),
    (lambda d: d["InstanceGroups"][1]["Instances"][1].pop("InstanceId"),
     "InstanceGroups[1].Instances[1] has no 'InstanceId'"),
    (lambda d: d["InstanceGroups"][0].update(Name=7), "InstanceGroups[0].Name should be a str, got int"),
    (lambda d: d["ClusterConfig"].update(ClusterArn="arn:aws:ec2:us-west-2:111122223333:instance/i-1"),
     "is not a SageMaker cluster ARN"),
    (lambda d: d["ClusterConfig"].update(ClusterArn="kb8v11zrrpvr"), "is not a SageMaker cluster ARN"),
])
def test_resource_config_errors_are_one_line(mutate: Any, message: str) -> None:
    data = _rc()
    mutate(data)
    with pytest.raises(ConfigError) as e:
        parse_resource_config(data, "/opt/ml/config/resource_config.json")
    text = _one_line(e)
    assert message in text, text
    assert text.startswith("/opt/ml/config/resource_config.json: ")


@pytest.mark.parametrize("content, message", [
    ('{"ClusterConfig": {', "is not valid JSON: Expecting property name enclosed in double quotes at line 1"),
    ("", "is not valid JSON: Expecting value at line 1 column 1"),
    ("[1, 2,]", "is not valid JSON"),
])
def test_malformed_json(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "resource_config.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as e:
        load_resource_config(str(path))
    assert message in _one_line(e) and "(fix or restore the file)" in _one_line(e)
    pp = tmp_path / "provisioning_parameters.json"
    pp.write_text(content)
    with pytest.raises(ConfigError) as e2:
        load_provisioning_parameters(str(pp))
    assert "provisioning_parameters.json at" in _one_line(e2)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_resource_config(str(tmp_path / "absent.json"))
    assert _one_line(e) == f"resource_config.json not found at {tmp_path / 'absent.json'}"
    with pytest.raises(ConfigError) as e:
        load_resource_config(str(tmp_path))  # a directory
    assert _one_line(e).startswith("cannot read resource_config.json at ")


def test_resource_config_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resource_config_path() == "/opt/ml/config/resource_config.json"
    monkeypatch.setenv("SAGEMAKER_RESOURCE_CONFIG_PATH", "/env/rc.json")
    assert resource_config_path() == "/env/rc.json"
    assert resource_config_path("/flag/rc.json") == "/flag/rc.json"


@pytest.mark.parametrize("arn, expected", [
    ("arn:aws:sagemaker:us-west-2:111122223333:cluster/kb8v11zrrpvr", ("kb8v11zrrpvr", "us-west-2", "111122223333")),
    (" arn:aws-cn:sagemaker:cn-north-1:111122223333:cluster/abc-1 ", ("abc-1", "cn-north-1", "111122223333")),
    ("arn:aws:sagemaker:us-west-2:1111:cluster/x", None),  # the account has 12 digits
    ("arn:aws:sagemaker:us-west-2:111122223333:endpoint/x", None),
    ("my-cluster", None),
])
def test_parse_cluster_arn(arn: str, expected: tuple[str, str, str] | None) -> None:
    ident = parse_cluster_arn(arn)
    if expected is None:
        assert ident is None
    else:
        assert ident is not None and (ident.cluster_id, ident.region, ident.account) == expected
        assert ident.arn == arn.strip()
