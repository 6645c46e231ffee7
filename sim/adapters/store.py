"""SimStore: an in-memory transactional row store in virtual time.

Theory of operation. Committed rows live in one dict per table. A transaction keeps its own
writes in a buffer and reads through it (read committed: committed rows plus its own writes);
``commit`` applies the buffer in one step, so other transactions see all of it or none of it.

Row locks behave as PostgreSQL's do under read committed: ``get(..., for_update=True)`` and every
write take the row's exclusive lock and hold it until commit or rollback; a second transaction
asking for a held lock waits, first come first served, and on release the lock passes straight
to the longest waiter. A locking read returns the latest committed row *after* the wait. So a
read-increment-write without ``for_update`` really loses updates here, and with it none are
lost. A lock request that would close a wait-for cycle raises ``DeadlockDetected`` in the
requester, naming the cycle.

``allocate_key`` draws from one counter per table, as a PostgreSQL sequence does: atomically,
outside any transaction (a rolled-back allocation leaves a gap), starting above the largest key
committed when the table's first allocation runs.

Every statement first sleeps its latency on the runtime clock, which is also where concurrent
transactions interleave, as they do at a real database's round trips. A statement with zero
latency completes without yielding: that models an in-process store (the LPS queue's Redis
stand-in), whose operations are atomic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.ports import Event, Runtime
from engine.store.errors import (
    DeadlockDetected,
    DuplicateKey,
    RowNotFound,
    StoreMisuse,
)
from engine.store.rows import Row, TableSpec, key_of, require_int_key

__all__ = ["SimStore", "SimTx", "StoreStats"]

R = TypeVar("R", bound=Row)
RowId = tuple[str, Any]  # (table name, primary key)


class _Deleted:
    def __repr__(self) -> str:
        return "<deleted>"


_DELETED = _Deleted()


@dataclass(slots=True)
class StoreStats:
    """What the store did, for reports and tests."""

    transactions: int = 0
    commits: int = 0
    rollbacks: int = 0
    statements: int = 0
    lock_waits: int = 0
    deadlocks: int = 0


class _Table:
    """Committed rows of one table, with equality indexes: on the declared columns from the
    start, and on any other column from the first ``select`` that filters on it (built then
    from the committed rows and kept up to date by every commit from then on). The lazy ones
    are this store's own business, as a database's planner's choices are: a batch's pairs share
    one ``cj_batch_id``, so without them every ``outstanding_pairs`` read every pair of the
    batch, at every wake of every wave's watchdog (issue 15). A column holding a value that
    cannot be hashed is never indexed lazily, and is scanned as before."""

    __slots__ = ("declared", "indexes", "ordered", "rows", "spec", "unindexable")

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.rows: dict[Any, Row] = {}
        self.indexes: dict[str, dict[Any, set[Any]]] = {column: {} for column in spec.indexes}
        self.declared = frozenset(spec.indexes)
        self.unindexable: set[str] = set()
        # The keys of declared-index buckets that a select read whole, sorted, with keys added
        # since at the end: a batch's pairs are read whole at every wave, and sorting them all
        # again each time was most of that read. Removing a key forgets its bucket's list.
        self.ordered: dict[tuple[str, Any], _OrderedKeys] = {}

    def put(self, key: Any, row: Row | _Deleted) -> None:
        old = self.rows.get(key)
        if isinstance(row, _Deleted):
            if old is not None:
                for column, index in self.indexes.items():
                    previous = getattr(old, column)
                    index[previous].discard(key)
                    if self.ordered:
                        self.ordered.pop((column, previous), None)
                del self.rows[key]
            return
        self.rows[key] = row
        dropped = None
        for column, index in self.indexes.items():
            value = getattr(row, column)
            if old is not None:
                previous = getattr(old, column)
                if previous == value:
                    continue  # most updates leave the indexed column alone
                index[previous].discard(key)
                if self.ordered:
                    self.ordered.pop((column, previous), None)
            try:
                index.setdefault(value, set()).add(key)
            except TypeError:
                if column in self.declared:
                    raise
                dropped = [*(dropped or ()), column]
                continue
            if self.ordered:
                ordered = self.ordered.get((column, value))
                if ordered is not None:
                    ordered.keys.append(key)
                    ordered.tail = True
        for column in dropped or ():
            del self.indexes[column]
            self.unindexable.add(column)

    def index_on(self, column: str) -> dict[Any, set[Any]] | None:
        """The equality index on ``column``, built now if there is none yet (None: a value in
        the column cannot be hashed)."""
        index = self.indexes.get(column)
        if index is not None or column in self.unindexable:
            return index
        index = {}
        try:
            for key, row in self.rows.items():
                index.setdefault(getattr(row, column), set()).add(key)
        except TypeError:
            self.unindexable.add(column)
            return None
        self.indexes[column] = index
        return index

    def sorted_keys(self, column: str, value: object) -> list[Any]:
        """The keys in a declared index's bucket, sorted (not to be changed by the caller)."""
        ordered = self.ordered.get((column, value))
        if ordered is None:
            keys = sorted(self.indexes[column].get(value, ()))
            ordered = self.ordered[(column, value)] = _OrderedKeys(keys)
        elif ordered.tail:
            ordered.keys.sort()  # a sorted run and a short tail: about one pass
            ordered.tail = False
        return ordered.keys

    def candidate_keys(self, equals: dict[str, object]) -> tuple[list[Any], bool]:
        """Keys of the committed rows that may match ``equals``, from the smallest index bucket
        among its columns, and whether they all match for sure (one condition, on a declared
        index). Every key of a matching row is among them."""
        best: AbstractSet[Any] | None = None
        for column, value in equals.items():
            index = self.index_on(column)
            if index is None:
                continue
            try:
                bucket = index.get(value, _NO_KEYS)
            except TypeError:  # an unhashable value asked for: no bucket can answer
                continue
            if best is None or len(bucket) < len(best):
                best = bucket
        if best is None:
            return list(self.rows), False
        exact = len(equals) == 1 and next(iter(equals)) in self.declared
        return list(best), exact


