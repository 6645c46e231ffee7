"""Adaptive concurrency for provider calls: an AIMD controller over values (pure).

Theory of operation. One controller per (provider, model) holds a *limit* on the calls in flight
and a *pause*, an instant before which no new call starts. Each call's end is one ``Signal``:

* ``RATE_LIMITED`` (a 429 ``rate_limit``): multiplicative decrease, ``limit * factor`` (at least
  one less, never below the minimum), once per episode: a 429 that comes within ``debounce_s``
  of the last decrease belongs to the episode that caused it, because the calls that were in
  flight when the provider started refusing all come back refused.
* ``STRAINED`` (overloaded, other 5xx, timeouts, connection failures): the provider is not
  refusing our rate, it is struggling. Growth pauses (the clean window restarts), nothing is
  cut: halving on a provider's own outage only slows the recovery.
* ``OK`` (an answer, or a failure that says nothing about load): when a whole clean window has
  passed since it began, and within it the limit was *reached* (a call had to wait for a free
  place), additive increase by ``increase_step``, up to the maximum; then a new window begins.
  A window never begins before a pause ends: time spent paused proves nothing.
  Growth needs the limit to have bound: a limit that nobody waits for says nothing about what
  the provider would take, and one that crept up while idle would burst on the next load.

Pauses come from what the provider said: ``retry-after`` (on the error or its headers), and a
``remaining`` of 0 requests or tokens, which pauses until that limit's ``reset``. A pause only
ever extends, and is capped at ``pause_max_s``: queued work must not wait longer for a rate limit
than it would for a hung call.

``admission`` says whether one more call may start now. Between pauses, ``requests_budget``
keeps the calls in flight within what the provider last said remains: its ``requests_remaining``
less the calls started since that answer's call, which it may not have counted yet. The estimate
errs low (a call that arrived before the answer was written is counted twice), so it avoids the
429s that a client learning only from refusals would meet at the end of every reset period.

The gate (``concurrency_gate``) holds the state, applies these functions, and logs every change
of the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from engine.lps.calls import RateLimitHints
from engine.lps.errors import ErrorType
from engine.settings import Settings

__all__ = [
    "Admission",
    "ConcurrencyConfig",
    "ControllerState",
    "LimitChange",
    "Pause",
    "RemainingHint",
    "Signal",
    "Step",
    "admission",
    "initial_state",
    "on_outcome",
    "on_saturated",
    "requests_budget",
    "signal_for",
]


class Signal(StrEnum):
    OK = "ok"
    RATE_LIMITED = "rate_limited"
    STRAINED = "strained"


_STRAINED = frozenset(
    {ErrorType.OVERLOADED, ErrorType.SERVER_ERROR, ErrorType.TIMEOUT, ErrorType.CONNECTION}
)


def signal_for(error_type: str | None) -> Signal:
    """The controller's reading of a call's end: ``None`` is an answer."""
    if error_type == ErrorType.RATE_LIMIT:
        return Signal.RATE_LIMITED
    if error_type in _STRAINED:
        return Signal.STRAINED
    return Signal.OK


@dataclass(frozen=True, slots=True, kw_only=True)
class ConcurrencyConfig:
    """The controller's settings. ``adaptive=False`` keeps the limit at ``start`` and ignores
    what providers say (only client-side buckets then apply)."""

    start: int
    minimum: int
    maximum: int
    decrease_factor: float
    debounce_s: float
    clean_window_s: float
    increase_step: int
    pause_max_s: float
    adaptive: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.start <= self.maximum:
            raise ValueError(
                f"concurrency needs 1 <= minimum <= start <= maximum, got "
                f"{self.minimum} <= {self.start} <= {self.maximum}"
            )
        if not 0 < self.decrease_factor < 1:
            raise ValueError(f"decrease_factor must be in (0, 1), got {self.decrease_factor}")
        if self.debounce_s < 0 or self.clean_window_s <= 0 or self.pause_max_s < 0:
            raise ValueError(
                f"need debounce_s >= 0, clean_window_s > 0, pause_max_s >= 0; got "
                f"{self.debounce_s}, {self.clean_window_s}, {self.pause_max_s}"
            )
        if self.increase_step < 1:
            raise ValueError(f"increase_step must be >= 1, got {self.increase_step}")

    @classmethod
    def from_settings(cls, settings: Settings, *, workers: int | None = None) -> ConcurrencyConfig:
        """From ``LPS_CONCURRENCY_*``. Without the controller the limit is the worker pool's
        size (``workers``), so only client-side buckets can hold a call back."""
        adaptive = settings.LPS_ADAPTIVE_CONCURRENCY
        fixed = workers if workers is not None else settings.LPS_WORKERS
        return cls(
            start=settings.LPS_CONCURRENCY_START if adaptive else fixed,
            minimum=settings.LPS_CONCURRENCY_MIN if adaptive else fixed,
            maximum=settings.LPS_CONCURRENCY_MAX if adaptive else fixed,
            decrease_factor=settings.LPS_CONCURRENCY_DECREASE_FACTOR,
            debounce_s=settings.LPS_CONCURRENCY_DEBOUNCE_S,
            clean_window_s=settings.LPS_CONCURRENCY_CLEAN_WINDOW_S,
            increase_step=settings.LPS_CONCURRENCY_INCREASE_STEP,
            # The same bound as any call: a pause never holds queued work longer than a hung
            # call would (the call deadline), nor longer than a Retry-After is honoured.
            pause_max_s=min(settings.RETRY_AFTER_MAX_S, settings.PROVIDER_CALL_DEADLINE_S),
            adaptive=adaptive,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ControllerState:
    limit: int
    window_start_s: float
    window_saturated: bool = False  # a call waited for a place during this window
    last_decrease_s: float | None = None
    paused_until_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitChange:
    old: int
    new: int
    reason: str  # Signal.RATE_LIMITED or "clean_window"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause:
    until_s: float
    reason: str  # "retry_after", "requests_exhausted" or "tokens_exhausted"


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """The state after one call's end, with what changed (for the event log)."""

    state: ControllerState
    change: LimitChange | None = None
    pause: Pause | None = None


