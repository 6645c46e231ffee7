"""The gate a worker passes before each provider call: the controller, applied on the runtime
clock.

One ``ConcurrencyGate`` per (provider, model) holds the controller's state (``concurrency``),
the calls in flight, what the provider last said remains, and the client-side buckets
(``LPS_CLIENT_REQUESTS_PER_MINUTE``, ``LPS_CLIENT_TOKENS_PER_MINUTE``). ``admit`` waits until a
call may start (a pause ends, a place frees up, a bucket refills) and returns a ``Ticket``;
``try_admit`` answers at once; ``done`` hands the call's outcome back; ``cancel`` returns a
ticket that was not used. Waiters on a place wake when any call ends, in the order they began
to wait.

Every change of the limit is logged as ``lps.concurrency.changed`` (provider, model, old, new,
reason, in_flight; the first, with ``old`` None and reason ``start``, when the gate opens), and
every new or longer pause as ``lps.concurrency.paused`` (provider, model, reason, pause_s,
until_s).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.lps.calls import ProviderVerdict, RateLimitHints, TokenUsage
from engine.lps.concurrency import (
    Admission,
    ConcurrencyConfig,
    RemainingHint,
    Signal,
    admission,
    initial_state,
    on_outcome,
    on_saturated,
    requests_budget,
    signal_for,
)
from engine.lps.concurrency_bucket import TokenBucket
from engine.lps.errors import ProviderError
from engine.lps.metrics import LPSMetrics
from engine.ports import Event, EventLog, Runtime
from engine.settings import Settings

__all__ = ["ConcurrencyGate", "GateKey", "Gates", "Ticket"]

GateKey = tuple[str, str]  # (provider, model)
_FOREVER = float("inf")


@dataclass(frozen=True, slots=True)
class Ticket:
    """Leave to start one call; ``seq`` numbers calls in the order they were admitted."""

    seq: int


class ConcurrencyGate:
    def __init__(
        self,
        key: GateKey,
        config: ConcurrencyConfig,
        *,
        runtime: Runtime,
        log: EventLog,
        metrics: LPSMetrics,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
    ) -> None:
        self.key = key
        self.config = config
        self._runtime = runtime
        self._log = log
        self._limit_gauge = metrics.concurrency_limit.labels(*key)
        now = runtime.now()
        self.state = initial_state(config, now_s=now)
        self._flying: set[int] = set()
        self._admitted = 0
        self._hint: RemainingHint | None = None
        self._requests = (
            TokenBucket.per_minute(requests_per_minute, now_s=now) if requests_per_minute else None
        )
        self._tokens = (
            TokenBucket.per_minute(tokens_per_minute, now_s=now) if tokens_per_minute else None
        )
        self._changed: Event | None = None
        self._limit_gauge.set(self.state.limit)
        self._log_change(None, self.state.limit, "start")

    @property
    def in_flight(self) -> int:
        return len(self._flying)

    @property
    def limit(self) -> int:
        return self.state.limit

    async def admit(self) -> Ticket:
        """Wait until one more call may start; the caller must ``done`` or ``cancel`` it."""
        runtime = self._runtime
        while True:
            wait_s = self._blocked(runtime.now())
            if wait_s is None:
                break
            if wait_s > 0:
                await runtime.sleep(wait_s)
            else:
                if self._changed is None or self._changed.is_set():
                    self._changed = runtime.event()
                await self._changed.wait()
        return self._take()

    def try_admit(self) -> Ticket | None:
        """A ticket if a call may start now, else None (nothing waits)."""
        return self._take() if self._blocked(self._runtime.now()) is None else None

    def _take(self) -> Ticket:
        self._admitted += 1
        ticket = Ticket(self._admitted)
        self._flying.add(ticket.seq)
        if self._requests is not None:
            self._requests = self._requests.take(1, now_s=self._runtime.now())
        return ticket

    def cancel(self, ticket: Ticket) -> None:
        """A ticket that started no call (its work was taken by another worker, or the worker
        stopped); a no-op for a ticket already done or cancelled."""
        if ticket.seq not in self._flying:
            return
        self._flying.discard(ticket.seq)
        if self._requests is not None:
            self._requests = self._requests.take(-1, now_s=self._runtime.now())
        self._wake()

    def done(self, ticket: Ticket, outcome: object) -> None:
        """The call of ``ticket`` ended with ``outcome`` (a verdict, a ``ProviderError``, or
        anything else when it ended without an answer: a crash, an expiry)."""
        now = self._runtime.now()
        self._flying.discard(ticket.seq)
        reading = _reading(outcome)
        if reading is not None:
            signal, retry_after_s, hints, usage = reading
            if usage is not None and self._tokens is not None:
                self._tokens = self._tokens.take(usage.total_tokens, now_s=now)
            if hints is not None and hints.requests_remaining is not None:
                reset_s = hints.requests_reset_s
                self._hint = RemainingHint(
                    seq=ticket.seq,
                    remaining=hints.requests_remaining,
                    expires_s=now + reset_s if reset_s is not None else _FOREVER,
                )
            step = on_outcome(
                self.config,
                self.state,
                now_s=now,
                signal=signal,
                retry_after_s=retry_after_s,
                hints=hints,
            )
            self.state = step.state
            if step.change is not None:
                self._limit_gauge.set(step.change.new)
                self._log_change(step.change.old, step.change.new, step.change.reason)
            if step.pause is not None:
                self._log.append(
                    "lps.concurrency.paused",
                    provider=self.key[0],
                    model=self.key[1],
                    reason=step.pause.reason,
                    pause_s=round(step.pause.until_s - now, 6),
                    until_s=round(step.pause.until_s, 6),
                )
        self._wake()

    def _blocked(self, now_s: float) -> float | None:
        """None: a call may start now. Seconds > 0: nothing can change before then. 0: wait
        for a call to end."""
        verdict = admission(self.state, now_s=now_s, in_flight=len(self._flying))
        if verdict is Admission.PAUSED:
            return self.state.paused_until_s - now_s
        if verdict is Admission.FULL:
            self.state = on_saturated(self.state)
            return 0.0
        if self._flying and self.config.adaptive:
            # With nothing in flight the call goes ahead whatever the estimate says: it is the
            # probe that brings a fresh word from the provider.
            budget = requests_budget(self._hint, now_s=now_s, in_flight=self._flying)
            if budget is not None and budget <= 0:
                return 0.0
        for bucket in (self._requests, self._tokens):
            if bucket is not None:
                wait_s = bucket.wait_s(now_s=now_s)
                if wait_s > 0:
                    return wait_s
        return None

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _log_change(self, old: int | None, new: int, reason: str) -> None:
        self._log.append(
            "lps.concurrency.changed",
            provider=self.key[0],
            model=self.key[1],
            old=old,
            new=new,
            reason=reason,
            in_flight=len(self._flying),
        )


def _reading(
    outcome: object,
) -> tuple[Signal, float | None, RateLimitHints | None, TokenUsage | None] | None:
    if isinstance(outcome, ProviderVerdict):
        return Signal.OK, None, outcome.rate_limit, outcome.usage
    if isinstance(outcome, ProviderError):
        retry_after = outcome.detail.details.get("retry_after_s")
        return (
            signal_for(outcome.error_type),
            float(retry_after) if retry_after is not None else None,
            outcome.rate_limit,
            outcome.usage,
        )
    return None


class Gates:
    """The gates of one LPS, one per (provider, model), opened on first use."""

    def __init__(
        self, settings: Settings, *, runtime: Runtime, log: EventLog, metrics: LPSMetrics
    ) -> None:
        self._config = ConcurrencyConfig.from_settings(settings)
        self._settings = settings
        self._runtime = runtime
        self._log = log
        self._metrics = metrics
        self._gates: dict[GateKey, ConcurrencyGate] = {}

    @classmethod
    def wanted(cls, settings: Settings) -> bool:
        """Whether calls pass a gate at all: the controller, or a client-side limit."""
        return settings.LPS_ADAPTIVE_CONCURRENCY or bool(
            settings.LPS_CLIENT_REQUESTS_PER_MINUTE or settings.LPS_CLIENT_TOKENS_PER_MINUTE
        )

    def gate(self, key: GateKey) -> ConcurrencyGate:
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = ConcurrencyGate(
                key,
                self._config,
                runtime=self._runtime,
                log=self._log,
                metrics=self._metrics,
                requests_per_minute=self._settings.LPS_CLIENT_REQUESTS_PER_MINUTE,
                tokens_per_minute=self._settings.LPS_CLIENT_TOKENS_PER_MINUTE,
            )
        return gate
