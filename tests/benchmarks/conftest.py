"""Benchmark goals: each judged on the median of its per-round ratios, with BLAS on one thread.

A benchmark measures its sides round by round with ``tests.benchmarks.interleave`` and records
each goal's per-round ratios with ``tests.benchmarks.goals.judge``. At the end of the session
every goal is reported as the median of its per-round ratios next to its goal, with the spread
of those ratios (how steady the measurement was); a missed goal fails the ``bench`` session, and
the table is also written to ``.benchmarks/ratios.json``. A benchmark that records no goal is
run and shown by pytest-benchmark as usual. These never run in the default suite.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from tests.benchmarks.goals import GOALS

BLAS_THREADS = 1


@dataclass(frozen=True)
class GoalResult:
    goal: str
    ratio: float  # the verdict: the median of the per-round ratios
    min_ratio: float
    met: bool
    rounds: int
    ratio_low: float
    ratio_high: float
    per_round: list[float]
    figures: dict[str, float]  # medians of the per-round figures, named with their unit
    test: str

    @property
    def spread(self) -> float:
        """The range of the per-round ratios as a fraction of their median: how steady."""
        return (self.ratio_high - self.ratio_low) / self.ratio if self.ratio else float("inf")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/benchmarks/" in item.nodeid:
            item.add_marker(pytest.mark.bench)


@pytest.fixture(scope="session", autouse=True)
def _blas_on_one_thread(pytestconfig):
    """Pin every loaded BLAS to one thread for the whole session. A threaded BLAS on a busy
    2-core machine spins threads that fight the neighbours' load, and the BT fits measured 47x
    and then 14x in two runs; one thread each is also what the engine's decisions rely on.
    (Imported here, not at the top: the default suite loads this file too, and needs none.)"""
    # Loaded before the pin, which reaches only the libraries already loaded; scipy's wheels
    # bring a BLAS of their own beside numpy's.
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        unpinned = [
            lib
            for lib in threadpool_info()
            if lib["user_api"] == "blas" and lib["num_threads"] != BLAS_THREADS
        ]
        assert not unpinned, f"BLAS still threaded: {unpinned}"
        pytestconfig._cjsim_blas = [
            f"{lib['internal_api']} ({Path(lib['filepath']).name}) {lib['num_threads']}"
            for lib in threadpool_info()
            if lib["user_api"] == "blas"
        ]
        yield


def _goal_results(session) -> list[GoalResult]:
    bench_session = getattr(session.config, "_benchmarksession", None)
    if bench_session is None:
        return []
    results = []
    for bench in bench_session.benchmarks:
        for goal, judged in bench.extra_info.get("goals", {}).items():
            ratios = judged["ratios"]
            median = statistics.median(ratios)
            results.append(
                GoalResult(
                    goal=goal,
                    ratio=median,
                    min_ratio=GOALS[goal].min_ratio,
                    met=median >= GOALS[goal].min_ratio,
                    rounds=len(ratios),
                    ratio_low=min(ratios),
                    ratio_high=max(ratios),
                    per_round=ratios,
                    figures=judged["figures"],
                    test=bench.fullname,
                )
            )
    return sorted(results, key=lambda r: r.goal)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    results = _goal_results(session)
    session.config._cjsim_goal_results = results
    if not results:
        return
    out = Path(session.config.rootpath) / ".benchmarks" / "ratios.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    if exitstatus == 0 and not all(r.met for r in results):
        session.exitstatus = 1


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def pytest_terminal_summary(terminalreporter, config):
    results = getattr(config, "_cjsim_goal_results", [])
    if not results:
        return
    terminalreporter.section("cjsim benchmark goals (median of per-round ratios)")
    for r in results:
        verdict = "met" if r.met else "MISSED"
        figures = ", ".join(f"{name} {_figure(value)}" for name, value in r.figures.items())
        terminalreporter.write_line(
            f"{r.goal:<30} {r.ratio:10.3g}x  goal >= {r.min_ratio:.3g}x  {verdict:<6}  "
            f"rounds {r.rounds}, range {r.ratio_low:.3g}-{r.ratio_high:.3g} "
            f"(spread {r.spread:.0%})"
        )
        terminalreporter.write_line(f"{'':<32}{GOALS[r.goal].description}; {figures}")
    blas = getattr(config, "_cjsim_blas", [])
    terminalreporter.write_line(f"BLAS threads during the benchmarks: {', '.join(blas) or 'none'}")
