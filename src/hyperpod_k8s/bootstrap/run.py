"""``hpk8s bootstrap``: read the inputs, validate, find out who this node is, then plan or apply.

Everything that can be refused is refused before the first change: settings, the HyperPod files,
this instance's place in the cluster.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from hyperpod_k8s.bootstrap import settings as settings_mod
from hyperpod_k8s.bootstrap.context import CONTROLLER, WORKER, Context, JoinInfoStore, Node, SecretsManagerStore
from hyperpod_k8s.bootstrap.facts import Facts, gather
from hyperpod_k8s.bootstrap.host import DryRunHost, Host, LocalHost
from hyperpod_k8s.bootstrap.plan import Log, render_plan, run_steps
from hyperpod_k8s.bootstrap.roles import steps_for
from hyperpod_k8s.errors import ConfigError, HpkError
from hyperpod_k8s.hyperpod import (
    ProvisioningParameters,
    ResourceConfig,
    load_provisioning_parameters,
    load_resource_config,
)

PROVISIONING_PARAMETERS_ENV = "HPK8S_PROVISIONING_PARAMETERS"
DEFAULT_PROVISIONING_PARAMETERS = "/opt/ml/config/provisioning_parameters.json"
ROLES = ("controller", "worker", "auto")


@dataclass
class Options:
    role: str = "auto"
    dry_run: bool = False
    config: str | None = None
    resource_config: str | None = None
    provisioning_parameters: str | None = None
    node_ip: str | None = None
    log_file: str | None = None


@dataclass
class Resolved:
    node: Node
    notes: list[str]


def resolve_node(role: str, rc: ResourceConfig, params: ProvisioningParameters, facts: Facts, *,
                 dry_run: bool) -> Resolved:
    """This instance's group (by its address) and role (the controller group's, or worker)."""
    notes: list[str] = []
    controllers = rc.group(params.controller_group).instances  # refuses a group resource_config.json lacks
    if len(controllers) > 1:
        raise ConfigError(f"controller group {params.controller_group} has {len(controllers)} instances; hpk8s runs "
                          "one control-plane instance", "give the controller group an instance count of 1")
    address = facts.address
    instance = rc.find_by_ip(address) if address else None
    if instance is None:
        where = f"this instance's address {address}" if address else "this instance's address (no default route)"
        if role == "auto" or not dry_run:
            raise ConfigError(f"{where} is not in {rc.path or 'resource_config.json'}",
                              "is this a HyperPod instance of this cluster? --node-ip (HPK8S_NODE_IP) overrides "
                              "the address")
        # A dry run on another machine plans for a stand-in instance of the requested role.
        pool = [i for i in rc.instances if (i.group == params.controller_group) == (role == CONTROLLER)]
        if not pool:
            raise ConfigError(f"resource_config.json has no {role} instance to plan for")
        instance = pool[0]
        notes.append(f"{where} is not in resource_config.json: planning as {instance.name or instance.instance_id} "
                     f"({instance.customer_ip}); --node-ip picks another")
        address = instance.customer_ip
    assert address is not None
    group_role = CONTROLLER if instance.group == params.controller_group else WORKER
    if role == "auto":
        role = group_role
    elif role != group_role:
        notes.append(f"--role {role} on an instance of group {instance.group}, whose role is {group_role}")
    if facts.hw_instance_id and facts.hw_instance_id != instance.instance_id:
        notes.append(f"the hardware says instance {facts.hw_instance_id}, resource_config.json says "
                     f"{instance.instance_id} for {address}: using the latter")
    return Resolved(Node(role=role, instance=instance, cluster=rc, params=params, address=address,
                         zone=facts.availability_zone), notes)


def hpk8s_command(configured: str) -> str:
    if configured:
        return configured
    beside = Path(sys.executable).parent / "hpk8s"
    if beside.exists():
        return str(beside)
    return shutil.which("hpk8s") or "/usr/local/bin/hpk8s"


def zone_from_sagemaker(fleet: object, instance_id: str) -> str | None:
    """IMDS did not answer: DescribeClusterNode knows the instance's placement."""
    sm = getattr(fleet, "sagemaker")  # noqa: B009 - Fleet is typed Any here to keep boto3 lazy
    call = getattr(fleet, "call")  # noqa: B009
    cluster = getattr(fleet, "cluster")  # noqa: B009
    r = call(f"describe instance {instance_id}",
             lambda: sm.describe_cluster_node(ClusterName=cluster, NodeId=instance_id))
    zone = (r.get("NodeDetails", {}).get("Placement") or {}).get("AvailabilityZone")
    return str(zone) if zone else None


