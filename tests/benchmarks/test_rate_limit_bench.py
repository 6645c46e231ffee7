"""A provider limited to 60 requests a minute, served by 32 workers, with and without the
adaptive concurrency controller: how close to the limit the answers run after the first minute,
and what share of the calls the provider refuses (429). Both figures go in ``extra_info``; the
timed run (the controller on) is also a simulation-speed goal."""

from __future__ import annotations

from pathlib import Path

from sim.report import build_report
from sim.runner import run_scenario
from sim.scenario_file import load_scenario
from tests.benchmarks.goals import ratio

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "rate_limited_provider.yaml"
LIMIT_PER_MINUTE = 60.0


def _figures(outcome) -> dict[str, float]:
    steady = build_report(outcome)["concurrency"]["after_first_minute"]
    return {
        "throughput_fraction_of_limit": round(steady["answers_per_minute"] / LIMIT_PER_MINUTE, 4),
        "rate_limited_fraction": round(steady["rate_limited_share"], 4),
    }


def test_rate_limited_provider_with_and_without_the_controller(benchmark):
    ratio(benchmark, "rate_limited_provider_speed", "subject")
    scenario = load_scenario(SCENARIO)
    outcome = benchmark.pedantic(run_scenario, args=(scenario,), rounds=7, warmup_rounds=1)
    without = run_scenario(load_scenario(SCENARIO, overrides=["LPS_ADAPTIVE_CONCURRENCY=false"]))
    controlled, uncontrolled = _figures(outcome), _figures(without)
    benchmark.extra_info["virtual_seconds"] = outcome.virtual_seconds
    benchmark.extra_info["with_controller"] = controlled
    benchmark.extra_info["without_controller"] = uncontrolled
    assert controlled["throughput_fraction_of_limit"] >= 0.9
    assert controlled["rate_limited_fraction"] <= 0.05
    assert uncontrolled["rate_limited_fraction"] > controlled["rate_limited_fraction"]
