"""Everything a CJ workflow step needs, passed as one value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.cj.metrics import CJMetrics
from engine.contracts import EventEnvelope
from engine.ports import Bus, ComparisonSink, EventLog, Runtime, Store
from engine.randomness import Streams
from engine.settings import Settings

__all__ = ["CJContext"]

SERVICE_NAME = "cj_assessment_service"


@dataclass
class CJContext:
    runtime: Runtime
    store: Store
    bus: Bus
    log: EventLog
    settings: Settings
    streams: Streams
    metrics: CJMetrics
    sink: ComparisonSink
    batch_states: dict[int, str] = field(default_factory=dict)  # for the cj_batch_state gauge

    def next_correlation_id(self) -> str:
        return self.streams.ids("cj.correlation").next()

    def envelope(self, event_type: str, correlation_id: str, data: dict[str, Any]) -> EventEnvelope:
        return EventEnvelope(
            event_id=self.streams.ids("cj.events").next(),
            event_type=event_type,
            event_timestamp=self.runtime.utcnow(),
            source_service=SERVICE_NAME,
            correlation_id=correlation_id,
            data=data,
        )

    def track_state(self, cj_batch_id: int, state: str) -> None:
        """Keep the ``cj_batch_state`` gauge equal to the number of batches in each state."""
        previous = self.batch_states.get(cj_batch_id)
        if previous == state:
            return
        if previous is not None:
            self.metrics.batch_state.labels(previous).dec()
        self.metrics.batch_state.labels(state).inc()
        self.batch_states[cj_batch_id] = state
