"""Analysing a run costs at most a tenth of simulating it: the ENG5 regular batch, and the
1,000-essay / 20,000-comparison ceiling of the performance budget.

The subject is ``write_outcomes``, what ``cjsim run`` pays after the simulation: loading the
outcome tables into ``outcomes.duckdb`` and running every report query. The reference is the
simulation of the same scenario, measured in the same session.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from sim.analysis import write_outcomes
from sim.runner import run_scenario
from sim.scenario_file import load_scenario
from tests.benchmarks.goals import ratio

ROOT = Path(__file__).resolve().parents[2]
CASES = {
    "analysis_eng5_regular_24": (ROOT / "scenarios" / "eng5_regular_24.yaml", 15),
    "analysis_1000x20000": (
        ROOT / "tests" / "benchmarks" / "scenarios" / "scale_1000x20000.yaml",
        1,
    ),
}
_outcomes: dict[str, object] = {}


@pytest.fixture(scope="module", autouse=True)
def _release_outcomes():
    """Free the simulated worlds once this module is done. The 1,000-essay world is millions of
    objects, many in reference cycles: left alive, every later full collection walks them, and
    the next module's benchmarks measured about 30% slow."""
    yield
    _outcomes.clear()
    gc.collect()


@pytest.mark.parametrize("pair", list(CASES))
def test_simulate(benchmark, pair):
    ratio(benchmark, pair, "reference")
    path, rounds = CASES[pair]
    scenario = load_scenario(path)
    outcome = benchmark.pedantic(
        run_scenario,
        args=(scenario,),
        kwargs={"base_dir": path.parent},
        rounds=rounds,
        warmup_rounds=1 if rounds > 1 else 0,
    )
    _outcomes[pair] = outcome


@pytest.mark.parametrize("pair", list(CASES))
def test_analyse(benchmark, pair, tmp_path):
    ratio(benchmark, pair, "subject")
    outcome = _outcomes.pop(pair, None)
    if outcome is None:
        path, _ = CASES[pair]
        outcome = run_scenario(load_scenario(path), base_dir=path.parent)
    report = benchmark.pedantic(write_outcomes, args=(outcome, tmp_path), rounds=7, warmup_rounds=1)
    assert report["completion_vs_store"][0]["counters_match"] is True
