"""SqlStore: the ``Store`` port on a SQL database, through SQLAlchemy's asyncio engine.

Theory of operation. Each row type is one table, built from its ``@table`` declaration and its
dataclass type hints (``engine.store.sql_tables``). The first write or locking read of a row
type creates its table (``CREATE TABLE IF NOT EXISTS``, one creator at a time across stores
and processes), so there is no migration step; until then a plain read answers as if the table
were empty. A transaction is one pooled connection, taken at its first statement and given back
at commit or rollback; the pool lets ``max_transactions`` (64) transactions run at once.

PostgreSQL (``postgresql+asyncpg://``) gives the port's semantics as ``engine.ports.Tx`` states
them: READ COMMITTED, ``for_update`` is ``SELECT ... FOR UPDATE``, writes take row locks, and the
server's deadlock detector (SQLSTATE 40P01) raises ``DeadlockDetected`` in its victim. A
read-increment-write without ``for_update`` loses updates there, as it does in ``SimStore``. One
difference: PostgreSQL cannot lock a key that has no row, so ``get(..., for_update=True)`` of a
missing key locks nothing.

SQLite (``sqlite+aiosqlite:///file.db``, the embedded default, in WAL mode) has no row locks,
only one write lock for the whole database, so its semantics are stronger:

* A transaction whose first statement writes or locks begins with ``BEGIN IMMEDIATE``: it takes
  the write lock and holds it to commit or rollback. Locking transactions therefore run one at a
  time, and a locking read returns the latest committed row.
* A transaction whose first statement is a plain read begins with ``BEGIN`` and reads one
  snapshot, taken then (repeatable read: stronger than read committed), never waiting. If it
  later writes or locks, SQLite upgrades it to the write lock only if no other transaction holds
  that lock or has committed since the snapshot; otherwise the statement fails at once with
  ``WriteConflict``, and the transaction must roll back. So an unlocked read-increment-write
  serialises or fails; it never silently loses an update. A transaction that will write should
  therefore make its first statement a write or a locking read: it then waits its turn instead.
* Two transactions can never each hold a lock the other wants, so there are no deadlocks.
  Given the ``runtime``, the store's own transactions queue for the write lock first come first
  served, as long as it takes (as PostgreSQL's row-lock waits do); SQLite itself only polls for
  it. A wait in SQLite (for another store or process) longer than ``busy_timeout_s`` raises
  ``LockTimeout``.

Allocated keys (``allocate_key``): on PostgreSQL a sequence per table, ``cjsim_keys_<table>``,
created on first use (starting above the table's largest key) and drawn with ``nextval``, which
takes no lock and is never rolled back. (Not the ``<table>_<key>_seq`` that PostgreSQL makes for
an integer key column: rows are inserted with their keys, so that one never moves, and in a
database written before keys were allocated it stands far below the largest key.) On SQLite a
row per table in ``cjsim_key_sequences``, incremented (or created, seeded the same way) by one
upsert under the write lock, and rolled back with its transaction.

Values: ``str`` is TEXT (collation "C" on PostgreSQL, so ``ORDER BY`` is code-point order on both,
as Python sorts), ``int`` BIGINT, ``float`` DOUBLE, ``bool`` BOOLEAN, ``datetime`` a timestamp
with time zone (SQLite stores naive UTC; either way it comes back aware, in UTC, and naive ones
are refused), an enum its value, a mapping or pydantic model JSON; ``X | None`` is nullable.

A store belongs to the event loop it is first used on: ``await store.close()`` before that
loop ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateSequence

from engine.ports import Lock, Runtime
from engine.store.errors import (
    DeadlockDetected,
    DuplicateKey,
    LockTimeout,
    RowNotFound,
    StoreError,
    StoreMisuse,
    StoreUnavailable,
    WriteConflict,
)
from engine.store.rows import Row, require_int_key, table
from engine.store.sql_tables import TableMap, table_map

__all__ = ["SqlStore", "SqlTx", "sqlite_url", "store_url_problem"]

R = TypeVar("R", bound=Row)

MAX_TRANSACTIONS = 64
# Connections beyond the transactions' own: schema creation and snapshots while every
# transaction holds one.
_SPARE_CONNECTIONS = 4
# pg_advisory_xact_lock key ("cjsim"): creators of tables take turns, across processes, so that
# concurrent CREATE TABLE IF NOT EXISTS cannot collide in the catalog.
_SCHEMA_LOCK = 0x636A73696D
_SQLITE_BUSY = 5  # primary result code; BUSY_SNAPSHOT (517) is an extended form of it
_WAL_ATTEMPTS = 1000
_PG_DEADLOCK = "40P01"
_PG_SERIALIZATION_FAILURE = "40001"
_PG_LOCK_NOT_AVAILABLE = "55P03"
_PG_UNIQUE_VIOLATION = "23505"


@table("cjsim_key_sequences", key="table_name")
@dataclass(frozen=True, slots=True, kw_only=True)
class _KeySequence(Row):
    """SQLite: the last key ``allocate_key`` handed out for a table."""

    table_name: str
    last_key: int


def sqlite_url(path: str | PathLike[str]) -> str:
    """The store URL of a SQLite database file (created on first use; its directory must exist)."""
    return f"sqlite+aiosqlite:///{Path(path).resolve()}"


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


class SqlStore:
    """The ``Store`` port on SQLite or PostgreSQL.

    ``url`` is a SQLAlchemy URL: ``sqlite:///path.db`` or ``postgresql://user:pw@host/db`` (the
    asyncio drivers, aiosqlite and asyncpg, are chosen whatever the URL names). Nothing is
    connected until the first transaction; ``await SqlStore.connect(url)`` also checks that the
    database answers. ``connect_args`` go to the driver (for example asyncpg's
    ``server_settings``).
    """

    def __init__(
        self,
        url: str | sa.URL,
        *,
        runtime: Runtime | None = None,
        max_transactions: int = MAX_TRANSACTIONS,
        busy_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        pool_timeout_s: float = 30.0,
        connect_args: Mapping[str, Any] | None = None,
    ) -> None:
        if max_transactions < 1:
            raise ValueError(f"max_transactions must be >= 1, got {max_transactions}")
        self._url = _async_url(url)
        self._password = self._url.password or ""
        self.sqlite = self._url.get_backend_name() == "sqlite"
        self.busy_timeout_s = busy_timeout_s
        self.max_transactions = max_transactions
        self.pool_timeout_s = pool_timeout_s
        pool = {
            "pool_size": max_transactions,
            "max_overflow": _SPARE_CONNECTIONS,
            "pool_timeout": pool_timeout_s,
        }
        if self.sqlite:
            # The driver must not begin transactions itself: SqlTx chooses BEGIN or BEGIN
            # IMMEDIATE at the first statement. ``timeout`` is SQLite's busy timeout.
            driver_args = {"isolation_level": None, "timeout": busy_timeout_s}
            self._engine = create_async_engine(
                self._url, connect_args={**driver_args, **(connect_args or {})}, **pool
            )
            event.listen(self._engine.sync_engine, "connect", _sqlite_on_connect)
        else:
            self._engine = create_async_engine(
                self._url,
                isolation_level="READ COMMITTED",
                connect_args={"timeout": connect_timeout_s, **(connect_args or {})},
                **pool,
            )
        # SQLite: transactions of this store queue for the write lock here, first come first
        # served, rather than poll for it in SQLite's busy handler (sleeps of up to 100 ms).
        self._write_lock = runtime.lock() if self.sqlite and runtime is not None else None
        # Tables and sequences known to exist (their creation is committed).
        self._ready: set[str] = set()
        self._next_tx_id = 1

    @classmethod
    async def connect(cls, url: str | sa.URL, **options: Any) -> SqlStore:
        """A store on ``url`` whose database has answered; ``StoreUnavailable`` if it does not."""
        store = cls(url, **options)
        try:
            await store.ping()
        except BaseException:
            await store.close()
            raise
        return store

    @property
    def url(self) -> str:
        """The database URL with any password masked: safe to print."""
        return self._url.render_as_string(hide_password=True)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    def transaction(self) -> _Transaction:
        tx = SqlTx(self, self._next_tx_id)
        self._next_tx_id += 1
        return _Transaction(tx)

    async def ping(self) -> None:
        """Run ``SELECT 1``; ``StoreUnavailable`` if the database cannot be reached."""
        async with self.transaction() as tx:
            await tx._execute(await tx._connection(), sa.text("SELECT 1"))

    async def snapshot(self, kind: type[R]) -> list[R]:
        """Committed rows of a table, ordered by key (for end-of-run reports)."""
        async with self.transaction() as tx:
            return await tx.select(kind)

    async def close(self) -> None:
        """Close every pooled connection. Transactions still open keep theirs until they end."""
        await self._engine.dispose()

    # -- internals used by SqlTx ---------------------------------------------------------------

    async def _checkout(self) -> AsyncConnection:
        try:
            return await self._engine.connect()
        except sa_exc.TimeoutError:
            raise StoreUnavailable(
                f"no free connection to {self.url} within {self.pool_timeout_s:g} s"
                f" (more than {self.max_transactions + _SPARE_CONNECTIONS} connections in use)"
            ) from None
        except (sa_exc.SQLAlchemyError, OSError, TimeoutError) as error:
            raise StoreUnavailable(
                f"cannot reach the database at {self.url}: {self._reason(error)}"
            ) from error

    async def _table_exists(self, conn: AsyncConnection, table: TableMap) -> bool:
        """PostgreSQL: whether ``table`` exists, asking the catalog without taking a lock (so a
        new store need not wait for writers). Its indexes were created with it, atomically."""
        found = await self._exists(conn, table.name)
        if found:
            self._ready.add(table.name)
        return found

    async def _create_table(self, conn: AsyncConnection, table: TableMap) -> None:
        """PostgreSQL: create ``table`` on ``conn`` and commit, before the transaction that will
        use it takes any lock. (SQLite creates tables inside the transaction that holds the
        write lock.)"""
        await self._run(conn, sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
        for ddl in table.ddl:
            await self._run(conn, ddl)
        await self._run_commit(conn)
        self._ready.add(table.name)

    async def _create_table_apart(self, table: TableMap) -> None:
        conn = await self._checkout()
        try:
            await self._create_table(conn, table)
        finally:
            await conn.close()

    async def _key_sequence(self, table: TableMap) -> sa.Sequence:
        """PostgreSQL: the sequence ``allocate_key`` draws ``table``'s keys from, created on the
        side (this transaction may hold locks) if it does not exist yet, to start above the
        largest key the table holds. Creators take turns under the schema lock, so only the
        first one seeds it."""
        sequence = sa.Sequence(f"cjsim_keys_{table.name}")
        if sequence.name in self._ready:
            return sequence
        conn = await self._checkout()
        try:
            await self._run(conn, sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
            if not await self._exists(conn, sequence.name):
                start = 1
                if await self._exists(conn, table.name):
                    largest = sa.select(sa.func.coalesce(sa.func.max(table.key), 0))
                    start += int((await self._run(conn, largest)).scalar_one())
                seeded = sa.Sequence(sequence.name, start=start, data_type=sa.BigInteger())
                await self._run(conn, CreateSequence(seeded, if_not_exists=True))
            await self._run_commit(conn)
        finally:
            await conn.close()
        self._ready.add(sequence.name)
        return sequence

    async def _exists(self, conn: AsyncConnection, name: str) -> bool:
        """PostgreSQL: whether a table or sequence of that name is on the search path."""
        query = sa.text("SELECT 1 WHERE to_regclass(quote_ident(:name)) IS NOT NULL")
        return (await self._run(conn, query, {"name": name})).first() is not None

    async def _run(
        self,
        conn: AsyncConnection,
        statement: sa.Executable,
        params: Mapping[str, Any] | None = None,
        *,
        busy: Callable[[], StoreError] | None = None,
    ) -> sa.CursorResult[Any]:
        try:
            return await conn.execute(statement, params)
        except sa_exc.SQLAlchemyError as error:
            translated = self._translate(error, busy)
            if translated is None:
                raise
            raise translated from error

    async def _run_commit(self, conn: AsyncConnection) -> None:
        try:
            await conn.commit()
        except sa_exc.SQLAlchemyError as error:
            translated = self._translate(error, None)
            if translated is None:
                raise
            raise translated from error

    def _translate(
        self, error: sa_exc.SQLAlchemyError, busy: Callable[[], StoreError] | None
    ) -> StoreError | None:
        """The store error a database error means, or None to let it propagate as it is."""
        if isinstance(error, sa_exc.TimeoutError):
            return StoreUnavailable(f"no free connection to {self.url}")
        if not isinstance(error, sa_exc.DBAPIError):
            return None
        if error.connection_invalidated:
            return StoreUnavailable(f"lost the connection to {self.url}: {self._reason(error)}")
        orig = error.orig
        sqlstate = getattr(orig, "sqlstate", None)
        if sqlstate == _PG_DEADLOCK:
            detail = " ".join((getattr(orig, "detail", None) or "").split())
            return DeadlockDetected(f"deadlock detected: {detail}".rstrip(": "))
        if sqlstate == _PG_SERIALIZATION_FAILURE:
            return WriteConflict(f"serialization failure: {self._reason(error)}")
        if sqlstate == _PG_LOCK_NOT_AVAILABLE:
            return LockTimeout(f"lock not available: {self._reason(error)}")
        if sqlstate == _PG_UNIQUE_VIOLATION:
            return DuplicateKey(self._reason(error))
        if isinstance(sqlstate, str) and sqlstate.startswith(("08", "57P")):
            return StoreUnavailable(f"database at {self.url} unavailable: {self._reason(error)}")
        code = getattr(orig, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == _SQLITE_BUSY:
            return busy() if busy is not None else self._busy_waiting()
        return None

    def _busy_waiting(self) -> StoreError:
        return LockTimeout(
            f"waited {self.busy_timeout_s:g} s for the SQLite write lock, which another"
            " connection (another store or process) held all that time; the transaction must"
            " roll back (raise busy_timeout_s to wait longer)"
        )

    def _reason(self, error: BaseException) -> str:
        """The error's first line, with the password masked."""
        cause = error.orig if isinstance(error, sa_exc.DBAPIError) else error
        lines = str(cause).strip().splitlines() or [type(cause).__name__]
        reason = lines[0]
        return reason.replace(self._password, "***") if self._password else reason


