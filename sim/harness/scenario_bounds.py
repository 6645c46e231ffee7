"""The limits every number of a scenario lives within, and the base of its models.

Every number of a scenario is finite and bounded, so that no value makes a run hang or spend
minutes before its first comparison (issue 14). Durations are virtual seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ConfigDict

from engine.field_docs import describe_fields
from engine.numbers import NumbersAreNotBooleans

__all__ = [
    "ANCHORS_MAX",
    "BATCHES_MAX",
    "CALLS_MAX",
    "COHORT_WORDS_MAX",
    "DAY_S",
    "EPOCH_MAX",
    "EPOCH_MIN",
    "LATENCY_MS_MAX",
    "QUALITY_MAX",
    "REPORT_VALUE_MAX",
    "STUDENTS_MAX",
    "TOKENS_MAX",
    "ScenarioModel",
]

#: The largest cohort: the performance budget's 3,000-essay batch (DESIGN.md). Planning a
#: wave no longer weighs every pair (engine/cj/pair_candidates.py: 33-75 ms for a first wave of
#: 3,000 essays, where it took 8-19 s), but a run's work still grows with its essays.
STUDENTS_MAX = 3_000
ANCHORS_MAX = 200
#: Words of generated essay text in a cohort (students x words, plus listed anchors' words):
#: 2,200 essays of 20,000 words took 5 s to generate before the first event. 15 million is
#: 3,000 students of 5,000 words.
COHORT_WORDS_MAX = 15_000_000
#: Latent quality, in log-odds: sigmoid(quality_A - quality_B) is the chance that A wins, so
#: +-20 already means certainty, and draws stay far from exp()'s overflow.
QUALITY_MAX = 20.0
#: One provider call's simulated latency, in milliseconds: an hour (every call deadline is
#: shorter).
LATENCY_MS_MAX = 3_600_000.0
#: Tokens of one simulated call's prompt or answer.
TOKENS_MAX = 1_000_000.0
#: A day, in seconds: the longest Retry-After, timeout or latency spike a fault may give.
DAY_S = 86_400.0
#: Batches one run may submit.
BATCHES_MAX = 50
#: A report check's threshold (counts, seconds, USD, percentages...).
REPORT_VALUE_MAX = 1e12
#: What a fault's count and after_calls may say: more calls than any run makes.
CALLS_MAX = 10_000_000
EPOCH_MIN = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_MAX = datetime(3000, 1, 1, tzinfo=UTC)


class ScenarioModel(NumbersAreNotBooleans):
    """Every scenario model: unknown keys refused, frozen, finite."""

    # NaN and infinity are never a meaningful scenario value (an infinite interval hangs the
    # monitor; a NaN mean runs to garbage): every float field refuses them. Each field's
    # docstring is its description in the JSON Schema (``cjsim schema``), read only when a
    # schema is made (engine/field_docs.py).
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, json_schema_extra=describe_fields
    )
