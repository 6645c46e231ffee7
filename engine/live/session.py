"""A live session: the engine on a real clock, a real provider and a real database, recorded.

Theory of operation. The same CJ and LPS services as a simulated run, wired to live adapters:
``AsyncioRuntime``, the SQL store (one database holds the CJ tables and the LPS queue), the
in-process bus, and a provider (Anthropic, OpenAI, or the mock for ``--dry-run``) behind the
hard caps of ``engine.live.caps``. Every callback is appended to the trace as it arrives, every
event to ``events.jsonl``, each line flushed, so a run that dies keeps what it saw.

A run is one or more sessions (``engine.live.manifest``). The first submits the batch; each
later one (``cjsim live --resume``) takes on the earlier sessions' event log, so the run has one
log, one clock and one set of invariants, and recovers the batch from the database and the
trace (``engine.cj.recovery``, ``engine.lps.recovery``): what was judged is not sent again, and
what was in flight is sent again once.

Stopping. The session ends when the run's batch is finished and the queue and bus are empty.
A cap holds the call that would pass it, and Ctrl-C does the same for every call from then on:
calls in flight finish and are recorded, nothing new is sent, and the session ends with the
batch still open, to be resumed. A second Ctrl-C abandons the wait; what was recorded stays.
Either way the trace's summary, the final rows and the metrics are written at the end.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from prometheus_client import CollectorRegistry

from engine.bus import LocalBus
from engine.cj.error_retry import RetriedErrors, retry_errors
from engine.cj.intake import InvalidBatch
from engine.cj.models import BatchState, BatchUpload, ComparisonPair, CorrelationAlias, Essay
from engine.cj.recovery import ResumedBatch, resume_batch
from engine.cj.workflow import submit_requests
from engine.contracts import EventEnvelope
from engine.eventlog import LogRecord, MemoryEventLog
from engine.live.caps import CapLimits, CappedProvider, CostModel, with_caps
from engine.live.cohort import LiveCohort
from engine.live.config import LiveConfig, LiveConfigError
from engine.live.database import database_url
from engine.live.history import earlier_events, earlier_spending
from engine.live.logs import LOGGER, log_event, open_run_log
from engine.live.manifest import RunManifest, SessionEntry
from engine.live.metrics_server import MetricsServer
from engine.live.progress import LiveProgress
from engine.live.providers import build_provider
from engine.live.runtime import AsyncioRuntime
from engine.live.secrets import Scrubber
from engine.lps.pricing import Pricing
from engine.lps.queue import QueueItem
from engine.lps.recovery import INTERRUPTED, settle_orphans
from engine.lps.service import LPSService
from engine.pipeline import Pipeline, build_pipeline
from engine.ports import TaskCrashed
from engine.randomness import Streams
from engine.settings import Settings
from engine.store.errors import StoreError
from engine.store.rows import Row
from engine.store.sql import SqlStore
from engine.traces import TraceRecorder

__all__ = ["EVENTS_FILE", "TRACE_FOLDER", "LiveRun", "SessionPlan", "run_live"]

EVENTS_FILE = "events.jsonl"
TRACE_FOLDER = "trace"
SETTLE_CHECK_S = 0.25
# The rows a run's report reads, each kept to this run's batches (a PostgreSQL database may
# hold other runs).
ROW_KINDS: tuple[type[Row], ...] = (
    BatchUpload,
    BatchState,
    Essay,
    ComparisonPair,
    CorrelationAlias,
    QueueItem,
)


@dataclass
class FrozenRows:
    """The database's rows at the end of a run, read once (``snapshot`` as ``SimStore``)."""

    rows: dict[str, list[Any]] = field(default_factory=dict)

    def snapshot(self, kind: type[Any]) -> list[Any]:
        return list(self.rows.get(kind.__table__.name, []))


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """Where a session writes, which run it belongs to, and which session of it it is."""

    folder: Path
    manifest: RunManifest
    number: int  # 1: a new run; more: a resumption
    cohort: LiveCohort | None = None  # needed only while the batch is not yet created
    retry_errors: bool = False  # compare again, within the budget, what ended in error

    @property
    def resuming(self) -> bool:
        return self.number > 1


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
    stopped: str | None  # why the session stopped before the batch finished: a cap, the user
    requests: int  # the whole run's provider calls, earlier sessions included
    cost_usd: float  # their estimated cost
    out_dir: Path
    trace_dir: Path
    metrics_url: str | None
    manifest: RunManifest
    session: int
    resumed: tuple[ResumedBatch, ...] = ()
    orphans_settled: int = 0
    retried: tuple[RetriedErrors, ...] = ()


