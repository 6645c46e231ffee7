"""A provider limited to 60 requests a minute, served by 32 workers, with and without the
adaptive concurrency controller: how close to the limit the answers run after the first minute,
and what share of the calls the provider refuses (429). Both figures go in ``extra_info``; the
timed run (the controller on) is also a simulation-speed goal."""

from __future__ import annotations

from sim.reports.report import build_report
from tests.benchmarks.goals import judge_throughput
from tests.benchmarks.interleave import interleave
from tests.benchmarks.worlds import RATE_LIMITED_PROVIDER, simulation

LIMIT_PER_MINUTE = 60.0


def _figures(outcome) -> dict[str, float]:
    steady = build_report(outcome)["concurrency"]["after_first_minute"]
    return {
        "throughput_fraction_of_limit": round(steady["answers_per_minute"] / LIMIT_PER_MINUTE, 4),
        "rate_limited_fraction": round(steady["rate_limited_share"], 4),
    }


def test_rate_limited_provider_with_and_without_the_controller(benchmark):
    rounds = interleave(
        benchmark, {"simulate": simulation(RATE_LIMITED_PROVIDER)}, rounds=5, warmup_rounds=1
    )
    outcome = rounds[-1].results["simulate"]
    without = simulation(RATE_LIMITED_PROVIDER, overrides=["LPS_ADAPTIVE_CONCURRENCY=false"])()
    controlled, uncontrolled = _figures(outcome), _figures(without)
    benchmark.extra_info["with_controller"] = controlled
    benchmark.extra_info["without_controller"] = uncontrolled
    assert controlled["throughput_fraction_of_limit"] >= 0.9
    assert controlled["rate_limited_fraction"] <= 0.05
    assert uncontrolled["rate_limited_fraction"] > controlled["rate_limited_fraction"]
    judge_throughput(
        benchmark,
        "rate_limited_provider_speed",
        rounds,
        subject="simulate",
        virtual_seconds=[r.results["simulate"].virtual_seconds for r in rounds],
    )
