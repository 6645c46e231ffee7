"""Benchmark ratios: each goal is a subject measured against its reference in the same run.

A benchmark declares its role with ``ratio(benchmark, "<pair>", "reference"|"subject")``. At the
end of the session every complete pair is reported as ``reference median / subject median``
(how many times faster the subject is; for equal work, the ratio of throughputs), next to its
goal. A missed goal fails the ``bench`` session; ratios are also written to
``.benchmarks/ratios.json`` for the record. These never run in the default suite.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.benchmarks.goals import GOALS


@dataclass
class PairResult:
    pair: str
    reference_s: float
    subject_s: float
    ratio: float
    goal: float
    met: bool
    # Throughput goals only: the ratio at the fastest round. Not the verdict, which is the
    # median's; reported because on a shared machine the median moves with the neighbours' load.
    best_ratio: float | None = None


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/benchmarks/" in item.nodeid:
            item.add_marker(pytest.mark.bench)


def _pair_results(session) -> list[PairResult]:
    bench_session = getattr(session.config, "_benchmarksession", None)
    if bench_session is None:
        return []
    roles: dict[str, dict[str, float]] = {}
    for bench in bench_session.benchmarks:
        info = bench.extra_info
        if "pair" in info and bench.stats:
            roles.setdefault(info["pair"], {})[info["role"]] = bench.stats.median
            if "virtual_seconds" in info:
                # A throughput goal: the "reference" is one wall second per simulated second.
                roles[info["pair"]]["reference"] = float(info["virtual_seconds"])
                roles[info["pair"]]["fastest"] = bench.stats.min
    results = []
    for pair, measured in sorted(roles.items()):
        if {"reference", "subject"} <= measured.keys():
            ratio = measured["reference"] / measured["subject"]
            goal = GOALS[pair].min_ratio
            fastest = measured.get("fastest")
            best = measured["reference"] / fastest if fastest else None
            results.append(
                PairResult(
                    pair,
                    measured["reference"],
                    measured["subject"],
                    ratio,
                    goal,
                    ratio >= goal,
                    best,
                )
            )
    return results


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    results = _pair_results(session)
    session.config._cjsim_ratios = results
    if not results:
        return
    out = Path(session.config.rootpath) / ".benchmarks" / "ratios.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps([r.__dict__ for r in results], indent=2) + "\n")
    if exitstatus == 0 and not all(r.met for r in results):
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, config):
    results = getattr(config, "_cjsim_ratios", [])
    if not results:
        return
    terminalreporter.section("cjsim benchmark ratios (reference median / subject median)")
    for r in results:
        verdict = "met" if r.met else "MISSED"
        best = f", fastest round {r.best_ratio:.0f}x" if r.best_ratio is not None else ""
        terminalreporter.write_line(
            f"{r.pair:<34} {r.ratio:9.2f}x  goal >= {r.goal:g}x  {verdict}   "
            f"({GOALS[r.pair].description}; reference {r.reference_s * 1e3:.2f} ms, "
            f"subject {r.subject_s * 1e3:.2f} ms{best})"
        )
