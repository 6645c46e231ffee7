"""The performance goals (DESIGN.md, "Performance budget"), each judged on one number: the
median of its per-round ratios, measured by ``tests.benchmarks.interleave``.

Every goal is "ratio >= min_ratio", the ratio read so that larger is better:

- a pair of callables doing the same work: reference time / subject time (how many times
  faster the subject is);
- a cost per unit of work (per comparison): reference cost / subject cost, so "at most 1.2x the
  cost" is a ratio of at least 1/1.2;
- a throughput: simulated seconds per wall second of the subject alone;
- a deadline: the allowed seconds / the subject's seconds, so "under 0.3 s" is a ratio >= 1.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Goal:
    min_ratio: float
    description: str


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
    "comparison_cost_1000x20000": Goal(
        1 / 1.2,
        "wall time per comparison made, 24 essays / 288 vs 1,000 / 20,000 (same settings): "
        "the 1,000-essay cost at most 1.2x",
    ),
    "comparison_cost_3000x60000": Goal(
        1 / 1.4,
        "wall time per comparison made, 24 essays / 288 vs 3,000 / 60,000 (same settings): "
        "the 3,000-essay cost at most 1.4x",
    ),
    "cli_help_start": Goal(
        0.6,
        "python -c pass vs cjsim --help, each a fresh process: --help costs at most 1/0.6 "
        "of a bare interpreter start",
    ),
    "cli_help_deadline": Goal(
        1.0, "0.3 s / the wall time of cjsim --help as a fresh process: under 0.3 s"
    ),
    "eng5_regular_24_speed": Goal(
        20_000.0, "virtual seconds per wall second, scenarios/eng5_regular_24.yaml, faults on"
    ),
    "eng5_regular_24_process_speed": Goal(
        3_000.0,
        "virtual seconds per wall second of the whole `cjsim run scenarios/eng5_regular_24.yaml"
        " --out DIR` process, start-up and outcome files included",
    ),
    "sweep_overhead_process_pool": Goal(
        1 / 1.1,
        "the same runs of scenarios/eng5_regular_24.yaml (12 seeds), run_scenario + build_report "
        "here vs `cjsim sweep` on a one-worker process pool: the sweep at most 1.1x the runs",
    ),
    "report_24_deadline": Goal(
        1.0,
        "1 s / the wall time of `cjsim report RUN --out X` as a fresh process, RUN a run of "
        "scenarios/eng5_regular_24.yaml: under 1 s",
    ),
    "report_1000_deadline": Goal(
        1.0,
        "10 s / the wall time of `cjsim report RUN --out X` as a fresh process, RUN a run of "
        "tests/benchmarks/scenarios/scale_1000x20000.yaml (1,000 essays): under 10 s",
    ),
    "rate_limited_provider_speed": Goal(
        200.0,
        "virtual seconds per wall second, scenarios/rate_limited_provider.yaml (60 RPM, "
        "32 workers, the concurrency controller on)",
    ),
}


def judge(benchmark, goal: str, ratios: list[float], *, figures: dict[str, list[float]]) -> None:
    """Record goal ``goal``'s per-round ``ratios`` for the end-of-session table (conftest).

    ``figures`` are per-round numbers that explain the ratio (each side's milliseconds, the
    virtual seconds, the cost per comparison), named with their unit; the table shows their
    medians.
    """
    assert goal in GOALS, f"unknown goal {goal!r}: add it to GOALS"
    assert ratios, f"goal {goal!r}: no round measured"
    assert all(len(values) == len(ratios) for values in figures.values()), figures
    judged = benchmark.extra_info.setdefault("goals", {})
    assert goal not in judged, f"goal {goal!r} judged twice in one benchmark"
    judged[goal] = {
        "ratios": ratios,
        "figures": {name: statistics.median(values) for name, values in figures.items()},
    }


def judge_times(benchmark, goal: str, rounds, *, reference: str, subject: str) -> None:
    """Judge ``goal`` as reference time / subject time per round: sides doing the same work."""
    judge(
        benchmark,
        goal,
        [r.seconds[reference] / r.seconds[subject] for r in rounds],
        figures={
            f"{reference} ms": [r.seconds[reference] * 1e3 for r in rounds],
            f"{subject} ms": [r.seconds[subject] * 1e3 for r in rounds],
        },
    )


def judge_throughput(
    benchmark, goal: str, rounds, *, subject: str, virtual_seconds: list[float]
) -> None:
    """Judge ``goal`` as simulated seconds per wall second of side ``subject``, per round
    (``virtual_seconds``: what each round's run simulated)."""
    judge(
        benchmark,
        goal,
        [v / r.seconds[subject] for v, r in zip(virtual_seconds, rounds, strict=True)],
        figures={
            "virtual s": virtual_seconds,
            f"{subject} ms": [r.seconds[subject] * 1e3 for r in rounds],
        },
    )
