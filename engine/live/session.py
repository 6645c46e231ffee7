"""A live run: the engine on a real clock, a real provider and a real database, recorded.

Theory of operation. The same CJ and LPS services as a simulated run, wired to live adapters:
``AsyncioRuntime``, the SQL store (one database holds the CJ tables and the LPS queue), the
in-process bus, and a provider (Anthropic, OpenAI, or the mock for ``--dry-run``) behind the
hard caps of ``engine.live.caps``. Every callback is appended to the trace as it arrives, every
event to ``events.jsonl``, each line flushed, so a run that dies keeps what it saw.

Stopping. The run ends when the batch is finished and the queue and bus are empty. A cap
refuses the call that would pass it; the refusals come back as failed comparisons and the batch
winds down by itself. Ctrl-C does the same on purpose (``stop``): calls in flight finish and
are recorded, nothing new is sent. A second Ctrl-C abandons the wait; what was recorded stays.
Either way the trace's summary, the final rows and the metrics are written at the end.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from prometheus_client import CollectorRegistry

from engine.bus import LocalBus
from engine.cj.intake import InvalidBatch
from engine.cj.models import BatchState, BatchUpload, ComparisonPair, Essay
from engine.contracts import EventEnvelope
from engine.eventlog import LogRecord, MemoryEventLog
from engine.live.caps import CapLimits, CappedProvider, CostModel, with_caps
from engine.live.config import LiveCohort, LiveConfig, LiveConfigError
from engine.live.logs import LOGGER, log_event, open_run_log
from engine.live.metrics_server import MetricsServer
from engine.live.providers import build_provider
from engine.live.runtime import AsyncioRuntime
from engine.live.secrets import Scrubber
from engine.lps.queue import QueueItem
from engine.lps.service import LPSService
from engine.pipeline import build_pipeline
from engine.ports import TaskCrashed
from engine.randomness import Streams
from engine.settings import Settings
from engine.store.errors import StoreError
from engine.store.rows import Row
from engine.store.sql import SqlStore, sqlite_url
from engine.traces import TraceRecorder

__all__ = ["EVENTS_FILE", "TRACE_FOLDER", "LiveProgress", "LiveRun", "run_live"]

EVENTS_FILE = "events.jsonl"
TRACE_FOLDER = "trace"
SETTLE_CHECK_S = 0.25
ROW_KINDS: tuple[type[Row], ...] = (BatchUpload, BatchState, Essay, ComparisonPair, QueueItem)


@dataclass
class LiveProgress:
    """Live counts for the progress bar, kept from the event log as it grows."""

    budget: int = 0
    submitted: int = 0
    completed: int = 0
    failed: int = 0
    retries: int = 0
    requests: int = 0
    cost_usd: float = 0.0
    stopping: str | None = None

    def observe(self, record: LogRecord) -> None:
        kind = record.kind
        if kind == "cj.batch.created":
            self.budget += int(record.fields.get("budget") or 0)
        elif kind == "cj.pair.submitted":
            self.submitted += 1
        elif kind == "cj.callback.applied":
            if record.fields.get("outcome") == "error":
                self.failed += 1
            else:
                self.completed += 1
        elif kind == "lps.retry.scheduled":
            self.retries += 1


@dataclass
class FrozenRows:
    """The database's rows at the end of a run, read once (``snapshot`` as ``SimStore``)."""

    rows: dict[str, list[Any]] = field(default_factory=dict)

    def snapshot(self, kind: type[Any]) -> list[Any]:
        return list(self.rows.get(kind.__table__.name, []))


@dataclass
class LiveRun:
    config: LiveConfig
    settings: Settings
    dry_run: bool
    started_at: datetime
    elapsed_s: float
    log: MemoryEventLog
    registry: CollectorRegistry
    rows: FrozenRows
    lps: LPSService
    batch_ids: list[int]
    settled: bool
    stopped: str | None  # why the run stopped early: a cap, or the user
    requests: int
    cost_usd: float
    out_dir: Path
    trace_dir: Path
    metrics_url: str | None


def _event_writer(handle: TextIO, log: MemoryEventLog) -> Callable[[LogRecord], None]:
    def write(record: LogRecord) -> None:
        handle.write(log.lines()[record.seq] + "\n")
        handle.flush()

    return write


