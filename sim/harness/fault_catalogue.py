"""The fault catalogue: every kind of fault a scenario can inject, and how one is specified
(what, how often, how many times, when and for whom). ``sim/adapters/faults.py`` schedules them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from engine.settings import DURATION_S_MAX
from sim.harness.scenario_bounds import BATCHES_MAX, CALLS_MAX, DAY_S, ScenarioModel

__all__ = ["CALLBACK_FAULTS", "PROVIDER_FAULTS", "FaultKind", "FaultSpec", "FaultTarget"]


class FaultKind(StrEnum):
    """What goes wrong (scenarios/README.md has the catalogue)."""

    HTTP_429 = "http_429"
    HTTP_429_SPEND_LIMIT = "http_429_spend_limit"
    HTTP_529 = "http_529"
    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    TIMEOUT = "timeout"
    CONNECTION_RESET = "connection_reset"
    MAX_TOKENS = "max_tokens"
    MALFORMED = "malformed"
    LATENCY_SPIKE = "latency_spike"
    STUCK = "stuck"
    WORKER_CRASH = "worker_crash"
    DUPLICATE_CALLBACK = "duplicate_callback"
    LATE_CALLBACK = "late_callback"
    REORDERED_CALLBACKS = "reordered_callbacks"
    ORPHAN_CALLBACK = "orphan_callback"
    DROPPED_CALLBACK = "dropped_callback"
    CALLBACK_BURST = "callback_burst"
    STORE_LATENCY = "store_latency"


PROVIDER_FAULTS = frozenset(
    {
        FaultKind.HTTP_429,
        FaultKind.HTTP_429_SPEND_LIMIT,
        FaultKind.HTTP_529,
        FaultKind.HTTP_500,
        FaultKind.HTTP_503,
        FaultKind.TIMEOUT,
        FaultKind.CONNECTION_RESET,
        FaultKind.MAX_TOKENS,
        FaultKind.MALFORMED,
        FaultKind.LATENCY_SPIKE,
        FaultKind.STUCK,
        FaultKind.WORKER_CRASH,
    }
)
CALLBACK_FAULTS = frozenset(
    {
        FaultKind.DUPLICATE_CALLBACK,
        FaultKind.LATE_CALLBACK,
        FaultKind.REORDERED_CALLBACKS,
        FaultKind.DROPPED_CALLBACK,
        FaultKind.CALLBACK_BURST,
    }
)


class FaultTarget(ScenarioModel):
    """Whom a fault strikes; every field left out matches all."""

    provider: str | None = None
    """Only calls to this provider."""
    model: str | None = None
    """Only calls for this model."""
    batch: int | None = Field(None, ge=1, le=BATCHES_MAX)
    """Only this batch of the scenario (1-based)."""


_Seconds = Annotated[float, Field(ge=0, le=DURATION_S_MAX)]


class FaultSpec(ScenarioModel):
    """One fault: what, how often (``rate`` per opportunity), how many times at most
    (``count``), when (``window_s`` [start, end) in virtual seconds, ``after_calls``
    opportunities first, or once ``at_s``), and for whom (``target``)."""

    kind: FaultKind
    """What goes wrong (the catalogue is in scenarios/README.md)."""
    rate: float = Field(1.0, ge=0, le=1)
    """Chance (0..1) that the fault strikes at each opportunity."""
    count: int | None = Field(None, ge=1, le=CALLS_MAX)
    """It strikes at most this many times; none: no limit."""
    window_s: tuple[_Seconds, _Seconds] | None = None
    """[start, end): it strikes only in this window of virtual seconds (required by
    callback_burst and store_latency)."""
    after_calls: int | None = Field(None, ge=0, le=CALLS_MAX)
    """It lets this many opportunities pass first."""
    at_s: float | None = Field(None, ge=0, le=DURATION_S_MAX)
    """It strikes once, at this virtual second (required by orphan_callback)."""
    target: FaultTarget = FaultTarget()
    """Whom it strikes: a provider, a model, a batch."""
    retry_after_s: float | None = Field(None, ge=0, le=DAY_S)
    """http_429: the Retry-After header, in seconds; give this or retry_after_ms."""
    retry_after_ms: float | None = Field(None, ge=0, le=DAY_S * 1000)
    """http_429: the retry-after-ms header, in milliseconds; give this or retry_after_s."""
    hang_s: float = Field(7200.0, gt=0, le=DURATION_S_MAX)
    """stuck: seconds the call hangs before it answers."""
    delay_s: float | None = Field(None, ge=0, le=DURATION_S_MAX)
    """Seconds a callback is held back: late_callback (default 600), duplicate_callback (the
    copy's delay after the first; default 1)."""
    extra_latency_s: float = Field(30.0, ge=0, le=DAY_S)
    """latency_spike: seconds added to the call's latency."""
    timeout_s: float = Field(60.0, ge=0, le=DAY_S)
    """timeout: seconds before the call fails without an answer."""
    store_latency_ms: float = Field(50.0, ge=0, le=60_000)
    """store_latency: milliseconds per CJ database statement within the window."""
    malformed: Literal["not_json", "missing_winner", "invalid_winner"] = "not_json"
    """malformed: how the answer is broken."""

    @model_validator(mode="after")
    def _coherent(self) -> FaultSpec:
        if self.window_s is not None and not (0 <= self.window_s[0] < self.window_s[1]):
            raise ValueError(
                f"window_s: must be [start, end) with 0 <= start < end, got {list(self.window_s)}"
            )
        if self.kind is FaultKind.ORPHAN_CALLBACK and self.at_s is None:
            raise ValueError("at_s: orphan_callback needs it: when the stray callback arrives")
        if self.kind in (FaultKind.CALLBACK_BURST, FaultKind.STORE_LATENCY) and (
            self.window_s is None
        ):
            raise ValueError(f"window_s: {self.kind.value} needs it: [start, end)")
        if self.retry_after_s is not None and self.retry_after_ms is not None:
            raise ValueError("retry_after_ms: give retry_after_s or retry_after_ms, not both")
        return self
