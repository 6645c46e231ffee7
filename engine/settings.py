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

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["BatchingMode", "BundleFailurePolicy", "QueueProcessingMode", "Settings"]


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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CJSIM_", extra="forbid", frozen=True, validate_default=True
    )

    # ---- CJ: budget and pairing ----------------------------------------------------------
    MAX_PAIRWISE_COMPARISONS: int = Field(120, ge=1, le=1_000_000)
    MIN_RESAMPLING_NET_SIZE: int = Field(3, ge=2)
    MAX_RESAMPLING_PASSES_FOR_SMALL_NET: int = Field(4, ge=0, le=50)
    # The original resampled regular nets once; we default to no resampling so that a batch
    # that has compared every pair is done (see docs/decisions/0001-completion-denominator.md).
    MAX_RESAMPLING_PASSES_FOR_REGULAR_NET: int = Field(0, ge=0, le=50)
    ENABLE_COMPARISON_POSITION_BALANCING: bool = True  # PR 2; False = the original's bias

    # ---- CJ: scoring and continuation ----------------------------------------------------
    BT_ALPHA: float = Field(0.01, gt=0)
    MIN_COMPARISONS_FOR_STABILITY_CHECK: int = Field(12, ge=0)
    SCORE_STABILITY_THRESHOLD: float = Field(0.025, gt=0)
    MIN_SUCCESS_RATE_THRESHOLD: float = Field(0.8, ge=0, le=1)
    COMPLETION_THRESHOLD_PCT: int = Field(95, ge=1, le=100)

    # ---- CJ: monitor ---------------------------------------------------------------------
    BATCH_MONITOR_INTERVAL_S: float = Field(300.0, gt=0)
    BATCH_STUCK_THRESHOLD_S: float = Field(4 * 3600.0, gt=0)
    FORCED_RECOVERY_MIN_PROGRESS: float = Field(0.8, ge=0, le=1)
    # A batch left in INITIALIZING this long (its creation never reached the first wave) is
    # failed by the monitor instead of waiting forever.
    BATCH_INITIALIZING_TIMEOUT_S: float = Field(600.0, gt=0)

    # ---- CJ: callback deadlines ----------------------------------------------------------
    # A comparison whose callback has not arrived this long after its submission is sent again
    # under a new correlation id (a lost callback then costs this deadline, not the 4 h
    # monitor), at most CJ_MAX_RESUBMISSIONS times; then it is recorded as failed.
    CJ_CALLBACK_DEADLINE_S: float = Field(900.0, gt=0)
    CJ_MAX_RESUBMISSIONS: int = Field(2, ge=0, le=20)

    # ---- CJ: LLM requests ----------------------------------------------------------------
    DEFAULT_LLM_PROVIDER: str = "openai"
    DEFAULT_LLM_MODEL: str = "gpt-5.1"
    LLM_TEMPERATURE: float = Field(0.1, ge=0, le=2)
    LLM_BATCHING_MODE: BatchingMode = BatchingMode.SERIAL_BUNDLE
    ENABLE_LLM_BATCHING_METADATA_HINTS: bool = False
    CJ_CALLBACK_CONCURRENCY: int = Field(8, ge=1, le=1024)
    CJ_CALLBACK_TOPIC: str = "huleedu.llm_provider.comparison_result.v1"
    CJ_COMPLETED_TOPIC: str = "huleedu.cj_assessment.completed.v1"
    CJ_RESULT_TOPIC: str = "huleedu.assessment.result.published.v1"
    CJ_FAILED_TOPIC: str = "huleedu.cj_assessment.failed.v1"

    # ---- LPS: queue ----------------------------------------------------------------------
    QUEUE_PROCESSING_MODE: QueueProcessingMode = QueueProcessingMode.PER_REQUEST
    QUEUE_MAX_SIZE: int = Field(1000, ge=1)
    QUEUE_REQUEST_TTL_HOURS: float = Field(4.0, gt=0)
    QUEUE_POLL_INTERVAL_S: float = Field(0.5, gt=0)
    QUEUE_MAX_RETRIES: int = Field(3, ge=0, le=20)
    QUEUE_PROCESSING_TIMEOUT_S: float = Field(600.0, gt=0)
    QUEUE_CLEANUP_INTERVAL_S: float = Field(30.0, gt=0)
    # Several workers serve the queue, so one slow call never holds every other batch's items.
    LPS_WORKERS: int = Field(4, ge=1, le=256)
    # Every provider call is abandoned (classified ``timeout``, retried per policy) after this
    # long on the runtime clock, whatever the SDK or the network does.
    PROVIDER_CALL_DEADLINE_S: float = Field(300.0, gt=0)
    SERIAL_BUNDLE_MAX_REQUESTS_PER_CALL: int = Field(64, ge=1, le=64)
    # How long a bundling worker lets a bundle fill once work appears (the original polled its
    # queue every 0.5 s, so a bundle held what arrived within one poll).
    SERIAL_BUNDLE_WINDOW_S: float = Field(0.5, ge=0)
    BUNDLE_FAILURE_POLICY: BundleFailurePolicy = BundleFailurePolicy.PER_ITEM

    # ---- LPS: retries --------------------------------------------------------------------
    RETRY_AFTER_MAX_S: float = Field(120.0, gt=0)
    # The original's provider-level backoff ran 4..60 s: a 529 burst outlasts shorter waits.
    RETRY_BACKOFF_BASE_S: float = Field(4.0, gt=0)
    RETRY_BACKOFF_MAX_S: float = Field(60.0, gt=0)

    # ---- LPS: adaptive concurrency (engine/lps/concurrency.py) ----------------------------
    # Per (provider, model), an AIMD controller bounds the provider calls in flight: it starts
    # at START, halves (DECREASE_FACTOR) on a rate-limit episode (429s within DEBOUNCE_S of a
    # decrease are the same episode), grows by INCREASE_STEP after each CLEAN_WINDOW_S with no
    # 429, 5xx, overload or timeout in which the limit was reached; 5xx, overload and timeouts
    # only restart the window. It pauses new calls for Retry-After, and until the reset when
    # the provider says no requests or tokens remain. LPS_WORKERS stays the pool's size: set
    # it at least to MAX to let the controller, not the pool, bound the calls. False: today's
    # fixed pool (the original had no controller).
    LPS_ADAPTIVE_CONCURRENCY: bool = True
    LPS_CONCURRENCY_START: int = Field(4, ge=1, le=1024)
    LPS_CONCURRENCY_MIN: int = Field(1, ge=1, le=1024)
    LPS_CONCURRENCY_MAX: int = Field(64, ge=1, le=1024)
    LPS_CONCURRENCY_DECREASE_FACTOR: float = Field(0.5, gt=0, lt=1)
    LPS_CONCURRENCY_DEBOUNCE_S: float = Field(5.0, ge=0, allow_inf_nan=False)
    LPS_CONCURRENCY_CLEAN_WINDOW_S: float = Field(10.0, gt=0, allow_inf_nan=False)
    LPS_CONCURRENCY_INCREASE_STEP: int = Field(1, ge=1, le=1024)
    # Client-side token buckets on the runtime clock (one minute's worth of burst), applied
    # with or without the controller; None: no client-side limit.
    LPS_CLIENT_REQUESTS_PER_MINUTE: float | None = Field(None, gt=0, allow_inf_nan=False)
    LPS_CLIENT_TOKENS_PER_MINUTE: float | None = Field(None, gt=0, allow_inf_nan=False)

    # ---- LPS: prices (engine/lps/pricing.py), USD per million tokens ---------------------
    # Every provider call's event records its cost; cache prices default to the input price.
    PRICE_INPUT_PER_MTOK: float = Field(0.0, ge=0, allow_inf_nan=False)
    PRICE_OUTPUT_PER_MTOK: float = Field(0.0, ge=0, allow_inf_nan=False)
    PRICE_CACHE_WRITE_PER_MTOK: float | None = Field(None, ge=0, allow_inf_nan=False)
    PRICE_CACHE_READ_PER_MTOK: float | None = Field(None, ge=0, allow_inf_nan=False)

    # ---- LPS: batch API ------------------------------------------------------------------
    BATCH_API_POLL_INTERVAL_S: float = Field(60.0, gt=0)
    BATCH_API_EXPIRY_S: float = Field(24 * 3600.0, gt=0)

    # ---- LPS: mock provider (the original's defaults) ------------------------------------
    USE_MOCK_LLM: bool = True  # route every provider to the mock; the callback keeps the name
    MOCK_MODE: Literal[
        "default", "cj_generic_batch", "eng5_anchor_gpt51_low", "eng5_lower5_gpt51_low"
    ] = "default"
    MOCK_SEED: int = 42
    MOCK_LATENCY_BASE_MS: float = Field(0.0, ge=0)
    MOCK_LATENCY_JITTER_MS: float = Field(0.0, ge=0)
    MOCK_ERROR_RATE: float = Field(0.0, ge=0, le=1)
    MOCK_ERROR_CODES: tuple[int, ...] = (429, 503, 500)
    MOCK_TOKENS_PER_WORD: float = Field(0.75, gt=0)
    MOCK_CONFIDENCE_BASE: float = Field(4.5, ge=1, le=5)
    MOCK_CONFIDENCE_JITTER: float = Field(0.3, ge=0, le=1)

    # ---- LPS: prompts and providers ------------------------------------------------------
    PROMPT_CACHE_TTL: Literal["5m", "1h"] = "5m"
    LLM_MAX_TOKENS: int = Field(1024, ge=16)

    # ---- Legacy toggles: each restores one bug of the original ---------------------------
    LEGACY_COUNTERS_WITHOUT_LOCK: bool = False  # PR 1: lost updates under concurrency
    LEGACY_COMPLETION_DENOMINATOR: bool = False  # PR 1: min(budget, nC2): completion > 100%
    LEGACY_ORPHAN_CALLBACKS_RAISE: bool = False  # PR 4: an unknown correlation id raises
    LEGACY_APPLY_LATE_CALLBACKS: bool = False  # callbacks still counted after finalisation
    LEGACY_NO_PROCESSING_TIMEOUT: bool = False  # PR 4: stuck `processing` items stay forever
    LEGACY_NO_CALLBACK_ON_EXPIRY: bool = False  # PR 4: expired items never get a callback
    LEGACY_UNCLASSIFIED_PROVIDER_ERRORS: bool = False  # PR 3: 429/529 lumped, retried blindly
    # Found by fault storms (the second wave): each restores one liveness or safety bug.
    LEGACY_RETRY_KEEPS_TIMEOUT_CLOCK: bool = False  # a retried item can expire mid-bundle: crash
    LEGACY_NO_CALL_DEADLINE: bool = False  # a hung call holds its worker until the sweep
    LEGACY_NO_CALLBACK_DEADLINE: bool = False  # a lost callback stalls its wave for hours
    LEGACY_GREEDY_ORIENTATION: bool = False  # pair-by-pair orientation: skew above the limit
    LEGACY_NON_ATOMIC_BATCH_CREATION: bool = False  # a failed first wave leaves INITIALIZING

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
    """Settings whose only source is the caller: a simulated run ignores the environment."""

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
