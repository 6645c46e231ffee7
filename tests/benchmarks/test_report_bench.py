"""``cjsim report RUN --out X`` as a reader runs it: a fresh process, start-up included, writing
the page of a run folder, against a deadline: 1 s for a run of the ENG5 regular batch (24
essays), 10 s for a run of 1,000 essays. The page's size is recorded beside each time, and held
under its own limit by a plain assertion: a size is the same every time, so it needs no
median (3 MB for 24 essays, of which the inlined Vega bundle is about 0.9 MB; 10 MB for 1,000).

Each run folder is simulated once, in a module fixture, with ``--no-html``: the page is what is
measured. The commands run as ``python -m sim.commands.cli`` from the work tree, as in
``test_startup_bench``: the ``cjsim`` script imports whichever ``sim`` is installed.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.benchmarks.goals import judge
from tests.benchmarks.interleave import interleave
from tests.benchmarks.worlds import ENG5_REGULAR_24, ROOT, SCALE

REPORT_24_DEADLINE_S = 1.0
REPORT_1000_DEADLINE_S = 10.0
PAGE_24_BYTES_MAX = 3_000_000
PAGE_1000_BYTES_MAX = 10_000_000
# The children's BLAS pinned to one thread, as in test_startup_bench.
PINNED_ENV = {
    **os.environ,
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def _cjsim(*argv: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "sim.commands.cli", *argv],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env=PINNED_ENV,
    )


def _simulated(folder: Path, scenario: Path) -> Path:
    _cjsim("run", str(scenario), "--no-html", "--out", str(folder))
    assert (folder / "outcomes.duckdb").is_file(), f"cjsim run {scenario} wrote no outcomes"
    return folder


@pytest.fixture(scope="module")
def run_24(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of scenarios/eng5_regular_24.yaml, without its page."""
    return _simulated(tmp_path_factory.mktemp("report_24") / "run", ENG5_REGULAR_24)


@pytest.fixture(scope="module")
def run_1000(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of 1,000 essays (scale_1000x20000.yaml, tens of seconds), without its
    page."""
    return _simulated(
        tmp_path_factory.mktemp("report_1000") / "run", SCALE / "scale_1000x20000.yaml"
    )


def _report(run: Path, pages: Path) -> Callable[[], int]:
    """A call that writes ``run``'s page to a new file under ``pages`` (``--out`` never writes
    over a file) with a fresh ``cjsim report`` process; the page's size in bytes."""
    names = (pages / f"page-{n}.html" for n in itertools.count())

    def report() -> int:
        out = next(names)
        _cjsim("report", str(run), "--out", str(out))
        return out.stat().st_size

    return report


def _judge_deadline(benchmark, goal: str, rounds, deadline_s: float) -> int:
    seconds = [r.seconds["cjsim report"] for r in rounds]
    sizes = [int(r.results["cjsim report"]) for r in rounds]
    assert len(set(sizes)) == 1, f"the same folder gave pages of {sorted(set(sizes))} bytes"
    judge(
        benchmark,
        goal,
        [deadline_s / s for s in seconds],
        figures={
            "cjsim report ms": [s * 1e3 for s in seconds],
            "page MB": [size / 1e6 for size in sizes],
        },
    )
    benchmark.extra_info["page_bytes"] = sizes[0]
    return sizes[0]


def test_cjsim_report_of_24_essays(benchmark, run_24: Path, tmp_path: Path):
    rounds = interleave(
        benchmark, {"cjsim report": _report(run_24, tmp_path)}, rounds=9, warmup_rounds=1
    )
    size = _judge_deadline(benchmark, "report_24_deadline", rounds, REPORT_24_DEADLINE_S)
    assert size <= PAGE_24_BYTES_MAX, f"the 24-essay page is {size:,} bytes"


def test_cjsim_report_of_1000_essays(benchmark, run_1000: Path, tmp_path: Path):
    rounds = interleave(
        benchmark, {"cjsim report": _report(run_1000, tmp_path)}, rounds=5, warmup_rounds=1
    )
    size = _judge_deadline(benchmark, "report_1000_deadline", rounds, REPORT_1000_DEADLINE_S)
    assert size <= PAGE_1000_BYTES_MAX, f"the 1,000-essay page is {size:,} bytes"