def store_url_problem(url: str) -> str | None:
    """Why ``SqlStore`` cannot store in ``url`` (not a URL, another database, SQLite in
    memory); ``None`` when it can. Says nothing of whether the database answers."""
    try:
        _async_url(url)
    except sa.exc.ArgumentError:
        return "not a database URL (sqlite:///path/to/file.db or postgresql://user@host/db)"
    except ValueError as exc:
        return str(exc).replace("SqlStore", "cjsim")
    return None


def _async_url(url: str | sa.URL) -> sa.URL:
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        return parsed.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        memory = parsed.database in (None, "", ":memory:") or "memory" in str(parsed.query)
        if memory:
            raise ValueError(
                "SqlStore needs a SQLite database file: an in-memory database belongs to one"
                " connection, and each transaction has its own"
            )
        return parsed.set(drivername="sqlite+aiosqlite")
    raise ValueError(f"SqlStore supports sqlite and postgresql URLs, not {backend!r}")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers see a snapshot and never wait for the writer. NORMAL synchronisation is
    # durable against a crash of the process; a power cut may lose the last commits.
    cursor = dbapi_connection.cursor()
    try:
        for attempt in range(1, _WAL_ATTEMPTS + 1):
            try:
                cursor.execute("PRAGMA journal_mode")
                if cursor.fetchone()[0] != "wal":
                    cursor.execute("PRAGMA journal_mode=WAL")
                break
            except Exception as error:
                # Connections that open a new database at once can get SQLITE_BUSY here
                # without any busy wait; the switch they race for takes moments.
                code = getattr(error, "sqlite_errorcode", 0)
                if code & 0xFF != _SQLITE_BUSY or attempt == _WAL_ATTEMPTS:
                    raise
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class _Transaction:
    """``async with store.transaction() as tx``: commit on success, roll back on any exception."""

    __slots__ = ("_tx",)

    def __init__(self, tx: SqlTx) -> None:
        self._tx = tx

    async def __aenter__(self) -> SqlTx:
        return self._tx

    async def __aexit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is not None:
            await self._tx._abort(quietly=True)
        elif self._tx.open:
            await self._tx.commit()


