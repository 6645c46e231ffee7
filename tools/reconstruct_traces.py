"""Rebuild the three recorded traces from their published figures.

The original recordings (``llm_callbacks.jsonl``) were never published, only their summaries
(kept as ``traces/<id>/published.json``). This script writes, for each, a callback file whose
summary reproduces every published figure: counts exactly, means and percentiles to the
precision the publication gives (linear interpolation at ``(n - 1) * p``, as the original
summariser did).

Where the publication is silent the values are invented, plausibly and reproducibly (fixed
seeds): winners follow the anchors' expert grades with a few close-grade inversions, latencies
and token counts are spread around the published means with the published extremes pinned.

Run from the repository root:  python tools/reconstruct_traces.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.contracts import EventEnvelope, LLMComparisonResultV1, TokenUsageV1
from engine.traces import CALLBACKS_FILE, SUMMARY_FILE, summarize
from sim.harness.cohorts import ENG5_ANCHORS

ROOT = Path(__file__).resolve().parents[1] / "traces"
LADDER = ("F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A")
ENG5 = tuple((anchor.ref, anchor.grade) for anchor in ENG5_ANCHORS)  # the ladder, low to high
LOWER5 = tuple(a for a in ENG5 if a[1] in ("F+", "E-", "E+", "D-"))
JUSTIFICATIONS = (
    "{w} develops its argument about role models with clearer structure and better examples.",
    "{w} answers the task more fully, with more precise and varied language.",
    "{w} is better organised and its conclusion follows from its reasoning.",
    "{w} shows stronger control of grammar and a more convincing line of thought.",
)


def anchor_id(ref: str) -> str:
    return f"ANCHOR_{ref}_{hashlib.sha256(ref.encode()).hexdigest()[:8]}"


def adjust_to_sum(
    values: list[int], target: int, low: int, high: int, rng: random.Random
) -> list[int]:
    """Nudge values by one (within [low, high]) until they add up to ``target``."""
    values = list(values)
    while sum(values) != target:
        step = 1 if sum(values) < target else -1
        index = rng.randrange(len(values))
        if low <= values[index] + step <= high:
            values[index] += step
    return values


def spread(
    count: int, mean: float, sd: float, low: int, high: int, total: int, rng: random.Random
) -> list[int]:
    draws = [min(high, max(low, round(rng.gauss(mean, sd)))) for _ in range(count)]
    return adjust_to_sum(draws, total, low, high, rng)


def envelope(
    index: int,
    scenario: str,
    when: datetime,
    essay_a: str,
    essay_b: str,
    winner: str,
    latency_ms: int,
    prompt: int,
    completion: int,
    confidence: float,
    model: str,
    provider: str,
    batch: str,
    rng: random.Random,
) -> str:
    correlation = str(hashlib.sha256(f"{scenario}:{index}".encode()).hexdigest())
    correlation_id = (
        f"{correlation[:8]}-{correlation[8:12]}-4{correlation[13:16]}-"
        f"8{correlation[17:20]}-{correlation[20:32]}"
    )
    requested = when + timedelta(seconds=2 * index)
    completed = requested + timedelta(milliseconds=latency_ms + 40)
    justification = JUSTIFICATIONS[rng.randrange(len(JUSTIFICATIONS))].format(w=winner)
    result = LLMComparisonResultV1(
        request_id=f"queue-{correlation[:12]}",
        correlation_id=correlation_id,
        winner=winner,
        justification=justification,
        confidence=confidence,
        provider=provider,
        model=model,
        response_time_ms=latency_ms,
        token_usage=TokenUsageV1(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        ),
        cost_estimate=round(
            (prompt + completion) / 1000 * (0.015 if provider == "openai" else 0.0), 8
        ),
        requested_at=requested,
        completed_at=completed,
        request_metadata={
            "essay_a_id": essay_a,
            "essay_b_id": essay_b,
            "bos_batch_id": batch,
            "cj_batch_id": "1",
            "cj_source": "els",
            "cj_request_type": "cj_comparison",
            "prompt_sha256": hashlib.sha256(f"{essay_a}|{essay_b}".encode()).hexdigest(),
            "queue_processing_mode": "per_request",
            "resolved_provider": provider,
            "reconstructed": True,
        },
    )
    return EventEnvelope(
        event_id=f"evt-{correlation[:16]}",
        event_type="LLMComparisonResultV1",
        event_timestamp=completed,
        source_service="llm_provider_service",
        correlation_id=correlation_id,
        data=result.model_dump(mode="json"),
    ).model_dump_json()


def anchor_net(
    scenario: str,
    anchors: tuple[tuple[str, str], ...],
    a_wins: int,
    inversions: set[frozenset[str]],
    latencies: list[int],
    prompts: list[int],
    completions: list[int],
    when: datetime,
    seed: int,
) -> list[str]:
    """All pairs of ``anchors``; the higher grade wins (same grade: alternately), except for
    ``inversions``; exactly ``a_wins`` winners sit in position A."""
    rng = random.Random(seed)
    pairs = [(x, y) for i, x in enumerate(anchors) for y in anchors[i + 1 :]]
    rng.shuffle(pairs)
    outcomes = []
    for index, (x, y) in enumerate(pairs):
        gx, gy = LADDER.index(x[1]), LADDER.index(y[1])
        winner, loser = (x, y) if (gx > gy or (gx == gy and index % 2 == 0)) else (y, x)
        if frozenset((x[0], y[0])) in inversions:
            winner, loser = loser, winner
        outcomes.append((winner, loser))
    in_a = set(rng.sample(range(len(outcomes)), a_wins))
    lines = []
    for index, (winner, loser) in enumerate(outcomes):
        first, second = (winner, loser) if index in in_a else (loser, winner)
        lines.append(
            envelope(
                index,
                scenario,
                when,
                anchor_id(first[0]),
                anchor_id(second[0]),
                "Essay A" if index in in_a else "Essay B",
                latencies[index],
                prompts[index],
                completions[index],
                round(rng.uniform(3.5, 5.0), 1),
                "gpt-5.1",
                "openai",
                f"{scenario}-batch",
                rng,
            )
        )
    return lines


def eng5_anchor_align() -> list[str]:
    rng = random.Random(20251201)
    n = 66
    tail = [2222, 2234, 2270, 2310, 2348]  # pins p95 (idx 61.75) = 2231.0, p99 (64.35) = 2323.3
    body = spread(n - 5, 1555, 210, 1150, 2222, 106253 - sum(tail), rng)  # mean 1609.89
    latencies = body + tail
    rng.shuffle(latencies)
    prompts = spread(n, 1445.5, 85, 1250, 1650, 95403, rng)  # mean 1445.5
    completions = spread(n, 53.5, 6, 40, 70, 3531, rng)  # mean 53.5
    inversions = {
        frozenset(("eng5_eminus", "eng5_eplus")),
        frozenset(("eng5_dplus", "eng5_cminus")),
        frozenset(("eng5_b_2", "eng5_a_1")),
    }
    return anchor_net(
        "eng5_anchor_align_gpt51_low_20251201",
        ENG5,
        35,
        inversions,
        latencies,
        prompts,
        completions,
        datetime(2025, 12, 1, 10, tzinfo=UTC),
        1201,
    )


def eng5_lower5() -> list[str]:
    rng = random.Random(20251202)
    latencies = [*spread(8, 1450, 150, 1150, 2132, 15880 - 2132 - 2151, rng), 2132, 2151]
    rng.shuffle(latencies)  # p95 (idx 8.55) = 2142.45, p99 (8.91) = 2149.29; mean 1588
    prompts = [1125, 1455, *spread(8, 1300, 60, 1126, 1454, 12980 - 1125 - 1455, rng)]
    rng.shuffle(prompts)  # min 1125, max 1455, mean 1298
    completions = [33, 36, *adjust_to_sum([35] * 8, 350 - 33 - 36, 33, 36, rng)]
    rng.shuffle(completions)  # min 33, max 36, mean 35
    inversions = {frozenset(("eng5_eminus", "eng5_eplus"))}
    return anchor_net(
        "eng5_lower5_gpt51_low_20251202",
        LOWER5,
        4,
        inversions,
        latencies,
        prompts,
        completions,
        datetime(2025, 12, 2, 10, tzinfo=UTC),
        1202,
    )


def cj_lps_roundtrip_mock() -> list[str]:
    rng = random.Random(20251205)
    when = datetime(2025, 12, 5, 10, tzinfo=UTC)
    pairs = (
        ("student-000", "student-001"),
        ("student-002", "student-003"),
        ("student-000", "student-002"),
        ("student-001", "student-003"),
    )
    return [
        envelope(
            i,
            "cj_lps_roundtrip_mock_20251205",
            when,
            a,
            b,
            "Essay A",
            0,
            5,
            17,
            4.6,
            "mock-model-v1",
            "openai",
            "cj-lps-roundtrip",
            rng,
        )
        for i, (a, b) in enumerate(pairs)
    ]


def main() -> None:
    argparse.ArgumentParser(
        description="Rewrite llm_callbacks.jsonl and summary.json of the three reconstructed "
        "traces under traces/ (deterministic: the same files every time)."
    ).parse_args()
    builders = {
        "eng5_anchor_align_gpt51_low_20251201": eng5_anchor_align,
        "eng5_lower5_gpt51_low_20251202": eng5_lower5,
        "cj_lps_roundtrip_mock_20251205": cj_lps_roundtrip_mock,
    }
    for scenario_id, build in builders.items():
        folder = ROOT / scenario_id
        folder.mkdir(parents=True, exist_ok=True)
        lines = build()
        (folder / CALLBACKS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
        results = [EventEnvelope.model_validate_json(line).result() for line in lines]
        summary = summarize(scenario_id, results)
        (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(f"{scenario_id}: {len(lines)} callbacks")


if __name__ == "__main__":
    main()
