"""Batch creation is atomic (failure 6 of the fault storms): a batch either exists with its first
wave submitted, or nothing of it was written; a half-created batch is failed by the monitor."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from engine.bus import LocalBus
from engine.cj.context import CJContext
from engine.cj.metrics import CJMetrics
from engine.cj.models import BatchState, BatchUpload, ComparisonPair, Essay
from engine.cj.monitor import sweep
from engine.cj.service import CJService
from engine.cj.states import BatchStateEnum, UploadStatus
from engine.cj.submission import BatchCollision
from engine.eventlog import MemoryEventLog
from engine.live.runtime import AsyncioRuntime
from engine.randomness import DeterministicIds, Streams
from engine.settings import Settings
from engine.store.errors import DuplicateKey
from engine.store.sql import SqlStore, sqlite_url
from tests.cj.world import make_world, request

CONCURRENT_SUBMISSIONS = 8


def _second_service(world, **settings):
    """Another CJ service on the same database with the same seed: its correlation ids are the
    ones the first already used (a second run with the same seed)."""
    ctx = CJContext(
        runtime=world.runtime,
        store=world.store,
        bus=world.bus,
        log=world.log,
        settings=world.ctx.settings.with_overrides(**settings),
        streams=Streams(world.ctx.streams.root_seed),
        metrics=CJMetrics(world.registry.__class__()),
        sink=world.responder,
    )
    return CJService(ctx)


def _rows(world, kind):
    return world.store.snapshot(kind)


def test_a_colliding_batch_is_refused_before_anything_is_written():
    world = make_world()

    async def main():
        await world.service.submit_batch(request(4))
        await world.runtime.sleep(60)
        before = {kind: len(_rows(world, kind)) for kind in (BatchUpload, BatchState, Essay)}
        with pytest.raises(BatchCollision, match=r"correlation id .* already belongs"):
            await _second_service(world).submit_batch(request(4, bos="bos-2"))
        return before

    before = world.run(main)
    after = {kind: len(_rows(world, kind)) for kind in (BatchUpload, BatchState, Essay)}
    assert after == before == {BatchUpload: 1, BatchState: 1, Essay: 4}
    assert [s.state for s in _rows(world, BatchState)] == [BatchStateEnum.COMPLETED]
    assert all(p.cj_batch_id == 1 for p in _rows(world, ComparisonPair))


def test_under_the_legacy_toggle_the_collision_leaves_a_batch_initializing_forever():
    world = make_world(LEGACY_NON_ATOMIC_BATCH_CREATION=True)

    async def main():
        await world.service.submit_batch(request(4))
        await world.runtime.sleep(60)
        second = _second_service(world, LEGACY_NON_ATOMIC_BATCH_CREATION=True)
        with pytest.raises(DuplicateKey):
            await second.submit_batch(request(4, bos="bos-2"))
        await world.runtime.sleep(6 * 3600)  # the monitor runs every 5 minutes meanwhile

    world.run(main)
    states = {s.cj_batch_id: s.state for s in _rows(world, BatchState)}
    assert states == {1: BatchStateEnum.COMPLETED, 2: BatchStateEnum.INITIALIZING}


def test_the_monitor_fails_a_batch_left_initializing_once_its_timeout_passes():
    from engine.cj.intake import create_batch  # the first half of the legacy path alone

    world = make_world(BATCH_INITIALIZING_TIMEOUT_S=600)
    timeout_s = world.ctx.settings.BATCH_INITIALIZING_TIMEOUT_S

    async def main():
        await create_batch(world.ctx, request(4))
        await world.runtime.sleep(timeout_s - 1)
        await sweep(world.ctx)
        just_before = world.state().state
        await world.runtime.sleep(1)
        await sweep(world.ctx)
        return just_before

    assert world.run(main) is BatchStateEnum.INITIALIZING
    assert world.state().state is BatchStateEnum.FAILED
    assert world.upload().status is UploadStatus.ERROR_PROCESSING
    (finalized,) = world.events("cj.batch.finalized")
    assert finalized.fields["reason"] == "initialization_incomplete"


def test_peek_shows_the_next_id_without_drawing_it():
    ids = DeterministicIds(5)
    upcoming = ids.peek()
    assert ids.peek() == upcoming
    assert ids.next() == upcoming
    assert ids.next() != upcoming


# --------------------------------------------------------------------------------------------
# Concurrent submissions on one database (issue 13)
# --------------------------------------------------------------------------------------------


class _Sink:
    """LPS stand-in that takes every request and answers none: only creation is under test."""

    def __init__(self):
        self.received = []

    async def submit(self, request):
        self.received.append(request)


def _service(runtime, store, seed):
    ctx = CJContext(
        runtime=runtime,
        store=store,
        bus=LocalBus(runtime),
        log=MemoryEventLog(runtime.now),
        settings=Settings.for_simulation(),
        streams=Streams(seed),
        metrics=CJMetrics(CollectorRegistry()),
        sink=_Sink(),
    )
    return CJService(ctx)


async def _submit_at_once(runtime, services):
    """One submission per service entry, all started together; each one's id or its error."""

    async def submit(service, i):
        try:
            return await service.submit_batch(request(4, bos=f"bos-{i}"))
        except Exception as error:  # reported, so that the assertion shows every failure
            return f"{type(error).__name__}: {error}"

    tasks = [
        runtime.spawn(submit(service, i), name=f"submit-{i}") for i, service in enumerate(services)
    ]
    return [await task.join() for task in tasks]


