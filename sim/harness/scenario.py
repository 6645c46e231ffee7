"""Scenarios: what a scenario file may say, as pydantic models (``sim/harness/scenario_file.py``
reads one, with every error located).

A scenario says who is compared (``cohort``), by what (``provider``), under which engine
``settings`` and ``faults``, for how long (``run``), and what must come out (``expect``). Unknown
keys are errors. Every problem is reported as one line, ``file:line:col: path.to.field: message``;
``ScenarioError`` carries it, and the CLI prints it and exits 2.

``legacy`` holds the settings a ``--legacy`` run applies on top of ``settings``; by default the
original system's behaviour, every fix's toggle at once (``ORIGINAL_SYSTEM``).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from engine.cj.grade_scales import SCALES
from engine.randomness import SEED_MAX
from engine.settings import DURATION_S_MAX, Settings, SettingsBlockJsonSchema
from sim.adapters.runtime import DEFAULT_EPOCH
from sim.harness.distributions import Distribution, Latency, Quality, Tokens
from sim.harness.fault_catalogue import FaultKind, FaultSpec
from sim.harness.scenario_bounds import (
    ANCHORS_MAX,
    BATCHES_MAX,
    COHORT_WORDS_MAX,
    DAY_S,
    EPOCH_MAX,
    EPOCH_MIN,
    QUALITY_MAX,
    REPORT_VALUE_MAX,
    STUDENTS_MAX,
    ScenarioModel,
)

__all__ = [
    "ANCHORS_MAX",
    "BATCHES_MAX",
    "COHORT_WORDS_MAX",
    "ORIGINAL_SYSTEM",
    "STUDENTS_MAX",
    "Distribution",
    "Expectation",
    "FaultKind",
    "FaultSpec",
    "Latency",
    "ProviderRateLimit",
    "Quality",
    "Scenario",
    "ScenarioError",
    "Tokens",
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


#: What a block of ``settings:`` may hold: every engine setting, with its own description.
#: Validation itself is the engine's (``sim/harness/scenario_file.py`` checks the block with
#: ``Settings``); this only describes the block to editors and validators.
SETTINGS_SCHEMA = SettingsBlockJsonSchema()


class AnchorSpec(ScenarioModel):
    """One graded anchor essay."""

    ref: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    """The anchor's reference id (letters, digits, _ . -), unique in the cohort."""
    grade: str
    """Its expert grade, on the cohort's grade scale."""
    quality: float | None = Field(None, ge=-QUALITY_MAX, le=QUALITY_MAX)
    """Its latent quality in log-odds; none: anchor_quality_per_grade steps from the scale's
    centre."""
    words: int = Field(500, ge=1, le=20_000)
    """Length of its generated text, in words."""


class StudentsSpec(ScenarioModel):
    """Generated students: ``count`` of them named ``<prefix>-000``..., or the given ``ids``
    (the essays of a recorded run, so that its trace replays them)."""

    count: int = Field(12, ge=0, le=STUDENTS_MAX)
    """How many students; with ids, the number of ids (and may be left out)."""
    quality: Quality = Quality()
    """The distribution their latent quality is drawn from, in log-odds."""
    words: int = Field(450, ge=1, le=20_000)
    """Length of each student's generated essay, in words."""
    prefix: str = Field("student", pattern=r"^[a-z][a-z0-9_-]*$")
    """Generated students are named <prefix>-000, <prefix>-001, ..."""
    ids: list[str] | None = Field(None, max_length=STUDENTS_MAX)
    """The students' ids instead of generated names (a promoted live run's essays, so that its
    trace replays them); unique, never ANCHOR_..."""

    @model_validator(mode="after")
    def _ids_agree(self) -> StudentsSpec:
        if self.ids is None:
            return self
        if "count" in self.model_fields_set and self.count != len(self.ids):
            raise ValueError(f"count: is {self.count} but {len(self.ids)} ids are given")
        if len(set(self.ids)) != len(self.ids):
            again = next(i for i, s in enumerate(self.ids) if s in self.ids[:i])
            raise ValueError(f"ids.{again}: {self.ids[again]!r} is given twice (ids are unique)")
        bad = [i for i in self.ids if not i or i.startswith("ANCHOR_")]
        if bad:
            raise ValueError(f"ids.{self.ids.index(bad[0])}: not a student id: {bad[0]!r}")
        return self

    @property
    def names(self) -> list[str]:
        if self.ids is not None:
            return list(self.ids)
        return [f"{self.prefix}-{index:03d}" for index in range(self.count)]


