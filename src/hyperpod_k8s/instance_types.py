"""Expected accelerators and EFA interfaces per HyperPod instance type (data in data/instance_types.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

GPU = "nvidia.com/gpu"
NEURON = "aws.amazon.com/neuron"
EFA = "vpc.amazonaws.com/efa"


@dataclass(frozen=True)
class Expected:
    """What a healthy instance of a type exposes; ``None`` where the type is not in our table."""

    gpu: int | None
    neuron: int | None
    efa: int | None
    accelerator: str = ""

    @property
    def accel_resource(self) -> str:
        """The extended resource that counts this type's accelerators."""
        return NEURON if self.neuron else GPU

    @property
    def accel(self) -> int | None:
        return self.neuron if self.neuron else self.gpu


UNKNOWN = Expected(None, None, None)


@cache
def _table() -> dict[str, Expected]:
    raw = json.loads(resources.files("hyperpod_k8s").joinpath("data/instance_types.json").read_text())
    return {
        name: Expected(gpu=spec.get("gpu", 0), neuron=spec.get("neuron", 0), efa=spec.get("efa", 0),
                       accelerator=spec.get("accelerator", ""))
        for name, spec in raw["types"].items()
    }


def expected_for(instance_type: str | None) -> Expected:
    """Look up by HyperPod name (``ml.p5.48xlarge``); the EC2 name without ``ml.`` works too."""
    if not instance_type:
        return UNKNOWN
    table = _table()
    name = instance_type if instance_type.startswith("ml.") else f"ml.{instance_type}"
    return table.get(name, UNKNOWN)

