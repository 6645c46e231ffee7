"""The Runtime port's contract, run against SimRuntime and AsyncioRuntime alike."""

from __future__ import annotations

from datetime import UTC

import pytest

from engine.ports import QueueEmpty, QueueFull, TaskCancelled, TaskCrashed

# On AsyncioRuntime a unit is 10 ms of real time, and a machine under load (4 runnable jobs on
# 2 cores) can keep a ready task waiting for tens of milliseconds. So on the real clock these
# tests prove order by causality (what had happened when something else happened), bound times
# from below only (load makes a sleep longer, never shorter), and bound from above only by a
# margin no loaded machine comes near: the 1 s below is a hundred units. SimRuntime's clock is
# exact, and is asserted exactly.
LOADED_MACHINE_SLACK_S = 1.0


def test_sleep_advances_the_clock_by_at_least_the_duration(rt):
    async def main(runtime):
        start = runtime.now()
        await runtime.sleep(3 * rt.unit_s)
        return start, runtime.now()

    start, end = rt.run(main)
    assert end - start >= 3 * rt.unit_s * 0.99
    if rt.exact:
        assert (start, end) == (0, 3 * rt.unit_s)
    else:  # the clock counts from the start of the run, not from the epoch or the boot
        assert 0 <= start < LOADED_MACHINE_SLACK_S


def test_utcnow_is_timezone_aware_utc(rt):
    async def main(runtime):
        return runtime.utcnow()

    assert rt.run(main).tzinfo == UTC


def test_negative_sleep_is_refused(rt):
    async def main(runtime):
        await runtime.sleep(-1)

    with pytest.raises((ValueError, TaskCrashed), match="negative"):
        rt.run(main)


def test_spawned_tasks_run_concurrently_and_join_returns_results(rt):
    async def worker(runtime, delay_units, label, trace):
        trace.append(("started", label))
        await runtime.sleep(delay_units * rt.unit_s)
        trace.append(("finished", label))
        return label.upper()

    async def main(runtime):
        trace = []
        slow = runtime.spawn(worker(runtime, 3, "slow", trace), name="slow")
        fast = runtime.spawn(worker(runtime, 1, "fast", trace), name="fast")
        results = (await slow.join(), await fast.join())
        return trace, results, runtime.now()

    trace, results, elapsed = rt.run(main)
    # concurrent, not 1 + 3 in sequence: both had started before either finished, and the
    # one spawned second finished first (causal order, which no load on the machine changes)
    assert trace == [
        ("started", "slow"),
        ("started", "fast"),
        ("finished", "fast"),
        ("finished", "slow"),
    ]
    assert results == ("SLOW", "FAST")
    assert elapsed >= 3 * rt.unit_s * 0.99
    if rt.exact:
        assert elapsed == 3 * rt.unit_s


async def nap(runtime, seconds):
    await runtime.sleep(seconds)


def test_task_exposes_its_name_and_done_state(rt):
    async def main(runtime):
        task = runtime.spawn(nap(runtime, rt.unit_s), name="napper")
        before = task.done()
        await task.join()
        return task.name, before, task.done(), task.cancelled()

    assert rt.run(main) == ("napper", False, True, False)


def test_a_crashing_task_fails_the_run_naming_the_task(rt):
    async def doomed(runtime):
        await runtime.sleep(rt.unit_s)
        raise ValueError("provider answer could not be parsed")

    async def main(runtime):
        runtime.spawn(doomed(runtime), name="lps-worker-2")
        await runtime.sleep(10 * rt.unit_s)
        return "main finished as if nothing happened"

    with pytest.raises(TaskCrashed, match="lps-worker-2") as caught:
        rt.run(main)
    assert caught.value.task_name == "lps-worker-2"
    assert isinstance(caught.value.__cause__, ValueError)
    assert "could not be parsed" in str(caught.value)


def test_an_exception_in_main_fails_the_run_naming_main(rt):
    async def main(runtime):
        await runtime.sleep(rt.unit_s)
        raise KeyError("batch 7")

    with pytest.raises(TaskCrashed, match="main") as caught:
        rt.run(main)
    assert isinstance(caught.value.__cause__, KeyError)


def test_cancel_runs_cleanup_and_join_reports_the_cancellation(rt):
    async def sleeper(runtime, cleaned):
        try:
            await runtime.sleep(10_000 * rt.unit_s)
        finally:
            cleaned.append(runtime.now())

    async def main(runtime):
        cleaned = []
        task = runtime.spawn(sleeper(runtime, cleaned), name="sleeper")
        await runtime.sleep(rt.unit_s)
        task.cancel()
        task.cancel()  # a second request is harmless
        with pytest.raises(TaskCancelled, match="sleeper"):
            await task.join()
        return cleaned, task.cancelled(), runtime.now()

    # a sleeper that ignored the cancel would keep the run past its bound (TimeoutError)
    cleaned, cancelled, now = rt.run(main, until_s=rt.unit_s + LOADED_MACHINE_SLACK_S)
    assert cancelled
    assert len(cleaned) == 1
    assert cleaned[0] <= now  # cleaned up before join returned
    if rt.exact:
        assert cleaned == [rt.unit_s]
        assert now == rt.unit_s