def _event_writer(handle: TextIO, log: MemoryEventLog) -> Callable[[LogRecord], None]:
    def write(record: LogRecord) -> None:
        handle.write(log.lines()[record.seq] + "\n")
        handle.flush()

    return write


def _keep(rows: Sequence[Any], batch_ids: set[int]) -> list[Any]:
    def batch_of(row: Any) -> int | None:
        value = getattr(row, "cj_batch_id", None)
        return int(value) if value is not None else None

    return [row for row in rows if batch_of(row) in batch_ids]


def run_live(
    config: LiveConfig,
    plan: SessionPlan,
    *,
    progress: Callable[[LiveProgress], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> LiveRun:
    """Run one session of a live run and return everything it did (see the module docstring).
    The caller has claimed the folder and written the manifest, the configuration and the
    cohort (``sim.commands.live_command``)."""
    manifest, out_dir = plan.manifest, plan.folder
    dry_run = manifest.dry_run
    mock = dry_run or config.provider.name == "mock"
    settings = config.engine_settings(mock=mock)
    scrubber = Scrubber.from_environment()
    trace_dir = out_dir / TRACE_FOLDER
    events_path = out_dir / EVENTS_FILE
    history, history_lines = earlier_events(events_path) if plan.resuming else ([], [])
    origin_s = history[-1].t + 0.001 if history else 0.0
    runtime = AsyncioRuntime(origin_s=origin_s)
    url = database_url(config, out_dir)
    say = notice or (lambda _message: None)
    started_at = datetime.now(UTC)
    wall_start = time.monotonic()
    counts = LiveProgress()
    log = MemoryEventLog(runtime.now, scrub=scrubber.scrub)
    log.add_listener(counts.observe)
    log.extend_history(history, history_lines)
    registry = CollectorRegistry()
    streams = Streams(manifest.session_seed(config.seed, plan.number))
    interrupts = 0
    provider = build_provider(config, settings, runtime, dry_run=dry_run)
    spent_before = earlier_spending(history, manifest)
    retried: list[RetriedErrors] = []
    session = SessionEntry(
        number=plan.number, started_at=started_at, retry_errors=plan.retry_errors
    )
    manifest.sessions.append(session)
    manifest.write(out_dir)

    def stopping(reason: str) -> None:
        LOGGER.warning("stopping", extra={"fields": {"event": "live.stopping", "reason": reason}})
        say(f"stopping: {reason}; calls in flight will finish")

    async def main() -> LiveRun:
        store = await SqlStore.connect(url, runtime=runtime)
        try:
            return await wired(store)
        finally:
            await store.close()  # also when the run fails: no connection outlives its loop

    async def our_batches(store: SqlStore) -> list[int]:
        uploads = await store.snapshot(BatchUpload)
        return sorted(u.cj_batch_id for u in uploads if u.bos_batch_id == manifest.bos_batch_id)

    async def begin(
        pipeline: Pipeline, store: SqlStore, recorded: Sequence[EventEnvelope]
    ) -> tuple[list[int], tuple[ResumedBatch, ...], int]:
        """Submit the batch (a new run), or recover it (a resumed one); then start LPS."""
        cj, lps = pipeline.cj, pipeline.lps
        batch_ids = await our_batches(store)
        if not batch_ids:
            lps.start()
            if plan.cohort is None:
                raise LiveConfigError(f"{out_dir}: --resume: the run's batch was never created")
            request = plan.cohort.batch_request(config, bos_batch_id=manifest.bos_batch_id)
            batch_ids = [await cj.submit_batch(request)]
            manifest.cj_batch_ids = batch_ids
            manifest.write(out_dir)
            return batch_ids, (), 0
        # Recovery order matters: CJ resends what was in flight under new ids first, so that
        # the dead session's queue items, settled next, can only be superseded duplicates.
        resumed = tuple(
            [
                await resume_batch(cj.ctx, batch_id, recorded, on_callback=cj.on_callback)
                for batch_id in batch_ids
            ]
        )
        orphans = await settle_orphans(lps.ledger)
        lps.start()
        for batch in resumed:
            if batch.requests:
                await submit_requests(cj.ctx, batch.requests)
        if plan.retry_errors:
            for batch_id in batch_ids:
                retry = await retry_errors(cj.ctx, batch_id)
                retried.append(retry)
                if retry.requests:
                    await submit_requests(cj.ctx, retry.requests)
        manifest.cj_batch_ids = batch_ids
        return batch_ids, resumed, orphans

    async def wired(store: SqlStore) -> LiveRun:
        nonlocal interrupts
        bus = LocalBus(runtime)
        caps = config.caps
        capped: CappedProvider = with_caps(
            provider,
            CapLimits(caps.max_requests, caps.max_cost_usd, caps.max_wall_s),
            CostModel(Pricing.from_settings(settings), settings.LLM_MAX_TOKENS),
            clock=time.monotonic,
            on_trip=stopping,
            spent_before=spent_before,
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
            # The trace holds what providers answered. The expiry callbacks of a dead
            # session's queue items are bookkeeping, not answers: a replay must not see them.
            detail = message.data.get("error_detail") or {}
            if (detail.get("details") or {}).get("expiry_reason") != INTERRUPTED:
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
        resumed: tuple[ResumedBatch, ...] = ()
        orphans = 0
        settled = False
        try:
            bus.subscribe(settings.CJ_CALLBACK_TOPIC, record, concurrency=1, name="recorder")
            cj.start()
            log.append(
                "live.start",
                name=config.name,
                provider=provider.name,
                model=config.provider.model,
                dry_run=dry_run,
                database=store.url,
                session=plan.number,
            )
            batch_ids, resumed, orphans = await begin(pipeline, store, recorder.earlier)
            while interrupts < 2:
                elapsed = time.monotonic() - wall_start
                if caps.max_wall_s is not None and elapsed > caps.max_wall_s:
                    # Nothing new is sent; a call already on the wire gets its timeout to answer.
                    capped.stop(f"max_wall_s {caps.max_wall_s:g} reached")
                    if elapsed > caps.max_wall_s + 2 * config.provider.timeout_s:
                        break
                counts.requests, counts.cost_usd = capped.requests, capped.spent_usd
                counts.in_flight, counts.held = capped.in_flight, capped.held
                counts.stopping = capped.tripped
                if progress is not None:
                    progress(counts)
                states = [s for s in await store.snapshot(BatchState) if s.cj_batch_id in batch_ids]
                if states and all(s.state.terminal for s in states) and lps.idle and bus.idle:
                    settled = True
                    break
                if capped.tripped is not None and capped.in_flight == 0 and bus.idle:
                    break  # stopped: every call that was sent has answered and been recorded
                await runtime.sleep(SETTLE_CHECK_S)
            log.append("live.end", settled=settled, stopped=capped.tripped, session=plan.number)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            cj.stop()
            lps.stop()
            recorder.close()
            if metrics is not None:
                if config.metrics_linger_s and interrupts < 2:
                    # A scraper every 15 s would miss a short run's final numbers: they stay
                    # up a little longer (a second Ctrl-C skips the wait).
                    say(
                        f"metrics: final numbers at {metrics.url} for "
                        f"{config.metrics_linger_s:g} s more"
                    )
                    await asyncio.sleep(config.metrics_linger_s)
                metrics.stop()
            session.ended_at = datetime.now(UTC)
            session.requests = capped.session_requests
            session.cost_usd = round(capped.session_spent_usd, 9)
            session.stopped = None if settled else (capped.tripped or "ended before the batch")
            manifest.write(out_dir)
            # The SDK adapters hold HTTP connections; the mock holds nothing.
            aclose = getattr(provider, "aclose", None)
            if aclose is not None:
                await aclose()
        ours = set(batch_ids)
        rows = FrozenRows(
            {kind.__table__.name: _keep(await store.snapshot(kind), ours) for kind in ROW_KINDS}
        )
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
            manifest=manifest,
            session=plan.number,
            resumed=resumed,
            orphans_settled=orphans,
            retried=tuple(retried),
        )

    handler = open_run_log(out_dir, scrubber.scrub)
    log.add_listener(log_event)
    with events_path.open("a", encoding="utf-8") as events:
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
