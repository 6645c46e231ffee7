"""Everything an LPS step needs, passed as one value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from engine.lps.metrics import LPSMetrics
from engine.lps.pricing import Pricing
from engine.ports import Bus, EventLog, Provider, Runtime, Store
from engine.randomness import Streams
from engine.settings import Settings

__all__ = ["LPSContext"]


@dataclass
class LPSContext:
    runtime: Runtime
    store: Store
    bus: Bus
    log: EventLog
    settings: Settings
    streams: Streams
    metrics: LPSMetrics
    provider_for: Callable[[str], Provider]  # requested provider name -> the adapter to call

    @property
    def mode(self) -> str:
        return self.settings.QUEUE_PROCESSING_MODE.value

    @cached_property
    def pricing(self) -> Pricing:
        return Pricing.from_settings(self.settings)
