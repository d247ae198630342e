"""The AWS facade: SageMaker HyperPod cluster nodes and the Secrets Manager join secret, over boto3.

botocore's own retries are switched off so that :mod:`hyperpod_k8s.clients.retry` is the one
policy; client errors are mapped to :mod:`hyperpod_k8s.errors` here and nowhere else.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from hyperpod_k8s.clients.retry import DEFAULT_POLICY, RetryPolicy
from hyperpod_k8s.errors import (
    ApiError,
    AuthError,
    ConfigError,
    HpkError,
    IncompleteError,
    NotFoundError,
    TransientError,
)

T = TypeVar("T")

_THROTTLING = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "SlowDown", "RequestThrottled", "LimitExceededException",
}
_AUTH = {
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
    "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "InvalidSignatureException",
    "SignatureDoesNotMatch", "AuthFailure", "MissingAuthenticationToken",
}
_TRANSIENT_CODES = {"InternalFailure", "InternalServerError", "ServiceUnavailable", "InternalError",
                    "ServiceUnavailableException", "InternalServiceError", "InternalServiceErrorException"}


def map_aws_error(e: Exception, what: str) -> HpkError:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        TokenRetrievalError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    if isinstance(e, ClientError):
        err = e.response.get("Error", {})
        code = str(err.get("Code", ""))
        msg = str(err.get("Message", "")).strip()
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _THROTTLING or status == 429:
            return TransientError(f"{what}: throttled by AWS ({code})", "retry later or lower the request rate")
        if code in _AUTH or status == 403:
            op = getattr(e, "operation_name", "")
            hint = "the instance role or your AWS credentials need permission for it"
            if code.startswith("Expired"):
                hint = "the AWS credentials have expired: refresh them (aws sso login, new session)"
            return AuthError(f"{what}: {code} on {op}: {msg}" if op else f"{what}: {code}: {msg}", hint)
        if code in _TRANSIENT_CODES or status >= 500:
            return TransientError(f"{what}: AWS answered {status} {code}: {msg}")
        if code in {"ResourceNotFoundException", "ResourceNotFound"} or "Could not find" in msg:
            return NotFoundError(f"{what}: {msg or code}")
        return ApiError(f"{what}: {code}: {msg}")
    if isinstance(e, NoCredentialsError | PartialCredentialsError | TokenRetrievalError):
        return AuthError(f"{what}: no usable AWS credentials ({e})",
                         "run on an instance with a role, or set AWS_PROFILE / AWS_ACCESS_KEY_ID")
    if isinstance(e, NoRegionError):
        return ConfigError(f"{what}: no AWS region", "pass --region or set AWS_REGION")
    if isinstance(e, BotoConnectionError | HTTPClientError):
        return TransientError(f"{what}: cannot reach AWS: {e}")
    if isinstance(e, BotoCoreError):
        return ApiError(f"{what}: {e}")
    if isinstance(e, HpkError):
        return e
    return ApiError(f"{what}: {type(e).__name__}: {e}")


@dataclass(frozen=True)
class FleetInstance:
    instance_id: str
    group: str
    instance_type: str
    status: str
    status_message: str = ""
    launch_time: datetime | None = None
    private_dns: str | None = None
    private_ip: str | None = None

    @property
    def ip(self) -> str | None:
        if self.private_ip:
            return self.private_ip
        # ip-10-1-38-128.us-west-2.compute.internal -> 10.1.38.128
        if self.private_dns and self.private_dns.startswith("ip-"):
            host = self.private_dns.split(".", 1)[0][3:]
            parts = host.split("-")
            if len(parts) == 4 and all(p.isdigit() for p in parts):
                return ".".join(parts)
        return None


@dataclass(frozen=True)
class FleetGroup:
    name: str
    instance_type: str
    current: int
    target: int


@dataclass(frozen=True)
class FleetCluster:
    name: str
    arn: str
    status: str
    groups: tuple[FleetGroup, ...]


@dataclass
class InstanceListing:
    """All pages of ListClusterNodes, or as many as could be read and the error that stopped it."""

    instances: list[FleetInstance] = field(default_factory=list)
    complete: bool = True
    error: HpkError | None = None
    pages: int = 0


def _instance(summary: dict[str, Any]) -> FleetInstance:
    st = summary.get("InstanceStatus") or {}
    return FleetInstance(
        instance_id=summary["InstanceId"],
        group=summary.get("InstanceGroupName", ""),
        instance_type=summary.get("InstanceType", ""),
        status=st.get("Status", ""),
        status_message=st.get("Message", "") or "",
        launch_time=summary.get("LaunchTime"),
        private_dns=summary.get("PrivateDnsHostname"),
        private_ip=summary.get("PrivatePrimaryIp"),
    )


class Fleet:
    """One HyperPod cluster's instances plus Secrets Manager, in one region."""

    def __init__(self, cluster: str, *, region: str | None = None, session: Any = None,
                 retry: RetryPolicy = DEFAULT_POLICY, endpoint_url: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.cluster = cluster
        self.retry = retry
        self.on_retry: Callable[[TransientError, float], None] | None = None
        session = session or boto3.session.Session(region_name=region)
        cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        try:
            self.sagemaker = session.client("sagemaker", config=cfg, endpoint_url=endpoint_url)
            self.secrets = session.client("secretsmanager", config=cfg, endpoint_url=endpoint_url)
        except Exception as e:
            raise map_aws_error(e, "set up the AWS clients") from None
        self.region = self.sagemaker.meta.region_name

    def call(self, what: str, fn: Callable[[], T]) -> T:
        def attempt() -> T:
            try:
                return fn()
            except Exception as e:
                raise map_aws_error(e, what) from None

        return self.retry.call(attempt, on_retry=self.on_retry)

    @staticmethod
    def request_id(response: dict[str, Any]) -> str:
        return str(response.get("ResponseMetadata", {}).get("RequestId", ""))

    # -- SageMaker HyperPod ---------------------------------------------------------------

    def describe_cluster(self) -> FleetCluster:
        r = self.call(f"describe HyperPod cluster {self.cluster}",
                      lambda: self.sagemaker.describe_cluster(ClusterName=self.cluster))
        groups = tuple(
            FleetGroup(g.get("InstanceGroupName", ""), g.get("InstanceType", ""),
                       int(g.get("CurrentCount") or 0), int(g.get("TargetCount") or 0))
            for g in r.get("InstanceGroups", [])
        )
        return FleetCluster(r.get("ClusterName", self.cluster), r.get("ClusterArn", ""),
                            r.get("ClusterStatus", ""), groups)

    def list_instances(self, page_size: int = 100) -> InstanceListing:
        """Every page of ListClusterNodes. A failure after the first page returns what was read, marked
        incomplete; a failure on the first page raises (nothing is known)."""
        listing = InstanceListing()
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            kwargs: dict[str, Any] = {"ClusterName": self.cluster, "MaxResults": page_size}
            if token:
                kwargs["NextToken"] = token
            try:
                page: dict[str, Any] = self.call(f"list the instances of HyperPod cluster {self.cluster}",
                                                 functools.partial(self.sagemaker.list_cluster_nodes, **kwargs))
            except HpkError as e:
                if listing.pages == 0:
                    raise
                listing.complete = False
                listing.error = IncompleteError(
                    f"the instance list of {self.cluster} stopped after {len(listing.instances)} instances "
                    f"({listing.pages} pages): {e.message}", "nothing is treated as gone; try again")
                return listing
            listing.pages += 1
            listing.instances.extend(_instance(s) for s in page.get("ClusterNodeSummaries", []))
            token = page.get("NextToken")
            if not token:
                return listing
            if token in seen_tokens:  # a server that repeats itself would loop forever
                listing.complete = False
                listing.error = IncompleteError(f"ListClusterNodes repeated a page token after {listing.pages} pages")
                return listing
            seen_tokens.add(token)

    def describe_instance(self, instance_id: str) -> FleetInstance:
        r = self.call(f"describe instance {instance_id}",
                      lambda: self.sagemaker.describe_cluster_node(ClusterName=self.cluster, NodeId=instance_id))
        return _instance(r["NodeDetails"])

    # -- Secrets Manager ------------------------------------------------------------------

    def get_secret_json(self, name: str) -> dict[str, Any] | None:
        """The secret's JSON value, or None when it does not exist."""
        try:
            r = self.call(f"read secret {name}", lambda: self.secrets.get_secret_value(SecretId=name))
        except NotFoundError:
            return None
        try:
            value = json.loads(r.get("SecretString") or "{}")
        except json.JSONDecodeError:
            raise ApiError(f"secret {name} does not hold JSON", "delete it or overwrite it with a token refresh") from None
        if not isinstance(value, dict):
            raise ApiError(f"secret {name} holds {type(value).__name__}, not a JSON object")
        return value

    def put_secret_json(self, name: str, value: dict[str, Any], description: str = "") -> str:
        """Create the secret, or store a new version when it exists. Returns the request id."""
        body = json.dumps(value, sort_keys=True)
        try:
            r = self.call(f"update secret {name}",
                          lambda: self.secrets.put_secret_value(SecretId=name, SecretString=body))
        except NotFoundError:
            r = self.call(f"create secret {name}",
                          lambda: self.secrets.create_secret(Name=name, SecretString=body, Description=description))
        return self.request_id(r)