def bootstrap(opts: Options, *, host: Host | None = None, store: JoinInfoStore | None = None,
              out: IO[str] | None = None, sleep: Callable[[float], None] = time.sleep,
              monotonic: Callable[[], float] = time.monotonic,
              now: Callable[[], datetime] = lambda: datetime.now(UTC), fleet: object | None = None) -> int:
    out = out if out is not None else sys.stdout
    if opts.role not in ROLES:
        raise ConfigError(f"--role {opts.role!r}: use controller, worker or auto")
    if host is None:
        if not opts.dry_run and hasattr(os, "geteuid") and os.geteuid() != 0:
            raise ConfigError("hpk8s bootstrap changes the system and must run as root",
                              "run it with sudo, or add --dry-run to see the plan")
        host = DryRunHost() if opts.dry_run else LocalHost()
    log_path = None if opts.dry_run else (opts.log_file or os.environ.get(settings_mod.LOG_ENV)
                                          or settings_mod.DEFAULT_LOG_FILE)
    # Opened first, so that a refused configuration is in the log file too.
    log = Log(log_path, stream=out, clock=now)
    try:
        settings = settings_mod.load(opts.config or os.environ.get(settings_mod.CONFIG_ENV))
        rc = load_resource_config(opts.resource_config)
        pp_path = (opts.provisioning_parameters or os.environ.get(PROVISIONING_PARAMETERS_ENV)
                   or DEFAULT_PROVISIONING_PARAMETERS)
        params = load_provisioning_parameters(pp_path)
        warnings = settings_mod.validate(settings, instance_count=len(rc.instances),
                                         node_addresses=[i.customer_ip for i in rc.instances if i.customer_ip])
        return _bootstrap(opts, settings, rc, params, warnings, host, store, log, out, sleep, monotonic, now, fleet)
    except HpkError as e:
        if not opts.dry_run:
            log(f"failed (exit {int(e.exit_code)}): {e.one_line()}")
        raise
    finally:
        log.close()


def _bootstrap(opts: Options, settings: settings_mod.Settings, rc: ResourceConfig, params: ProvisioningParameters,
               warnings: list[str], host: Host, store: JoinInfoStore | None, log: Log, out: IO[str],
               sleep: Callable[[float], None], monotonic: Callable[[], float], now: Callable[[], datetime],
               fleet: object | None) -> int:
    facts = gather(host, nvme_path=settings.nvme_path, address=opts.node_ip)
    resolved = resolve_node(opts.role, rc, params, facts, dry_run=opts.dry_run)
    node = resolved.node
    ident = rc.identity
    secret = settings.secret_name(node.cluster_id)
    if not opts.dry_run:
        if store is None or (node.zone is None and fleet is None):
            from hyperpod_k8s.cli.context import retry_policy
            from hyperpod_k8s.clients.fleet import Fleet

            fleet = fleet or Fleet(ident.arn or ident.name, region=ident.region, retry=retry_policy())
            store = store or SecretsManagerStore(fleet, secret)
        if node.zone is None:
            try:
                zone = zone_from_sagemaker(fleet, node.instance.instance_id)
            except HpkError as e:
                zone = None
                warnings.append(f"availability zone unknown (IMDS did not answer; {e.one_line()})")
            node = Node(role=node.role, instance=node.instance, cluster=rc, params=params, address=node.address,
                        zone=zone or "")
    ctx = Context(settings=settings, node=node, facts=facts, log=log, store=store, dry_run=opts.dry_run,
                  sleep=sleep, monotonic=monotonic, now=now, hpk8s_command=hpk8s_command(settings.hpk8s_command))
    steps = steps_for(ctx)
    header = [
        f"cluster {ident.name} ({node.cluster_id}, {ident.region}): {len(rc.instances)} instances, "
        f"controller group {params.controller_group}",
        f"node: providerID {node.provider_id}; labels {node.labels_arg}",
        f"join info: Secrets Manager secret {secret}",
        *facts.lines(),
    ]
    if opts.dry_run:
        print(f"hpk8s bootstrap --dry-run: the plan for {node.describe()}", file=out)
        print("Nothing is changed. Commands ($) would run as root; files are shown new or as a diff.\n", file=out)
        for line in header:
            print(f"  {line}", file=out)
        for note in resolved.notes + warnings:
            print(f"  note: {note}", file=out)
        source = opts.config or os.environ.get(settings_mod.CONFIG_ENV)
        print(f"\nsettings ({'defaults, with ' + source if source else 'defaults'}):", file=out)
        for key, value in settings.as_table():
            print(f"  {key} = {value or '(auto)'}", file=out)
        print("", file=out)
        reports = run_steps(steps, host, ctx, dry_run=True)
        for line in render_plan(reports, log.redact):
            print(line, file=out)
        todo = sum(1 for r in reports if r.changes)
        print(f"\n{todo} of {len(reports)} steps have work to do.", file=out)
        return 0
    log(f"hpk8s bootstrap: {node.describe()}")
    for line in header:
        log(line)
    for note in resolved.notes + warnings:
        log(f"note: {note}")
    started = monotonic()
    run_steps(steps, host, ctx, dry_run=False)
    log(f"bootstrap finished: {node.role} ready in {monotonic() - started:.0f}s")
    return 0
