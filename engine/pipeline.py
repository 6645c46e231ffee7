"""The whole pipeline on one set of ports: the CJ service feeding the LPS service.

Simulated runs (``sim.harness.runner``) and live runs (``engine.live.session``) wire the same two
services the same way; only the ports differ. CJ submits comparison requests straight to LPS
(the original's ``POST /api/v1/comparison``) and hears back on the bus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from engine.cj.context import CJContext
from engine.cj.metrics import CJMetrics
from engine.cj.service import CJService
from engine.lps.context import LPSContext
from engine.lps.metrics import LPSMetrics
from engine.lps.service import LPSService
from engine.ports import Bus, EventLog, Provider, Runtime, Store
from engine.randomness import Streams
from engine.settings import Settings

__all__ = ["Pipeline", "build_pipeline"]


@dataclass(frozen=True, slots=True)
class Pipeline:
    cj: CJService
    lps: LPSService


def build_pipeline(
    *,
    runtime: Runtime,
    cj_store: Store,
    lps_store: Store,
    bus: Bus,
    log: EventLog,
    settings: Settings,
    streams: Streams,
    registry: CollectorRegistry,
    provider_for: Callable[[str], Provider],
) -> Pipeline:
    """CJ and LPS on the given ports; ``provider_for`` maps a requested provider to an adapter."""
    lps = LPSService(
        LPSContext(
            runtime=runtime,
            store=lps_store,
            bus=bus,
            log=log,
            settings=settings,
            streams=streams,
            metrics=LPSMetrics(registry),
            provider_for=provider_for,
        )
    )
    cj = CJService(
        CJContext(
            runtime=runtime,
            store=cj_store,
            bus=bus,
            log=log,
            settings=settings,
            streams=streams,
            metrics=CJMetrics(registry),
            sink=lps,
        )
    )
    return Pipeline(cj, lps)