class CohortSpec(ScenarioModel):
    """Who is compared: graded anchors on a grade scale, and students; their essays hold at
    most 15,000,000 words of generated text in all."""

    grade_scale: str = "eng5_np_legacy_9_step"
    """The grade scale: eng5_np_legacy_9_step, eng5_np_national_9_step or swedish_8_anchor."""
    anchors: (
        Literal["eng5", "eng5_lower5", "none"]
        | Annotated[list[AnchorSpec], Field(max_length=ANCHORS_MAX)]
    ) = "none"
    """The graded anchors: eng5 (the 12 ENG5 anchors), eng5_lower5 (its five weakest), none, or
    a list of {ref, grade, quality?, words?}."""
    anchor_quality_per_grade: float = Field(0.6, ge=-5, le=5)
    """Latent quality step between adjacent grades, in log-odds (anchors without their own
    quality sit at this step times their distance from the scale's centre)."""
    students: StudentsSpec = StudentsSpec()
    """The students: generated, or named by id."""

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
            for index, anchor in enumerate(self.anchors):
                if anchor.grade not in grades:
                    raise ValueError(
                        f"anchors.{index}.grade: {anchor.grade!r} is not on "
                        f"{self.grade_scale} ({', '.join(grades)})"
                    )
            refs = [a.ref for a in self.anchors]
            again = next((i for i, ref in enumerate(refs) if ref in refs[:i]), None)
            if again is not None:
                raise ValueError(f"anchors.{again}.ref: {refs[again]!r} is given twice")
        if self.text_words > COHORT_WORDS_MAX:
            raise ValueError(
                f"the cohort's essays would hold {self.text_words:,} words (students x words, plus "
                f"the anchors'); at most {COHORT_WORDS_MAX:,}"
            )
        return self

    @property
    def text_words(self) -> int:
        """Words of generated text: every student's essay, and every listed anchor's (the
        named anchor sets are a dozen essays at most)."""
        students = self.students
        essays = len(students.ids) if students.ids is not None else students.count
        anchors = sum(a.words for a in self.anchors) if isinstance(self.anchors, list) else 0
        return essays * students.words + anchors


class ProviderRateLimit(ScenarioModel):
    """The provider's own rate limits, as a real API enforces them on an account: a token bucket
    per limit (one minute's worth, refilled continuously), in virtual time. A request beyond
    them is answered 429 with ``retry-after``; every answer reports what remains and when it
    resets, as the providers' rate-limit headers do."""

    requests_per_minute: float | None = Field(None, gt=0, le=1_000_000)
    """The account's request limit, in requests per minute; none: no request limit."""
    tokens_per_minute: float | None = Field(None, gt=0, le=1_000_000_000)
    """The account's token limit (input plus output), in tokens per minute; none: no token
    limit."""

    @model_validator(mode="after")
    def _some_limit(self) -> ProviderRateLimit:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("give requests_per_minute, tokens_per_minute or both")
        return self


