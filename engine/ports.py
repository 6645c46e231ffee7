"""The seams between the engine and the world.

Engine code is plain ``async def`` functions and classes that receive these ports. It never
imports ``asyncio``, ``simpy``, ``time``, ``random`` or ``uuid4``: time, concurrency, storage,
messaging, model calls and the record of what happened all come through here, so the same
engine runs in virtual time (``sim.adapters.runtime.SimRuntime``, ``sim.adapters.store.SimStore``)
and live (``engine.live.runtime.AsyncioRuntime``, ``engine.store.sql.SqlStore``).

Every port has at least two implementations and one contract test suite that runs against all
of them (``tests/contracts/``).
"""

from __future__ import annotations

import pickle
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from engine.contracts import LLMComparisonRequest
    from engine.eventlog import LogRecord
    from engine.lps.calls import ProviderCall, ProviderVerdict
    from engine.store.rows import Row

__all__ = [
    "Bus",
    "Cancelled",
    "ComparisonQueueFull",
    "ComparisonSink",
    "Event",
    "EventLog",
    "Lock",
    "Provider",
    "Queue",
    "QueueEmpty",
    "QueueFull",
    "Runtime",
    "Store",
    "SubmissionRejected",
    "Task",
    "TaskCancelled",
    "TaskCrashed",
    "Tx",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
R = TypeVar("R", bound="Row")
Handler = Callable[[Any], Awaitable[None]]


# --------------------------------------------------------------------------------------------
# Runtime
# --------------------------------------------------------------------------------------------


class Cancelled(BaseException):
    """Raised inside a task, at the ``await`` where ``Task.cancel()`` reached it.

    It is a ``BaseException`` (as ``asyncio.CancelledError`` is) so that an engine loop's
    ``except Exception`` never swallows a cancellation. The asyncio runtime raises
    ``asyncio.CancelledError`` instead; engine code cleans up with ``finally``, not by catching.
    """


class TaskCancelled(Exception):
    """``await task.join()`` on a task that was cancelled."""


class TaskCrashed(Exception):
    """A spawned task raised. The whole run fails with this error, which names the task.

    Failures are never silently ignored: an engine task handles the errors it expects, and
    anything else stops the run loudly, with the original exception as ``__cause__``.
    """

    def __init__(self, task_name: str, at_s: float, error: BaseException) -> None:
        super().__init__(
            f"task {task_name!r} crashed at t={at_s:.6f}s: {type(error).__name__}: {error}"
        )
        self.task_name = task_name
        self.at_s = at_s
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the constructor's three arguments (``Exception`` would pass only the
        message, which ``__init__`` cannot take), so a crash crosses a process pool intact. An
        original error that does not round-trip through pickle crosses as a ``RuntimeError``
        naming its type and message, and the crash keeps its own message."""
        try:
            pickle.loads(pickle.dumps(self.error))
        except Exception:
            error = RuntimeError(f"{type(self.error).__name__}: {self.error}")
            return (_task_crashed, (self.task_name, self.at_s, error, str(self)))
        return (type(self), (self.task_name, self.at_s, self.error))


def _task_crashed(task_name: str, at_s: float, error: BaseException, message: str) -> TaskCrashed:
    """A ``TaskCrashed`` whose message is given (its original error did not pickle)."""
    crash = TaskCrashed(task_name, at_s, error)
    crash.args = (message,)
    return crash


class QueueFull(Exception):
    """``put_nowait`` on a queue that holds ``maxsize`` items."""


class QueueEmpty(Exception):
    """``get_nowait`` on an empty queue."""


class Task(Protocol[T_co]):
    """A running coroutine started by ``Runtime.spawn``."""

    @property
    def name(self) -> str: ...

    def cancel(self) -> None:
        """Ask the task to stop at its next ``await``; a no-op once it is done."""

    def done(self) -> bool: ...

    def cancelled(self) -> bool: ...

    async def join(self) -> T_co:
        """Wait for the task; return its result, or raise ``TaskCancelled`` if it was cancelled."""
        ...


class Lock(Protocol):
    """A mutual-exclusion lock, granted first come, first served. Use as ``async with lock:``."""

    async def __aenter__(self) -> None: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    def locked(self) -> bool: ...


class Queue(Protocol[T]):
    """A bounded FIFO queue. ``put`` waits while full, ``get`` waits while empty."""

    @property
    def maxsize(self) -> int: ...

    async def put(self, item: T) -> None: ...

    def put_nowait(self, item: T) -> None:
        """Add an item or raise ``QueueFull``."""

    async def get(self) -> T: ...

    def get_nowait(self) -> T:
        """Take an item or raise ``QueueEmpty``."""
        ...

    def __len__(self) -> int: ...


class Event(Protocol):
    """A one-shot flag that tasks can wait on."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...

    async def wait(self) -> None: ...


class Runtime(Protocol):
    """Time and concurrency. The only clock and the only scheduler the engine knows.

    Times are seconds as floats. ``now()`` starts at 0 when the runtime is created and never
    goes backwards; ``utcnow()`` is the wall-calendar time the engine stamps on records
    (the scenario epoch plus virtual time in simulation).
    """

    def now(self) -> float:
        """Seconds since the runtime started (virtual in simulation)."""
        ...

    def utcnow(self) -> datetime:
        """Timezone-aware UTC datetime for timestamps that leave the engine."""
        ...

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Suspend the calling task for ``seconds`` (>= 0). Call it only to await it."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> Task[T]:
        """Start ``coro`` as a concurrent task. If it raises, the run fails with ``TaskCrashed``."""
        ...

    def lock(self) -> Lock: ...

    def queue(self, maxsize: int) -> Queue[Any]:
        """A new FIFO queue bounded at ``maxsize`` (>= 1) items; there is no unbounded queue."""
        ...

    def event(self) -> Event: ...


