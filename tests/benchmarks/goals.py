"""The performance goals, each a ratio of a subject against its reference (see conftest)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Goal:
    min_ratio: float
    description: str
    # A throughput goal has no reference run: its ratio is the subject's simulated seconds per
    # wall second (``virtual_seconds`` in its extra_info over its median wall time).
    throughput: bool = False


GOALS = {
    "runtime_steps": Goal(
        0.6, "SimRuntime coroutine sleeps/s vs bare SimPy timeouts/s, same step count"
    ),
    "bt_fit_1000x20000": Goal(
        50.0, "fit_bradley_terry vs choix.ilsr_pairwise, 1,000 items / 20,000 comparisons"
    ),
    "bt_fit_24x288": Goal(
        1.0, "fit_bradley_terry vs choix.ilsr_pairwise, 24 items / 288 comparisons"
    ),
    "analysis_eng5_regular_24": Goal(
        10.0, "simulating scenarios/eng5_regular_24.yaml vs writing its outcomes.duckdb + report"
    ),
    "analysis_1000x20000": Goal(
        10.0, "simulating 1,000 essays / 20,000 comparisons vs writing its outcomes + report"
    ),
    "cli_help_start": Goal(
        0.6,
        "python -c pass vs cjsim --help, each a fresh process: --help costs at most 1/0.6 "
        "of a bare interpreter start",
    ),
    "eng5_regular_24_speed": Goal(
        10_000.0,
        "virtual seconds per wall second, scenarios/eng5_regular_24.yaml, faults on",
        throughput=True,
    ),
    "rate_limited_provider_speed": Goal(
        200.0,
        "virtual seconds per wall second, scenarios/rate_limited_provider.yaml (60 RPM, "
        "32 workers, the concurrency controller on)",
        throughput=True,
    ),
}


def ratio(benchmark, pair: str, role: str) -> None:
    """Mark a benchmark as the ``role`` ("reference" or "subject") of goal ``pair``."""
    assert pair in GOALS, f"unknown goal {pair!r}"
    assert role in ("reference", "subject"), role
    benchmark.group = pair
    benchmark.extra_info.update(pair=pair, role=role)
