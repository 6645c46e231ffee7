"""What a sweep costs beyond its runs: ``cjsim sweep`` of the ENG5 regular batch over a few
seeds on a process pool, against the same runs done directly in one process.

The reference is what a run costs: ``run_scenario`` and ``build_report`` for each seed, the
scenario loaded once, here. The subject is ``sweep_command`` on ``ProcessPool(1)``: the same
runs in a worker forked for the sweep, plus everything the sweep adds (the worker's start and
its first parse of the scenario, shipping runs and rows between processes, the Parquet part,
the DuckDB view, reading the rows back, the bootstrap summary). Both do the runs one after
another, so their ratio is the overhead alone. The same sweep on ``ProcessPool(2)`` gives the
two-worker speed-up, shown as a figure: on a shared 2-core machine the neighbours decide it
more than the sweep does.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

from sim.commands.sweep_command import SweepRequest, sweep_command
from sim.harness.executors import ProcessPool
from sim.harness.runner import run_scenario
from sim.harness.scenario_file import load_scenario
from sim.reports.report import build_report
from sim.reports.sweep_results import read_rows
from tests.benchmarks.goals import judge
from tests.benchmarks.interleave import interleave
from tests.benchmarks.worlds import ENG5_REGULAR_24

RUNS = 12  # seeds 1..RUNS: half a second to a second each; a round of three sides ~15-30 s
SEEDS = range(1, RUNS + 1)
DIRECT, POOL_1, POOL_2 = "direct", "sweep on 1 worker", "sweep on 2 workers"


def _no_progress(items, total):
    return items


def test_sweep_overhead_on_a_process_pool(benchmark, tmp_path):
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        "name: bench_eng5_regular_24\n"
        f"scenarios: [{ENG5_REGULAR_24}]\n"
        f"seeds: {{first: {SEEDS[0]}, count: {RUNS}}}\n"
        "figures: [provider_calls, virtual_seconds]\n",
        encoding="utf-8",
    )
    folders = (tmp_path / f"sweep-{n}" for n in itertools.count())
    scenario = load_scenario(ENG5_REGULAR_24)

    def direct() -> dict[int, str]:
        fingerprints = {}
        for seed in SEEDS:
            outcome = run_scenario(scenario, seed=seed, base_dir=ENG5_REGULAR_24.parent)
            report = build_report(outcome)
            assert not [n for n, result in report["invariants"].items() if not result["ok"]]
            fingerprints[seed] = outcome.fingerprint
        return fingerprints

    def sweep(workers: int) -> Path:
        # A fresh folder each time: a folder that holds the sweep already would be resumed,
        # with nothing left to run.
        out = next(folders)
        request = SweepRequest(path=sweep_file, out=out, seeds=None)
        code = sweep_command(
            request, executor=ProcessPool(workers), out=io.StringIO(), progress=_no_progress
        )
        assert code == 0, f"cjsim sweep {sweep_file} --workers {workers}: exit {code}"
        return out

    sides = {DIRECT: direct, POOL_1: lambda: sweep(1), POOL_2: lambda: sweep(2)}
    rounds = interleave(benchmark, sides, rounds=5, warmup_rounds=1)

    # The sides did the same runs: each sweep's rows carry the direct runs' fingerprints.
    expected = rounds[-1].results[DIRECT]
    for side in (POOL_1, POOL_2):
        rows = read_rows(rounds[-1].results[side])
        assert {row["seed"]: row["fingerprint"] for row in rows} == expected, side

    direct_s = [r.seconds[DIRECT] for r in rounds]
    pool_1_s = [r.seconds[POOL_1] for r in rounds]
    pool_2_s = [r.seconds[POOL_2] for r in rounds]
    judge(
        benchmark,
        "sweep_overhead_process_pool",
        [d / s for d, s in zip(direct_s, pool_1_s, strict=True)],
        figures={
            f"{DIRECT} ms": [s * 1e3 for s in direct_s],
            f"{POOL_1} ms": [s * 1e3 for s in pool_1_s],
            "overhead ms/run": [
                (s - d) / RUNS * 1e3 for d, s in zip(direct_s, pool_1_s, strict=True)
            ],
            f"{POOL_2} ms": [s * 1e3 for s in pool_2_s],
            "2-worker speed-up x": [one / two for one, two in zip(pool_1_s, pool_2_s, strict=True)],
        },
    )