# --------------------------------------------------------------------------------------------
# Store
# --------------------------------------------------------------------------------------------


class Tx(Protocol):
    """One database transaction with read-committed isolation.

    Reads see committed rows plus this transaction's own writes; writes become visible to others
    at ``commit``. A write, or a read with ``for_update=True``, takes the row's lock, which is held
    until commit or rollback; a second transaction asking for it waits. A wait that would close a
    cycle raises ``engine.store.errors.DeadlockDetected``; every store error that means "roll back
    and run the transaction again" is an ``engine.store.errors.TransactionAborted``. Rows are
    frozen dataclasses declared with ``engine.store.rows.table``; results of ``select`` come back
    ordered by primary key.
    """

    async def get(self, kind: type[R], key: object, *, for_update: bool = False) -> R | None: ...

    async def insert(self, row: Row) -> None:
        """Add a new row; ``DuplicateKey`` if its key exists."""

    async def update(self, row: Row) -> None:
        """Replace an existing row by key; ``RowNotFound`` if there is none."""

    async def delete(self, kind: type[Row], key: object) -> None:
        """Remove a row by key; ``RowNotFound`` if there is none."""

    async def allocate_key(self, kind: type[Row]) -> int:
        """A new integer primary key for ``kind``'s table, allocated atomically: no two calls get
        the same key, however many transactions, stores or processes share the database. On
        PostgreSQL and in the simulated store it takes no lock and waits for no one; on SQLite it
        takes the database write lock, which the transaction needs anyway to insert the row.
        Keys increase in the order they are allocated, starting above the largest key the table
        held at its first allocation (so a database written before keys were allocated goes on
        from where it was).

        A key allocated by a transaction that rolls back is skipped (PostgreSQL's sequences and
        the simulated store never hand one back) or handed out again (SQLite's counter rolls
        back with the transaction): callers must not expect keys without gaps, nor give the
        table keys of their own. ``StoreMisuse`` if the table's key is not an ``int``.
        """
        ...

    async def select(self, kind: type[R], **equals: object) -> list[R]:
        """Rows whose named columns equal the given values, ordered by key."""
        ...

    async def count(self, kind: type[Row], **equals: object) -> int: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class Store(Protocol):
    """A transactional row store.

    ``async with store.transaction() as tx:`` commits when the block ends normally and rolls
    back when it raises.
    """

    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...


# --------------------------------------------------------------------------------------------
# Bus
# --------------------------------------------------------------------------------------------


class Bus(Protocol):
    """Topic-addressed messaging between the CJ and LPS sides (Kafka in the original).

    Delivery is at least once: a handler may see a message twice, late, or out of order, and
    must be idempotent. Each subscription runs at most ``concurrency`` handler calls at once.
    """

    async def publish(self, topic: str, message: object) -> None: ...

    def subscribe(self, topic: str, handler: Handler, *, concurrency: int) -> None: ...


# --------------------------------------------------------------------------------------------
# ComparisonSink (CJ -> LPS)
# --------------------------------------------------------------------------------------------


class SubmissionRejected(Exception):
    """LPS would not take a request (its queue is full, or the request is invalid)."""


class ComparisonQueueFull(SubmissionRejected):
    """LPS's queue has no room now; the same request may be offered again when it has (the
    original answered such a request 503 and CJ recorded the comparison as failed)."""


class ComparisonSink(Protocol):
    """Where CJ hands comparison requests to LPS: the original's ``POST /api/v1/comparison``,
    which answered 202 and queued. ``submit`` returns once the request is queued; the outcome
    arrives later as exactly one callback on the request's ``callback_topic``. Raises
    ``SubmissionRejected`` when the request was not queued (no callback will come), and its
    ``ComparisonQueueFull`` when only room was missing."""

    async def submit(self, request: LLMComparisonRequest) -> None: ...


# --------------------------------------------------------------------------------------------
# Provider
# --------------------------------------------------------------------------------------------


class Provider(Protocol):
    """One LLM comparison call.

    ``compare`` returns a verdict or raises ``engine.lps.errors.ProviderError`` carrying a
    classified ``ErrorDetail``; an implementation translates every failure of the layer below it
    (SDK exceptions, HTTP statuses, truncated or unparseable answers) before it crosses this
    seam. It never retries: the engine owns retries, on its own clock.
    """

    @property
    def name(self) -> str: ...

    async def compare(self, call: ProviderCall) -> ProviderVerdict: ...


# --------------------------------------------------------------------------------------------
# EventLog
# --------------------------------------------------------------------------------------------


class EventLog(Protocol):
    """The run's truth: one typed record per meaningful step, in order.

    Analysis, invariants and the run's fingerprint are computed from it. Field values must be
    JSON values (str, int, float, bool, None, lists and string-keyed dicts of them).
    """

    def append(
        self, kind: str, /, *, ids: Mapping[str, str | int] | None = None, **fields: Any
    ) -> LogRecord: ...

    def records(self) -> Sequence[LogRecord]: ...

    def fingerprint(self) -> str:
        """Hex sha256 of the canonical encoding of every record so far."""
        ...
