"""Start-up: ``cjsim --help`` against a bare interpreter, each a fresh process.

A command line answers ``--help`` from its grammar alone (``sim/cli.py`` imports nothing else
until a command runs), so it should cost little more than starting Python itself. Measured as
a ratio against ``python -c pass`` on the same machine, in the same run, so that the goal holds
on a fast machine and a slow one alike (issue 15 asks for ``--help`` under 0.3 s; on this
machine Python alone starts in about 0.17 s).
"""

from __future__ import annotations

import subprocess
import sys

from tests.benchmarks.goals import ratio


def _start(*argv: str) -> None:
    subprocess.run([sys.executable, *argv], check=True, capture_output=True)


def test_bare_interpreter_start(benchmark):
    ratio(benchmark, "cli_help_start", "reference")
    benchmark.pedantic(_start, args=("-c", "pass"), rounds=15, warmup_rounds=2)


def test_cjsim_help_start(benchmark):
    ratio(benchmark, "cli_help_start", "subject")
    benchmark.pedantic(_start, args=("-m", "sim.cli", "--help"), rounds=15, warmup_rounds=2)
