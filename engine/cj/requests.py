"""One comparison pair as the request CJ sends to LPS."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from engine.cj.models import BatchUpload, ComparisonPair, Essay
from engine.cj.prompts import SYSTEM_PROMPT, AssessmentContext, comparison_blocks, render
from engine.contracts import LLMComparisonRequest, LLMConfigOverrides
from engine.settings import Settings

__all__ = ["build_request"]

MAX_BUNDLE_HINT = 64


def build_request(
    pair: ComparisonPair,
    upload: BatchUpload,
    essays: Mapping[str, Essay],
    *,
    wave_size: int,
    settings: Settings,
) -> LLMComparisonRequest:
    meta = upload.processing_metadata
    llm: Mapping[str, Any] = meta.get("llm", {})
    context = AssessmentContext(**meta.get("assessment_context", {}))
    essay_a, essay_b = essays[pair.essay_a_id], essays[pair.essay_b_id]
    blocks = comparison_blocks(
        context,
        (essay_a.essay_id, essay_a.text),
        (essay_b.essay_id, essay_b.text),
        cache_ttl=settings.PROMPT_CACHE_TTL,
    )
    metadata: dict[str, Any] = {
        "essay_a_id": pair.essay_a_id,
        "essay_b_id": pair.essay_b_id,
        "bos_batch_id": upload.bos_batch_id,
        "cj_batch_id": str(upload.cj_batch_id),
        "cj_source": "els",
        "cj_request_type": "cj_comparison",
    }
    if settings.ENABLE_LLM_BATCHING_METADATA_HINTS:
        metadata.update(
            cj_llm_batching_mode=settings.LLM_BATCHING_MODE.value,
            preferred_bundle_size=max(1, min(wave_size, MAX_BUNDLE_HINT)),
            comparison_iteration=pair.iteration,
        )
    return LLMComparisonRequest(
        user_prompt=render(blocks),
        prompt_blocks=blocks,
        callback_topic=settings.CJ_CALLBACK_TOPIC,
        llm_config_overrides=_overrides(
            llm.get("provider", settings.DEFAULT_LLM_PROVIDER),
            llm.get("model", settings.DEFAULT_LLM_MODEL),
            settings.LLM_TEMPERATURE,
            llm.get("reasoning_effort"),
            llm.get("output_verbosity"),
        ),
        correlation_id=pair.correlation_id,
        metadata=metadata,
    )


@lru_cache(maxsize=64)
def _overrides(
    provider: str,
    model: str | None,
    temperature: float | None,
    reasoning_effort: str | None,
    output_verbosity: str | None,
) -> LLMConfigOverrides:
    """One frozen overrides object per distinct choice, shared by every request of a batch:
    built once, and LPS's bundling compares it by identity before it compares fields."""
    return LLMConfigOverrides(
        provider_override=provider,
        model_override=model,
        temperature_override=temperature,
        system_prompt_override=SYSTEM_PROMPT,
        reasoning_effort=reasoning_effort,
        output_verbosity=output_verbosity,
    )
