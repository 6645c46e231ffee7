"""What SimStore promises beyond the Store contract: latency in virtual time, its stats, and key
allocation that costs what the read it replaced cost."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from engine.ports import TaskCrashed
from engine.store.errors import DeadlockDetected, StoreMisuse
from engine.store.rows import Row, table
from sim.adapters.runtime import SimRuntime
from sim.adapters.store import SimStore
from tests.contracts.rows import Counter, Numbered, Pair


@pytest.fixture
def runtime():
    """A fresh simulated world at t=0."""
    return SimRuntime()


def test_every_statement_costs_its_latency_in_virtual_time(runtime):
    store = SimStore(runtime, statement_latency_s=0.25)

    async def main():
        async with store.transaction() as tx:  # insert + commit
            await tx.insert(Counter(name="c", value=0))
        async with store.transaction() as tx:  # get + update + commit
            row = await tx.get(Counter, "c", for_update=True)
            await tx.update(Counter(name="c", value=row.value + 1))
        return runtime.now()

    assert runtime.run(main()) == pytest.approx(5 * 0.25)
    assert store.stats.statements == 5
    assert store.stats.commits == 2


def test_latency_may_be_drawn_per_statement(runtime):
    draws = iter([0.1, 0.2, 0.3])
    store = SimStore(runtime, statement_latency_s=lambda: next(draws))

    async def main():
        async with store.transaction() as tx:
            await tx.get(Counter, "c")
            await tx.get(Counter, "c")
        return runtime.now()

    assert runtime.run(main()) == pytest.approx(0.6)


def test_negative_latency_is_refused(runtime):
    with pytest.raises(ValueError, match="latency"):
        SimStore(runtime, statement_latency_s=-1)


def test_a_deadlock_message_names_the_cycle(runtime):
    store = SimStore(runtime)
    messages = []

    async def locker(first, second, ready):
        try:
            async with store.transaction() as tx:
                await tx.get(Counter, first, for_update=True)
                ready.append(first)
                while len(ready) < 2:
                    await runtime.sleep(0.1)
                await tx.get(Counter, second, for_update=True)
        except DeadlockDetected as exc:
            messages.append(str(exc))

    async def main():
        ready = []
        tasks = [
            runtime.spawn(locker("a", "b", ready), name="ab"),
            runtime.spawn(locker("b", "a", ready), name="ba"),
        ]
        for task in tasks:
            await task.join()

    runtime.run(main())
    assert len(messages) == 1
    assert "contract_counters['a']" in messages[0]
    assert "contract_counters['b']" in messages[0]
    assert store.stats.deadlocks == 1
    assert store.stats.lock_waits == 1


def test_snapshot_reads_committed_rows_in_key_order(runtime):
    store = SimStore(runtime)

    async def main():
        async with store.transaction() as tx:
            for name in "cab":
                await tx.insert(Counter(name=name, value=ord(name)))

    runtime.run(main())
    assert [row.name for row in store.snapshot(Counter)] == ["a", "b", "c"]


def test_a_class_that_is_not_a_table_is_refused(runtime):
    store = SimStore(runtime)

    async def main():
        async with store.transaction() as tx:
            await tx.get(dict, "x")

    with pytest.raises(TaskCrashed) as caught:
        runtime.run(main())
    assert isinstance(caught.value.__cause__, StoreMisuse)


def test_a_lock_handed_over_is_not_mistaken_for_a_wait(runtime):
    """Regression: between a lock's hand-over and the new holder's resumption, a third
    transaction asking for the lock used to walk a wait-for "cycle" of the new holder with
    itself forever."""
    store = SimStore(runtime, statement_latency_s=1.0)
    order = []

    async def seed():
        async with store.transaction() as tx:
            await tx.insert(Counter(name="a", value=0))

    async def first(ready):
        async with store.transaction() as tx:
            await tx.get(Counter, "a", for_update=True)
            ready.set()
            await runtime.sleep(4)
        order.append("first")

    async def locker(ready, name, delay):
        await ready.wait()
        await runtime.sleep(delay)
        async with store.transaction() as tx:
            await tx.get(Counter, "a", for_update=True)
        order.append(name)

    async def main():
        await seed()
        ready = runtime.event()
        tasks = [
            runtime.spawn(first(ready), name="first"),
            runtime.spawn(locker(ready, "second", 0), name="second"),
            runtime.spawn(locker(ready, "third", 4), name="third"),
        ]
        for task in tasks:
            await task.join()

    runtime.run(main(), until_s=60)
    assert order == ["first", "second", "third"]
    assert store.stats.deadlocks == 0


def test_a_key_allocation_is_one_statement_of_latency_that_waits_for_no_lock(runtime):
    """It replaced ``select`` of every upload (one statement, no lock) as the batch id's source:
    the same cost in virtual time keeps every simulated run's timing, and so its fingerprint."""
    store = SimStore(runtime, statement_latency_s=0.25)
    times = {}

    async def allocator(name, hold_s):
        async with store.transaction() as tx:
            number = await tx.allocate_key(Numbered)
            times[name] = (number, runtime.now())
            await runtime.sleep(hold_s)  # still open: the next allocation must not wait for it
            await tx.insert(Numbered(number=number))

    async def main():
        tasks = [
            runtime.spawn(allocator("first", 10.0), name="first"),
            runtime.spawn(allocator("second", 0.0), name="second"),
        ]
        for task in tasks:
            await task.join()

    runtime.run(main())
    assert times == {"first": (1, 0.25), "second": (2, 0.25)}
    assert store.stats.lock_waits == 0
    assert [row.number for row in store.snapshot(Numbered)] == [1, 2]


