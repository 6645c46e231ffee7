"""Where many runs run: in this process, on a local process pool, or on a Dask cluster.

Theory of operation. An executor takes a module-level function ``work(task) -> result``, which
should turn its own failures into a result, and ``failed(task, error) -> result`` for a task
that raised anyway (``error`` is the exception) or whose worker died under it (``error`` is
``None``): nothing a task does escapes as an exception. ``run`` yields ``(task, result)`` pairs as
they finish, in any order, each task exactly once. The swarm and the sweep use the same three:

- ``InProcess``: one task after another, here (debugging, a debugger's breakpoints work);
- ``ProcessPool`` (the default): worker processes forked from a fork server that imported the
  harness once, with BLAS pinned to one thread. A worker that dies breaks the whole pool and
  every task in flight with it; tasks are submitted a few per worker at a time, so at most
  that many are suspects. Each suspect runs again alone in a fresh one-worker pool: the one
  that kills it again has ``failed``, and the rest carry on in a new pool;
- ``DaskCluster`` (``sim.harness.dask_executor``, the ``cjsim[dask]`` extra): a Dask
  distributed cluster, which reschedules the tasks of a worker it loses.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import forkserver, get_context
from typing import Any, Protocol, TypeVar

__all__ = [
    "Executor",
    "InProcess",
    "ProcessPool",
    "executor_for",
]

T = TypeVar("T")
R = TypeVar("R")

IN_FLIGHT_PER_WORKER = 2  # tasks submitted ahead per worker: the suspects when a worker dies
SINGLE_THREADED_BLAS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: The module a pool's fork server imports once, so that a worker starts in milliseconds.
PRELOAD = "sim.harness.swarm"


class Executor(Protocol):
    """Runs ``work`` over ``tasks``; yields ``(task, result)`` as each finishes, each once."""

    def run(
        self,
        work: Callable[[T], R],
        tasks: Iterable[T],
        *,
        failed: Callable[[T, BaseException | None], R],
        key_of: Callable[[T], str],
    ) -> Iterator[tuple[T, R]]: ...


@dataclass(frozen=True, slots=True)
class InProcess:
    """One task at a time, in this process."""

    def run(
        self,
        work: Callable[[T], R],
        tasks: Iterable[T],
        *,
        failed: Callable[[T, BaseException | None], R],
        key_of: Callable[[T], str],
    ) -> Iterator[tuple[T, R]]:
        for task in tasks:
            try:
                result = work(task)
            except Exception as exc:
                result = failed(task, exc)
            yield task, result


@dataclass(frozen=True, slots=True)
class ProcessPool:
    """Worker processes on this machine (see the module docstring for a worker that dies)."""

    workers: int

    def run(
        self,
        work: Callable[[T], R],
        tasks: Iterable[T],
        *,
        failed: Callable[[T, BaseException | None], R],
        key_of: Callable[[T], str],
    ) -> Iterator[tuple[T, R]]:
        queue = deque(tasks)
        while queue:
            suspects: list[T] = []
            with _new_pool(self.workers) as pool:
                in_flight: dict[Future[R], tuple[int, T]] = {}
                order = 0
                broken = False
                while queue or in_flight:
                    while queue and len(in_flight) < self.workers * IN_FLIGHT_PER_WORKER:
                        task = queue.popleft()
                        try:
                            future = pool.submit(work, task)
                        except BrokenProcessPool:
                            # A worker died after the last wait: the pool takes nothing more.
                            # This task never started, so it goes back in line; the ones in
                            # flight finish below (the dead one's future fails) and the rest
                            # are run again as suspects.
                            queue.appendleft(task)
                            broken = True
                            break
                        in_flight[future] = (order, task)
                        order += 1
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in sorted(done, key=lambda f: in_flight[f][0]):
                        _, task = in_flight.pop(future)
                        try:
                            result = future.result()
                        except BrokenProcessPool:
                            suspects.append(task)
                            continue
                        except Exception as exc:
                            result = failed(task, exc)
                        yield task, result
                    if suspects or broken:
                        # The pool is broken: every task still in flight is lost with it.
                        suspects += [task for _, task in sorted(in_flight.values(), key=_first)]
                        break
            for task in suspects:
                yield task, _alone(work, task, failed)


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


def _alone(work: Callable[[T], R], task: T, failed: Callable[[T, BaseException | None], R]) -> R:
    """Run again a task that was in flight when a worker died, in a pool of its own."""
    with _new_pool(1) as pool:
        try:
            return pool.submit(work, task).result()
        except BrokenProcessPool:
            return failed(task, None)
        except Exception as exc:
            return failed(task, exc)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    context = get_context("forkserver")
    # The server starts once per process and imports the harness once, with BLAS pinned in its
    # environment (not in ours); each worker is then a cheap fork of it, a fresh pool after a
    # worker died included.
    context.set_forkserver_preload([PRELOAD])
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


def executor_for(*, workers: int, dask: str | None) -> Executor:
    """The executor the command line asks for: Dask when given, else a pool of ``workers``
    processes, or this process alone for one worker."""
    if dask is not None:
        from sim.harness.dask_executor import DaskCluster

        return DaskCluster(dask)
    if workers <= 1:
        return InProcess()
    return ProcessPool(workers)
