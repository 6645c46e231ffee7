"""``cjsim swarm``: many seeds, each a fault storm of its own, judged, counted and shrunk.

Theory of operation. Each seed runs the scenario's storm variant (``sim.harness.swarm_variant``) in
a worker process and comes back as a ``SeedResult``: which invariants broke (names read from the
report, never listed here) or, if the run raised, ``broken == ("crash",)`` with the exception's
message. A crash is a failure like any other, and no crash escapes a worker:

- ``run_seed`` catches everything the run raises inside the worker. ``TaskCrashed`` (a task of
  the engine raised) and ``SimulationStalled`` (every task blocked, nothing scheduled) are the
  engine's crashes; anything else, and a variant that cannot be built, is the harness's own
  error (``harness_error``), which even a legacy swarm must not shrug off;
- an exception that still reaches the parent through a future is recorded the same way;
- a worker process that dies is the executor's to handle (``sim.harness.executors``): its seed
  is reported as a crashed seed (``WorkerDied``) and the swarm carries on.

Judging is the same in both modes: a seed held when nothing broke. Without ``--legacy`` the
command fails on any seed that did not hold; with ``--legacy`` the swarm is a measurement of the
original system (how many seeds broke each invariant), and only a harness error fails it.
Shrinking is in ``sim.harness.swarm_shrink``.

Seeds run on the executors the sweep uses (``sim.harness.executors``): this process, a local
pool of fork-server workers with BLAS on one thread (the default), or a Dask cluster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sim.harness.executors import Executor, executor_for
from sim.harness.runner import run_scenario
from sim.harness.scenario import Scenario
from sim.harness.scenario_file import load_scenario
from sim.harness.swarm_result import SeedResult, crashed, worker_died
from sim.harness.swarm_variant import swarm_variant
from sim.reports.report import build_report

__all__ = ["SeedRunner", "judge", "run_seed", "swarm_seeds"]

#: What a pool runs per seed: ``(scenario path, seed, legacy, overrides) -> SeedResult``. It must
#: be a module-level function (a spawned worker imports it by name).
SeedRunner = Callable[[str, int, bool, tuple[str, ...]], SeedResult]


def judge(scenario: Scenario, seed: int, legacy: bool, *, base_dir: Path | None) -> SeedResult:
    """Run ``scenario`` once and say what broke; a run that raises is a crashed seed."""
    try:
        outcome = run_scenario(scenario, seed=seed, legacy=legacy, base_dir=base_dir)
        invariants = build_report(outcome)["invariants"]
    except Exception as exc:
        return crashed(seed, exc)
    broken = tuple(sorted(name for name, result in invariants.items() if not result["ok"]))
    problems = tuple(f"invariant {name} failed: {invariants[name]['detail']}" for name in broken)
    return SeedResult(seed, not broken, broken, problems, outcome.fingerprint)


def run_seed(path: str, seed: int, legacy: bool, overrides: tuple[str, ...]) -> SeedResult:
    """One swarm seed (runs in a worker process); never raises."""
    try:
        scenario = swarm_variant(load_scenario(Path(path), overrides=list(overrides)), seed)
    except Exception as exc:
        return crashed(seed, exc)
    return judge(scenario, seed, legacy, base_dir=Path(path).parent)


def swarm_seeds(
    path: Path,
    seeds: Iterable[int],
    *,
    workers: int,
    legacy: bool,
    overrides: tuple[str, ...],
    progress: Callable[[Iterable[Any], int], Iterable[Any]],
    run: SeedRunner = run_seed,
    executor: Executor | None = None,
) -> list[SeedResult]:
    """Every seed's result, sorted by seed, from ``executor`` (default: ``workers`` processes,
    or this process alone for one). Nothing a seed does escapes as an exception."""
    seed_list = list(seeds)
    executor = executor or executor_for(workers=workers, dask=None)
    work = functools.partial(_seed_task, run, str(path), legacy, overrides)
    results = (
        result for _, result in executor.run(work, seed_list, failed=_seed_failed, key_of=_seed_key)
    )
    return sorted(progress(results, len(seed_list)), key=lambda r: r.seed)


def _seed_task(
    run: SeedRunner, path: str, legacy: bool, overrides: tuple[str, ...], seed: int
) -> SeedResult:
    return run(path, seed, legacy, overrides)


def _seed_failed(seed: int, error: BaseException | None) -> SeedResult:
    return worker_died(seed) if error is None else crashed(seed, error)


def _seed_key(seed: int) -> str:
    return f"seed-{seed}"
