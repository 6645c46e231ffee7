"""The Runtime lock hands off to the oldest waiter first, on every runtime.

``engine.ports.Lock`` is documented as "granted first come, first served". Here the waiters
arrive in an order unlike the order they were spawned in, so only arrival order can explain the
grants; and a task that releases and at once asks again, or a newcomer arriving at the instant
of release, must queue behind those already waiting (no barging).
"""

from __future__ import annotations

import pytest

# Each waiter's arrival time in units after the holder took the lock, listed in spawn order:
# spawn order is never arrival order, so a lock that served by spawn order would fail.
ARRIVALS = {
    2: {"w1": 0.2, "w0": 0.1},
    3: {"w2": 0.3, "w0": 0.1, "w1": 0.2},
}


async def _hold(runtime, lock, label, arrive_s, hold_s, grants):
    await runtime.sleep(arrive_s)
    async with lock:
        grants.append(label)
        await runtime.sleep(hold_s)


async def _ask_at_once(lock, grants):
    async with lock:
        grants.append("newcomer")


@pytest.mark.parametrize("waiters", sorted(ARRIVALS))
def test_waiters_are_granted_the_lock_oldest_first(rt, waiters):
    async def main(runtime):
        lock = runtime.lock()
        grants = []
        async with lock:
            tasks = [
                runtime.spawn(
                    _hold(runtime, lock, label, arrive * rt.unit_s, rt.unit_s, grants), name=label
                )
                for label, arrive in ARRIVALS[waiters].items()
            ]
            await runtime.sleep(rt.unit_s)  # every waiter has arrived and is queued
            assert grants == []
        for task in tasks:
            await task.join()
        return grants, lock.locked()

    grants, locked = rt.run(main, until_s=30 * rt.unit_s)
    assert grants == sorted(ARRIVALS[waiters], key=ARRIVALS[waiters].get)
    assert not locked


@pytest.mark.parametrize("waiters", sorted(ARRIVALS))
def test_a_releasing_holder_that_asks_again_goes_behind_the_waiters(rt, waiters):
    async def main(runtime):
        lock = runtime.lock()
        grants = []
        await lock.__aenter__()
        tasks = [
            runtime.spawn(
                _hold(runtime, lock, label, arrive * rt.unit_s, rt.unit_s, grants), name=label
            )
            for label, arrive in ARRIVALS[waiters].items()
        ]
        await runtime.sleep(rt.unit_s)
        await lock.__aexit__(None, None, None)
        # No await between the release and the new request: the lock must not come back here.
        async with lock:
            grants.append("holder")
        for task in tasks:
            await task.join()
        return grants

    grants = rt.run(main, until_s=30 * rt.unit_s)
    assert grants == [*sorted(ARRIVALS[waiters], key=ARRIVALS[waiters].get), "holder"]


def test_a_newcomer_at_the_instant_of_release_queues_behind_the_waiters(rt):
    async def main(runtime):
        lock = runtime.lock()
        grants = []
        async with lock:
            old = [
                runtime.spawn(
                    _hold(runtime, lock, label, arrive * rt.unit_s, rt.unit_s, grants),
                    name=label,
                )
                for label, arrive in ARRIVALS[3].items()
            ]
            await runtime.sleep(rt.unit_s)
            # Spawned just before the release, so it first runs while the lock is passing to
            # w0 (before w0 has run): it asks without sleeping first.
            newcomer = runtime.spawn(_ask_at_once(lock, grants), name="newcomer")
        for task in [*old, newcomer]:
            await task.join()
        return grants

    grants = rt.run(main, until_s=30 * rt.unit_s)
    assert grants == ["w0", "w1", "w2", "newcomer"]