_NO_KEYS: frozenset[Any] = frozenset()


class _OrderedKeys:
    __slots__ = ("keys", "tail")

    def __init__(self, keys: list[Any]) -> None:
        self.keys = keys  # sorted, but for keys appended since (``tail``)
        self.tail = False


class SimStore:
    """The ``Store`` port in memory, with read-committed isolation and row locks.

    ``statement_latency_s`` is a constant or a zero-argument callable (for example a draw from
    a named random stream) giving each statement's latency in seconds.
    """

    def __init__(
        self, runtime: Runtime, *, statement_latency_s: float | Callable[[], float] = 0.0
    ) -> None:
        self._runtime = runtime
        self._latency = (
            statement_latency_s
            if callable(statement_latency_s)
            else _constant(float(statement_latency_s))
        )
        self._tables: dict[str, _Table] = {}
        # Who holds each locked row, and (only while someone waits) the queue of waiters: most
        # locks are never contended, so a free lock costs one dict entry and nothing else.
        self._holders: dict[RowId, SimTx] = {}
        self._waiters: dict[RowId, deque[tuple[SimTx, Event]]] = {}
        self._waiting_for: dict[SimTx, RowId] = {}
        self._last_keys: dict[str, int] = {}  # per table: the last key allocate_key handed out
        self._next_tx_id = 1
        self.stats = StoreStats()

    def transaction(self) -> SimTx:
        tx = SimTx(self, self._next_tx_id)
        self._next_tx_id += 1
        self.stats.transactions += 1
        return tx

    def snapshot(self, kind: type[R]) -> list[R]:
        """Committed rows of a table, ordered by key, read outside any transaction."""
        table = self._tables.get(kind.__table__.name)
        if table is None:
            return []
        return [table.rows[key] for key in sorted(table.rows)]  # type: ignore[misc]

    # -- internals used by SimTx ---------------------------------------------------------------

    def _table(self, spec: TableSpec) -> _Table:
        table = self._tables.get(spec.name)
        if table is None:
            table = self._tables[spec.name] = _Table(spec)
        return table

    def _allocate_key(self, spec: TableSpec) -> int:
        last = self._last_keys.get(spec.name)
        if last is None:
            last = max(self._table(spec).rows, default=0)
        self._last_keys[spec.name] = last + 1
        return last + 1

    def _try_acquire(self, tx: SimTx, row_id: RowId) -> bool:
        """Take a free lock (or see that ``tx`` holds it) without waiting; False if held."""
        holder = self._holders.get(row_id)
        if holder is None:
            self._holders[row_id] = tx
            tx._held.append(row_id)
            return True
        return holder is tx

    async def _wait_for_lock(self, tx: SimTx, row_id: RowId) -> None:
        """Queue for a lock another transaction holds (``_try_acquire`` said no)."""
        self._check_deadlock(tx, row_id, self._holders[row_id])
        granted = self._runtime.event()
        waiters = self._waiters.setdefault(row_id, deque())
        waiters.append((tx, granted))
        self._waiting_for[tx] = row_id
        self.stats.lock_waits += 1
        try:
            await granted.wait()
        finally:
            self._waiting_for.pop(tx, None)
            if not granted.is_set():
                waiters.remove((tx, granted))
                if not waiters and self._waiters.get(row_id) is waiters:
                    del self._waiters[row_id]

    def _check_deadlock(self, tx: SimTx, row_id: RowId, holder: SimTx) -> None:
        chain = [f"tx {tx.id} wants {_describe(row_id)} held by tx {holder.id}"]
        current = holder
        visited = {tx.id}
        while current in self._waiting_for:
            assert current.id not in visited, "wait-for cycle that the requester is not in"
            visited.add(current.id)
            wanted = self._waiting_for[current]
            next_holder = self._holders[wanted]
            chain.append(
                f"tx {current.id} waits for {_describe(wanted)} held by tx {next_holder.id}"
            )
            if next_holder is tx:
                self.stats.deadlocks += 1
                raise DeadlockDetected("deadlock detected: " + "; ".join(chain))
            current = next_holder

    def _release_all(self, tx: SimTx) -> None:
        for row_id in tx._held:
            waiters = self._waiters.get(row_id)
            if waiters:
                next_tx, granted = waiters.popleft()
                if not waiters:
                    del self._waiters[row_id]
                self._holders[row_id] = next_tx
                next_tx._held.append(row_id)
                # It holds the lock from now on, though it resumes only later: it must not look
                # like a waiter to a deadlock check made in between.
                self._waiting_for.pop(next_tx, None)
                granted.set()
            else:
                del self._holders[row_id]
        tx._held.clear()


