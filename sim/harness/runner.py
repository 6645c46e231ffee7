"""Build a world from a scenario, run it, and hand back everything that happened.

Theory of operation. One SimRuntime, one seed. The real engine (CJ service and LPS service) is
wired to simulated parts: two stores (the CJ database and the LPS queue store), the simulated bus
and provider, all drawing from named streams of the run's seed. The run has two phases:

1. **faults**: the scenario's batches are submitted and the fault plan is live, until every
   batch is finished and the queue and bus are empty, or ``run.fault_phase_s`` passes;
2. **liveness**: the faults stop (a scheduled fault that has not fired never will) and the world
   must settle (every batch finished, nothing queued, processing or in flight) within
   ``run.liveness_s``. A world that cannot settle without faults has a liveness bug.

The event log records both phases; invariants watch it as it grows and inspect the final state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from engine.cj.callbacks import OrphanCallback
from engine.cj.models import BatchState, BatchUpload, ComparisonPair, Essay
from engine.contracts import EventEnvelope
from engine.eventlog import LogRecord, MemoryEventLog
from engine.lps.providers.mock import MockProvider
from engine.lps.queue import QueueItem
from engine.lps.service import LPSService
from engine.pipeline import build_pipeline
from engine.ports import Provider
from engine.randomness import Streams
from engine.settings import Settings
from engine.traces import load_trace
from sim.adapters.bus import SimulatedBus
from sim.adapters.faults import FaultPlan
from sim.adapters.provider import ReplayIndex, SimulatedProvider
from sim.adapters.runtime import SimRuntime
from sim.adapters.store import SimStore
from sim.harness.cohorts import build_cohort
from sim.harness.invariants import InvariantMonitor, InvariantResult, RowSource, Snapshot
from sim.harness.liveness import LivenessBounds
from sim.harness.scenario import Scenario, ScenarioError

__all__ = ["RowSource", "RunOutcome", "run_scenario"]

SETTLE_CHECK_S = 5.0  # how often the runner looks whether the world has settled


@dataclass
class RunOutcome:
    """Everything a run did. A live run fills one in too (``sim.commands.live_command``), so reports
    and analysis read both alike."""

    scenario: Scenario
    seed: int
    legacy: bool
    settings: Settings
    log: MemoryEventLog
    registry: CollectorRegistry
    cj_store: RowSource
    lps_store: RowSource
    lps: LPSService
    bus: SimulatedBus | None  # None for a live run
    batch_ids: list[int]
    virtual_seconds: float
    fault_phase_end_s: float
    liveness_ok: bool
    invariants: dict[str, InvariantResult]
    callbacks: list[EventEnvelope]  # every callback delivered to CJ, in delivery order

    @property
    def fingerprint(self) -> str:
        return self.log.fingerprint()

    def states(self) -> list[BatchState]:
        return self.cj_store.snapshot(BatchState)

    def uploads(self) -> list[BatchUpload]:
        return self.cj_store.snapshot(BatchUpload)

    def pairs(self) -> list[ComparisonPair]:
        return self.cj_store.snapshot(ComparisonPair)

    def essays(self) -> list[Essay]:
        return self.cj_store.snapshot(Essay)

    def queue_items(self) -> list[QueueItem]:
        return self.lps_store.snapshot(QueueItem)


def run_scenario(
    scenario: Scenario,
    *,
    seed: int | None = None,
    legacy: bool = False,
    base_dir: Path | None = None,
    listeners: Sequence[Callable[[LogRecord], None]] = (),
) -> RunOutcome:
    """Run ``scenario`` (with ``seed``, else its own) and return the outcome. ``base_dir``
    resolves relative trace paths (the scenario file's folder); ``listeners`` hear every event
    as it is logged (a progress display: they must not act on the run)."""
    seed = scenario.seed if seed is None else seed
    settings = scenario.engine_settings(legacy=legacy)
    run = scenario.run
    runtime = SimRuntime(epoch=scenario.epoch)
    streams = Streams(seed)
    log = MemoryEventLog(runtime.now)
    monitor = InvariantMonitor.with_liveness(
        LivenessBounds.from_settings(
            settings,
            progress_bound_s=run.progress_bound_s,
            starvation_bound_s=run.starvation_bound_s,
        )
    )
    log.add_listener(monitor.observe)
    for listener in listeners:
        log.add_listener(listener)
    plan = FaultPlan(list(scenario.faults), streams.random("faults"), log)
    cj_store = SimStore(
        runtime, statement_latency_s=plan.store_latency(run.store_latency_ms / 1000.0, runtime.now)
    )
    lps_store = SimStore(runtime, statement_latency_s=run.queue_store_latency_ms / 1000.0)
    bus = SimulatedBus(
        runtime,
        plan,
        streams,
        log,
        callback_topic=settings.CJ_CALLBACK_TOPIC,
        latency_s=run.bus_latency_ms / 1000.0,
        jitter_s=run.bus_jitter_ms / 1000.0,
        reorder_spread_s=run.reorder_spread_s,
        redeliveries=run.consumer_redeliveries,
        tolerated=(OrphanCallback,),
    )
    registry = CollectorRegistry()
    cohort = build_cohort(scenario, streams)
    provider = _provider(scenario, settings, runtime, cohort.quality, plan, streams, base_dir)
    pipeline = build_pipeline(
        runtime=runtime,
        cj_store=cj_store,
        lps_store=lps_store,
        bus=bus,
        log=log,
        settings=settings,
        streams=streams,
        registry=registry,
        provider_for=lambda _: provider,
    )
    cj, lps = pipeline.cj, pipeline.lps

    def settled() -> bool:
        states = cj_store.snapshot(BatchState)
        return (
            len(states) == run.batches
            and all(s.state.terminal for s in states)
            and lps.idle
            and bus.idle
        )

    async def wait_until(condition: Callable[[], bool], deadline: float) -> bool:
        while not condition():
            if runtime.now() >= deadline:
                return False
            await runtime.sleep(min(SETTLE_CHECK_S, deadline - runtime.now()))
        return True

    callbacks: list[EventEnvelope] = []

    async def main() -> tuple[list[int], float, bool]:
        bus.observe(settings.CJ_CALLBACK_TOPIC, callbacks.append)
        bus.start()
        lps.start()
        cj.start()
        log.append("sim.phase", phase="faults", seed=seed, legacy=legacy, scenario=scenario.name)
        batch_ids = []
        for number in range(1, run.batches + 1):
            if number > 1 and run.batch_interval_s:
                await runtime.sleep(run.batch_interval_s)
            plan.batch_numbers[str(number)] = number  # batch ids count from 1 in a fresh store
            cj_batch_id = await cj.submit_batch(cohort.batch_request(scenario, number))
            assert cj_batch_id == number, (cj_batch_id, number)
            batch_ids.append(cj_batch_id)
        await wait_until(settled, run.fault_phase_s)
        plan.enabled = False
        fault_end = runtime.now()
        log.append("sim.phase", phase="liveness")
        live = await wait_until(settled, fault_end + run.liveness_s)
        log.append("sim.phase", phase="end", liveness_ok=live)
        cj.stop()
        lps.stop()
        return batch_ids, fault_end, live

    batch_ids, fault_end, liveness_ok = runtime.run(main())
    snapshot = Snapshot.at_end(
        cj_store, lps_store, open_queue_items=lps.ledger.active, run=run, end_t=runtime.now()
    )
    return RunOutcome(
        scenario=scenario,
        seed=seed,
        legacy=legacy,
        settings=settings,
        log=log,
        registry=registry,
        cj_store=cj_store,
        lps_store=lps_store,
        lps=lps,
        bus=bus,
        batch_ids=batch_ids,
        virtual_seconds=runtime.now(),
        fault_phase_end_s=fault_end,
        liveness_ok=liveness_ok,
        invariants=monitor.results(snapshot),
        callbacks=callbacks,
    )


def _provider(
    scenario: Scenario,
    settings: Settings,
    runtime: SimRuntime,
    quality: dict[str, float] | object,
    plan: FaultPlan,
    streams: Streams,
    base_dir: Path | None,
) -> Provider:
    spec = scenario.provider
    if spec.mock_mode is not None:
        # The mock answers for every provider (USE_MOCK_LLM): metrics say "mock", while each
        # callback keeps the provider the request asked for.
        return MockProvider(runtime, settings.with_overrides(MOCK_MODE=spec.mock_mode))
    replay = None
    if spec.replay is not None:
        # A relative trace path is read from the scenario file's folder.
        folder = Path(spec.replay)
        if not folder.is_absolute() and base_dir is not None:
            folder = base_dir / folder
        try:
            replay = ReplayIndex(load_trace(folder))
        except ValueError as exc:
            raise ScenarioError(f"provider.replay: {exc}") from None
    assert isinstance(quality, dict)
    return SimulatedProvider(runtime, spec, quality, plan, streams, replay)
