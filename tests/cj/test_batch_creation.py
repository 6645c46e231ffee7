"""Batch creation is atomic (failure 6 of the fault storms): a batch either exists with its first
wave submitted, or nothing of it was written; a half-created batch is failed by the monitor."""

from __future__ import annotations

import pytest

from engine.cj.context import CJContext
from engine.cj.metrics import CJMetrics
from engine.cj.models import BatchState, BatchUpload, ComparisonPair, Essay
from engine.cj.monitor import sweep
from engine.cj.service import CJService
from engine.cj.states import BatchStateEnum, UploadStatus
from engine.cj.submission import BatchCollision
from engine.randomness import DeterministicIds, Streams
from engine.store.errors import DuplicateKey
from tests.cj.world import make_world, request


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
