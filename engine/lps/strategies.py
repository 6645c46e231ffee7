"""How queued requests become provider calls: per request, serial bundles, or batch jobs.

* ``per_request``: one item at a time.
* ``serial_bundle``: once work appears, wait one bundle window, then take up to
  ``min(preferred_bundle_size, SERIAL_BUNDLE_MAX_REQUESTS_PER_CALL)`` compatible items (same
  provider, same overrides, same batching hint, as the original); the hint counts only as an
  int in 1..64. The first incompatible item ends the bundle and goes back in line. The bundle's
  items are called one after another, each marked ``processing`` only as its call starts (see
  ``execute``: a bundle's cost is then one write per call, whatever its size). A failure
  affects only its own item (``per_item``), or, under the original's ``whole_bundle`` policy,
  stops the bundle and fails every item in it.
* ``batch_api``: the same bundling, handed to a provider batch job (see ``batch_api``).
"""

from __future__ import annotations

from engine.lps.calls import ProviderVerdict, TokenUsage
from engine.lps.concurrency_gate import ConcurrencyGate, GateKey, Ticket
from engine.lps.errors import ProviderError, WorkerCrash, unclassified
from engine.lps.ledger import Outcome, QueueLedger
from engine.lps.metrics import LPSMetrics
from engine.lps.pricing import Pricing
from engine.lps.publisher import bundle_hint
from engine.lps.queue import QueueItem, QueueStatus
from engine.lps.retry import retry_delay_s
from engine.settings import BundleFailurePolicy, QueueProcessingMode

__all__ = ["execute", "gate_key", "next_bundle", "settle"]


def _compatibility(ledger: QueueLedger, item: QueueItem) -> tuple[object, ...]:
    """Items bundle together only with the same provider, overrides and batching hint, and
    (unlike the original) of the same CJ batch: a bundle's calls run one after another, so a
    slow call in a mixed bundle would hold another batch's items behind it."""
    request = ledger.requests[item.queue_id]
    same_batch = None if ledger.ctx.settings.LEGACY_NO_CALL_DEADLINE else item.cj_batch_id
    return (
        item.provider,
        request.llm_config_overrides,
        request.metadata.get("cj_llm_batching_mode"),
        same_batch,
    )


def bundle_limit(ledger: QueueLedger, first: QueueItem) -> int:
    cap = ledger.ctx.settings.SERIAL_BUNDLE_MAX_REQUESTS_PER_CALL
    hint = bundle_hint(ledger.requests[first.queue_id].metadata)
    return min(hint, cap) if hint is not None else cap


async def next_bundle(ledger: QueueLedger) -> list[QueueItem]:
    """Wait for work and take the next bundle (one item in ``per_request`` mode)."""
    settings = ledger.ctx.settings
    await ledger.wait_for_work()
    bundling = settings.QUEUE_PROCESSING_MODE is not QueueProcessingMode.PER_REQUEST
    if bundling and settings.SERIAL_BUNDLE_WINDOW_S > 0:
        await ledger.ctx.runtime.sleep(settings.SERIAL_BUNDLE_WINDOW_S)
    first = await ledger.pop_ready()
    if first is None:
        return []
    if not bundling:
        return [first]
    limit = bundle_limit(ledger, first)
    key = _compatibility(ledger, first)
    bundle = [first]
    while len(bundle) < limit:
        candidate = await ledger.pop_ready()
        if candidate is None:
            break
        if _compatibility(ledger, candidate) != key:
            ledger.put_back(candidate)
            break
        bundle.append(candidate)
    return bundle


def gate_key(ledger: QueueLedger, item: QueueItem) -> GateKey:
    """The (provider, model) whose concurrency gate an item's calls pass: the adapter that
    really answers, and the model asked for."""
    return ledger.ctx.provider_for(item.provider).name, ledger.model_of(item)


