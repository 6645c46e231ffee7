"""What SimStore promises beyond the Store contract: latency in virtual time, its stats, and key
allocation that costs what the read it replaced cost."""

from __future__ import annotations

import pytest

from engine.ports import TaskCrashed
from engine.store.errors import DeadlockDetected, StoreMisuse
from sim.runtime import SimRuntime
from sim.store import SimStore
from tests.contracts.rows import Counter, Numbered


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
