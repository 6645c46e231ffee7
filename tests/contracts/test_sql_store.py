"""What SqlStore promises beyond the Store contract: schema on first use, URLs and reachability,
values that survive the database, and SQLite's write lock."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from engine.live.runtime import AsyncioRuntime
from engine.ports import TaskCrashed
from engine.store.errors import (
    DeadlockDetected,
    LockTimeout,
    StoreMisuse,
    StoreUnavailable,
    WriteConflict,
)
from engine.store.rows import Row, table
from engine.store.sql import SqlStore, sqlite_url
from tests.contracts.rows import Counter, Numbered, Pair


@table("contract_tagged", key="name")
@dataclass(frozen=True, slots=True, kw_only=True)
class Tagged(Row):
    name: str
    tags: set[str]  # no column type for a set


@table("contract_stamps", key="name")
@dataclass(frozen=True, slots=True, kw_only=True)
class Stamp(Row):
    name: str
    at: datetime


async def table_names(store):
    async with store.engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: {
                name: [index["name"] for index in sa.inspect(sync).get_indexes(name)]
                for name in sa.inspect(sync).get_table_names()
            }
        )


def test_tables_are_created_by_their_first_write_or_lock_with_their_indexes(sql_store_impl):
    async def main(runtime, store):
        seen = [await table_names(store)]
        async with store.transaction() as tx:  # plain reads answer as if the table were empty
            reads = await tx.get(Counter, "c"), await tx.select(Counter), await tx.count(Counter)
        seen.append(await table_names(store))
        async with store.transaction() as tx:
            await tx.get(Counter, "c", for_update=True)
        seen.append(await table_names(store))
        async with store.transaction() as tx:
            await tx.insert(Pair(correlation_id="p1", batch_id=3))
        seen.append(await table_names(store))
        return reads, seen, await store.snapshot(Pair)

    reads, seen, pairs = sql_store_impl.run(main)
    assert reads == (None, [], 0)
    assert seen == [
        {},
        {},
        {"contract_counters": []},
        {"contract_counters": [], "contract_pairs": ["ix_contract_pairs_batch_id"]},
    ]
    assert pairs == [Pair(correlation_id="p1", batch_id=3)]


def test_stores_creating_the_same_table_at_once_all_succeed(sql_store_impl):
    async def main(runtime, first):
        stores = [first, sql_store_impl.make_store(runtime), sql_store_impl.make_store(runtime)]

        async def insert(store, i):
            async with store.transaction() as tx:
                await tx.insert(Counter(name=f"c{i:02d}", value=i))

        try:
            tasks = [
                runtime.spawn(insert(store, i * len(stores) + n), name=f"insert-{n}-{i}")
                for i in range(4)
                for n, store in enumerate(stores)
            ]
            for task in tasks:
                await task.join()
            return await first.snapshot(Counter)
        finally:
            for store in stores[1:]:
                await store.close()

    assert [counter.value for counter in sql_store_impl.run(main)] == list(range(12))


def test_stores_sharing_a_database_allocate_distinct_keys_from_the_first_use_on(sql_store_impl):
    """Three stores stand for three processes starting at once on a new database: they race to
    create the key counter (PostgreSQL's sequence, SQLite's counter table) and to draw from it."""

    async def main(runtime, first):
        stores = [first, sql_store_impl.make_store(runtime), sql_store_impl.make_store(runtime)]

        async def allocate(store, label):
            async with store.transaction() as tx:
                number = await tx.allocate_key(Numbered)
                await tx.insert(Numbered(number=number, label=label))

        try:
            tasks = [
                runtime.spawn(allocate(store, f"{n}-{i}"), name=f"allocate-{n}-{i}")
                for i in range(4)
                for n, store in enumerate(stores)
            ]
            for task in tasks:
                await task.join()
            return await first.snapshot(Numbered)
        finally:
            for store in stores[1:]:
                await store.close()

    rows = sql_store_impl.run(main)
    assert [row.number for row in rows] == list(range(1, 13))
    assert len({row.label for row in rows}) == 12


def test_a_second_store_on_the_same_database_sees_committed_rows(sql_store_impl):
    async def main(runtime, first):
        second = sql_store_impl.make_store(runtime)
        try:
            async with first.transaction() as tx:
                await tx.insert(Counter(name="c", value=1))
                async with second.transaction() as other:
                    uncommitted = await other.get(Counter, "c")
            async with second.transaction() as other:
                committed = await other.get(Counter, "c")
            return uncommitted, committed
        finally:
            await second.close()

    assert sql_store_impl.run(main) == (None, Counter(name="c", value=1))


def test_snapshot_returns_committed_rows_in_code_point_order(sql_store_impl):
    names = ["b", "B", "a", "é", "ab", "Z", "a b", "10", "9"]

    async def main(runtime, store):
        async with store.transaction() as tx:
            for value, name in enumerate(names):
                await tx.insert(Counter(name=name, value=value))
        async with store.transaction() as tx:
            await tx.insert(Counter(name="uncommitted", value=-1))
            return await store.snapshot(Counter)

    snapshot = sql_store_impl.run(main)
    assert [counter.name for counter in snapshot] == sorted(names)


def test_datetimes_come_back_as_the_same_instant_in_utc_and_naive_ones_are_refused(
    sql_store_impl,
):
    local = datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))

    async def main(runtime, store):
        async with store.transaction() as tx:
            await tx.insert(Stamp(name="local", at=local))
        async with store.transaction() as tx:
            stamp = await tx.get(Stamp, "local")
            by_instant = await tx.select(Stamp, at=local.astimezone(UTC))
        async with store.transaction() as tx:
            await tx.insert(Stamp(name="naive", at=datetime(2024, 5, 1, 12)))
        return stamp, by_instant

    with pytest.raises(TaskCrashed) as caught:
        sql_store_impl.run(main)
    assert isinstance(caught.value.__cause__, StoreMisuse)
    assert "naive datetime" in str(caught.value)

    async def read(runtime, store):
        async with store.transaction() as tx:
            return await tx.get(Stamp, "local"), await tx.select(Stamp, at=local)

    stamp, by_instant = sql_store_impl.run(read)
    assert stamp.at == local
    assert stamp.at.tzinfo is UTC
    assert by_instant == [stamp]


def test_a_field_type_with_no_column_type_is_refused_by_name(sql_store_impl):
    async def main(runtime, store):
        async with store.transaction() as tx:
            await tx.insert(Tagged(name="t", tags={"x"}))

    with pytest.raises(TaskCrashed) as caught:
        sql_store_impl.run(main)
    assert isinstance(caught.value.__cause__, TypeError)
    assert "Tagged.tags" in str(caught.value)


def test_plain_urls_get_the_asyncio_drivers_and_printing_masks_the_password(tmp_path):
    sqlite_store = SqlStore(f"sqlite:///{tmp_path / 'x.db'}")
    postgres_store = SqlStore("postgresql://cjsim:s3cret@db.example:5432/cj")
    assert sqlite_store.engine.url.drivername == "sqlite+aiosqlite"
    assert postgres_store.engine.url.drivername == "postgresql+asyncpg"
    assert postgres_store.url == "postgresql+asyncpg://cjsim:***@db.example:5432/cj"
    assert sqlite_url(tmp_path / "x.db") == f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    for url in ("sqlite://", "sqlite:///:memory:", "mysql://u@h/db"):
        with pytest.raises(ValueError, match="SqlStore"):
            SqlStore(url)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"postgresql://cjsim:s3cret-pw@127.0.0.1:{_free_port()}/cj", id="postgres"),
        pytest.param("sqlite:////nonexistent-directory/cjsim/store.db", id="sqlite"),
    ],
)
def test_an_unreachable_database_is_store_unavailable_naming_it_without_the_password(url):
    async def main():
        errors = []
        try:
            await SqlStore.connect(url)
        except StoreUnavailable as error:
            errors.append(error)
        store = SqlStore(url)  # not checked on creation: at the first statement instead
        try:
            async with store.transaction() as tx:
                await tx.get(Counter, "c")
        except StoreUnavailable as error:
            errors.append(error)
        finally:
            await store.close()
        # aiosqlite stops the worker thread of a connection that failed to open without waiting
        # for it; the thread must not find the event loop closed when it reports back.
        await runtime.sleep(0.05)
        return errors

    runtime = AsyncioRuntime()
    errors = runtime.run(main())
    assert len(errors) == 2
    for error in errors:
        message = str(error)
        assert "\n" not in message
        assert message.startswith("cannot reach the database at ")
        assert sa.make_url(url).render_as_string(hide_password=True).split("://")[1] in message
        assert "s3cret" not in message


def test_sqlite_write_lock_wait_beyond_the_busy_timeout_is_a_lock_timeout_not_a_deadlock(
    tmp_path,
):
    """Two stores on one file stand for two processes: they share only SQLite's lock."""
    url = sqlite_url(tmp_path / "store.db")

    async def main(runtime):
        first = SqlStore(url, runtime=runtime)
        second = SqlStore(url, runtime=runtime, busy_timeout_s=0.2)
        try:
            async with first.transaction() as tx:
                await tx.insert(Counter(name="c", value=0))
            async with first.transaction() as holder:
                await holder.get(Counter, "c", for_update=True)
                start = runtime.now()
                with pytest.raises(LockTimeout, match=r"waited 0\.2 s") as caught:
                    async with second.transaction() as waiter:
                        await waiter.get(Counter, "c", for_update=True)
                assert not isinstance(caught.value, DeadlockDetected)
                assert "deadlock" not in str(caught.value).lower()
                waited = runtime.now() - start
                async with second.transaction() as reader:  # a plain read never waits
                    value = (await reader.get(Counter, "c")).value
            return waited, value
        finally:
            await first.close()
            await second.close()

    runtime = AsyncioRuntime()
    waited, value = runtime.run(main(runtime))
    assert 0.2 <= waited < 2
    assert value == 0


def test_sqlite_reader_that_locks_after_a_newer_commit_is_a_write_conflict(tmp_path):
    url = sqlite_url(tmp_path / "store.db")

    async def main(runtime):
        store = SqlStore(url, runtime=runtime)
        try:
            async with store.transaction() as tx:
                await tx.insert(Counter(name="c", value=0))
            async with store.transaction() as reader:
                seen = (await reader.get(Counter, "c")).value  # the snapshot starts here
                async with store.transaction() as writer:
                    await writer.update(Counter(name="c", value=5))
                repeat = (await reader.get(Counter, "c")).value  # the same snapshot
                with pytest.raises(WriteConflict, match="must roll back") as caught:
                    await reader.get(Counter, "c", for_update=True)
                assert not isinstance(caught.value, DeadlockDetected)
            async with store.transaction() as tx:
                latest = (await tx.get(Counter, "c", for_update=True)).value
            return seen, repeat, latest
        finally:
            await store.close()

    runtime = AsyncioRuntime()
    assert runtime.run(main(runtime)) == (0, 0, 5)