class SimTx:
    """One transaction of a ``SimStore``, and its own context manager: ``async with
    store.transaction() as tx`` commits on success and rolls back on any exception. (A plain
    class: ``contextlib.asynccontextmanager`` costs a generator per transaction.)"""

    __slots__ = ("_held", "_store", "_writes", "id", "open")

    def __init__(self, store: SimStore, tx_id: int) -> None:
        self._store = store
        self.id = tx_id
        self.open = True
        self._writes: dict[RowId, Row | _Deleted] = {}
        self._held: list[RowId] = []

    async def __aenter__(self) -> SimTx:
        return self

    async def __aexit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is not None:
            self._abort()
        elif self.open:
            await self.commit()

    async def get(self, kind: type[R], key: object, *, for_update: bool = False) -> R | None:
        spec = self._begin(kind)
        wait = self._round_trip((spec.name, key) if for_update else None)
        if wait is not None:
            await wait
        return self._visible(spec, key)  # type: ignore[return-value]

    async def insert(self, row: Row) -> None:
        spec = self._begin(type(row))
        key = key_of(row)
        wait = self._round_trip((spec.name, key))
        if wait is not None:
            await wait
        if self._visible(spec, key) is not None:
            raise DuplicateKey(f"{spec.name}: a row with {spec.key}={key!r} already exists")
        self._writes[(spec.name, key)] = row

    async def update(self, row: Row) -> None:
        spec = self._begin(type(row))
        key = key_of(row)
        wait = self._round_trip((spec.name, key))
        if wait is not None:
            await wait
        if self._visible(spec, key) is None:
            raise RowNotFound(f"{spec.name}: no row with {spec.key}={key!r} to update")
        self._writes[(spec.name, key)] = row

    async def delete(self, kind: type[Row], key: object) -> None:
        spec = self._begin(kind)
        wait = self._round_trip((spec.name, key))
        if wait is not None:
            await wait
        if self._visible(spec, key) is None:
            raise RowNotFound(f"{spec.name}: no row with {spec.key}={key!r} to delete")
        self._writes[(spec.name, key)] = _DELETED

    async def allocate_key(self, kind: type[Row]) -> int:
        spec = self._begin(kind)
        require_int_key(kind)
        wait = self._round_trip(None)
        if wait is not None:
            await wait
        return self._store._allocate_key(spec)

    async def select(self, kind: type[R], **equals: object) -> list[R]:
        spec = self._begin(kind)
        _check_columns(spec, equals)
        wait = self._round_trip(None)
        if wait is not None:
            await wait
        table = self._store._table(spec)
        committed = table.rows
        own = [(k, w) for (name, k), w in self._writes.items() if name == spec.name]
        if not own and len(equals) == 1:
            ((column, value),) = equals.items()
            if column in table.declared:
                # The declared index answers the one condition: no row needs checking.
                try:
                    keys = table.sorted_keys(column, value)
                except TypeError:  # an unhashable value asked for: scanned below
                    pass
                else:
                    return [committed[key] for key in keys]  # type: ignore[misc]
        keys, exact = table.candidate_keys(equals)
        if not own:
            # Committed rows only (the usual read): sort the keys, then fetch each row once.
            keys.sort()
            return [row for key in keys if _matches(row := committed[key], equals)]  # type: ignore[misc]
        rows: dict[Any, Row] = {}
        for key in keys:
            row = committed[key]
            if exact or _matches(row, equals):
                rows[key] = row
        for key, written in own:
            if isinstance(written, _Deleted) or not _matches(written, equals):
                rows.pop(key, None)
            else:
                rows[key] = written
        return [rows[key] for key in sorted(rows)]  # type: ignore[misc]

    async def count(self, kind: type[Row], **equals: object) -> int:
        return len(await self.select(kind, **equals))

    async def commit(self) -> None:
        self._require_open()
        wait = self._round_trip(None)
        if wait is not None:
            await wait
        tables = self._store._tables
        for (table_name, key), written in self._writes.items():
            tables[table_name].put(key, written)
        self._writes.clear()
        self.open = False
        self._store.stats.commits += 1
        self._store._release_all(self)

    async def rollback(self) -> None:
        self._require_open()
        self._abort()

    def _abort(self) -> None:
        if not self.open:
            return
        self._writes.clear()
        self.open = False
        self._store.stats.rollbacks += 1
        self._store._release_all(self)

    def _begin(self, kind: type[Row]) -> TableSpec:
        if not self.open:
            self._require_open()
        spec = getattr(kind, "__table__", None)
        if not isinstance(spec, TableSpec):
            raise StoreMisuse(f"{kind!r} is not a table (declare it with engine.store.rows.table)")
        if spec.name not in self._store._tables:
            self._store._table(spec)  # every table a transaction touches exists from then on
        return spec

    def _round_trip(self, row_id: RowId | None) -> Awaitable[None] | None:
        """Count one statement and take ``row_id``'s lock, if one is named. Returns None when
        both are done at once (no latency, a free lock), else what to await: the statement's
        latency first, then the lock. Creating and awaiting a coroutine for every statement was
        a measurable share of a run."""
        store = self._store
        store.stats.statements += 1
        latency = store._latency()
        if latency:
            return self._after_latency(latency, row_id)
        if row_id is None or store._try_acquire(self, row_id):
            return None
        return store._wait_for_lock(self, row_id)

    async def _after_latency(self, latency: float, row_id: RowId | None) -> None:
        await self._store._runtime.sleep(latency)
        if row_id is not None and not self._store._try_acquire(self, row_id):
            await self._store._wait_for_lock(self, row_id)

    def _require_open(self) -> None:
        if not self.open:
            raise StoreMisuse(f"transaction {self.id} is already committed or rolled back")

    def _visible(self, spec: TableSpec, key: object) -> Row | None:
        written = self._writes.get((spec.name, key))
        if written is not None:
            return None if isinstance(written, _Deleted) else written
        return self._store._tables[spec.name].rows.get(key)


def _matches(row: Row, equals: dict[str, object]) -> bool:
    return all(getattr(row, column) == value for column, value in equals.items())


def _check_columns(spec: TableSpec, equals: dict[str, object]) -> None:
    for column in equals:
        if column not in spec.columns:
            raise StoreMisuse(f"table {spec.name!r} has no column {column!r}")


def _describe(row_id: RowId) -> str:
    return f"{row_id[0]}[{row_id[1]!r}]"


def _constant(value: float) -> Callable[[], float]:
    if value < 0:
        raise ValueError(f"statement latency must be >= 0 s, got {value}")
    return lambda: value
