"""Prometheus samples as plain values, for reports, invariants and the outcome tables.

``*_created`` samples carry the wall-clock time a series was created, so they are dropped:
a run's recorded metrics must depend on its scenario and seed only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

__all__ = ["Sample", "sample_value", "samples"]


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


def samples(registry: CollectorRegistry) -> list[Sample]:
    """Every sample in the registry, sorted by name and labels, without ``_created``."""
    found = [
        Sample(sample.name, tuple(sorted(sample.labels.items())), float(sample.value))
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    ]
    return sorted(found, key=lambda s: (s.name, s.labels))


def sample_value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """One sample's value, 0.0 when the series does not exist yet."""
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)


class CachedLabels:
    """A labelled metric whose children are looked up once: ``labels()`` on prometheus_client
    validates and locks on every call, which adds up on per-callback hot paths."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def labels(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child