def test_key_allocation_is_deterministic_under_a_seeded_interleaving(runtime):
    """Two runs of the same interleaving hand out the same keys to the same transactions."""

    def run_once():
        world = SimRuntime()
        store = SimStore(world, statement_latency_s=0.001)
        keys = {}

        async def one(i):
            await world.sleep(0.0007 * (i % 5))
            async with store.transaction() as tx:
                keys[i] = await tx.allocate_key(Numbered)

        async def main():
            for task in [world.spawn(one(i), name=f"t{i}") for i in range(12)]:
                await task.join()

        world.run(main())
        return keys

    first = run_once()
    assert first == run_once()
    assert sorted(first.values()) == list(range(1, 13))


# -- lazy equality indexes (issue 15): an implementation detail that must change no answer ------


@table("sim_store_tagged", key="name")
@dataclass(frozen=True, slots=True, kw_only=True)
class _Tagged(Row):
    """A row with a column no index can hold (a dict) beside one it can."""

    name: str
    tags: dict[str, int] | None = None
    colour: str | None = None


def _scan(rows, equals):
    """What select must return: every row that matches, by key."""
    matching = [r for r in rows if all(getattr(r, c) == v for c, v in equals.items())]
    return sorted(matching, key=lambda r: r.correlation_id)


def test_select_answers_as_a_full_scan_does_through_commits_and_own_writes(runtime):
    """Filters on declared and lazily indexed columns, alone and together, return exactly the
    rows a scan of committed rows plus the transaction's own writes would, in key order, while
    rows move between index buckets, are deleted, and are written but not yet committed."""
    store = SimStore(runtime)
    rng = random.Random(15)
    filters = [
        {"batch_id": 1},
        {"winner": None},
        {"winner": "a"},
        {"batch_id": 2, "winner": None},
        {"winner": "b", "batch_id": 1},
        {"batch_id": 3, "winner": "zz"},
        {},
    ]

    async def main():
        committed: dict[str, Pair] = {}
        for step in range(60):
            async with store.transaction() as tx:
                mine = dict(committed)
                for _ in range(rng.randint(1, 6)):
                    key = f"p{rng.randint(0, 40):02d}"
                    row = Pair(
                        correlation_id=key,
                        batch_id=rng.randint(1, 3),
                        winner=rng.choice([None, "a", "b"]),
                    )
                    if key not in mine:
                        await tx.insert(row)
                        mine[key] = row
                    elif rng.random() < 0.2:
                        await tx.delete(Pair, key)
                        del mine[key]
                    else:
                        await tx.update(row)
                        mine[key] = row
                    equals = rng.choice(filters)
                    assert await tx.select(Pair, **equals) == _scan(mine.values(), equals)
                if step % 7 == 3:
                    await tx.rollback()
                    continue
            committed = mine
            async with store.transaction() as tx:
                for equals in filters:
                    assert await tx.select(Pair, **equals) == _scan(committed.values(), equals)

    runtime.run(main())


def test_a_column_holding_unhashable_values_is_scanned_not_indexed(runtime):
    """A dict in a filtered column, present before the first select or arriving after it,
    leaves select's answers as they were."""
    store = SimStore(runtime)

    async def main():
        async with store.transaction() as tx:
            await tx.insert(_Tagged(name="a", tags=None, colour="red"))
            await tx.insert(_Tagged(name="b", tags={"x": 1}, colour="red"))
        async with store.transaction() as tx:
            assert [r.name for r in await tx.select(_Tagged, tags={"x": 1})] == ["b"]
            assert [r.name for r in await tx.select(_Tagged, colour="red")] == ["a", "b"]
            await tx.update(_Tagged(name="a", tags={"y": 2}, colour="blue"))
        async with store.transaction() as tx:
            assert [r.name for r in await tx.select(_Tagged, colour="red")] == ["b"]
            assert [r.name for r in await tx.select(_Tagged, colour="blue")] == ["a"]
            assert [r.name for r in await tx.select(_Tagged, tags={"y": 2})] == ["a"]
            assert [r.name for r in await tx.select(_Tagged, tags=None)] == []

    runtime.run(main())


def test_an_index_built_after_rows_exist_keeps_up_with_later_commits(runtime):
    """The first select on a column indexes the rows already committed; later inserts and
    updates move rows in and out of its answer."""
    store = SimStore(runtime)

    async def main():
        async with store.transaction() as tx:
            await tx.insert(_Tagged(name="a", colour="red"))
        async with store.transaction() as tx:
            assert [r.name for r in await tx.select(_Tagged, colour="red")] == ["a"]
        async with store.transaction() as tx:
            await tx.insert(_Tagged(name="b", colour="red"))
            await tx.update(_Tagged(name="a", colour="green"))
        async with store.transaction() as tx:
            assert [r.name for r in await tx.select(_Tagged, colour="red")] == ["b"]
            assert [r.name for r in await tx.select(_Tagged, colour="green")] == ["a"]
            await tx.delete(_Tagged, "b")
        async with store.transaction() as tx:
            assert await tx.select(_Tagged, colour="red") == []

    runtime.run(main())
