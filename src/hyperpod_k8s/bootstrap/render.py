"""Templates shipped in ``bootstrap/templates``, filled with :class:`string.Template` (``$name``)."""

from __future__ import annotations

from importlib import resources
from string import Template


def template(name: str) -> str:
    return resources.files("hyperpod_k8s.bootstrap").joinpath("templates", name).read_text()


def render(name: str, **values: object) -> str:
    return Template(template(name)).substitute({k: str(v) for k, v in values.items()})
