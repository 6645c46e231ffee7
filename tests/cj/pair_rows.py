"""Stored comparison rows for pairing and orientation tests: (essay A, essay B) in, rows out."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.cj.models import ComparisonPair, GenerationMode

T0 = datetime(2025, 12, 1, tzinfo=UTC)


def submitted_rows(pairs, iteration=1):
    """One submitted coverage row per ``(essay_a, essay_b)``, in wave ``iteration``."""
    return [
        ComparisonPair(
            correlation_id=f"c{iteration}-{i}",
            cj_batch_id=1,
            essay_a_id=a,
            essay_b_id=b,
            iteration=iteration,
            generation_mode=GenerationMode.COVERAGE,
            submitted_at=T0,
        )
        for i, (a, b) in enumerate(pairs)
    ]