class Admission(StrEnum):
    ADMIT = "admit"
    PAUSED = "paused"  # wait until ``paused_until_s``
    FULL = "full"  # wait for a call to end


def initial_state(config: ConcurrencyConfig, *, now_s: float) -> ControllerState:
    return ControllerState(limit=config.start, window_start_s=now_s)


def admission(state: ControllerState, *, now_s: float, in_flight: int) -> Admission:
    if now_s < state.paused_until_s:
        return Admission.PAUSED
    if in_flight >= state.limit:
        return Admission.FULL
    return Admission.ADMIT


def on_saturated(state: ControllerState) -> ControllerState:
    """A call found the limit reached: this window may earn an increase."""
    return state if state.window_saturated else replace(state, window_saturated=True)


def on_outcome(
    config: ConcurrencyConfig,
    state: ControllerState,
    *,
    now_s: float,
    signal: Signal,
    retry_after_s: float | None = None,
    hints: RateLimitHints | None = None,
) -> Step:
    """The controller after one call ended at ``now_s`` with ``signal``."""
    if not config.adaptive:
        return Step(state=state)
    pause = _pause(config, state, now_s=now_s, retry_after_s=retry_after_s, hints=hints)
    if pause is not None:
        # Time spent paused proves nothing: the clean window starts when calls start again.
        state = replace(
            state,
            paused_until_s=pause.until_s,
            window_start_s=max(state.window_start_s, pause.until_s),
            window_saturated=False,
        )
    change = None
    pause_end = state.paused_until_s
    if signal is Signal.RATE_LIMITED:
        fresh = state.last_decrease_s is None or now_s - state.last_decrease_s >= config.debounce_s
        if fresh:
            new = max(
                config.minimum, min(state.limit - 1, int(state.limit * config.decrease_factor))
            )
            if new != state.limit:
                change = LimitChange(old=state.limit, new=new, reason=Signal.RATE_LIMITED.value)
            state = replace(state, limit=new, last_decrease_s=now_s)
        state = replace(state, window_start_s=max(now_s, pause_end), window_saturated=False)
    elif signal is Signal.STRAINED:
        state = replace(state, window_start_s=max(now_s, pause_end), window_saturated=False)
    elif now_s >= state.window_start_s + config.clean_window_s:
        new = min(config.maximum, state.limit + config.increase_step)
        if state.window_saturated and new != state.limit:
            change = LimitChange(old=state.limit, new=new, reason="clean_window")
            state = replace(state, limit=new)
        state = replace(state, window_start_s=now_s, window_saturated=False)
    return Step(state=state, change=change, pause=pause)


def _pause(
    config: ConcurrencyConfig,
    state: ControllerState,
    *,
    now_s: float,
    retry_after_s: float | None,
    hints: RateLimitHints | None,
) -> Pause | None:
    """The longest pause the provider asked for, if it extends the current one."""
    asked: list[tuple[float, str]] = []
    if hints is not None and hints.retry_after_s is not None and retry_after_s is None:
        retry_after_s = hints.retry_after_s
    if retry_after_s is not None and retry_after_s > 0:
        asked.append((retry_after_s, "retry_after"))
    if hints is not None:
        if hints.requests_remaining == 0 and hints.requests_reset_s is not None:
            asked.append((hints.requests_reset_s, "requests_exhausted"))
        if hints.tokens_remaining == 0 and hints.tokens_reset_s is not None:
            asked.append((hints.tokens_reset_s, "tokens_exhausted"))
    if not asked:
        return None
    wait_s, reason = max(asked)
    until_s = now_s + min(wait_s, config.pause_max_s)
    if until_s <= state.paused_until_s:
        return None
    return Pause(until_s=until_s, reason=reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class RemainingHint:
    """The newest ``requests_remaining`` a provider sent: from the answer to call ``seq`` (calls
    are numbered as they are admitted), valid until ``expires_s``, when the limit has reset."""

    seq: int
    remaining: int
    expires_s: float


def requests_budget(
    hint: RemainingHint | None, *, now_s: float, in_flight: Iterable[int]
) -> int | None:
    """How many more calls the provider's last word allows now, or None when it said nothing
    (or its word has expired): ``remaining`` less the calls in flight admitted after ``seq``."""
    if hint is None or now_s >= hint.expires_s:
        return None
    return hint.remaining - sum(1 for seq in in_flight if seq > hint.seq)
