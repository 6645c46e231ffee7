"""What SimRuntime promises beyond the Runtime contract: exact, reproducible virtual time."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import pytest

from engine.ports import TaskCrashed
from sim.adapters.runtime import YOUNG_GENERATION_THRESHOLD, SimRuntime, SimulationStalled


@pytest.fixture
def runtime():
    """A fresh simulated world at t=0."""
    return SimRuntime(epoch=datetime(2025, 12, 5, 9, 0, tzinfo=UTC))


def test_virtual_time_is_exact_and_costs_no_wall_time(runtime):
    async def main():
        await runtime.sleep(4 * 3600)
        return runtime.now(), runtime.utcnow()

    now, utcnow = runtime.run(main())
    assert now == 4 * 3600
    assert utcnow == datetime(2025, 12, 5, 13, 0, tzinfo=UTC)


def test_simultaneous_wakeups_run_in_spawn_order(runtime):
    order = []

    async def tick(label):
        await runtime.sleep(1)
        order.append(label)

    async def main():
        tasks = [runtime.spawn(tick(label), name=label) for label in "dcba"]
        for task in tasks:
            await task.join()

    runtime.run(main())
    assert order == list("dcba")


def test_a_stalled_world_is_reported_not_hung(runtime):
    async def main():
        await runtime.event().wait()  # nobody will ever set it

    with pytest.raises(SimulationStalled, match="no event is scheduled"):
        runtime.run(main())


def test_spawn_needs_a_coroutine(runtime):
    with pytest.raises(TypeError, match="needs a coroutine"):
        runtime.spawn(runtime.sleep(1), name="not-a-coroutine")


def test_a_task_cannot_cancel_itself(runtime):
    holder = {}

    async def self_canceller():
        await runtime.sleep(0)
        holder["task"].cancel()

    async def main2():
        holder["task"] = runtime.spawn(self_canceller(), name="selfish")
        await holder["task"].join()

    with pytest.raises(TaskCrashed, match="cannot cancel itself"):
        runtime.run(main2())


def test_phases_continue_the_same_world(runtime):
    log = []

    async def background():
        while True:
            await runtime.sleep(10)
            log.append(runtime.now())

    async def phase_one():
        runtime.spawn(background(), name="background")
        await runtime.sleep(25)

    async def phase_two():
        await runtime.sleep(20)

    runtime.run(phase_one())
    runtime.run(phase_two())
    runtime.advance(5)
    assert log == [10, 20, 30, 40]  # the tick due at exactly t=50 is the next phase's first
    assert runtime.now() == 50


def test_epoch_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        SimRuntime(epoch=datetime(2025, 1, 1))


def test_utcnow_tracks_virtual_time(runtime):
    async def main():
        await runtime.sleep(90.5)
        return runtime.utcnow() - runtime.epoch

    assert runtime.run(main()) == timedelta(seconds=90.5)


def test_a_run_raises_the_collector_threshold_only_while_it_runs(runtime):
    before = gc.get_threshold()

    async def main():
        return gc.get_threshold()[0]

    async def crash():
        raise RuntimeError("boom")

    assert runtime.run(main()) == max(before[0], YOUNG_GENERATION_THRESHOLD)
    assert gc.get_threshold() == before
    with pytest.raises(TaskCrashed):
        SimRuntime().run(crash())
    assert gc.get_threshold() == before
