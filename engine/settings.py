"""Every knob of the engine, with the original system's defaults.

Names are the original's (``MAX_PAIRWISE_COMPARISONS``, ``QUEUE_MAX_RETRIES``...) so that a
scenario's ``settings:`` block, an environment variable (prefix ``CJSIM_``) and the original's
docs all speak the same language. Each fix of the task document keeps a ``LEGACY_*`` toggle (or,
for position balancing, the original's own flag) that restores the old behaviour, so the harness
can show each bug and show it gone.

Simulated runs build settings with ``Settings.for_simulation(**overrides)``, which ignores the
environment: a run must depend on its scenario and seed only. Live runs use ``Settings()``.
"""

from __future__ import annotations

import copy
import functools
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from engine.field_docs import describe_fields
from engine.numbers import NumbersAreNotBooleans
from engine.randomness import SEED_MAX

__all__ = [
    "DURATION_S_MAX",
    "PRICE_PER_MTOK_MAX",
    "BatchingMode",
    "BundleFailurePolicy",
    "QueueProcessingMode",
    "Settings",
    "SettingsBlockJsonSchema",
    "settings_json_schema",
]

#: The longest duration any setting, scenario or live configuration may give: 30 days.
DURATION_S_MAX = 30 * 86_400.0
#: The highest price per million tokens (USD) anyone may give; today's dearest models charge a
#: few hundred.
PRICE_PER_MTOK_MAX = 10_000.0


class BatchingMode(StrEnum):
    """How the CJ side asks LPS to batch its requests (the original's ``LLMBatchingMode``)."""

    PER_REQUEST = "per_request"
    SERIAL_BUNDLE = "serial_bundle"
    PROVIDER_BATCH_API = "provider_batch_api"


class QueueProcessingMode(StrEnum):
    PER_REQUEST = "per_request"
    SERIAL_BUNDLE = "serial_bundle"
    BATCH_API = "batch_api"


class BundleFailurePolicy(StrEnum):
    PER_ITEM = "per_item"
    WHOLE_BUNDLE = "whole_bundle"  # the original: one provider error fails every item