def run_live(
    config: LiveConfig,
    cohort: LiveCohort,
    *,
    out_dir: Path,
    dry_run: bool,
    progress: Callable[[LiveProgress], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> LiveRun:
    """Run one batch live and return everything it did (see the module docstring)."""
    runtime = AsyncioRuntime()
    mock = dry_run or config.provider.name == "mock"
    settings = config.engine_settings(mock=mock)
    scrubber = Scrubber.from_environment()
    out_dir.mkdir(parents=True, exist_ok=True)
    trace_dir = out_dir / TRACE_FOLDER
    url = config.database or sqlite_url(out_dir / "cj.sqlite")
    say = notice or (lambda _message: None)
    started_at = datetime.now(UTC)
    wall_start = time.monotonic()
    counts = LiveProgress()
    log = MemoryEventLog(runtime.now, scrub=scrubber.scrub)
    log.add_listener(counts.observe)
    registry = CollectorRegistry()
    streams = Streams(config.seed)
    interrupts = 0
    provider = build_provider(config, settings, runtime, dry_run=dry_run)

    def stopping(reason: str) -> None:
        LOGGER.warning("stopping", extra={"fields": {"event": "live.stopping", "reason": reason}})
        say(f"stopping: {reason}; calls in flight will finish")

    async def main() -> LiveRun:
        store = await SqlStore.connect(url, runtime=runtime)
        try:
            return await wired(store)
        finally:
            await store.close()  # also when the run fails: no connection outlives its loop

    async def wired(store: SqlStore) -> LiveRun:
        nonlocal interrupts
        bus = LocalBus(runtime)
        caps = config.caps
        pricing = config.pricing
        capped: CappedProvider = with_caps(
            provider,
            CapLimits(caps.max_requests, caps.max_cost_usd, caps.max_wall_s),
            CostModel(
                pricing.input_per_mtok if pricing and not mock else 0.0,
                pricing.output_per_mtok if pricing and not mock else 0.0,
                settings.LLM_MAX_TOKENS,
            ),
            clock=time.monotonic,
            utcnow=runtime.utcnow,
            on_trip=stopping,
        )
        pipeline = build_pipeline(
            runtime=runtime,
            cj_store=store,
            lps_store=store,
            bus=bus,
            log=log,
            settings=settings,
            streams=streams,
            registry=registry,
            provider_for=lambda _name: capped,
        )
        cj, lps = pipeline.cj, pipeline.lps
        recorder = TraceRecorder(trace_dir, config.name, scrub=scrubber.scrub)

        async def record(message: EventEnvelope) -> None:
            recorder.record(message)

        def on_interrupt() -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts == 1:
                capped.stop("interrupted (Ctrl-C); press Ctrl-C again to stop waiting")
            else:
                say("stopping now: the recorded callbacks are kept")

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        metrics = MetricsServer.start(registry, config.metrics_port)
        if metrics is not None:
            say(f"metrics: {metrics.url}")
        batch_ids: list[int] = []
        settled = False
        try:
            bus.subscribe(settings.CJ_CALLBACK_TOPIC, record, concurrency=1, name="recorder")
            lps.start()
            cj.start()
            log.append(
                "live.start",
                name=config.name,
                provider=provider.name,
                model=config.provider.model,
                dry_run=dry_run,
                database=store.url,
            )
            batch_ids.append(await cj.submit_batch(cohort.batch_request(config)))
            while interrupts < 2:
                elapsed = time.monotonic() - wall_start
                if caps.max_wall_s is not None and elapsed > caps.max_wall_s:
                    # Nothing new is sent; a call already on the wire gets its timeout to answer.
                    capped.stop(f"max_wall_s {caps.max_wall_s:g} reached")
                    if elapsed > caps.max_wall_s + 2 * config.provider.timeout_s:
                        break
                counts.requests, counts.cost_usd = capped.requests, capped.spent_usd
                counts.stopping = capped.tripped
                if progress is not None:
                    progress(counts)
                states = await store.snapshot(BatchState)
                if states and all(s.state.terminal for s in states) and lps.idle and bus.idle:
                    settled = True
                    break
                await runtime.sleep(SETTLE_CHECK_S)
            log.append("live.end", settled=settled, stopped=capped.tripped)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            cj.stop()
            lps.stop()
            recorder.close()
            if metrics is not None:
                metrics.stop()
            # The SDK adapters hold HTTP connections; the mock holds nothing.
            aclose = getattr(provider, "aclose", None)
            if aclose is not None:
                await aclose()
        rows = FrozenRows({kind.__table__.name: await store.snapshot(kind) for kind in ROW_KINDS})
        return LiveRun(
            config=config,
            settings=settings,
            dry_run=dry_run,
            started_at=started_at,
            elapsed_s=time.monotonic() - wall_start,
            log=log,
            registry=registry,
            rows=rows,
            lps=lps,
            batch_ids=batch_ids,
            settled=settled,
            stopped=capped.tripped,
            requests=capped.requests,
            cost_usd=capped.spent_usd,
            out_dir=out_dir,
            trace_dir=trace_dir,
            metrics_url=metrics.url if metrics is not None else None,
        )

    handler = open_run_log(out_dir, scrubber.scrub)
    log.add_listener(log_event)
    with (out_dir / EVENTS_FILE).open("w", encoding="utf-8") as events:
        log.add_listener(_event_writer(events, log))
        try:
            return runtime.run(main())
        except TaskCrashed as crash:
            # An unreachable database is the user's to fix, not a crash: say it in one line.
            if isinstance(crash.__cause__, StoreError):
                raise crash.__cause__ from None
            if isinstance(crash.__cause__, InvalidBatch):
                raise LiveConfigError(f"essays: {crash.__cause__}") from None
            raise
        finally:
            LOGGER.removeHandler(handler)
            handler.close()