async def _stored(store):
    async with store.transaction() as tx:
        return {
            "uploads": await tx.select(BatchUpload),
            "states": await tx.select(BatchState),
            "essays": await tx.select(Essay),
            "pairs": await tx.select(ComparisonPair),
        }


def _assert_eight_whole_batches(ids, stored):
    assert all(isinstance(cj_batch_id, int) for cj_batch_id in ids), ids
    assert sorted(ids) == list(range(1, CONCURRENT_SUBMISSIONS + 1))
    uploads = {upload.cj_batch_id: upload.bos_batch_id for upload in stored["uploads"]}
    assert uploads == {cj_batch_id: f"bos-{i}" for i, cj_batch_id in enumerate(ids)}
    assert {state.cj_batch_id: state.state for state in stored["states"]} == dict.fromkeys(
        ids, BatchStateEnum.WAITING_CALLBACKS
    )
    assert len(stored["essays"]) == 4 * CONCURRENT_SUBMISSIONS
    first_waves = {pair.cj_batch_id for pair in stored["pairs"] if pair.iteration == 1}
    assert first_waves == set(ids)


def _sql_submissions(url, *, stores, connect_args=None):
    """``CONCURRENT_SUBMISSIONS`` submissions at once on one database, through ``stores`` SQL
    stores (one store: one process; several: several processes sharing the database)."""
    runtime = AsyncioRuntime()

    async def main():
        opened = [SqlStore(url, runtime=runtime, connect_args=connect_args) for _ in range(stores)]
        try:
            # One service per store, as per process; each its own seed, as two runs of one seed
            # collide by design.
            services = [_service(runtime, store, seed=7 + n) for n, store in enumerate(opened)]
            ids = await _submit_at_once(
                runtime, [services[i % stores] for i in range(CONCURRENT_SUBMISSIONS)]
            )
            return ids, await _stored(opened[0])
        finally:
            for store in opened:
                await store.close()

    return runtime.run(main())


def test_eight_concurrent_submissions_in_the_simulated_store_each_get_a_batch():
    world = make_world()
    services = [world.service] * CONCURRENT_SUBMISSIONS

    async def main():
        return await _submit_at_once(world.runtime, services)

    ids = world.run(main)
    stored = {
        "uploads": _rows(world, BatchUpload),
        "states": _rows(world, BatchState),
        "essays": _rows(world, Essay),
        "pairs": _rows(world, ComparisonPair),
    }
    _assert_eight_whole_batches(ids, stored)
    assert ids == list(range(1, CONCURRENT_SUBMISSIONS + 1))  # the virtual clock's order


@pytest.mark.parametrize("stores", [1, CONCURRENT_SUBMISSIONS], ids=["one-store", "eight-stores"])
def test_eight_concurrent_submissions_on_sqlite_each_get_a_batch(tmp_path, stores):
    """They used to fail all but one (the max-plus-one id, then a stale snapshot reported as a
    deadlock); now each waits its turn at the write lock and allocates its own id."""
    ids, stored = _sql_submissions(sqlite_url(tmp_path / "cj.db"), stores=stores)
    _assert_eight_whole_batches(ids, stored)


def test_eight_concurrent_submissions_on_postgresql_each_get_a_batch(postgres_database):
    """They used to fail all but one with DuplicateKey: every one read the same max id."""
    url, connect_args = postgres_database
    ids, stored = _sql_submissions(url, stores=1, connect_args=connect_args)
    _assert_eight_whole_batches(ids, stored)
