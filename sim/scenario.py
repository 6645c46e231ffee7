"""Scenarios: what a scenario file may say, as pydantic models (``sim/scenario_file.py`` reads
one, with every error located).

A scenario says who is compared (``cohort``), by what (``provider``), under which engine
``settings`` and ``faults``, for how long (``run``), and what must come out (``expect``). Unknown
keys are errors. Every problem is reported as one line, ``file:line:col: path.to.field: message``;
``ScenarioError`` carries it, and the CLI prints it and exits 2.

``legacy`` holds the settings a ``--legacy`` run applies on top of ``settings``; by default the
original system's behaviour, every fix's toggle at once (``ORIGINAL_SYSTEM``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.cj.grade_scales import SCALES
from engine.randomness import SEED_MAX
from engine.settings import Settings
from sim.runtime import DEFAULT_EPOCH

__all__ = [
    "ORIGINAL_SYSTEM",
    "Distribution",
    "Expectation",
    "FaultKind",
    "FaultSpec",
    "ProviderRateLimit",
    "Scenario",
    "ScenarioError",
]

#: What ``--legacy`` switches on unless a scenario says otherwise: the original system.
ORIGINAL_SYSTEM: dict[str, Any] = {
    "LEGACY_COUNTERS_WITHOUT_LOCK": True,
    "LEGACY_COMPLETION_DENOMINATOR": True,
    "LEGACY_ORPHAN_CALLBACKS_RAISE": True,
    "LEGACY_APPLY_LATE_CALLBACKS": True,
    "LEGACY_NO_PROCESSING_TIMEOUT": True,
    "LEGACY_NO_CALLBACK_ON_EXPIRY": True,
    "LEGACY_UNCLASSIFIED_PROVIDER_ERRORS": True,
    "ENABLE_COMPARISON_POSITION_BALANCING": False,
    "BUNDLE_FAILURE_POLICY": "whole_bundle",
    "MAX_RESAMPLING_PASSES_FOR_REGULAR_NET": 1,
    "LEGACY_RETRY_KEEPS_TIMEOUT_CLOCK": True,
    "LEGACY_NO_CALL_DEADLINE": True,
    "LEGACY_NO_CALLBACK_DEADLINE": True,
    "LEGACY_GREEDY_ORIENTATION": True,
    "LEGACY_NON_ATOMIC_BATCH_CREATION": True,
    "LPS_WORKERS": 1,
    "LPS_ADAPTIVE_CONCURRENCY": False,  # a fixed worker pool, no concurrency controller
}

INVARIANT_NAMES = (
    "completion_never_exceeds_100",
    "counters_match_store",
    "no_callbacks_applied_after_finalization",
    "one_callback_per_queue_item",
    "no_lost_counter_updates",
    "queue_drained",
    "batches_terminal",
    "position_skew_within_limit",
    "batches_progress",
    "no_starvation",
    "every_comparison_accounted",
)


class ScenarioError(ValueError):
    """A scenario that cannot be run; ``str()`` is one located line."""


class _Model(BaseModel):
    # NaN and infinity are never a meaningful scenario value (an infinite interval hangs the
    # monitor; a NaN mean runs to garbage): every float field refuses them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Distribution(_Model):
    """A distribution to draw from: ``normal`` (mean, sd), ``lognormal`` (median, sigma),
    ``uniform`` (low, high) or ``constant`` (value). Draws are clipped at ``min``."""

    distribution: Literal["normal", "lognormal", "uniform", "constant"] = "normal"
    mean: float = 0.0
    sd: float = Field(1.0, ge=0)
    median: float = Field(1.0, gt=0)
    sigma: float = Field(0.25, ge=0)
    low: float = 0.0
    high: float = 1.0
    value: float = 0.0
    min: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Distribution:
        if self.distribution == "uniform" and self.high < self.low:
            raise ValueError(f"uniform needs low <= high, got low={self.low}, high={self.high}")
        return self


class AnchorSpec(_Model):
    ref: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    grade: str
    quality: float | None = None
    words: int = Field(500, ge=1, le=20_000)


class StudentsSpec(_Model):
    """Generated students: ``count`` of them named ``<prefix>-000``..., or the given ``ids``
    (the essays of a recorded run, so that its trace replays them)."""

    count: int = Field(12, ge=0, le=5_000)
    quality: Distribution = Distribution()
    words: int = Field(450, ge=1, le=20_000)
    prefix: str = Field("student", pattern=r"^[a-z][a-z0-9_-]*$")
    ids: list[str] | None = Field(None, max_length=5_000)

    @model_validator(mode="after")
    def _ids_agree(self) -> StudentsSpec:
        if self.ids is None:
            return self
        if "count" in self.model_fields_set and self.count != len(self.ids):
            raise ValueError(f"count is {self.count} but {len(self.ids)} ids are given")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("student ids must be unique")
        bad = [i for i in self.ids if not i or i.startswith("ANCHOR_")]
        if bad:
            raise ValueError(f"not a student id: {bad[0]!r}")
        return self

    @property
    def names(self) -> list[str]:
        if self.ids is not None:
            return list(self.ids)
        return [f"{self.prefix}-{index:03d}" for index in range(self.count)]


class CohortSpec(_Model):
    grade_scale: str = "eng5_np_legacy_9_step"
    anchors: Literal["eng5", "eng5_lower5", "none"] | list[AnchorSpec] = "none"
    anchor_quality_per_grade: float = 0.6
    students: StudentsSpec = StudentsSpec()

    @field_validator("grade_scale")
    @classmethod
    def _known_scale(cls, value: str) -> str:
        if value not in SCALES:
            raise ValueError(f"unknown grade scale {value!r}; known: {', '.join(sorted(SCALES))}")
        return value

    @model_validator(mode="after")
    def _grades_on_scale(self) -> CohortSpec:
        if isinstance(self.anchors, list):
            grades = SCALES[self.grade_scale].grades
            for anchor in self.anchors:
                if anchor.grade not in grades:
                    raise ValueError(
                        f"anchor {anchor.ref!r}: grade {anchor.grade!r} is not on "
                        f"{self.grade_scale} ({', '.join(grades)})"
                    )
            if len({a.ref for a in self.anchors}) != len(self.anchors):
                raise ValueError("anchor refs must be unique")
        return self


class ProviderRateLimit(_Model):
    """The provider's own rate limits, as a real API enforces them on an account: a token bucket
    per limit (one minute's worth, refilled continuously), in virtual time. A request beyond
    them is answered 429 with ``retry-after``; every answer reports what remains and when it
    resets, as the providers' rate-limit headers do."""

    requests_per_minute: float | None = Field(None, gt=0, allow_inf_nan=False)
    tokens_per_minute: float | None = Field(None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _some_limit(self) -> ProviderRateLimit:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("give requests_per_minute, tokens_per_minute or both")
        return self


class ProviderSpec(_Model):
    """Who answers. By default the simulated provider's model: Bradley–Terry outcomes from the
    essays' latent quality plus ``position_bias`` for the essay shown first, latency and tokens
    from the given distributions (or, with ``replay``, from the trace). ``replay`` answers
    literally where the trace has the pair in that orientation. ``mock_mode`` uses the engine's
    mock provider instead (the original's mock profiles). ``rate_limit`` gives the simulated
    provider an account's limits (requests and/or tokens per minute)."""

    name: str = "openai"
    model: str = "gpt-5.1"
    reasoning_effort: Literal["none", "low", "medium", "high"] | None = None
    position_bias: float = Field(0.0, ge=-5, le=5)
    latency_ms: Distribution = Distribution(distribution="lognormal", median=1500.0, sigma=0.25)
    prompt_tokens: Distribution = Distribution(mean=1400.0, sd=120.0, min=1.0)
    completion_tokens: Distribution = Distribution(mean=50.0, sd=8.0, min=1.0)
    replay: str | None = None
    mock_mode: (
        Literal["default", "cj_generic_batch", "eng5_anchor_gpt51_low", "eng5_lower5_gpt51_low"]
        | None
    ) = None
    rate_limit: ProviderRateLimit | None = None

    @model_validator(mode="after")
    def _limits_need_the_simulated_provider(self) -> ProviderSpec:
        if self.rate_limit is not None and self.mock_mode is not None:
            raise ValueError("rate_limit is modelled by the simulated provider, not by mock_mode")
        return self


class FaultKind(StrEnum):
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


class FaultTarget(_Model):
    provider: str | None = None
    model: str | None = None
    batch: int | None = Field(None, ge=1)  # the scenario's batch number, 1-based


class FaultSpec(_Model):
    """One fault: what, how often (``rate`` per opportunity), how many times at most
    (``count``), when (``window_s`` [start, end) in virtual seconds, ``after_calls``
    opportunities first, or once ``at_s``), and for whom (``target``)."""

    kind: FaultKind
    rate: float = Field(1.0, ge=0, le=1)
    count: int | None = Field(None, ge=1)
    window_s: tuple[float, float] | None = None
    after_calls: int | None = Field(None, ge=0)
    at_s: float | None = Field(None, ge=0)
    target: FaultTarget = FaultTarget()
    retry_after_s: float | None = Field(None, ge=0)
    retry_after_ms: float | None = Field(None, ge=0)
    hang_s: float = Field(7200.0, gt=0)
    delay_s: float | None = Field(None, ge=0)  # late: 600 s; duplicate: 1 s after the first
    extra_latency_s: float = Field(30.0, ge=0)
    timeout_s: float = Field(60.0, ge=0)
    store_latency_ms: float = Field(50.0, ge=0)
    malformed: Literal["not_json", "missing_winner", "invalid_winner"] = "not_json"

    @model_validator(mode="after")
    def _coherent(self) -> FaultSpec:
        if self.window_s is not None and not (0 <= self.window_s[0] < self.window_s[1]):
            raise ValueError(
                f"window_s must be [start, end) with 0 <= start < end, got {list(self.window_s)}"
            )
        if self.kind is FaultKind.ORPHAN_CALLBACK and self.at_s is None:
            raise ValueError("orphan_callback needs at_s: when the stray callback arrives")
        if self.kind in (FaultKind.CALLBACK_BURST, FaultKind.STORE_LATENCY) and (
            self.window_s is None
        ):
            raise ValueError(f"{self.kind.value} needs window_s: [start, end)")
        if self.retry_after_s is not None and self.retry_after_ms is not None:
            raise ValueError("give retry_after_s or retry_after_ms, not both")
        return self


class RunSpec(_Model):
    batches: int = Field(1, ge=1, le=50)
    batch_interval_s: float = Field(0.0, ge=0)
    fault_phase_s: float = Field(6 * 3600.0, gt=0, le=30 * 86400)
    liveness_s: float = Field(6 * 3600.0, gt=0, le=30 * 86400)
    store_latency_ms: float = Field(2.0, ge=0, le=60_000)
    # The LPS queue lived in Redis: sub-millisecond, modelled as in-process (0) by default.
    queue_store_latency_ms: float = Field(0.0, ge=0, le=60_000)
    bus_latency_ms: float = Field(5.0, ge=0, le=600_000)
    bus_jitter_ms: float = Field(0.0, ge=0, le=600_000)
    reorder_spread_s: float = Field(30.0, ge=0)
    position_skew_limit: float = Field(0.2, ge=0, le=1)
    position_min_comparisons: int = Field(10, ge=1)
    consumer_redeliveries: int = Field(5, ge=0, le=1000)
    # Liveness bounds; by default derived from the engine's timeouts (see sim/liveness.py).
    progress_bound_s: float | None = Field(None, gt=0)
    starvation_bound_s: float | None = Field(None, gt=0)


class ReportCheck(_Model):
    path: str = Field(pattern=r"^[A-Za-z0-9_.]+$")
    eq: Any = None
    ne: Any = None
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None

    @model_validator(mode="after")
    def _one_comparison(self) -> ReportCheck:
        given = [k for k in ("eq", "ne", "lt", "le", "gt", "ge") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"give exactly one of eq, ne, lt, le, gt, ge (got {given or 'none'})")
        return self


class InvariantExpectation(_Model):
    hold: list[str] | Literal["all"] = "all"
    fail: list[str] = []

    @field_validator("hold", "fail")
    @classmethod
    def _known(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list):
            unknown = [name for name in value if name not in INVARIANT_NAMES]
            if unknown:
                raise ValueError(
                    f"unknown invariant {unknown[0]!r}; known: {', '.join(INVARIANT_NAMES)}"
                )
        return value


class Expectation(_Model):
    invariants: InvariantExpectation = InvariantExpectation()
    report: list[ReportCheck] = []


class Scenario(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(42, ge=0, le=SEED_MAX)
    epoch: datetime = DEFAULT_EPOCH
    cohort: CohortSpec = CohortSpec()
    budget: int | None = Field(None, ge=1, le=1_000_000)
    settings: dict[str, Any] = {}
    legacy: dict[str, Any] | None = None
    provider: ProviderSpec = ProviderSpec()
    faults: list[FaultSpec] = []
    run: RunSpec = RunSpec()
    expect: Expectation = Expectation()
    expect_legacy: Expectation | None = None

    @field_validator("epoch")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("epoch needs a timezone, e.g. 2025-12-01T09:00:00Z")
        return value

    def engine_settings(self, *, legacy: bool = False) -> Settings:
        overrides = dict(self.settings)
        if legacy:
            overrides.update(self.legacy if self.legacy is not None else ORIGINAL_SYSTEM)
        return Settings.for_simulation(**overrides)

    def expectation(self, *, legacy: bool) -> Expectation:
        if legacy and self.expect_legacy is not None:
            return self.expect_legacy
        return self.expect
