"""How fast the harness simulates: the ENG5 regular batch with its faults on."""

from __future__ import annotations

from tests.benchmarks.goals import judge_throughput
from tests.benchmarks.interleave import interleave
from tests.benchmarks.worlds import ENG5_REGULAR_24, simulation


def test_eng5_regular_24_simulation_speed(benchmark):
    rounds = interleave(
        benchmark, {"simulate": simulation(ENG5_REGULAR_24)}, rounds=15, warmup_rounds=2
    )
    outcome = rounds[-1].results["simulate"]
    assert all(result.ok for result in outcome.invariants.values())
    judge_throughput(
        benchmark,
        "eng5_regular_24_speed",
        rounds,
        subject="simulate",
        virtual_seconds=[r.results["simulate"].virtual_seconds for r in rounds],
    )