async def execute(
    ledger: QueueLedger,
    bundle: list[QueueItem],
    *,
    gate: ConcurrencyGate | None = None,
    ticket: Ticket | None = None,
) -> None:
    """Call the provider for each item of a per-request or serial bundle and settle it. With a
    ``gate``, ``ticket`` is the admission the worker waited for before taking the bundle, for
    its first call; each later call needs the gate's leave at once, and when the gate holds it
    back the bundle ends there, its uncalled items back in line. An admission left unused is
    handed back, however the bundle ends.

    Each item turns ``processing`` just before its own call (``QueueLedger.dispatch``), not
    when the bundle is taken: an item waiting its turn stays ``queued`` in the store, under its
    TTL, and when the bundle ends early (the gate holds a call back, the worker crashes) the
    items not reached go back in line with nothing written (``QueueLedger.release``). Marking
    the whole bundle at once cost a store write and an event per item taken, and another pair
    per item handed back: with a gate that holds calls back during every rate-limit pause, a
    bundle of 64 paid about 63 of each for one call, so the cost per comparison grew with the
    bundle size, and so with the batch (issue 15). The original's bundles (``_marks_whole``)
    are still marked whole: two of its bugs live in that.
    """
    ctx = ledger.ctx
    settings = ctx.settings
    serial = settings.QUEUE_PROCESSING_MODE is QueueProcessingMode.SERIAL_BUNDLE
    whole_marked = _marks_whole(ledger)
    bundle_id = f"{ctx.mode}:{ctx.streams.ids('lps.bundles').next()[:12]}"
    items = bundle
    reached = 0  # items[reached:] were taken from the queue but not yet dispatched
    cut = "cancelled"  # why a bundle ended before its last item, if it does
    try:
        if whole_marked:
            items = await ledger.start_processing(bundle, bundle_id)
            _announce(ledger, items, bundle_id)
        whole_bundle = serial and settings.BUNDLE_FAILURE_POLICY is BundleFailurePolicy.WHOLE_BUNDLE
        held: list[tuple[QueueItem, ProviderVerdict]] = []
        send_expired = settings.LEGACY_RETRY_KEEPS_TIMEOUT_CLOCK
        for position, queued in enumerate(items):
            if gate is not None and ticket is None:
                ticket = gate.try_admit()
                if ticket is None:
                    # The gate holds the next call back (a pause, the limit, what remains):
                    # the rest of the bundle goes back in line rather than waiting here, taken
                    # from the queue, where no other worker could serve it.
                    cut = "concurrency_gate"
                    if whole_marked:
                        await ledger.hold_back(items[position:], reason="concurrency_gate")
                    break
            reached = position + 1
            if whole_marked:
                item = queued
                current = ledger.items[item.queue_id]
                skipped = current.status is not QueueStatus.PROCESSING and not send_expired
            else:
                dispatched = await ledger.dispatch(queued, bundle_id, len(items))
                if position == 0:
                    # After the first dispatch, as when the whole bundle was marked first: a
                    # bundle of one (per_request mode) logs and writes just what it did then.
                    _announce(ledger, items, bundle_id)
                item = dispatched or queued
                current = ledger.items[item.queue_id]
                skipped = dispatched is None
            if skipped:
                # Expired while it waited its turn: its callback is already out.
                ctx.log.append(
                    "lps.item.skipped",
                    ids={"queue_id": item.queue_id, "correlation_id": item.correlation_id},
                    status=current.status.value,
                    bundle_id=bundle_id,
                )
                continue
            started = ctx.runtime.now()
            outcome = await ledger.call(item)
            elapsed = ctx.runtime.now() - started
            if gate is not None and ticket is not None:
                gate.done(ticket, outcome)
                ticket = None
            if outcome is None:
                continue  # expired while the call ran; its callback is already out
            if isinstance(outcome, WorkerCrash):
                # The worker died holding what it had marked ``processing``: the item it was
                # calling (and, marked whole, the rest of its bundle) waits for the sweep.
                abandoned = items[position:] if whole_marked else [item]
                cut = "worker_crash"
                ctx.metrics.worker_crashes.inc()
                ctx.log.append(
                    "lps.worker.crashed",
                    ids={"bundle_id": bundle_id},
                    problem=str(outcome),
                    abandoned=len(abandoned),
                )
                for lost in abandoned:
                    await ledger.abandon(lost, "worker_crash")
                for kept, verdict in held:
                    await ledger.complete(kept, verdict)
                return
            if whole_bundle and isinstance(outcome, ProviderError):
                # The original: one provider error fails every item of the bundle, the ones
                # that already succeeded included, and the rest are never sent.
                _record_call(ledger, item, outcome, elapsed)
                bystander = ProviderError(outcome.detail)  # the usage is the failed item's
                for victim in [kept for kept, _ in held] + items[position:]:
                    await _settle_error(ledger, victim, outcome if victim is item else bystander)
                return
            if whole_bundle and isinstance(outcome, ProviderVerdict):
                _record_call(ledger, item, outcome, elapsed)
                held.append((item, outcome))
                continue
            await settle(ledger, item, outcome, elapsed_s=elapsed)
        for kept, verdict in held:
            await ledger.complete(kept, verdict)
    finally:
        if gate is not None and ticket is not None:
            gate.cancel(ticket)
        if not whole_marked and reached < len(items):
            # Taken but never reached (the gate held a call back, the worker crashed, or the
            # bundle was cancelled): still ``queued``, back in line for any worker. One event
            # for them all: they were never dispatched, so there is nothing to undo per item.
            released = ledger.release(items[reached:])
            if released:
                ctx.log.append(
                    "lps.bundle.released",
                    ids={"bundle_id": bundle_id},
                    released=released,
                    reason=cut,
                )