class ProviderSpec(ScenarioModel):
    """Who answers. By default the simulated provider's model: Bradley–Terry outcomes from the
    essays' latent quality plus ``position_bias`` for the essay shown first, latency and tokens
    from the given distributions (or, with ``replay``, from the trace). ``replay`` answers
    literally where the trace has the pair in that orientation. ``mock_mode`` uses the engine's
    mock provider instead (the original's mock profiles). ``rate_limit`` gives the simulated
    provider an account's limits (requests and/or tokens per minute)."""

    name: str = "openai"
    """The provider the CJ side asks for; it also decides the error shapes (anthropic,
    openai)."""
    model: str = "gpt-5.1"
    """The model the CJ side asks for."""
    reasoning_effort: Literal["none", "low", "medium", "high"] | None = None
    """The reasoning effort the CJ side asks for; none: the provider's default."""
    position_bias: float = Field(0.0, ge=-5, le=5)
    """Log-odds advantage of the essay shown first (negative: of the one shown second)."""
    latency_ms: Latency = Latency(distribution="lognormal", median=1500.0, sigma=0.25)
    """Latency of one call, in milliseconds."""
    prompt_tokens: Tokens = Tokens(mean=1400.0, sd=120.0, min=1.0)
    """Input tokens of one comparison."""
    completion_tokens: Tokens = Tokens(mean=50.0, sd=8.0, min=1.0)
    """Output tokens of one comparison."""
    replay: str | None = None
    """A trace folder (relative to the scenario file) answered from literally wherever it
    holds the pair in the asked orientation; the model answers elsewhere."""
    mock_mode: (
        Literal["default", "cj_generic_batch", "eng5_anchor_gpt51_low", "eng5_lower5_gpt51_low"]
        | None
    ) = None
    """Use the engine's mock provider with this profile instead of the simulated model (the
    original's mock profiles)."""
    rate_limit: ProviderRateLimit | None = None
    """The account's own rate limits (token buckets; 429 with retry-after past them); none:
    unlimited."""

    @model_validator(mode="after")
    def _limits_need_the_simulated_provider(self) -> ProviderSpec:
        if self.rate_limit is not None and self.mock_mode is not None:
            raise ValueError("rate_limit: is modelled by the simulated provider, not by mock_mode")
        return self


class RunSpec(ScenarioModel):
    """How long the run lasts, how many batches it submits, and the harness's own latencies
    and invariant limits."""

    batches: int = Field(1, ge=1, le=BATCHES_MAX)
    """How many identical batches the run submits."""
    batch_interval_s: float = Field(0.0, ge=0, le=DAY_S)
    """Virtual seconds between two batches' submissions."""
    fault_phase_s: float = Field(6 * 3600.0, gt=0, le=DURATION_S_MAX)
    """Faults are live until everything settles or this many virtual seconds pass."""
    liveness_s: float = Field(6 * 3600.0, gt=0, le=DURATION_S_MAX)
    """Then, faults off, everything must settle within this many virtual seconds."""
    store_latency_ms: float = Field(2.0, ge=0, le=60_000)
    """Milliseconds per statement of the CJ database."""
    queue_store_latency_ms: float = Field(0.0, ge=0, le=60_000)
    """Milliseconds per statement of the LPS queue store (the original's Redis:
    sub-millisecond, so 0 by default)."""
    bus_latency_ms: float = Field(5.0, ge=0, le=600_000)
    """Milliseconds a message takes on the bus."""
    bus_jitter_ms: float = Field(0.0, ge=0, le=600_000)
    """Up to this many milliseconds added to a message's bus latency; above 0, callbacks can
    overtake each other."""
    reorder_spread_s: float = Field(30.0, ge=0, le=DAY_S)
    """reordered_callbacks: a callback is held back up to this many seconds."""
    position_skew_limit: float = Field(0.2, ge=0, le=1)
    """position_skew_within_limit: the largest |A - B| / (A + B) an essay may show, A and B
    being how often it was shown first and second (0..1)."""
    position_min_comparisons: int = Field(10, ge=1, le=1_000_000)
    """position_skew_within_limit looks only at essays with at least this many comparisons."""
    consumer_redeliveries: int = Field(5, ge=0, le=1000)
    """A message that fails this many times kills its consumer (a poison message)."""
    progress_bound_s: float | None = Field(None, gt=0, le=DURATION_S_MAX)
    """batches_progress: the longest an unfinished batch may go without progress, in seconds;
    none: CJ_CALLBACK_DEADLINE_S + BATCH_MONITOR_INTERVAL_S + 300."""
    starvation_bound_s: float | None = Field(None, gt=0, le=DURATION_S_MAX)
    """no_starvation: the longest queued work may wait with no provider call served, in
    seconds; none: PROVIDER_CALL_DEADLINE_S + SERIAL_BUNDLE_WINDOW_S + 1."""