class SqlTx:
    """One transaction of a ``SqlStore``: one connection from its first statement to its end."""

    # SQLite only: how far the transaction has begun (see the module docstring).
    NOT_BEGUN: ClassVar[int] = 0
    READING: ClassVar[int] = 1  # BEGIN: reads one snapshot, holds no lock
    WRITING: ClassVar[int] = 2  # holds the database write lock

    __slots__ = ("_conn", "_created", "_holds_write_lock", "_state", "_store", "id", "open")

    def __init__(self, store: SqlStore, tx_id: int) -> None:
        self._store = store
        self.id = tx_id
        self.open = True
        self._conn: AsyncConnection | None = None
        self._state = SqlTx.NOT_BEGUN
        self._holds_write_lock = False
        # SQLite tables this transaction created itself: they exist for others once it commits.
        self._created: set[str] = set()

    async def get(self, kind: type[R], key: object, *, for_update: bool = False) -> R | None:
        table = table_map(kind)
        conn = await self._prepare(table, lock=for_update)
        statement = sa.select(*table.selected).where(
            table.key == table.encode_value(table.spec.key, key)
        )
        if for_update and not self._store.sqlite:
            statement = statement.with_for_update()
        result = None if conn is None else await self._read(conn, statement)
        found = None if result is None else result.first()
        return None if found is None else table.decode(found)  # type: ignore[return-value]

    async def insert(self, row: Row) -> None:
        table = table_map(type(row))
        values = table.encode_row(row)
        conn = await self._writable(table)
        # ON CONFLICT DO NOTHING rather than catching the violation: a failed statement would
        # abort the whole PostgreSQL transaction, and a DuplicateKey must leave it usable.
        dialect_insert = sqlite.insert if self._store.sqlite else postgresql.insert
        statement = dialect_insert(table.table).on_conflict_do_nothing(index_elements=[table.key])
        result = await self._execute(conn, statement, values)
        if result.rowcount == 0:
            key = getattr(row, table.spec.key)
            raise DuplicateKey(f"{table.name}: a row with {table.spec.key}={key!r} already exists")

    async def update(self, row: Row) -> None:
        table = table_map(type(row))
        values = table.encode_row(row)
        key = values.pop(table.spec.key)
        conn = await self._writable(table)
        statement = sa.update(table.table).where(table.key == key).values(values)
        if (await self._execute(conn, statement)).rowcount == 0:
            raise RowNotFound(
                f"{table.name}: no row with {table.spec.key}={getattr(row, table.spec.key)!r}"
                " to update"
            )

    async def delete(self, kind: type[Row], key: object) -> None:
        table = table_map(kind)
        conn = await self._writable(table)
        statement = sa.delete(table.table).where(
            table.key == table.encode_value(table.spec.key, key)
        )
        if (await self._execute(conn, statement)).rowcount == 0:
            raise RowNotFound(f"{table.name}: no row with {table.spec.key}={key!r} to delete")

    async def allocate_key(self, kind: type[Row]) -> int:
        require_int_key(kind)
        table = table_map(kind)
        self._require_open()
        store = self._store
        if not store.sqlite:
            sequence = await store._key_sequence(table)
            conn = await self._connection()
            return int((await self._execute(conn, sa.select(sequence.next_value()))).scalar_one())
        # Under the write lock, with the table there to seed the counter from.
        await self._prepare(table, lock=True)
        counters = table_map(_KeySequence)
        conn = await self._writable(counters)
        last_key = counters.table.c.last_key
        first_key = sa.select(sa.func.coalesce(sa.func.max(table.key), 0) + 1).scalar_subquery()
        upsert = (
            sqlite.insert(counters.table)
            .values(table_name=table.name, last_key=first_key)
            .on_conflict_do_update(index_elements=[counters.key], set_={"last_key": last_key + 1})
            .returning(last_key)
        )
        return int((await self._execute(conn, upsert)).scalar_one())

    async def select(self, kind: type[R], **equals: object) -> list[R]:
        table = table_map(kind)
        self._require_open()
        conditions = table.where(equals)
        conn = await self._prepare(table, lock=False)
        statement = sa.select(*table.selected).where(*conditions).order_by(table.key)
        result = None if conn is None else await self._read(conn, statement)
        return [] if result is None else [table.decode(found) for found in result]  # type: ignore[misc]

    async def count(self, kind: type[Row], **equals: object) -> int:
        table = table_map(kind)
        self._require_open()
        conditions = table.where(equals)
        conn = await self._prepare(table, lock=False)
        statement = sa.select(sa.func.count()).select_from(table.table).where(*conditions)
        result = None if conn is None else await self._read(conn, statement)
        return 0 if result is None else int(result.scalar_one())

    async def commit(self) -> None:
        self._require_open()
        self.open = False
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                try:
                    await self._store._run_commit(conn)
                    self._store._ready.update(self._created)
                finally:
                    await conn.close()
        finally:
            await self._release_write_lock()

    async def rollback(self) -> None:
        self._require_open()
        await self._abort(quietly=False)

    async def _abort(self, *, quietly: bool) -> None:
        """Roll back. ``quietly`` when another exception is already on its way out: a failed
        rollback then only discards the connection, so that it cannot hide that exception."""
        if not self.open:
            return
        self.open = False
        self._created.clear()
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                try:
                    await conn.rollback()
                except sa_exc.SQLAlchemyError:
                    await conn.invalidate()
                    if not quietly:
                        raise
                finally:
                    await conn.close()
        finally:
            await self._release_write_lock()

    # -- statements ----------------------------------------------------------------------------

    def _require_open(self) -> None:
        if not self.open:
            raise StoreMisuse(f"transaction {self.id} is already committed or rolled back")

    async def _connection(self) -> AsyncConnection:
        self._require_open()
        if self._conn is None:
            self._conn = await self._store._checkout()
        return self._conn

    async def _prepare(self, table: TableMap, *, lock: bool) -> AsyncConnection | None:
        """This transaction's connection, ready for a statement on ``table``; on SQLite, begun,
        and holding the write lock if ``lock``. A write or locking read creates the table if it
        does not exist yet; a plain read gets None then (or, on SQLite, an error from the
        statement, caught by ``_read``), and answers as if the table were empty."""
        conn = await self._connection()
        store = self._store
        ready = table.name in store._ready or table.name in self._created
        if not store.sqlite:
            if not ready:
                began = conn.in_transaction()
                if not await store._table_exists(conn, table):
                    if not lock:
                        return None
                    if began:  # this transaction may hold locks: create it on the side
                        await store._create_table_apart(table)
                    else:
                        await store._create_table(conn, table)
            return conn
        if self._state == SqlTx.NOT_BEGUN:
            if lock:
                await self._begin_immediate(conn)
            else:
                await store._run(conn, sa.text("BEGIN"))
                self._state = SqlTx.READING
        elif self._state == SqlTx.READING and lock:
            await self._upgrade(conn, table)
        if self._state == SqlTx.WRITING and not (
            table.name in store._ready or table.name in self._created
        ):
            # Created inside this transaction, which holds the write lock (another connection
            # would wait for it); IF NOT EXISTS, since another store may have made it already.
            # Others see the table once this transaction commits.
            for ddl in table.ddl:
                await store._run(conn, ddl)
            self._created.add(table.name)
        return conn

    async def _writable(self, table: TableMap) -> AsyncConnection:
        conn = await self._prepare(table, lock=True)
        assert conn is not None  # a locking statement always gets its table
        return conn

    async def _begin_immediate(self, conn: AsyncConnection) -> None:
        store = self._store
        await self._take_write_lock(wait=True)
        await store._run(conn, sa.text("BEGIN IMMEDIATE"), busy=store._busy_waiting)
        self._state = SqlTx.WRITING

    async def _upgrade(self, conn: AsyncConnection, table: TableMap) -> None:
        """Take the SQLite write lock in a transaction that has been reading a snapshot, with a
        write that changes nothing. SQLite grants it only if no one holds it and nothing was
        committed since the snapshot; else it fails at once rather than wait."""
        store = self._store

        def conflict() -> StoreError:
            return WriteConflict(
                f"transaction {self.id} read a SQLite snapshot and then needed the write lock,"
                " which another transaction holds or used after the snapshot; it must roll back"
                " (lock with for_update before reading to wait instead)"
            )

        if not await self._take_write_lock(wait=False):
            raise conflict()
        try:
            no_op = sa.update(table.table).where(sa.false()).values({table.key: table.key})
            await store._run(conn, no_op, busy=conflict)
        except sa_exc.OperationalError as error:
            if not _no_such_table(error):
                raise
            # Absent from this snapshot: creating it is the write that takes the lock.
            for ddl in table.ddl:
                await store._run(conn, ddl, busy=conflict)
            self._created.add(table.name)
        self._state = SqlTx.WRITING

    async def _take_write_lock(self, *, wait: bool) -> bool:
        """Take this store's in-process write lock, if it has one; without ``wait``, only if no
        other transaction holds it (SQLite would refuse this one the database lock anyway)."""
        lock: Lock | None = self._store._write_lock
        if lock is None or self._holds_write_lock:
            return True
        if not wait and lock.locked():
            return False
        await lock.__aenter__()
        self._holds_write_lock = True
        return True

    async def _release_write_lock(self) -> None:
        lock = self._store._write_lock
        if lock is not None and self._holds_write_lock:
            self._holds_write_lock = False
            await lock.__aexit__(None, None, None)

    async def _execute(
        self,
        conn: AsyncConnection,
        statement: sa.Executable,
        params: Mapping[str, Any] | None = None,
    ) -> sa.CursorResult[Any]:
        return await self._store._run(conn, statement, params)

    async def _read(
        self, conn: AsyncConnection, statement: sa.Executable
    ) -> sa.CursorResult[Any] | None:
        """Run a read; None when a SQLite snapshot predates the table (it has no rows there)."""
        try:
            return await self._store._run(conn, statement)
        except sa_exc.OperationalError as error:
            if self._state == SqlTx.READING and _no_such_table(error):
                return None
            raise


def _no_such_table(error: sa_exc.DBAPIError) -> bool:
    return str(error.orig).startswith("no such table")
