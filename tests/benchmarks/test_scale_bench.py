"""Cost per comparison as a batch grows (DESIGN.md: within 1.2x of the 24-essay cost at 1,000
essays, within 1.4x at 3,000): no per-wave work that scans all n^2 pairs or inverts a dense
n x n matrix.

Each large world is interleaved with its 24-essay twin (scenarios/scale_24x288.yaml: the same
settings, provider and faults, only the size differs), and the cost of a side is its wall time
over the comparisons it made, read from its outcome. The 1,000-essay rounds also analyse the
world they simulate, for the analysis goal at that size: one such world takes tens of seconds
to build, too long to build again for a second goal.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.benchmarks.goals import judge, judge_times
from tests.benchmarks.interleave import Round, interleave
from tests.benchmarks.worlds import SCALE, AnalysisOfLatest, comparisons_made, simulation

# A 1,000-essay round takes 20-80 s and a 3,000-essay one minutes: these counts keep the whole
# `nox -s bench` within about 15 minutes on a busy 2-core machine.
ROUNDS_1000 = 3
ROUNDS_3000 = 1
# The 24-essay twin takes about a second, the large world a minute or more: the twin runs
# several times just before the large world and as many just after (in both orders of the
# rounds), so that its cost is timed over a window around the large world's, not beside it.
SMALL_TWIN_CALLS_EACH_SIDE = 4
BEFORE, AFTER = "simulate_24_before", "simulate_24_after"


def _judge_cost(benchmark, goal: str, rounds: list[Round], *, large: str) -> None:
    def micros_per_comparison(r: Round, side: str) -> float:
        return r.seconds[side] * 1e6 / comparisons_made(r.results[side])

    small_cost = [
        (micros_per_comparison(r, BEFORE) + micros_per_comparison(r, AFTER)) / 2 for r in rounds
    ]
    large_cost = [micros_per_comparison(r, large) for r in rounds]
    judge(
        benchmark,
        goal,
        [s / big for s, big in zip(small_cost, large_cost, strict=True)],
        figures={"simulate_24 µs/comparison": small_cost, f"{large} µs/comparison": large_cost},
    )


def _sandwiched(large: dict[str, Callable[[], object]]) -> tuple[dict, dict[str, int]]:
    """The sides of a round, ``large`` between two runs of the 24-essay twin, and the calls of
    each side a round. The twin runs once untimed here first: a first run pays for imports and
    caches that would weigh on its cost and flatter the large side. The large worlds get no
    warm-up round: one costs as much as a round, and a first run's extra is small there."""
    simulate_small = simulation(SCALE / "scale_24x288.yaml")
    simulate_small()
    sides = {BEFORE: simulate_small, **large, AFTER: simulate_small}
    calls = dict.fromkeys(large, 1) | dict.fromkeys((BEFORE, AFTER), SMALL_TWIN_CALLS_EACH_SIDE)
    return sides, calls


def test_comparison_cost_1000_essays(benchmark, tmp_path):
    world = AnalysisOfLatest(simulation(SCALE / "scale_1000x20000.yaml"), tmp_path)
    sides, calls = _sandwiched({"simulate_1000": world.simulate, "analyse_1000": world.analyse})
    rounds = interleave(benchmark, sides, rounds=ROUNDS_1000, warmup_rounds=0, iterations=calls)
    assert all(
        r.results["analyse_1000"]["completion_vs_store"][0]["counters_match"] for r in rounds
    )
    _judge_cost(benchmark, "comparison_cost_1000x20000", rounds, large="simulate_1000")
    judge_times(
        benchmark, "analysis_1000x20000", rounds, reference="simulate_1000", subject="analyse_1000"
    )


def test_comparison_cost_3000_essays(benchmark):
    sides, calls = _sandwiched({"simulate_3000": simulation(SCALE / "scale_3000x60000.yaml")})
    rounds = interleave(benchmark, sides, rounds=ROUNDS_3000, warmup_rounds=0, iterations=calls)
    _judge_cost(benchmark, "comparison_cost_3000x60000", rounds, large="simulate_3000")
