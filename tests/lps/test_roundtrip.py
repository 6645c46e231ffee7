"""CJ and LPS together, on the mock provider: the regular ENG5 batch under serial bundles."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.cj.states import BatchStateEnum
from engine.lps.context import LPSContext
from engine.lps.metrics import LPSMetrics
from engine.lps.providers.mock import MockProvider
from engine.lps.service import LPSService
from engine.metrics_export import sample_value
from tests.cj.world import make_world, request


def test_an_eng5_batch_through_serial_bundles_keeps_every_contract():
    world = make_world(
        MAX_PAIRWISE_COMPARISONS=288,
        QUEUE_PROCESSING_MODE="serial_bundle",
        ENABLE_LLM_BATCHING_METADATA_HINTS=True,
        MOCK_MODE="cj_generic_batch",
    )
    mock = MockProvider(world.runtime, world.ctx.settings)
    lps = LPSService(
        LPSContext(
            runtime=world.runtime,
            store=world.store,
            bus=world.bus,
            log=world.log,
            settings=world.ctx.settings,
            streams=world.ctx.streams,
            metrics=LPSMetrics(world.registry),
            provider_for=lambda name: mock,
        )
    )
    world.ctx.sink = lps
    seen = []

    async def spy(message):
        seen.append(message.result())

    async def main():
        lps.start()
        world.bus.subscribe(world.ctx.settings.CJ_CALLBACK_TOPIC, spy, concurrency=1)
        batch = await world.service.submit_batch(request(12, anchors=True, budget=288))
        await world.runtime.sleep(2 * 3600)
        return batch

    batch = world.run(main)
    state = world.state(batch)
    assert state.state is BatchStateEnum.COMPLETED
    assert state.completed_comparisons + state.failed_comparisons == len(seen)
    assert (state.completed_comparisons, state.failed_comparisons) == world.store_counts(batch)
    # CJ hints each request with its wave's size: 24 waves, the last five short of 12 pairs
    waves = Counter(r.request_metadata["comparison_iteration"] for r in seen)
    assert sorted(Counter(waves.values()).items()) == [(4, 1), (11, 4), (12, 19)]
    for result in seen:
        hint = result.request_metadata["preferred_bundle_size"]
        assert hint == waves[result.request_metadata["comparison_iteration"]], result
    finalized_at = world.upload(batch).completed_at
    assert all(r.completed_at <= finalized_at for r in seen)
    assert lps.idle
    registry = world.registry
    # one bundle call a wave: each wave's hint is its size, and a wave is all in the queue
    assert sample_value(
        registry, "llm_provider_serial_bundle_calls_total", provider="mock", model="gpt-5.1"
    ) == len(waves)
    count = sample_value(
        registry,
        "llm_provider_queue_wait_time_seconds_count",
        queue_processing_mode="serial_bundle",
        result="success",
    )
    total = sample_value(
        registry,
        "llm_provider_queue_wait_time_seconds_sum",
        queue_processing_mode="serial_bundle",
        result="success",
    )
    assert count == len(seen) == 276
    assert total == pytest.approx(145.024, abs=1e-9)  # the original's guardrail: mean <= 120 s
    assert sample_value(registry, "cj_llm_requests_total", batching_mode="serial_bundle") == 276
