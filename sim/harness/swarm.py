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
- a worker process that dies breaks the whole pool (``BrokenProcessPool``) and every seed in
  flight with it. Seeds are submitted a few per worker at a time, so at most that many are
  suspects: each suspect is rerun alone in a fresh one-worker pool, the one that kills it again
  is reported as a crashed seed (``WorkerDied``), and the swarm carries on in a new pool.

Judging is the same in both modes: a seed held when nothing broke. Without ``--legacy`` the
command fails on any seed that did not hold; with ``--legacy`` the swarm is a measurement of the
original system (how many seeds broke each invariant), and only a harness error fails it.
Shrinking is in ``sim.harness.swarm_shrink``.

Workers are forked from a fork server, not from this process, with BLAS pinned to one thread
(``OPENBLAS_NUM_THREADS`` and friends in the server's environment, unless the caller set them;
a server that something else started earlier keeps its own). On a busy 2-core machine a threaded
solve of a 100-essay fit runs 30x slower, and a child forked from this process would inherit the
threaded library it has already loaded. The server imports the harness once, so a worker, or a
fresh pool after a worker died, starts in milliseconds.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import forkserver, get_context
from pathlib import Path
from typing import Any

from sim.harness.runner import run_scenario
from sim.harness.scenario import Scenario
from sim.harness.scenario_file import load_scenario
from sim.harness.swarm_result import SeedResult, crashed, worker_died
from sim.harness.swarm_variant import swarm_variant
from sim.reports.report import build_report

__all__ = ["SeedRunner", "judge", "run_seed", "swarm_seeds"]

IN_FLIGHT_PER_WORKER = 2  # seeds submitted ahead per worker: the suspects when a worker dies
SINGLE_THREADED_BLAS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

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
) -> list[SeedResult]:
    """Every seed's result, sorted by seed. With ``workers <= 1`` the seeds run in this process;
    otherwise in a pool of spawned workers. Nothing a seed does escapes as an exception."""
    seed_list = list(seeds)
    args = (str(path), legacy, overrides)
    if workers <= 1:
        results: Iterable[SeedResult] = (_in_process(run, args, seed) for seed in seed_list)
    else:
        results = _in_pool(run, args, seed_list, workers)
    return sorted(progress(results, len(seed_list)), key=lambda r: r.seed)


def _in_process(run: SeedRunner, args: tuple[str, bool, tuple[str, ...]], seed: int) -> SeedResult:
    path, legacy, overrides = args
    try:
        return run(path, seed, legacy, overrides)
    except Exception as exc:
        return crashed(seed, exc)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    context = get_context("forkserver")
    # The server starts once per process and imports the harness once, with BLAS pinned in its
    # environment (not in ours); each worker is then a cheap fork of it, a fresh pool after a
    # worker died included.
    context.set_forkserver_preload(["sim.harness.swarm"])
    saved = {name: os.environ.get(name) for name in SINGLE_THREADED_BLAS}
    try:
        for name, value in saved.items():
            os.environ[name] = value or "1"
        forkserver.ensure_running()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _in_pool(
    run: SeedRunner, args: tuple[str, bool, tuple[str, ...]], seeds: list[int], workers: int
) -> Iterator[SeedResult]:
    path, legacy, overrides = args
    queue = deque(seeds)
    while queue:
        suspects: list[int] = []
        with _new_pool(workers) as pool:
            in_flight: dict[Future[SeedResult], int] = {}
            while queue or in_flight:
                while queue and len(in_flight) < workers * IN_FLIGHT_PER_WORKER:
                    seed = queue.popleft()
                    in_flight[pool.submit(run, path, seed, legacy, overrides)] = seed
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=in_flight.__getitem__):
                    seed = in_flight.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        suspects.append(seed)
                    except Exception as exc:
                        yield crashed(seed, exc)
                if suspects:
                    # The pool is broken: every seed still in flight is lost with it.
                    suspects += in_flight.values()
                    break
        for seed in sorted(suspects):
            yield _alone(run, path, seed, legacy, overrides)


def _alone(
    run: SeedRunner, path: str, seed: int, legacy: bool, overrides: tuple[str, ...]
) -> SeedResult:
    """Rerun a seed that was in flight when a worker died, in a pool of its own."""
    with _new_pool(1) as pool:
        try:
            return pool.submit(run, path, seed, legacy, overrides).result()
        except BrokenProcessPool:
            return worker_died(seed)
        except Exception as exc:
            return crashed(seed, exc)