def test_cancel_after_completion_is_a_no_op(rt):
    async def main(runtime):
        task = runtime.spawn(nap(runtime, 0), name="quick")
        await task.join()
        task.cancel()
        return task.cancelled()

    assert rt.run(main) is False


def test_lock_excludes_and_grants_in_arrival_order(rt):
    async def holder(runtime, lock, label, trace):
        async with lock:
            trace.append(("in", label))
            await runtime.sleep(rt.unit_s)
            trace.append(("out", label))

    async def main(runtime):
        lock = runtime.lock()
        trace = []
        tasks = []
        for label in "abc":
            tasks.append(runtime.spawn(holder(runtime, lock, label, trace), name=label))
            await runtime.sleep(0.01 * rt.unit_s)  # a, b, c arrive in that order
        for task in tasks:
            await task.join()
        return trace, lock.locked()

    trace, locked = rt.run(main)
    assert trace == [
        ("in", "a"),
        ("out", "a"),
        ("in", "b"),
        ("out", "b"),
        ("in", "c"),
        ("out", "c"),
    ]
    assert not locked


def test_a_cancelled_lock_waiter_does_not_leak_the_lock(rt):
    async def wait_for_lock(runtime, lock):
        async with lock:
            await runtime.sleep(rt.unit_s)

    async def main(runtime):
        lock = runtime.lock()
        async with lock:
            waiter = runtime.spawn(wait_for_lock(runtime, lock), name="waiter")
            await runtime.sleep(rt.unit_s)
            waiter.cancel()
            with pytest.raises(TaskCancelled):
                await waiter.join()
        async with lock:  # would wait forever if the cancelled waiter kept its place
            return lock.locked()

    assert rt.run(main, until_s=20 * rt.unit_s) is True


def test_queue_is_fifo_and_bounded(rt):
    async def main(runtime):
        queue = runtime.queue(maxsize=2)
        queue.put_nowait("first")
        await queue.put("second")
        with pytest.raises(QueueFull):
            queue.put_nowait("third")
        got = [queue.get_nowait(), await queue.get()]
        with pytest.raises(QueueEmpty):
            queue.get_nowait()
        return got, len(queue), queue.maxsize

    assert rt.run(main) == (["first", "second"], 0, 2)


@pytest.mark.parametrize("maxsize", [0, -1, 1.5])
def test_a_queue_must_have_a_positive_integer_bound(rt, maxsize):
    async def main(runtime):
        runtime.queue(maxsize=maxsize)

    with pytest.raises((ValueError, TaskCrashed), match="maxsize"):
        rt.run(main)


def test_put_waits_while_full_and_get_waits_while_empty(rt):
    async def producer(runtime, queue, trace):
        for item in range(3):
            await queue.put(item)
            trace.append(("put", item, runtime.now()))

    async def main(runtime):
        queue = runtime.queue(maxsize=1)
        trace = []
        task = runtime.spawn(producer(runtime, queue, trace), name="producer")
        for _ in range(3):
            await runtime.sleep(rt.unit_s)
            item = await queue.get()
            trace.append(("got", item, runtime.now()))
        await task.join()
        return trace

    trace = rt.run(main)
    # each put after the first waits for the get that makes room (causal order); and a put
    # waits at least as long as the sleeps before that get (load only adds to it)
    events = [(kind, item) for kind, item, _ in trace]
    assert events == [("put", 0), ("got", 0), ("put", 1), ("got", 1), ("put", 2), ("got", 2)]
    put_at = [t for kind, _, t in trace if kind == "put"]
    assert all(t >= item * rt.unit_s * 0.99 for item, t in enumerate(put_at))
    if rt.exact:
        assert put_at == [0, rt.unit_s, 2 * rt.unit_s]


def test_a_cancelled_getter_does_not_swallow_an_item(rt):
    async def getter(runtime, queue, got):
        got.append(await queue.get())

    async def main(runtime):
        queue = runtime.queue(maxsize=4)
        got = []
        doomed = runtime.spawn(getter(runtime, queue, got), name="doomed")
        await runtime.sleep(rt.unit_s)
        doomed.cancel()
        with pytest.raises(TaskCancelled):
            await doomed.join()
        survivor = runtime.spawn(getter(runtime, queue, got), name="survivor")
        await runtime.sleep(rt.unit_s)
        await queue.put("item")
        await survivor.join()
        return got

    assert rt.run(main) == ["item"]


def test_event_wakes_every_waiter_once_set(rt):
    async def waiter(runtime, event, woke):
        await event.wait()
        woke.append(runtime.now())

    async def main(runtime):
        event = runtime.event()
        woke = []
        tasks = [runtime.spawn(waiter(runtime, event, woke), name=f"w{i}") for i in range(3)]
        await runtime.sleep(2 * rt.unit_s)
        assert not event.is_set()
        event.set()
        event.set()  # idempotent
        for task in tasks:
            await task.join()
        await event.wait()  # already set: returns at once
        return woke, event.is_set()

    woke, is_set = rt.run(main)
    assert is_set
    assert len(woke) == 3
    assert all(t >= 2 * rt.unit_s * 0.99 for t in woke)


def test_run_is_bounded_by_until(rt):
    async def main(runtime):
        await runtime.sleep(100 * rt.unit_s)

    with pytest.raises(TimeoutError, match="did not finish"):
        rt.run(main, until_s=2 * rt.unit_s)
