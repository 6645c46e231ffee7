"""Analysing a run costs at most a tenth of simulating it: the ENG5 regular batch. (The same
goal at 1,000 essays / 20,000 comparisons is judged in test_scale_bench.py, from the rounds
that simulate that world for the cost-per-comparison goal.)

The subject is ``write_outcomes``, what ``cjsim run`` pays after the simulation: loading the
outcome tables into ``outcomes.duckdb`` and running every report query. The reference is the
simulation of the same scenario, interleaved with it round by round.
"""

from __future__ import annotations

from tests.benchmarks.goals import judge_times
from tests.benchmarks.interleave import interleave
from tests.benchmarks.worlds import ENG5_REGULAR_24, AnalysisOfLatest, simulation


def test_analysis_against_simulation_eng5_regular_24(benchmark, tmp_path):
    world = AnalysisOfLatest(simulation(ENG5_REGULAR_24), tmp_path)
    sides = {"simulate": world.simulate, "analyse": world.analyse}
    rounds = interleave(benchmark, sides, rounds=11, warmup_rounds=1)
    assert all(r.results["analyse"]["completion_vs_store"][0]["counters_match"] for r in rounds)
    judge_times(
        benchmark, "analysis_eng5_regular_24", rounds, reference="simulate", subject="analyse"
    )
