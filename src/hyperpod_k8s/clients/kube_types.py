"""Small msgspec structs holding only the fields hpk8s reads from nodes and pods.

The official client's models cost ~60x more time and ~20x more memory on large lists (see
bench/inventory.py); these decode straight from the wire and ignore every field not declared here
(node images, managedFields, container args and env, ...).
"""

from __future__ import annotations

import msgspec


class OwnerReference(msgspec.Struct, frozen=True):
    kind: str = ""
    name: str = ""
    controller: bool = False


class ObjectMeta(msgspec.Struct):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    resourceVersion: str = ""
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    ownerReferences: list[OwnerReference] = []


class Taint(msgspec.Struct, frozen=True):
    key: str
    effect: str = ""
    value: str = ""

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


class NodeCondition(msgspec.Struct):
    type: str
    status: str
    reason: str = ""
    message: str = ""
    lastTransitionTime: str | None = None


class NodeAddress(msgspec.Struct, frozen=True):
    type: str
    address: str


class NodeSystemInfo(msgspec.Struct):
    kubeletVersion: str = ""
    containerRuntimeVersion: str = ""
    osImage: str = ""
    kernelVersion: str = ""


class NodeSpec(msgspec.Struct):
    providerID: str | None = None
    unschedulable: bool = False
    taints: list[Taint] = []


class NodeStatus(msgspec.Struct):
    capacity: dict[str, str] = {}
    allocatable: dict[str, str] = {}
    conditions: list[NodeCondition] = []
    addresses: list[NodeAddress] = []
    nodeInfo: NodeSystemInfo | None = None


class Node(msgspec.Struct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: NodeSpec = msgspec.field(default_factory=NodeSpec)
    status: NodeStatus = msgspec.field(default_factory=NodeStatus)

    @property
    def name(self) -> str:
        return self.metadata.name

    def address(self, kind: str) -> str | None:
        for a in self.status.addresses:
            if a.type == kind:
                return a.address
        return None

    def condition(self, kind: str) -> NodeCondition | None:
        for c in self.status.conditions:
            if c.type == kind:
                return c
        return None


class ResourceRequirements(msgspec.Struct):
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}


class Container(msgspec.Struct):
    name: str = ""
    resources: ResourceRequirements = msgspec.field(default_factory=ResourceRequirements)


class EmptyDirSource(msgspec.Struct):
    medium: str = ""


class Volume(msgspec.Struct):
    name: str = ""
    emptyDir: EmptyDirSource | None = None


class PodSpec(msgspec.Struct):
    nodeName: str | None = None
    containers: list[Container] = []
    initContainers: list[Container] = []
    overhead: dict[str, str] = {}
    volumes: list[Volume] = []


class PodStatus(msgspec.Struct):
    phase: str = ""


class Pod(msgspec.Struct):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)
    status: PodStatus = msgspec.field(default_factory=PodStatus)

    @property
    def controller(self) -> OwnerReference | None:
        for ref in self.metadata.ownerReferences:
            if ref.controller:
                return ref
        return None

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"

    @property
    def terminated(self) -> bool:
        return self.status.phase in ("Succeeded", "Failed")

    def request(self, resource: str) -> int:
        """What the scheduler counts for this pod: max(sum of containers, largest init container) + overhead.

        Extended resources have requests equal to limits; a limit alone implies the request.
        """
        return pod_request(self.spec, resource)


class ListMeta(msgspec.Struct):
    resourceVersion: str = ""
    continue_: str | None = msgspec.field(default=None, name="continue")


class NodeList(msgspec.Struct):
    items: list[Node] = []
    metadata: ListMeta = msgspec.field(default_factory=ListMeta)


class PodList(msgspec.Struct):
    items: list[Pod] = []
    metadata: ListMeta = msgspec.field(default_factory=ListMeta)


class Status(msgspec.Struct):
    """A Kubernetes ``Status`` error body."""

    message: str = ""
    reason: str = ""
    code: int = 0


_SUFFIX = {
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def quantity_int(value: str | int | None) -> int:
    """An integer count from a Kubernetes quantity ("8", "8k", "1Ki"); fractions round down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    s = value.strip()
    if not s:
        return 0
    try:
        return int(s)
    except ValueError:
        pass
    for suffix in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E"):
        if s.endswith(suffix):
            try:
                return int(float(s[: -len(suffix)]) * _SUFFIX[suffix])
            except ValueError:
                return 0
    if s.endswith("m"):  # milli-units
        try:
            return int(float(s[:-1]) / 1000)
        except ValueError:
            return 0
    try:
        return int(float(s))
    except ValueError:
        return 0


def _container_request(c: Container, resource: str) -> int:
    r = c.resources
    v = r.requests.get(resource)
    if v is None:
        v = r.limits.get(resource)
    return quantity_int(v)


def pod_request(spec: PodSpec, resource: str) -> int:
    total = 0
    for c in spec.containers:
        total += _container_request(c, resource)
    for c in spec.initContainers:
        total = max(total, _container_request(c, resource))
    if spec.overhead:
        total += quantity_int(spec.overhead.get(resource))
    return total