class Settings(BaseSettings, NumbersAreNotBooleans):
    """Every engine knob. Each field's docstring is its description in the JSON Schemas of
    scenario files and live configurations (``cjsim schema``): say what it does, and in what
    unit.

    Every number is finite and bounded: a duration at most ``DURATION_S_MAX`` (30 days), a rate
    or share in 0..1, a count within what a run can hold, and every interval that a loop sleeps
    on at least a small positive floor, so that no setting can make a run hang or start late.
    """

    model_config = SettingsConfigDict(
        env_prefix="CJSIM_",
        extra="forbid",
        frozen=True,
        validate_default=True,
        allow_inf_nan=False,
        # Each field's docstring becomes its description when a schema is made, not at import.
        json_schema_extra=describe_fields,
    )

    # ---- CJ: budget and pairing ----------------------------------------------------------
    MAX_PAIRWISE_COMPARISONS: int = Field(120, ge=1, le=1_000_000)
    """The service's comparison budget per batch; a batch's own budget is capped by it."""
    MIN_RESAMPLING_NET_SIZE: int = Field(3, ge=2, le=10_000)
    """A batch of at most this many essays is a small net (resampled up to
    MAX_RESAMPLING_PASSES_FOR_SMALL_NET times)."""
    MAX_RESAMPLING_PASSES_FOR_SMALL_NET: int = Field(4, ge=0, le=50)
    """How many times a small net may compare every pair again after the first round."""
    MAX_RESAMPLING_PASSES_FOR_REGULAR_NET: int = Field(0, ge=0, le=50)
    """How many times a larger net may compare every pair again after the first round. The
    original resampled regular nets once; the default 0 means a batch that has compared every
    pair is done (see docs/decisions/0001-completion-denominator.md)."""
    ENABLE_COMPARISON_POSITION_BALANCING: bool = True
    """Orient pairs so that each essay is shown first about as often as second (PR 2); false:
    the original's orientation, biased towards one position."""

    # ---- CJ: scoring and continuation ----------------------------------------------------
    BT_ALPHA: float = Field(0.01, ge=1e-6, le=10)
    """Regularisation of the Bradley-Terry fit (choix's alpha): larger pulls scores towards
    the mean, smaller trusts sparse win records more."""
    MIN_COMPARISONS_FOR_STABILITY_CHECK: int = Field(12, ge=0, le=1_000_000)
    """Callbacks a batch needs before its scores may be judged stable and the batch finished."""
    SCORE_STABILITY_THRESHOLD: float = Field(0.025, gt=0, le=10)
    """The scale is stable when no score moved more than this (in log-odds) since the previous
    wave's fit."""
    MIN_SUCCESS_RATE_THRESHOLD: float = Field(0.8, ge=0, le=1)
    """Share of comparisons (0..1) that must succeed for a wave to count as stable; below it at
    a cap, the batch fails."""
    COMPLETION_THRESHOLD_PCT: int = Field(95, ge=1, le=100)
    """Percentage of the budget whose successful callbacks mark the batch's
    partial_scoring_triggered flag."""

    # ---- CJ: monitor ---------------------------------------------------------------------
    BATCH_MONITOR_INTERVAL_S: float = Field(300.0, ge=1, le=86_400)
    """Seconds between the batch monitor's sweeps for stuck and stalled batches."""
    BATCH_STUCK_THRESHOLD_S: float = Field(4 * 3600.0, gt=0, le=DURATION_S_MAX)
    """Seconds without activity after which the monitor treats a batch as stuck: scored if
    FORCED_RECOVERY_MIN_PROGRESS of it is in, else failed."""
    FORCED_RECOVERY_MIN_PROGRESS: float = Field(0.8, ge=0, le=1)
    """Share of a stuck batch's completion denominator (0..1) that must be in for the monitor
    to score it instead of failing it."""
    BATCH_INITIALIZING_TIMEOUT_S: float = Field(600.0, gt=0, le=DURATION_S_MAX)
    """Seconds a batch may stay INITIALIZING (its creation never reached the first wave) before
    the monitor fails it instead of waiting forever."""

    # ---- CJ: callback deadlines ----------------------------------------------------------
    CJ_CALLBACK_DEADLINE_S: float = Field(900.0, ge=1, le=DURATION_S_MAX)
    """Seconds after its submission at which a comparison whose callback has not arrived is
    sent again under a new correlation id (a lost callback then costs this deadline, not the
    4 h monitor)."""
    CJ_MAX_RESUBMISSIONS: int = Field(2, ge=0, le=20)
    """How many times an overdue comparison is sent again before it is recorded as failed."""

    # ---- CJ: LLM requests ----------------------------------------------------------------
    DEFAULT_LLM_PROVIDER: str = "openai"
    """The provider a comparison request names when the batch does not choose one."""
    DEFAULT_LLM_MODEL: str = "gpt-5.1"
    """The model a comparison request names when the batch does not choose one."""
    LLM_TEMPERATURE: float = Field(0.1, ge=0, le=2)
    """Sampling temperature sent with every comparison request (0..2)."""
    LLM_BATCHING_MODE: BatchingMode = BatchingMode.SERIAL_BUNDLE
    """How the CJ side asks LPS to batch its requests (sent as a hint with
    ENABLE_LLM_BATCHING_METADATA_HINTS)."""
    ENABLE_LLM_BATCHING_METADATA_HINTS: bool = False
    """Send the batching mode, a preferred bundle size and the wave number in each request's
    metadata."""
    CJ_CALLBACK_CONCURRENCY: int = Field(8, ge=1, le=1024)
    """How many callbacks the CJ side's consumers apply at once."""
    CJ_CALLBACK_TOPIC: str = "huleedu.llm_provider.comparison_result.v1"
    """Bus topic on which LPS publishes comparison results to CJ."""
    CJ_COMPLETED_TOPIC: str = "huleedu.cj_assessment.completed.v1"
    """Bus topic of the event that a batch finished."""
    CJ_RESULT_TOPIC: str = "huleedu.assessment.result.published.v1"
    """Bus topic of a finished batch's scores and grades."""
    CJ_FAILED_TOPIC: str = "huleedu.cj_assessment.failed.v1"
    """Bus topic of the event that a batch failed."""

    # ---- LPS: queue ----------------------------------------------------------------------
    QUEUE_PROCESSING_MODE: QueueProcessingMode = QueueProcessingMode.PER_REQUEST
    """How LPS turns queued requests into provider calls: one per call, serial bundles, or a
    provider's batch API."""
    QUEUE_MAX_SIZE: int = Field(1000, ge=1, le=1_000_000)
    """Requests the LPS queue holds at most (queued or processing); more are refused."""
    QUEUE_REQUEST_TTL_HOURS: float = Field(4.0, gt=0, le=DURATION_S_MAX / 3600)
    """Hours a queued request may wait before it expires with an error callback."""
    QUEUE_POLL_INTERVAL_S: float = Field(0.5, ge=0.01, le=3600)
    """Seconds between the original's queue polls; kept for its configurations (workers here
    wake when work arrives, so no loop reads it)."""
    QUEUE_MAX_RETRIES: int = Field(3, ge=0, le=20)
    """Retries per request after a retryable provider error."""
    QUEUE_PROCESSING_TIMEOUT_S: float = Field(600.0, gt=0, le=DURATION_S_MAX)
    """Seconds a queue item may stay in processing before the cleanup sweep expires it."""
    QUEUE_CLEANUP_INTERVAL_S: float = Field(30.0, ge=1, le=86_400)
    """Seconds between the LPS queue's cleanup sweeps (expiries and processing timeouts); at
    least 1, since a simulated run sweeps all its virtual time long."""
    LPS_WORKERS: int = Field(4, ge=1, le=256)
    """LPS workers serving the queue, so that one slow call never holds every other batch's
    items."""
    PROVIDER_CALL_DEADLINE_S: float = Field(300.0, ge=0.1, le=DURATION_S_MAX)
    """Seconds after which every provider call is abandoned on the runtime clock (classified
    timeout, retried per policy), whatever the SDK or the network does."""
    SERIAL_BUNDLE_MAX_REQUESTS_PER_CALL: int = Field(64, ge=1, le=64)
    """Requests one serial-bundle call carries at most."""
    SERIAL_BUNDLE_WINDOW_S: float = Field(0.5, ge=0, le=3600)
    """Seconds a bundling worker lets a bundle fill once work appears (the original polled
    every 0.5 s, so a bundle held what arrived within one poll)."""
    BUNDLE_FAILURE_POLICY: BundleFailurePolicy = BundleFailurePolicy.PER_ITEM
    """Whether a provider error fails only its own item (per_item) or, as the original did,
    every item of the bundle (whole_bundle)."""

    # ---- LPS: retries --------------------------------------------------------------------
    RETRY_AFTER_MAX_S: float = Field(120.0, gt=0, le=86_400)
    """Longest Retry-After (seconds) a provider may impose; a longer one is cut to this."""
    RETRY_BACKOFF_BASE_S: float = Field(4.0, gt=0, le=86_400)
    """First retry delay in seconds, doubled per retry up to RETRY_BACKOFF_MAX_S (the
    original's provider backoff ran 4..60 s: a 529 burst outlasts shorter waits)."""
    RETRY_BACKOFF_MAX_S: float = Field(60.0, gt=0, le=86_400)
    """Longest retry delay in seconds."""

    # ---- LPS: adaptive concurrency (engine/lps/concurrency.py) ----------------------------
    LPS_ADAPTIVE_CONCURRENCY: bool = True
    """Bound the provider calls in flight per (provider, model) with an AIMD controller: it
    starts at LPS_CONCURRENCY_START, halves on a rate-limit episode, grows after each clean
    window, and pauses for Retry-After and until a reset when nothing remains. Set LPS_WORKERS
    at least to LPS_CONCURRENCY_MAX to let the controller, not the pool, bound the calls.
    False: a fixed pool (the original had no controller)."""
    LPS_CONCURRENCY_START: int = Field(4, ge=1, le=1024)
    """Calls in flight the controller allows at first."""
    LPS_CONCURRENCY_MIN: int = Field(1, ge=1, le=1024)
    """The controller never allows fewer calls in flight than this."""
    LPS_CONCURRENCY_MAX: int = Field(64, ge=1, le=1024)
    """The controller never allows more calls in flight than this."""
    LPS_CONCURRENCY_DECREASE_FACTOR: float = Field(0.5, gt=0, lt=1)
    """Factor (between 0 and 1) the limit is multiplied by on a rate-limit episode."""
    LPS_CONCURRENCY_DEBOUNCE_S: float = Field(5.0, ge=0, le=3600)
    """Seconds after a decrease within which further 429s count as the same episode."""
    LPS_CONCURRENCY_CLEAN_WINDOW_S: float = Field(10.0, gt=0, le=3600)
    """Seconds without a 429, 5xx, overload or timeout, with the limit reached, after which
    the limit grows by LPS_CONCURRENCY_INCREASE_STEP (5xx, overload and timeouts only restart
    the window)."""
    LPS_CONCURRENCY_INCREASE_STEP: int = Field(1, ge=1, le=1024)
    """Calls added to the limit after each clean window."""
    LPS_CLIENT_REQUESTS_PER_MINUTE: float | None = Field(None, ge=1, le=1_000_000)
    """Client-side request limit (requests per minute; a token bucket with one minute's burst
    on the runtime clock, so at least 1: a smaller bucket never holds a whole request), with or
    without the controller; none: no client-side limit."""
    LPS_CLIENT_TOKENS_PER_MINUTE: float | None = Field(None, ge=1, le=1_000_000_000)
    """Client-side token limit (input plus output tokens per minute; a token bucket with one
    minute's burst); none: no client-side limit."""

    # ---- LPS: prices (engine/lps/pricing.py), USD per million tokens ---------------------
    PRICE_INPUT_PER_MTOK: float = Field(0.0, ge=0, le=PRICE_PER_MTOK_MAX)
    """Price of uncached input tokens, USD per million; every call's event records its cost."""
    PRICE_OUTPUT_PER_MTOK: float = Field(0.0, ge=0, le=PRICE_PER_MTOK_MAX)
    """Price of output tokens, USD per million."""
    PRICE_CACHE_WRITE_PER_MTOK: float | None = Field(None, ge=0, le=PRICE_PER_MTOK_MAX)
    """Price of input tokens written to the prompt cache, USD per million; none: the input
    price."""
    PRICE_CACHE_READ_PER_MTOK: float | None = Field(None, ge=0, le=PRICE_PER_MTOK_MAX)
    """Price of input tokens read from the prompt cache, USD per million; none: the input
    price."""

    # ---- LPS: batch API ------------------------------------------------------------------
    BATCH_API_POLL_INTERVAL_S: float = Field(60.0, ge=1, le=86_400)
    """Seconds between polls of a submitted batch-API job."""
    BATCH_API_EXPIRY_S: float = Field(24 * 3600.0, gt=0, le=DURATION_S_MAX)
    """Seconds after submission at which an unfinished batch-API job's items expire
    (batch_expired)."""

    # ---- LPS: mock provider (the original's defaults) ------------------------------------
    USE_MOCK_LLM: bool = True
    """Route every provider to the mock; the callback keeps the provider's name."""
    MOCK_MODE: Literal[
        "default", "cj_generic_batch", "eng5_anchor_gpt51_low", "eng5_lower5_gpt51_low"
    ] = "default"
    """The mock's profile: default, or one of the original's recorded mock profiles (which
    never fail)."""
    MOCK_SEED: int = Field(42, ge=0, le=SEED_MAX)
    """Seed of the mock's draws (latency, errors, confidence), 0..2^64-1."""
    MOCK_LATENCY_BASE_MS: float = Field(0.0, ge=0, le=3_600_000)
    """The default mock's latency per call, in milliseconds."""
    MOCK_LATENCY_JITTER_MS: float = Field(0.0, ge=0, le=3_600_000)
    """Up to this many milliseconds (uniform) added to the default mock's latency."""
    MOCK_ERROR_RATE: float = Field(0.0, ge=0, le=1)
    """Chance (0..1) that a default-mock call fails with one of MOCK_ERROR_CODES."""
    MOCK_ERROR_CODES: tuple[Annotated[int, Field(ge=400, le=599)], ...] = Field(
        (429, 503, 500), min_length=1, max_length=20
    )
    """HTTP statuses (400..599) a failing default-mock call answers with, one drawn per
    failure."""
    MOCK_TOKENS_PER_WORD: float = Field(0.75, gt=0, le=100)
    """Tokens the mock reports per word of essay and justification."""
    MOCK_CONFIDENCE_BASE: float = Field(4.5, ge=1, le=5)
    """Centre of the mock's confidence (1..5 scale)."""
    MOCK_CONFIDENCE_JITTER: float = Field(0.3, ge=0, le=1)
    """Up to this much (uniform, either way) added to the mock's confidence."""

    # ---- LPS: prompts and providers ------------------------------------------------------
    PROMPT_CACHE_TTL: Literal["5m", "1h"] = "5m"
    """Lifetime of the prompt cache entry for the shared assessment block (Anthropic's
    cache_control ttl)."""
    LLM_MAX_TOKENS: int = Field(1024, ge=16, le=1_000_000)
    """Output tokens a provider call may produce at most (also the worst case a cost cap
    assumes for a call in flight)."""

    # ---- Legacy toggles: each restores one bug of the original ---------------------------
    LEGACY_COUNTERS_WITHOUT_LOCK: bool = False
    """PR 1: update batch counters without the row lock: concurrent callbacks lose updates."""
    LEGACY_COMPLETION_DENOMINATOR: bool = False
    """PR 1: report completion against min(budget, nC2): with resampling it passes 100%."""
    LEGACY_ORPHAN_CALLBACKS_RAISE: bool = False
    """PR 4: a callback with an unknown correlation id raises in its consumer."""
    LEGACY_APPLY_LATE_CALLBACKS: bool = False
    """Callbacks are still counted after the batch was finalised."""
    LEGACY_NO_PROCESSING_TIMEOUT: bool = False
    """PR 4: queue items stuck in processing stay there forever."""
    LEGACY_NO_CALLBACK_ON_EXPIRY: bool = False
    """PR 4: an expired queue item never gets a callback."""
    LEGACY_UNCLASSIFIED_PROVIDER_ERRORS: bool = False
    """PR 3: 429s and 529s are lumped together with other errors and retried blindly."""
    LEGACY_RETRY_KEEPS_TIMEOUT_CLOCK: bool = False
    """A retried item keeps its first call's timeout clock, so it can expire mid-bundle and
    crash the worker (found by the fault storms)."""
    LEGACY_NO_CALL_DEADLINE: bool = False
    """No per-call deadline: a hung call holds its worker until the processing-timeout sweep
    (found by the fault storms)."""
    LEGACY_NO_CALLBACK_DEADLINE: bool = False
    """No callback deadline: a lost callback stalls its wave until the 4 h monitor (found by the
    fault storms)."""
    LEGACY_GREEDY_ORIENTATION: bool = False
    """Orient pairs greedily, pair by pair: position skew can pass the limit (found by the
    fault storms)."""
    LEGACY_NON_ATOMIC_BATCH_CREATION: bool = False
    """Create a batch in two transactions: a failed first wave leaves it INITIALIZING (found by
    the fault storms)."""

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.RETRY_BACKOFF_BASE_S > self.RETRY_BACKOFF_MAX_S:
            raise ValueError(
                f"RETRY_BACKOFF_BASE_S ({self.RETRY_BACKOFF_BASE_S}) exceeds "
                f"RETRY_BACKOFF_MAX_S ({self.RETRY_BACKOFF_MAX_S})"
            )
        low, start, high = (
            self.LPS_CONCURRENCY_MIN,
            self.LPS_CONCURRENCY_START,
            self.LPS_CONCURRENCY_MAX,
        )
        if not low <= start <= high:
            raise ValueError(
                "LPS concurrency needs LPS_CONCURRENCY_MIN <= LPS_CONCURRENCY_START <= "
                f"LPS_CONCURRENCY_MAX, got {low} <= {start} <= {high}"
            )
        return self

    @classmethod
    def for_simulation(cls, **overrides: Any) -> Settings:
        """Defaults plus ``overrides``, never the environment or a .env file."""
        return _SimulationSettings(**overrides)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with ``overrides`` applied and validated."""
        return type(self).model_validate({**self.model_dump(), **overrides})


class _SimulationSettings(Settings):
    """Settings whose only source is the caller: a simulated run ignores the environment.

    Names are exact: pydantic-settings 2.16 matches keyword arguments case-insensitively when
    ``case_sensitive`` is off (earlier versions only the environment), which would take
    ``max_pairwise_comparisons: 5`` in a scenario for the setting instead of refusing it."""

    model_config = SettingsConfigDict(case_sensitive=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings_json_schema() -> dict[str, Any]:
    """The JSON Schema of a block of settings overrides (a scenario's ``settings:``, a live
    configuration's): every field by name, with its type, default and description, nothing
    else. Self-contained: the enums' ``$defs`` are written inline, so the block can be embedded
    in another model's schema."""
    return copy.deepcopy(_settings_block_schema())


class SettingsBlockJsonSchema:
    """``Annotated`` metadata for a field that holds a block of settings overrides: its JSON
    Schema is ``settings_json_schema()``, made when a schema is asked for. (pydantic's
    ``WithJsonSchema`` would need the schema made at import, ~0.1 s for every command.)"""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return settings_json_schema()


@functools.cache
def _settings_block_schema() -> dict[str, Any]:
    schema = Settings.model_json_schema()
    definitions: dict[str, Any] = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            target = definitions[reference.removeprefix("#/$defs/")]
            rest = {key: value for key, value in node.items() if key != "$ref"}
            return inline({**target, **rest})  # the field's own description wins
        return {key: inline(value) for key, value in node.items()}

    properties = {name: inline(body) for name, body in schema["properties"].items()}
    return {"type": "object", "properties": properties, "additionalProperties": False}
