"""SimStore at its edges (issue 18): each rule of the in-memory store with its minimal input and
exact answers: what a transaction sees of its own and others' writes, every refusal's message,
locks handed over first come first served, the whole wait-for cycle a deadlock names, key
allocation from the largest committed key, the equality indexes through every kind of write,
and the store's counts of what it did. (tests/contracts/ holds the contract every store keeps;
this file runs only the simulated one, in virtual time.)"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest

from engine.store.errors import DeadlockDetected, DuplicateKey, RowNotFound, StoreMisuse
from engine.store.rows import Row, table
from sim.adapters.runtime import SimRuntime
from sim.adapters.store import SimStore, StoreStats
from tests.contracts.rows import Counter, Numbered, Pair


@table("sim_store_edges_labelled", key="name", indexes=("colour",))
@dataclass(frozen=True, slots=True, kw_only=True)
class Labelled(Row):
    """A declared index (colour) and two columns indexed only when a select asks (size, tags;
    tags may hold a dict, which no index can)."""

    name: str
    colour: str = "red"
    size: int = 0
    tags: Any = None


def run(
    main: Callable[[SimRuntime, SimStore], Coroutine[Any, Any, Any]], *, latency_s: float = 0.0
) -> tuple[Any, SimStore]:
    """``main`` on a fresh store in a fresh simulated world; its answer and the store."""
    runtime = SimRuntime()
    store = SimStore(runtime, statement_latency_s=latency_s)
    return runtime.run(main(runtime, store), until_s=3600), store


async def seed(store: SimStore, *rows: Row) -> None:
    async with store.transaction() as tx:
        for row in rows:
            await tx.insert(row)


# ---- what a transaction sees -------------------------------------------------------------


def test_a_transaction_reads_its_own_writes_and_others_see_them_only_after_commit():
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=1))
        writer = store.transaction()
        reader = store.transaction()
        await writer.update(Counter(name="a", value=2))
        await writer.insert(Counter(name="b", value=3))
        seen = {
            "writer": (await writer.get(Counter, "a"), await writer.get(Counter, "b")),
            "reader": (await reader.get(Counter, "a"), await reader.get(Counter, "b")),
        }
        await writer.commit()
        seen["after"] = (await reader.get(Counter, "a"), await reader.get(Counter, "b"))
        await reader.commit()
        return seen

    seen, _ = run(main)
    assert seen == {
        "writer": (Counter(name="a", value=2), Counter(name="b", value=3)),
        "reader": (Counter(name="a", value=1), None),
        "after": (Counter(name="a", value=2), Counter(name="b", value=3)),
    }


def test_a_row_deleted_in_a_transaction_is_gone_for_it_at_once_and_for_others_at_commit():
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=1), Counter(name="b", value=2))
        async with store.transaction() as tx:
            await tx.delete(Counter, "a")
            own = (await tx.get(Counter, "a"), await tx.select(Counter), await tx.count(Counter))
            async with store.transaction() as other:
                others = await other.get(Counter, "a")
        return own, others

    (own, others), store = run(main)
    assert own == (None, [Counter(name="b", value=2)], 1)
    assert others == Counter(name="a", value=1)
    assert store.snapshot(Counter) == [Counter(name="b", value=2)]


def test_a_row_deleted_and_inserted_again_in_one_transaction_is_the_new_row():
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=1))
        async with store.transaction() as tx:
            await tx.delete(Counter, "a")
            await tx.insert(Counter(name="a", value=9))
            return await tx.get(Counter, "a")

    row, store = run(main)
    assert row == Counter(name="a", value=9)
    assert store.snapshot(Counter) == [Counter(name="a", value=9)]


def test_a_rollback_discards_every_write():
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=1))
        tx = store.transaction()
        await tx.update(Counter(name="a", value=2))
        await tx.insert(Counter(name="b", value=3))
        await tx.rollback()

    _, store = run(main)
    assert store.snapshot(Counter) == [Counter(name="a", value=1)]


def test_an_exception_in_the_block_rolls_back_and_a_clean_exit_commits():
    async def main(runtime, store):
        async def failing():
            async with store.transaction() as tx:
                await tx.insert(Counter(name="lost", value=1))
                raise KeyError("boom")

        with pytest.raises(KeyError):
            await failing()
        async with store.transaction() as tx:
            await tx.insert(Counter(name="kept", value=2))
        async with store.transaction() as tx:  # committed inside: the exit does not commit again
            await tx.insert(Counter(name="early", value=3))
            await tx.commit()

    _, store = run(main)
    assert store.snapshot(Counter) == [
        Counter(name="early", value=3),
        Counter(name="kept", value=2),
    ]
    assert store.stats == StoreStats(
        transactions=3, commits=2, rollbacks=1, statements=5, lock_waits=0, deadlocks=0
    )


def test_snapshot_of_a_table_never_written_is_empty_and_of_a_touched_one_too():
    async def main(runtime, store):
        async with store.transaction() as tx:
            return await tx.get(Counter, "a"), await tx.select(Pair, batch_id=1)

    answers, store = run(main)
    assert answers == (None, [])
    assert store.snapshot(Counter) == []
    assert store.snapshot(Numbered) == []


# ---- every refusal says what was wrong -------------------------------------------------------


def test_inserting_a_key_that_exists_is_refused_naming_the_table_and_key():
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=1))
        async with store.transaction() as tx:
            with pytest.raises(DuplicateKey) as committed:
                await tx.insert(Counter(name="a", value=2))
            await tx.insert(Counter(name="b", value=1))
            with pytest.raises(DuplicateKey) as own:
                await tx.insert(Counter(name="b", value=2))
        return str(committed.value), str(own.value)

    messages, _ = run(main)
    assert messages == (
        "contract_counters: a row with name='a' already exists",
        "contract_counters: a row with name='b' already exists",
    )


def test_updating_or_deleting_a_missing_row_is_refused_naming_the_table_and_key():
    async def main(runtime, store):
        await seed(store, Counter(name="gone", value=1))
        async with store.transaction() as tx:
            await tx.delete(Counter, "gone")
            messages = []
            for attempt in (
                tx.update(Counter(name="x", value=1)),
                tx.delete(Counter, "x"),
                tx.update(Counter(name="gone", value=2)),
                tx.delete(Counter, "gone"),
            ):
                with pytest.raises(RowNotFound) as caught:
                    await attempt
                messages.append(str(caught.value))
        return messages

    messages, _ = run(main)
    assert messages == [
        "contract_counters: no row with name='x' to update",
        "contract_counters: no row with name='x' to delete",
        "contract_counters: no row with name='gone' to update",
        "contract_counters: no row with name='gone' to delete",
    ]


def test_every_statement_after_commit_or_rollback_is_refused_naming_the_transaction():
    async def main(runtime, store):
        messages = []
        committed = store.transaction()
        await committed.commit()
        rolled_back = store.transaction()
        await rolled_back.rollback()
        for tx in (committed, rolled_back):
            for statement in (
                tx.get(Counter, "a"),
                tx.insert(Counter(name="a", value=1)),
                tx.select(Counter),
                tx.commit(),
                tx.rollback(),
            ):
                with pytest.raises(StoreMisuse) as caught:
                    await statement
                messages.append(str(caught.value))
        return messages

    messages, store = run(main)
    assert (
        messages
        == ["transaction 1 is already committed or rolled back"] * 5
        + ["transaction 2 is already committed or rolled back"] * 5
    )
    assert (store.stats.commits, store.stats.rollbacks) == (1, 1)


def test_a_class_that_is_not_a_table_is_refused_by_name():
    async def main(runtime, store):
        async with store.transaction() as tx:
            with pytest.raises(StoreMisuse) as caught:
                await tx.get(dict, "x")
        return str(caught.value)

    message, _ = run(main)
    assert message == "<class 'dict'> is not a table (declare it with engine.store.rows.table)"


def test_a_select_on_a_column_the_table_lacks_is_refused_by_name():
    async def main(runtime, store):
        async with store.transaction() as tx:
            with pytest.raises(StoreMisuse) as caught:
                await tx.select(Counter, name="a", nope=1)
        return str(caught.value)

    message, _ = run(main)
    assert message == "table 'contract_counters' has no column 'nope'"


def test_a_key_cannot_be_allocated_for_a_table_whose_key_is_not_an_int():
    async def main(runtime, store):
        async with store.transaction() as tx:
            with pytest.raises(StoreMisuse) as caught:
                await tx.allocate_key(Counter)
        return str(caught.value)

    message, _ = run(main)
    assert (
        message
        == "cannot allocate keys for table 'contract_counters': its key 'name' is not an int"
    )


# ---- latency ------------------------------------------------------------------------------


@pytest.mark.parametrize("latency_s", [-1, -0.001])
def test_a_negative_latency_is_refused_with_its_value(latency_s):
    expected = f"statement latency must be >= 0 s, got {float(latency_s)}"
    with pytest.raises(ValueError, match="latency") as caught:
        SimStore(SimRuntime(), statement_latency_s=latency_s)
    assert str(caught.value) == expected


def test_statements_cost_no_time_unless_a_latency_is_given():
    async def main():
        async with store.transaction() as tx:
            await tx.insert(Counter(name="a", value=1))
        return runtime.now()

    runtime = SimRuntime()
    store = SimStore(runtime)
    assert runtime.run(main()) == 0.0


def test_a_zero_latency_is_accepted_and_costs_no_time():
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=1))
        return runtime.now()

    now, store = run(main, latency_s=0)
    assert now == 0.0
    assert store.stats.statements == 2


def unlocked_increments(runtime, store):
    """Two tasks read, then write, a counter without locking it."""

    async def increment():
        async with store.transaction() as tx:
            row = await tx.get(Counter, "c")
            await tx.update(Counter(name="c", value=row.value + 1))

    async def main():
        await seed(store, Counter(name="c", value=0))
        tasks = [runtime.spawn(increment(), name=f"inc{i}") for i in range(2)]
        for task in tasks:
            await task.join()
        async with store.transaction() as tx:
            return (await tx.get(Counter, "c")).value

    return main()


def test_with_zero_latency_a_statement_never_yields_so_nothing_interleaves():
    value, _ = run(unlocked_increments)
    assert value == 2


def test_with_any_latency_unlocked_read_increment_writes_lose_an_update():
    value, store = run(unlocked_increments, latency_s=0.001)
    assert value == 1
    assert store.stats.lock_waits == 1  # the second writer waited for the first's row lock


def test_a_constant_latency_is_slept_once_per_statement():
    async def main(runtime, store):
        async with store.transaction() as tx:
            await tx.get(Counter, "a")
            await tx.insert(Counter(name="a", value=1))
            await tx.select(Counter)
            await tx.count(Counter)
            await tx.allocate_key(Numbered)
            await tx.delete(Counter, "a")
        return runtime.now()

    now, store = run(main, latency_s=0.5)
    assert now == 7 * 0.5  # six statements and the commit
    assert store.stats.statements == 7


def test_a_rollback_costs_no_statement():
    async def main(runtime, store):
        tx = store.transaction()
        await tx.get(Counter, "a")
        await tx.rollback()
        return runtime.now()

    now, store = run(main, latency_s=0.5)
    assert (now, store.stats.statements) == (0.5, 1)


# ---- row locks ----------------------------------------------------------------------------


def test_a_locking_read_waits_for_the_holder_and_then_reads_its_commit():
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=1))
        seen = {}

        async def holder():
            async with store.transaction() as tx:
                await tx.update(Counter(name="a", value=2))
                await runtime.sleep(10)

        async def waiter():
            await runtime.sleep(1)
            async with store.transaction() as tx:
                seen["plain"] = await tx.get(Counter, "a")  # no lock: no wait
                seen["plain_t"] = runtime.now()
                seen["locked"] = await tx.get(Counter, "a", for_update=True)
                seen["locked_t"] = runtime.now()

        tasks = [runtime.spawn(holder(), name="h"), runtime.spawn(waiter(), name="w")]
        for task in tasks:
            await task.join()
        return seen

    seen, store = run(main)
    assert seen == {
        "plain": Counter(name="a", value=1),
        "plain_t": 1.0,
        "locked": Counter(name="a", value=2),
        "locked_t": 10.0,
    }
    assert (store.stats.lock_waits, store.stats.deadlocks) == (1, 0)


def test_a_transaction_holding_a_lock_takes_it_again_without_waiting():
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=1))
        async with store.transaction() as tx:
            await tx.get(Counter, "a", for_update=True)
            await tx.get(Counter, "a", for_update=True)
            await tx.update(Counter(name="a", value=2))
            await tx.delete(Counter, "a")
            await tx.insert(Counter(name="a", value=3))
        return runtime.now()

    now, store = run(main, latency_s=1.0)
    assert now == 8.0  # the seed's insert and commit, five statements and the commit
    assert store.stats.lock_waits == 0
    assert store.snapshot(Counter) == [Counter(name="a", value=3)]


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_a_released_lock_passes_to_the_waiters_first_come_first_served(end):
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=0))
        order = []

        async def holder():
            tx = store.transaction()
            await tx.get(Counter, "a", for_update=True)
            await runtime.sleep(10)
            await (tx.commit() if end == "commit" else tx.rollback())

        async def waiter(name, delay):
            await runtime.sleep(delay)
            async with store.transaction() as tx:
                row = await tx.get(Counter, "a", for_update=True)
                order.append((name, runtime.now(), row.value))
                await tx.update(Counter(name="a", value=row.value + 1))
                await runtime.sleep(1)

        tasks = [
            runtime.spawn(holder(), name="holder"),
            runtime.spawn(waiter("third", 3), name="third"),
            runtime.spawn(waiter("first", 1), name="first"),
            runtime.spawn(waiter("second", 2), name="second"),
        ]
        for task in tasks:
            await task.join()
        return order

    order, store = run(main)
    assert order == [("first", 10.0, 0), ("second", 11.0, 1), ("third", 12.0, 2)]
    assert store.stats.lock_waits == 3
    assert store.snapshot(Counter) == [Counter(name="a", value=3)]


def test_locks_on_other_rows_and_other_tables_do_not_wait():
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=0), Counter(name="b", value=0))
        await seed(store, Pair(correlation_id="a", batch_id=1))
        first = store.transaction()
        second = store.transaction()
        await first.get(Counter, "a", for_update=True)
        await second.get(Counter, "b", for_update=True)
        await second.get(Pair, "a", for_update=True)
        await second.commit()
        await first.commit()
        return runtime.now()

    now, store = run(main)
    assert (now, store.stats.lock_waits) == (0.0, 0)


def test_a_waiter_that_stops_waiting_leaves_the_queue_and_the_lock_goes_to_the_next():
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=0))
        order = []

        async def holder():
            async with store.transaction() as tx:
                await tx.get(Counter, "a", for_update=True)
                await runtime.sleep(10)

        async def quitter():
            await runtime.sleep(1)
            async with store.transaction() as tx:
                await tx.get(Counter, "a", for_update=True)
                order.append("quitter")

        async def patient():
            await runtime.sleep(2)
            async with store.transaction() as tx:
                await tx.get(Counter, "a", for_update=True)
                order.append(("patient", runtime.now()))

        h = runtime.spawn(holder(), name="holder")
        q = runtime.spawn(quitter(), name="quitter")
        p = runtime.spawn(patient(), name="patient")
        await runtime.sleep(5)
        q.cancel()
        await h.join()
        await p.join()
        async with store.transaction() as tx:  # the lock is free again
            await tx.get(Counter, "a", for_update=True)
        return order, runtime.now()

    (order, now), store = run(main)
    assert order == [("patient", 10.0)]
    assert now == 10.0
    assert store.stats.lock_waits == 2


# ---- deadlocks ----------------------------------------------------------------------------


def cycle(runtime, store, names):
    """Transaction i locks names[i], then asks for names[i + 1] (wrapping round)."""
    failures = []

    async def locker(i):
        try:
            async with store.transaction() as tx:
                await tx.get(Counter, names[i], for_update=True)
                await runtime.sleep(1)
                await runtime.sleep(0.1 * i)  # ask in order: the last one closes the cycle
                await tx.get(Counter, names[(i + 1) % len(names)], for_update=True)
        except DeadlockDetected as exc:
            failures.append((i, str(exc)))

    async def main():
        tasks = [runtime.spawn(locker(i), name=f"t{i}") for i in range(len(names))]
        for task in tasks:
            await task.join()
        return failures

    return main()


def test_a_two_transaction_deadlock_fails_the_one_that_closes_the_cycle_naming_it():
    failures, store = run(lambda runtime, store: cycle(runtime, store, ["a", "b"]))
    assert failures == [
        (
            1,
            "deadlock detected: tx 2 wants contract_counters['a'] held by tx 1; "
            "tx 1 waits for contract_counters['b'] held by tx 2",
        )
    ]
    assert (store.stats.deadlocks, store.stats.lock_waits) == (1, 1)


def test_a_three_transaction_deadlock_names_every_link():
    failures, store = run(lambda runtime, store: cycle(runtime, store, ["a", "b", "c"]))
    assert failures == [
        (
            2,
            "deadlock detected: tx 3 wants contract_counters['a'] held by tx 1; "
            "tx 1 waits for contract_counters['b'] held by tx 2; "
            "tx 2 waits for contract_counters['c'] held by tx 3",
        )
    ]
    assert (store.stats.deadlocks, store.stats.lock_waits) == (1, 2)


def test_a_chain_of_waits_that_is_no_cycle_is_no_deadlock():
    async def main(runtime, store):
        order = []

        async def locker(name, first, second, hold_s):
            async with store.transaction() as tx:
                await tx.get(Counter, first, for_update=True)
                await runtime.sleep(hold_s)
                if second is not None:
                    await tx.get(Counter, second, for_update=True)
                order.append((name, runtime.now()))

        tasks = [  # t3 waits for t2, which waits for t1, which waits for nobody
            runtime.spawn(locker("t1", "a", None, 3), name="t1"),
            runtime.spawn(locker("t2", "b", "a", 1), name="t2"),
            runtime.spawn(locker("t3", "c", "b", 1), name="t3"),
        ]
        for task in tasks:
            await task.join()
        return order

    order, store = run(main)
    assert order == [("t1", 3.0), ("t2", 3.0), ("t3", 3.0)]
    assert (store.stats.deadlocks, store.stats.lock_waits) == (0, 2)


# ---- key allocation -----------------------------------------------------------------------


def test_keys_start_above_the_largest_committed_key_and_a_rollback_leaves_a_gap():
    async def main(runtime, store):
        await seed(store, Numbered(number=7), Numbered(number=3))
        keys = []
        tx = store.transaction()
        keys.append(await tx.allocate_key(Numbered))
        await tx.rollback()
        async with store.transaction() as tx:
            keys.append(await tx.allocate_key(Numbered))
            keys.append(await tx.allocate_key(Numbered))
        return keys

    keys, _ = run(main)
    assert keys == [8, 9, 10]


def test_keys_of_an_empty_table_start_at_1_and_each_table_counts_on_its_own():
    @table("sim_store_edges_other_numbered", key="number")
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Other(Row):
        number: int

    async def main(runtime, store):
        async with store.transaction() as tx:
            first = await tx.allocate_key(Numbered)
            await seed(store, Other(number=41))
            return first, await tx.allocate_key(Other), await tx.allocate_key(Numbered)

    keys, _ = run(main)
    assert keys == (1, 42, 2)


def test_the_counter_ignores_keys_committed_after_the_first_allocation():
    async def main(runtime, store):
        async with store.transaction() as tx:
            first = await tx.allocate_key(Numbered)
        await seed(store, Numbered(number=50))
        async with store.transaction() as tx:
            return first, await tx.allocate_key(Numbered)

    keys, _ = run(main)
    assert keys == (1, 2)  # as a PostgreSQL sequence: a key written by hand is not seen


def test_transaction_ids_count_from_1():
    async def main(runtime, store):
        return [store.transaction().id for _ in range(3)]

    ids, store = run(main)
    assert ids == [1, 2, 3]
    assert store.stats.transactions == 3


# ---- select and its indexes ---------------------------------------------------------------


def labelled_rows():
    return [
        Labelled(name="a", colour="red", size=1),
        Labelled(name="b", colour="blue", size=1),
        Labelled(name="c", colour="red", size=2),
        Labelled(name="d", colour="red", size=1),
    ]


def names(rows):
    return [row.name for row in rows]


async def committed_select(store, **equals):
    async with store.transaction() as tx:
        return names(await tx.select(Labelled, **equals))


def test_select_on_a_declared_index_answers_in_key_order_through_commits():
    async def main(runtime, store):
        await seed(store, *reversed(labelled_rows()))
        answers = [await committed_select(store, colour="red")]
        async with store.transaction() as tx:
            await tx.insert(Labelled(name="0", colour="red"))  # sorts before the others
            await tx.insert(Labelled(name="e", colour="red"))
            await tx.update(Labelled(name="c", colour="blue", size=2))
        answers.append(await committed_select(store, colour="red"))
        answers.append(await committed_select(store, colour="blue"))
        async with store.transaction() as tx:
            await tx.update(Labelled(name="a", colour="red", size=5))  # colour unchanged
            await tx.delete(Labelled, "d")
        answers.append(await committed_select(store, colour="red"))
        answers.append(await committed_select(store, colour="green"))
        return answers

    answers, _ = run(main)
    assert answers == [
        ["a", "c", "d"],
        ["0", "a", "d", "e"],
        ["b", "c"],
        ["0", "a", "e"],
        [],
    ]


def test_select_on_two_columns_returns_only_rows_matching_both():
    async def main(runtime, store):
        await seed(store, *labelled_rows())
        return [
            await committed_select(store, colour="red", size=1),
            await committed_select(store, size=1, colour="red"),
            await committed_select(store, colour="blue", size=2),
            await committed_select(store, size=1),
            await committed_select(store, name="c"),
            await committed_select(store),
        ]

    answers, _ = run(main)
    assert answers == [["a", "d"], ["a", "d"], [], ["a", "b", "d"], ["c"], ["a", "b", "c", "d"]]


def test_select_reads_the_transactions_own_writes_over_committed_rows():
    async def main(runtime, store):
        await seed(store, *labelled_rows())
        async with store.transaction() as tx:
            await tx.update(Labelled(name="a", colour="blue", size=1))  # leaves red
            await tx.update(Labelled(name="b", colour="red", size=3))  # joins red
            await tx.delete(Labelled, "d")
            await tx.insert(Labelled(name="e", colour="red", size=1))
            return [
                names(await tx.select(Labelled, colour="red")),
                names(await tx.select(Labelled, colour="red", size=1)),
                names(await tx.select(Labelled, size=1)),
                names(await tx.select(Labelled)),
                await tx.count(Labelled, colour="red"),
            ]

    answers, _ = run(main)
    assert answers == [["b", "c", "e"], ["e"], ["a", "e"], ["a", "b", "c", "e"], 3]


def test_own_writes_to_another_table_leave_a_select_on_this_one_as_committed():
    async def main(runtime, store):
        await seed(store, *labelled_rows())
        async with store.transaction() as tx:
            await tx.insert(Counter(name="x", value=1))
            return names(await tx.select(Labelled, colour="red"))

    answer, _ = run(main)
    assert answer == ["a", "c", "d"]


def test_a_lazy_index_follows_rows_that_move_between_values_and_are_deleted():
    async def main(runtime, store):
        await seed(store, *labelled_rows())
        answers = [await committed_select(store, size=1)]  # builds the index on size
        async with store.transaction() as tx:
            await tx.update(Labelled(name="a", colour="red", size=2))
            await tx.insert(Labelled(name="e", size=1))
            await tx.delete(Labelled, "b")
        answers += [await committed_select(store, size=1), await committed_select(store, size=2)]
        return answers

    answers, _ = run(main)
    assert answers == [["a", "b", "d"], ["d", "e"], ["a", "c"]]


def test_an_unhashable_value_asked_for_or_stored_is_answered_by_a_scan():
    async def main(runtime, store):
        await seed(store, Labelled(name="a", tags={"x": 1}), Labelled(name="b", tags=None))
        answers = [
            await committed_select(store, tags={"x": 1}),
            await committed_select(store, tags=None),
            await committed_select(store, colour=["red"]),  # unhashable on a declared index
            await committed_select(store, colour=["red"], size=0),
        ]
        async with store.transaction() as tx:
            await tx.insert(Labelled(name="c", tags={"x": 1}))
            await tx.update(Labelled(name="b", tags={"y": 2}))
            answers.append(names(await tx.select(Labelled, tags={"x": 1})))
            answers.append(names(await tx.select(Labelled, colour=["red"])))
        answers.append(await committed_select(store, tags={"x": 1}))
        answers.append(await committed_select(store, tags={"y": 2}))
        return answers

    answers, _ = run(main)
    assert answers == [["a"], ["b"], [], [], ["a", "c"], [], ["a", "c"], ["b"]]


def test_a_column_indexed_lazily_gives_up_its_index_when_an_unhashable_value_arrives():
    async def main(runtime, store):
        await seed(store, Labelled(name="a", tags="t"), Labelled(name="b", tags="u"))
        answers = [await committed_select(store, tags="t")]  # builds the index on tags
        await seed(store, Labelled(name="c", tags={"x": 1}), Labelled(name="d", tags="t"))
        answers.append(await committed_select(store, tags="t"))
        answers.append(await committed_select(store, tags={"x": 1}))
        async with store.transaction() as tx:
            await tx.update(Labelled(name="a", tags="u"))
        answers.append(await committed_select(store, tags="t"))
        answers.append(await committed_select(store, tags="u"))
        return answers

    answers, _ = run(main)
    assert answers == [["a"], ["a", "d"], ["c"], ["d"], ["a", "b"]]


def test_an_unhashable_value_in_a_declared_index_column_is_refused_at_commit():
    async def main(runtime, store):
        async with store.transaction() as tx:
            await tx.insert(Labelled(name="a", colour=["red"]))
            with pytest.raises(TypeError):
                await tx.commit()

    run(main)


def test_the_smallest_bucket_of_two_indexes_answers_and_every_row_is_checked():
    async def main(runtime, store):
        rows = [Labelled(name=f"r{i}", colour="red", size=i % 3) for i in range(9)]
        rows += [Labelled(name="x", colour="blue", size=0)]
        await seed(store, *rows)
        return [
            await committed_select(store, colour="blue", size=0),
            await committed_select(store, size=0, colour="red"),
            await committed_select(store, size=1, colour="blue"),
            await committed_select(store, size=7, colour="red"),
        ]

    answers, _ = run(main)
    assert answers == [["x"], ["r0", "r3", "r6"], [], []]


def test_a_lazily_indexed_column_that_held_an_unhashable_value_answers_after_it_is_changed_back():
    async def main(runtime, store):
        await seed(store, Labelled(name="a", tags="t", size=1), Labelled(name="b", tags="u"))
        answers = [await committed_select(store, tags="t")]  # index on tags
        answers.append(await committed_select(store, size=7))  # then one on size
        await seed(store, Labelled(name="c", tags={"x": 1}, size=7))  # tags gives up its index
        answers.append(await committed_select(store, size=7))  # size still indexed c
        async with store.transaction() as tx:
            await tx.update(Labelled(name="c", tags="t", size=7))
        answers.append(await committed_select(store, tags="t"))
        answers.append(await committed_select(store, tags="t", size=7))
        return answers

    answers, _ = run(main)
    assert answers == [["a"], [], ["c"], ["a", "c"], ["c"]]


# ---- more of what a transaction's locks and counts promise ------------------------------------


def test_a_second_insert_of_a_new_key_waits_for_the_first_and_then_finds_it():
    async def main(runtime, store):
        outcome = {}

        async def first():
            async with store.transaction() as tx:
                await tx.insert(Counter(name="n", value=1))
                await runtime.sleep(5)

        async def second():
            await runtime.sleep(1)
            async with store.transaction() as tx:
                try:
                    await tx.insert(Counter(name="n", value=2))
                except DuplicateKey as exc:
                    outcome["refused"] = (str(exc), runtime.now())

        tasks = [runtime.spawn(first(), name="first"), runtime.spawn(second(), name="second")]
        for task in tasks:
            await task.join()
        return outcome

    outcome, store = run(main)
    assert outcome == {"refused": ("contract_counters: a row with name='n' already exists", 5.0)}
    assert store.snapshot(Counter) == [Counter(name="n", value=1)]
    assert store.stats.lock_waits == 1


def test_a_delete_waits_for_the_rows_lock():
    async def main(runtime, store):
        await seed(store, Counter(name="a", value=1))
        deleted_at = []

        async def holder():
            async with store.transaction() as tx:
                await tx.get(Counter, "a", for_update=True)
                await runtime.sleep(5)

        async def deleter():
            await runtime.sleep(1)
            async with store.transaction() as tx:
                await tx.delete(Counter, "a")
                deleted_at.append(runtime.now())

        tasks = [runtime.spawn(holder(), name="holder"), runtime.spawn(deleter(), name="deleter")]
        for task in tasks:
            await task.join()
        return deleted_at

    deleted_at, store = run(main)
    assert deleted_at == [5.0]
    assert store.stats.lock_waits == 1
    assert store.snapshot(Counter) == []


def test_a_cancelled_lock_wait_leaves_no_edge_in_the_wait_for_graph():
    """A transaction whose waiting task was cancelled, left open, holding a lock: a third
    transaction that wants that lock waits for it; no deadlock through the abandoned wait."""

    async def main(runtime, store):
        holder_tx = store.transaction()
        await holder_tx.get(Counter, "a", for_update=True)
        abandoned = store.transaction()
        await abandoned.get(Counter, "b", for_update=True)
        waiting = runtime.spawn(abandoned.get(Counter, "a", for_update=True), name="abandoned")
        await runtime.sleep(1)
        waiting.cancel()
        await runtime.sleep(1)
        await holder_tx.commit()  # "a" is free; "b" is still held by the open transaction
        outcome = []

        async def third():
            async with store.transaction() as tx:
                await tx.get(Counter, "a", for_update=True)
                try:
                    await tx.get(Counter, "b", for_update=True)
                except DeadlockDetected as exc:
                    outcome.append(str(exc))
                else:
                    outcome.append(runtime.now())

        task = runtime.spawn(third(), name="third")
        await runtime.sleep(3)
        await abandoned.rollback()
        await task.join()
        return outcome

    outcome, store = run(main)
    assert outcome == [5.0]
    assert store.stats.deadlocks == 0


def test_every_deadlock_and_every_rollback_is_counted():
    async def main(runtime, store):
        await cycle(runtime, store, ["a", "b"])
        await cycle(runtime, store, ["c", "d"])
        tx = store.transaction()
        await tx.rollback()

    _, store = run(main)
    assert (store.stats.deadlocks, store.stats.rollbacks) == (2, 3)


def test_a_finished_transaction_is_no_longer_open():
    async def main(runtime, store):
        committed = store.transaction()
        await committed.commit()
        rolled_back = store.transaction()
        await rolled_back.rollback()
        return store.transaction().open, committed.open, rolled_back.open

    flags, _ = run(main)
    assert flags == (True, False, False)
    assert [type(flag) for flag in flags] == [bool, bool, bool]
