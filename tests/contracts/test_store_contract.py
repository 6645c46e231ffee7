"""The Store port's contract: read-committed isolation, row locks, deadlock detection.

Run against every store implementation (the simulated store here; the SQL stores join later).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.ports import TaskCrashed
from engine.store.errors import DeadlockDetected, DuplicateKey, RowNotFound, StoreMisuse
from tests.contracts.rows import Counter, Pair

CONCURRENT_INCREMENTS = 32


async def seed(store, *rows):
    async with store.transaction() as tx:
        for row in rows:
            await tx.insert(row)


def test_committed_rows_are_visible_to_later_transactions(store_impl):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=1))
        async with store.transaction() as tx:
            return await tx.get(Counter, "c"), await tx.get(Counter, "missing")

    assert store_impl.run(main) == (Counter(name="c", value=1), None)


def test_uncommitted_writes_are_invisible_to_others_and_visible_to_self(store_impl):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=1))
        seen = {}
        writer_wrote = runtime.event()
        reader_read = runtime.event()

        async def writer():
            async with store.transaction() as tx:
                await tx.update(Counter(name="c", value=2))
                seen["writer_own"] = await tx.get(Counter, "c")
                writer_wrote.set()
                await reader_read.wait()

        async def reader():
            await writer_wrote.wait()
            async with store.transaction() as tx:
                seen["reader_before_commit"] = await tx.get(Counter, "c")
            reader_read.set()

        tasks = [runtime.spawn(writer(), name="writer"), runtime.spawn(reader(), name="reader")]
        for task in tasks:
            await task.join()
        async with store.transaction() as tx:
            seen["after_commit"] = await tx.get(Counter, "c")
        return seen

    seen = store_impl.run(main)
    assert seen["writer_own"].value == 2
    assert seen["reader_before_commit"].value == 1
    assert seen["after_commit"].value == 2


def test_an_exception_rolls_the_transaction_back(store_impl):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=1))

        async def failing_write():
            async with store.transaction() as tx:
                await tx.update(Counter(name="c", value=99))
                await tx.insert(Counter(name="d", value=0))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await failing_write()
        async with store.transaction() as tx:
            return await tx.get(Counter, "c"), await tx.get(Counter, "d")

    assert store_impl.run(main) == (Counter(name="c", value=1), None)


def test_explicit_rollback_discards_writes(store_impl):
    async def main(runtime, store):
        async with store.transaction() as tx:
            await tx.insert(Counter(name="c", value=1))
            await tx.rollback()
        async with store.transaction() as tx:
            return await tx.get(Counter, "c")

    assert store_impl.run(main) is None


def test_insert_of_an_existing_key_is_a_duplicate(store_impl):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=1))
        async with store.transaction() as tx:
            await tx.insert(Counter(name="c", value=2))

    with pytest.raises(TaskCrashed) as caught:
        store_impl.run(main)
    assert isinstance(caught.value.__cause__, DuplicateKey)
    assert "c" in str(caught.value)


@pytest.mark.parametrize("operation", ["update", "delete"])
def test_update_or_delete_of_a_missing_key_is_row_not_found(store_impl, operation):
    async def main(runtime, store):
        async with store.transaction() as tx:
            if operation == "update":
                await tx.update(Counter(name="ghost", value=1))
            else:
                await tx.delete(Counter, "ghost")

    with pytest.raises(TaskCrashed) as caught:
        store_impl.run(main)
    assert isinstance(caught.value.__cause__, RowNotFound)
    assert "ghost" in str(caught.value)


def test_select_filters_by_equality_and_orders_by_key(store_impl):
    async def main(runtime, store):
        await seed(
            store, *(Pair(correlation_id=f"p{i:02d}", batch_id=i % 2) for i in (5, 1, 4, 2, 3))
        )
        async with store.transaction() as tx:
            await tx.insert(Pair(correlation_id="p00", batch_id=1))  # own write, uncommitted
            await tx.update(Pair(correlation_id="p03", batch_id=1, winner="essay_a"))
            await tx.delete(Pair, "p05")
            odd = await tx.select(Pair, batch_id=1)
            decided = await tx.select(Pair, batch_id=1, winner="essay_a")
            everything = await tx.count(Pair)
        return [p.correlation_id for p in odd], decided, everything

    odd, decided, everything = store_impl.run(main)
    assert odd == ["p00", "p01", "p03"]
    assert decided == [Pair(correlation_id="p03", batch_id=1, winner="essay_a")]
    assert everything == 5


def test_select_on_an_unknown_column_is_misuse(store_impl):
    async def main(runtime, store):
        async with store.transaction() as tx:
            await tx.select(Pair, colour="blue")

    with pytest.raises(TaskCrashed) as caught:
        store_impl.run(main)
    assert isinstance(caught.value.__cause__, StoreMisuse)
    assert "colour" in str(caught.value)


def test_a_closed_transaction_refuses_statements(store_impl):
    async def main(runtime, store):
        async with store.transaction() as tx:
            await tx.commit()
            await tx.get(Counter, "c")

    with pytest.raises(TaskCrashed) as caught:
        store_impl.run(main)
    assert isinstance(caught.value.__cause__, StoreMisuse)


def test_for_update_blocks_a_second_locker_until_commit_and_then_reads_the_new_row(store_impl):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=0))
        trace = []
        first_locked = runtime.event()

        async def first():
            async with store.transaction() as tx:
                row = await tx.get(Counter, "c", for_update=True)
                first_locked.set()
                await runtime.sleep(1)
                await tx.update(replace(row, value=row.value + 10))
                trace.append("first commits")

        async def second():
            await first_locked.wait()
            async with store.transaction() as tx:
                row = await tx.get(Counter, "c", for_update=True)
                trace.append(f"second read {row.value}")

        tasks = [runtime.spawn(first(), name="first"), runtime.spawn(second(), name="second")]
        for task in tasks:
            await task.join()
        return trace

    assert store_impl.run(main) == ["first commits", "second read 10"]


def _increment_concurrently(store_impl, *, for_update):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=0))

        async def increment():
            async with store.transaction() as tx:
                row = await tx.get(Counter, "c", for_update=for_update)
                await tx.update(replace(row, value=row.value + 1))

        tasks = [runtime.spawn(increment(), name=f"inc-{i}") for i in range(CONCURRENT_INCREMENTS)]
        for task in tasks:
            await task.join()
        async with store.transaction() as tx:
            return (await tx.get(Counter, "c")).value

    return store_impl.run(main)


def test_concurrent_read_increment_write_without_for_update_loses_updates(store_impl):
    if not store_impl.loses_unlocked_updates:
        pytest.skip(f"{store_impl.kind} serialises whole transactions; no lost update possible")
    assert _increment_concurrently(store_impl, for_update=False) < CONCURRENT_INCREMENTS


def test_concurrent_read_increment_write_with_for_update_loses_nothing(store_impl):
    assert _increment_concurrently(store_impl, for_update=True) == CONCURRENT_INCREMENTS


def test_a_lock_cycle_is_detected_and_the_survivor_proceeds(store_impl):
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=0), Counter(name="b", value=0))
        both_locked_one = runtime.event()
        locked = []
        outcome = {}

        async def locker(first, second, name):
            try:
                async with store.transaction() as tx:
                    await tx.get(Counter, first, for_update=True)
                    locked.append(name)
                    if len(locked) == 2:
                        both_locked_one.set()
                    await both_locked_one.wait()
                    await tx.get(Counter, second, for_update=True)
                    await tx.update(Counter(name=second, value=1))
                outcome[name] = "committed"
            except DeadlockDetected as exc:
                outcome[name] = str(exc)

        tasks = [
            runtime.spawn(locker("a", "b", "t1"), name="t1"),
            runtime.spawn(locker("b", "a", "t2"), name="t2"),
        ]
        for task in tasks:
            await task.join()
        return outcome

    outcome = store_impl.run(main, until_s=60)
    assert sorted(outcome.values()).count("committed") == 1
    victim = next(message for message in outcome.values() if message != "committed")
    assert "deadlock" in victim.lower()
