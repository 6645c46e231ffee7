"""How fast the harness simulates: the ENG5 regular batch with its faults on."""

from __future__ import annotations

from pathlib import Path

from sim.runner import run_scenario
from sim.scenario_file import load_scenario
from tests.benchmarks.goals import ratio

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "eng5_regular_24.yaml"


def test_eng5_regular_24_simulation_speed(benchmark):
    ratio(benchmark, "eng5_regular_24_speed", "subject")
    scenario = load_scenario(SCENARIO)
    outcome = benchmark.pedantic(run_scenario, args=(scenario,), rounds=25, warmup_rounds=3)
    benchmark.extra_info["virtual_seconds"] = outcome.virtual_seconds
    assert all(result.ok for result in outcome.invariants.values())
