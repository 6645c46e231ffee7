"""Fresh processes: ``cjsim --help`` against a bare interpreter, and the whole ``cjsim run`` of
the ENG5 regular batch, start-up and outcome files included.

A command line answers ``--help`` from its grammar alone (``sim/commands/cli.py`` imports nothing
else until a command runs), so it should cost little more than starting Python itself: measured as a
ratio against ``python -c pass`` in the same rounds, so that the goal holds on a fast machine
and a slow one alike, and against DESIGN.md's absolute 0.3 s.

The commands run as ``python -m sim.commands.cli`` from the work tree, not through the ``cjsim``
script: the script imports whichever ``sim`` is installed, which need not be the code under test.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

from tests.benchmarks.goals import judge, judge_throughput, judge_times
from tests.benchmarks.interleave import interleave
from tests.benchmarks.worlds import ENG5_REGULAR_24, ROOT

HELP_DEADLINE_S = 0.3
# The children's BLAS is pinned as the benchmark process's own is (conftest): through the
# environment, as threadpoolctl reaches only the process it runs in.
PINNED_ENV = {
    **os.environ,
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def _start(*argv: str) -> None:
    subprocess.run(
        [sys.executable, *argv], check=True, capture_output=True, cwd=ROOT, env=PINNED_ENV
    )


def test_cjsim_help_start(benchmark):
    sides = {
        "python -c pass": lambda: _start("-c", "pass"),
        "cjsim --help": lambda: _start("-m", "sim.commands.cli", "--help"),
    }
    # Three starts a side a round: one start is a tenth of a second, about what a neighbour's
    # burst can take from it.
    rounds = interleave(benchmark, sides, rounds=15, warmup_rounds=2, iterations=3)
    judge_times(
        benchmark, "cli_help_start", rounds, reference="python -c pass", subject="cjsim --help"
    )
    help_s = [r.seconds["cjsim --help"] for r in rounds]
    judge(
        benchmark,
        "cli_help_deadline",
        [HELP_DEADLINE_S / s for s in help_s],
        figures={"cjsim --help ms": [s * 1e3 for s in help_s]},
    )


def test_cjsim_run_process_speed(benchmark, tmp_path):
    folders = (tmp_path / f"run-{n}" for n in itertools.count())

    def cjsim_run() -> float:
        out = next(folders)
        # The run and its outcome files, as the goal was set; the HTML page, which came later
        # (and imports Altair), has its own goal: tests/benchmarks/test_report_bench.py.
        run = ("run", str(ENG5_REGULAR_24), "--out", str(out), "--no-html")
        _start("-m", "sim.commands.cli", *run)
        return json.loads((out / "report.json").read_text())["virtual_seconds"]

    rounds = interleave(benchmark, {"cjsim run": cjsim_run}, rounds=9, warmup_rounds=1)
    judge_throughput(
        benchmark,
        "eng5_regular_24_process_speed",
        rounds,
        subject="cjsim run",
        virtual_seconds=[r.results["cjsim run"] for r in rounds],
    )
