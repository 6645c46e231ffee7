"""AsyncioRuntime: the engine's ``Runtime`` port on a real clock.

It offers exactly what ``sim.adapters.runtime.SimRuntime`` offers, and passes the same contract
suite (``tests/contracts/test_runtime_contract.py``). The one difference engine code can see is the
exception raised inside a cancelled task (``asyncio.CancelledError`` here, ``Cancelled`` in
simulation); both are ``BaseException``s, and engine code cleans up with ``finally``.

A spawned task that raises stops the run: its done-callback records the crash and cancels
``main``, and ``run`` raises ``TaskCrashed`` naming the task, as the simulation does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

from engine.ports import Event, Lock, QueueEmpty, QueueFull, TaskCancelled, TaskCrashed

__all__ = ["AsyncioRuntime"]

T = TypeVar("T")


class AsyncioTask(Generic[T]):
    __slots__ = ("_name", "_task")

    def __init__(self, task: asyncio.Task[T], name: str) -> None:
        self._task = task
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def cancel(self) -> None:
        self._task.cancel()

    def done(self) -> bool:
        return self._task.done()

    def cancelled(self) -> bool:
        return self._task.cancelled()

    async def join(self) -> T:
        try:
            return await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if self._task.cancelled():
                raise TaskCancelled(f"task {self._name!r} was cancelled") from None
            raise


class AsyncioQueue(Generic[T]):
    """``asyncio.Queue`` with the port's exceptions and a required bound."""

    __slots__ = ("_queue",)

    def __init__(self, maxsize: int) -> None:
        if not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"queue maxsize must be an int >= 1, got {maxsize!r}")
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize)

    @property
    def maxsize(self) -> int:
        return self._queue.maxsize

    def __len__(self) -> int:
        return self._queue.qsize()

    async def put(self, item: T) -> None:
        await self._queue.put(item)

    def put_nowait(self, item: T) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            raise QueueFull(f"queue is full ({self._queue.maxsize} items)") from None

    async def get(self) -> T:
        return await self._queue.get()

    def get_nowait(self) -> T:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            raise QueueEmpty("queue is empty") from None


class AsyncioRuntime:
    """The ``Runtime`` port on asyncio and the monotonic wall clock."""

    def __init__(self, *, origin_s: float = 0.0) -> None:
        # ``now()`` starts at ``origin_s``: a resumed run's clock continues where its last
        # session's event log stopped, so the run's times never go backwards.
        self._t0 = time.monotonic() - origin_s
        self._main: asyncio.Task[Any] | None = None
        self._crash: TaskCrashed | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def utcnow(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds!r} s)")
        await asyncio.sleep(seconds)

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> AsyncioTask[T]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)  # asyncio keeps only weak references to tasks
        task.add_done_callback(self._finished)
        return AsyncioTask(task, name)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None or self._crash is not None:
            return
        self._crash = TaskCrashed(task.get_name(), self.now(), error)
        self._crash.__cause__ = error
        if self._main is not None and task is not self._main:
            self._main.cancel()

    # asyncio's lock and event are the ports' Lock and Event; their signatures are spelled
    # differently (``__aexit__(exc_type, exc, tb)``), so the typing says so explicitly.
    def lock(self) -> Lock:
        return cast(Lock, asyncio.Lock())

    def queue(self, maxsize: int) -> AsyncioQueue[Any]:
        return AsyncioQueue(maxsize)

    def event(self) -> Event:
        return cast(Event, asyncio.Event())

    def run(self, main: Coroutine[Any, Any, T], *, until_s: float | None = None) -> T:
        """Run ``main`` on a fresh event loop and return its result (as ``SimRuntime.run``)."""
        return asyncio.run(self._run_main(main, until_s))

    async def _run_main(self, main: Coroutine[Any, Any, T], until_s: float | None) -> T:
        self._main = asyncio.current_task()
        self._crash = None
        try:
            if until_s is None:
                return await main
            return await asyncio.wait_for(main, timeout=max(0.0, until_s - self.now()))
        except asyncio.CancelledError:
            if self._crash is not None:
                raise self._crash from self._crash.error
            raise
        except TimeoutError:
            raise TimeoutError(f"main did not finish by t={until_s}s") from None
        except Exception as error:
            raise TaskCrashed("main", self.now(), error) from error
        finally:
            for task in list(self._tasks):
                task.cancel()
            self._main = None
