"""A model's raw answer, checked into a verdict or refused as a classified error.

Every provider adapter (and the simulated provider) ends here: a truncated answer
(``stop_reason=max_tokens``, ``finish_reason=length``, ``incomplete_details``) is ``max_tokens``;
anything that is not a JSON object with ``winner`` "Essay A"/"Essay B", a string
``justification`` and a numeric ``confidence`` in 1..5 is ``invalid_response``. Neither is retried.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.lps.errors import ProviderError, classify_answer

__all__ = ["TRUNCATION_REASONS", "parse_verdict"]

TRUNCATION_REASONS = frozenset(
    {"max_tokens", "length", "max_output_tokens", "model_context_window_exceeded"}
)


def parse_verdict(
    raw: str | Mapping[str, Any],
    *,
    provider: str,
    correlation_id: str,
    timestamp: datetime,
    stop_reason: str | None = None,
    provider_request_id: str | None = None,
) -> tuple[str, str, float]:
    """``(winner, justification, confidence)`` or ``ProviderError``."""

    def refuse(problem: str, message: str) -> ProviderError:
        return ProviderError(
            classify_answer(
                problem,
                message,
                provider=provider,
                correlation_id=correlation_id,
                timestamp=timestamp,
                stop_reason=stop_reason,
                provider_request_id=provider_request_id,
            )
        )

    if stop_reason in TRUNCATION_REASONS:
        raise refuse("max_tokens", f"the answer was truncated (stop reason {stop_reason})")
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except ValueError:
            raise refuse("invalid_response", f"the answer is not JSON: {raw[:80]!r}") from None
    else:
        data = dict(raw)
    if not isinstance(data, dict):
        raise refuse("invalid_response", "the answer is not a JSON object")
    winner = data.get("winner")
    if winner not in ("Essay A", "Essay B"):
        raise refuse("invalid_response", f"missing or invalid winner: {winner!r}")
    justification = data.get("justification")
    if not isinstance(justification, str):
        raise refuse("invalid_response", "missing justification")
    confidence = data.get("confidence")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not (1 <= confidence <= 5)
    ):
        raise refuse("invalid_response", f"confidence must be a number in 1..5: {confidence!r}")
    return str(winner), justification[:500], float(confidence)