def _announce(ledger: QueueLedger, items: list[QueueItem], bundle_id: str) -> None:
    """Count a bundle in the metrics and log ``lps.bundle.started``."""
    ctx = ledger.ctx
    model = ledger.model_of(items[0])
    resolved = ctx.provider_for(items[0].provider).name
    if ctx.settings.QUEUE_PROCESSING_MODE is QueueProcessingMode.SERIAL_BUNDLE:
        ctx.metrics.bundle_calls.labels(resolved, model).inc()
        ctx.metrics.bundle_items.labels(resolved, model).observe(len(items))
    ctx.log.append(
        "lps.bundle.started",
        ids={"bundle_id": bundle_id},
        size=len(items),
        provider=items[0].provider,
        resolved_provider=resolved,
        model=model,
        mode=ctx.mode,
    )


def _marks_whole(ledger: QueueLedger) -> bool:
    """Whether bundles are marked ``processing`` whole when taken, as the original did.
    Its whole-bundle failure policy fails the uncalled items of a bundle, which only a
    processing item may do; and its retried item, keeping its old timeout clock, was expired by
    the sweep while it waited its turn *as processing*, then sent anyway, and its retry crashed
    the worker. Either toggle brings the whole marking back (in every mode, so that a legacy run
    is the original's, call for call), and both bugs still show."""
    settings = ledger.ctx.settings
    return (
        settings.BUNDLE_FAILURE_POLICY is BundleFailurePolicy.WHOLE_BUNDLE
        or settings.LEGACY_RETRY_KEEPS_TIMEOUT_CLOCK
    )


async def settle(
    ledger: QueueLedger, item: QueueItem, outcome: Outcome, *, elapsed_s: float
) -> None:
    """Record a call's outcome and move the item on: completed, retried, or failed."""
    if isinstance(outcome, WorkerCrash):
        raise AssertionError("a worker crash is handled by the strategy, not settled")
    _record_call(ledger, item, outcome, elapsed_s)
    if isinstance(outcome, ProviderVerdict):
        await ledger.complete(item, outcome)
    else:
        await _settle_error(ledger, item, outcome)


