"""The fault schedule: which fault fires at which opportunity, drawn from the ``faults`` stream.

Every place that can fail asks the plan at each opportunity (a provider call, a callback
publication, a store statement): ``pick`` walks the scenario's faults of that family in order
and returns the first that applies (enabled, inside its window, for this target, past
``after_calls`` opportunities, under its ``count``) and fires (a draw below its ``rate``). Every
draw comes from the one ``faults`` stream, so the same scenario and seed fail the same way.
Each firing is logged as a ``fault.fired`` event. The runner switches the whole plan off for the
liveness phase.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engine.eventlog import MemoryEventLog
from engine.randomness import Rng
from sim.harness.fault_catalogue import FaultKind, FaultSpec

__all__ = ["FaultPlan", "Opportunity"]


@dataclass(frozen=True, slots=True)
class Opportunity:
    """Where a fault could strike now."""

    now: float
    provider: str | None = None
    model: str | None = None
    batch: int | None = None  # scenario batch number, 1-based
    correlation_id: str | None = None


@dataclass
class FaultPlan:
    specs: list[FaultSpec]
    rng: Rng
    log: MemoryEventLog
    batch_numbers: dict[str, int] = field(default_factory=dict)  # cj_batch_id -> number
    enabled: bool = True
    fired: list[int] = field(default_factory=list)
    seen: list[int] = field(default_factory=list)
    _by_family: dict[frozenset[FaultKind], list[tuple[int, FaultSpec]]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        self.fired = [0] * len(self.specs)
        self.seen = [0] * len(self.specs)

    def pick(self, kinds: frozenset[FaultKind], where: Opportunity) -> FaultSpec | None:
        if not self.enabled:
            return None
        candidates = self._by_family.get(kinds)
        if candidates is None:
            candidates = self._by_family[kinds] = [
                (index, spec) for index, spec in enumerate(self.specs) if spec.kind in kinds
            ]
        for index, spec in candidates:
            if not self._applies(spec, index, where):
                continue
            self.seen[index] += 1
            if spec.after_calls is not None and self.seen[index] <= spec.after_calls:
                continue
            if spec.rate < 1.0 and self.rng.random() >= spec.rate:
                continue
            self.fired[index] += 1
            self.log.append("fault.fired", ids=_ids(where), kind=spec.kind.value, fault_index=index)
            return spec
        return None

    def store_latency(self, base_s: float, clock: Callable[[], float]) -> Callable[[], float]:
        """Per-statement latency: ``base_s`` plus any ``store_latency`` fault active now."""
        if not any(spec.kind is FaultKind.STORE_LATENCY for spec in self.specs):
            return lambda: base_s
        return lambda: base_s + self.active_store_latency_s(clock())

    def active_store_latency_s(self, now: float) -> float:
        """Extra seconds per store statement from ``store_latency`` faults active now."""
        if not self.enabled:
            return 0.0
        extra = 0.0
        for spec in self.specs:
            if (
                spec.kind is FaultKind.STORE_LATENCY
                and spec.window_s is not None
                and (spec.window_s[0] <= now < spec.window_s[1])
            ):
                extra += spec.store_latency_ms / 1000.0
        return extra

    def scheduled(self, kind: FaultKind) -> list[tuple[int, FaultSpec]]:
        """One-shot faults of ``kind`` that fire at a fixed time (``at_s``)."""
        return [(i, s) for i, s in enumerate(self.specs) if s.kind is kind and s.at_s is not None]

    def note_scheduled(self, index: int, where: Opportunity) -> bool:
        """Record a scheduled fault firing; False once the plan is off."""
        if not self.enabled:
            return False
        self.fired[index] += 1
        self.log.append(
            "fault.fired", ids=_ids(where), kind=self.specs[index].kind.value, fault_index=index
        )
        return True

    def _applies(self, spec: FaultSpec, index: int, where: Opportunity) -> bool:
        if spec.count is not None and self.fired[index] >= spec.count:
            return False
        if spec.window_s is not None and not (spec.window_s[0] <= where.now < spec.window_s[1]):
            return False
        target = spec.target
        if target.provider is not None and target.provider != where.provider:
            return False
        if target.model is not None and target.model != where.model:
            return False
        return target.batch is None or target.batch == where.batch


def _ids(where: Opportunity) -> dict[str, str | int]:
    ids: dict[str, str | int] = {}
    if where.correlation_id:
        ids["correlation_id"] = where.correlation_id
    if where.batch is not None:
        ids["batch"] = where.batch
    return ids