_Threshold = Annotated[float, Field(ge=-REPORT_VALUE_MAX, le=REPORT_VALUE_MAX)]


class ReportCheck(ScenarioModel):
    """One check of the run's report.json: a dotted path and exactly one comparison."""

    path: str = Field(pattern=r"^[A-Za-z0-9_.]+$")
    """A dotted path into report.json, e.g. batches.0.final_state."""
    eq: Any = None
    """The value there must equal this."""
    ne: Any = None
    """The value there must differ from this."""
    lt: _Threshold | None = None
    """The value there must be below this."""
    le: _Threshold | None = None
    """The value there must be at most this."""
    gt: _Threshold | None = None
    """The value there must be above this."""
    ge: _Threshold | None = None
    """The value there must be at least this."""

    @field_validator("eq", "ne")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"a finite number, not {value}")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and abs(value) > REPORT_VALUE_MAX:
            raise ValueError(f"{value} is beyond +-{REPORT_VALUE_MAX:g}")
        return value

    @model_validator(mode="after")
    def _one_comparison(self) -> ReportCheck:
        given = [k for k in ("eq", "ne", "lt", "le", "gt", "ge") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"give exactly one of eq, ne, lt, le, gt, ge (got {given or 'none'})")
        return self


class InvariantExpectation(ScenarioModel):
    """Which invariants must hold and which must break."""

    hold: list[str] | Literal["all"] = "all"
    """Invariants that must hold, or all (except those in fail)."""
    fail: list[str] = []
    """Invariants that must break."""

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


class Expectation(ScenarioModel):
    """What a run must show; the exit code says whether it did."""

    invariants: InvariantExpectation = InvariantExpectation()
    """The invariants that must hold, and those that must break."""
    report: list[ReportCheck] = []
    """Checks of report.json, each a dotted path with one comparison."""


class Scenario(ScenarioModel):
    """A scenario: who is compared (cohort), by what (provider), under which engine settings
    and faults, for how long (run), and what must come out (expect)."""

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    """The scenario's name (letters, digits, _ . -): its runs go to runs/<name>-seed<seed>."""
    description: str = ""
    """What the scenario shows, in free text."""
    seed: int = Field(42, ge=0, le=SEED_MAX)
    """The root seed, 0..2^64-1; --seed overrides it."""
    epoch: datetime = DEFAULT_EPOCH
    """Calendar time at virtual t=0, with a timezone, in the years 1970..2999."""
    cohort: CohortSpec = CohortSpec()
    """Who is compared: anchors on a grade scale, and students."""
    budget: int | None = Field(None, ge=1, le=1_000_000)
    """Each batch's comparison budget (capped by MAX_PAIRWISE_COMPARISONS); none: the
    engine's."""
    settings: Annotated[dict[str, Any], SETTINGS_SCHEMA] = {}
    """Engine settings by name (see engine/settings.py); --set KEY=VALUE overrides one."""
    legacy: Annotated[dict[str, Any], SETTINGS_SCHEMA] | None = None
    """Settings a --legacy run applies on top of settings; none: the original system (every
    legacy toggle on)."""
    provider: ProviderSpec = ProviderSpec()
    """Who answers: the simulated provider's model, a replayed trace, or the mock."""
    faults: list[FaultSpec] = Field([], max_length=1_000)
    """What goes wrong, and when (the catalogue is in scenarios/README.md)."""
    run: RunSpec = RunSpec()
    """How long the run lasts, how many batches, and the harness's latencies and limits."""
    expect: Expectation = Expectation()
    """What a run must show."""
    expect_legacy: Expectation | None = None
    """What a --legacy run must show; none: expect."""

    @field_validator("epoch")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("epoch needs a timezone, e.g. 2025-12-01T09:00:00Z")
        if not EPOCH_MIN <= value < EPOCH_MAX:
            raise ValueError(f"epoch must be in 1970..2999, got {value.isoformat()}")
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