async def _settle_error(ledger: QueueLedger, item: QueueItem, error: ProviderError) -> None:
    """Retry or fail ``item`` after ``error``; a failure's callback carries the model and usage
    of a billed call."""
    ctx = ledger.ctx
    detail = error.detail
    if ctx.settings.LEGACY_UNCLASSIFIED_PROVIDER_ERRORS:
        detail = unclassified(detail)
    current = ledger.items[item.queue_id]
    delay = retry_delay_s(
        detail, current.retry_count, ctx.settings, ctx.streams.random("lps.retry.jitter")
    )
    if delay is None:
        await ledger.fail(current, detail, model=error.model, usage=error.usage)
    else:
        await ledger.retry(current, delay, detail)


def _record_call(
    ledger: QueueLedger, item: QueueItem, outcome: ProviderVerdict | ProviderError, elapsed_s: float
) -> None:
    """Metrics and one ``lps.provider.call`` event per call: its outcome, the model that
    answered, its usage and what it cost (a billed failure's too; zero when nothing was billed).
    """
    ctx = ledger.ctx
    metrics = ctx.metrics
    provider = ctx.provider_for(item.provider).name  # the adapter that really answered
    request_type = "batch" if ctx.mode == "batch_api" else "comparison"
    attempt = ledger.items[item.queue_id].retry_count + 1
    ids = {"queue_id": item.queue_id, "correlation_id": item.correlation_id}
    if isinstance(outcome, ProviderVerdict):
        model, usage = outcome.model, outcome.usage
        metrics.requests.labels(provider, model, request_type, "success").inc()
        metrics.processing_time.labels(provider, "success").observe(elapsed_s)
        cost = _account(ctx.metrics, ctx.pricing, provider, model, usage)
        ctx.log.append(
            "lps.provider.call",
            ids=ids,
            outcome="success",
            provider=provider,
            model=model,
            attempt=attempt,
            latency_ms=outcome.response_time_ms,
            **_usage_fields(usage),
            cost_usd=cost,
        )
        return
    detail = outcome.detail
    error_type = detail.error_type
    status = detail.details.get("http_status")
    requested_model = ledger.model_of(item)
    model = outcome.model or requested_model
    metrics.requests.labels(provider, requested_model, request_type, "failure").inc()
    metrics.processing_time.labels(provider, "failure").observe(elapsed_s)
    metrics.api_errors.labels(provider, error_type, str(status) if status else "none").inc()
    metrics.errors.labels(provider, requested_model, error_type).inc()
    usage = outcome.usage or _UNBILLED
    cost = _account(ctx.metrics, ctx.pricing, provider, model, usage) if outcome.usage else 0.0
    ctx.log.append(
        "lps.provider.call",
        ids=ids,
        outcome="error",
        provider=provider,
        model=model,
        error_type=error_type,
        http_status=status,
        retry_after_s=detail.details.get("retry_after_s"),
        retryable=detail.details.get("retryable"),
        attempt=attempt,
        **_usage_fields(usage),
        cost_usd=cost,
        billed=outcome.usage is not None,
    )


_UNBILLED = TokenUsage()


def _usage_fields(usage: TokenUsage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    }


def _account(
    metrics: LPSMetrics, pricing: Pricing, provider: str, model: str, usage: TokenUsage
) -> float:
    """Count a billed call's tokens and cost in the metrics; return its cost in USD."""
    for token_type, count in (
        ("prompt", usage.prompt_tokens),
        ("completion", usage.completion_tokens),
        ("cache_read", usage.cache_read_tokens),
        ("cache_write", usage.cache_write_tokens),
    ):
        if count:
            metrics.tokens.labels(provider, model, token_type).inc(count)
    cost = pricing.cost_usd(usage)
    if cost:
        metrics.cost.labels(provider, model).inc(cost)
    return cost
