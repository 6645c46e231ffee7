"""Serial bundles mark each item ``processing`` as its own call starts (``strategies.execute``):
an item waiting its turn stays queued under its TTL, and a bundle that ends early hands its
unreached items back with nothing written, so a call costs the same whatever the bundle's size.
The original's bundles (either legacy toggle) are still marked whole when taken."""

from __future__ import annotations

import pytest

from engine.lps.calls import RateLimitHints
from tests.lps.harness import CRASH, OK, comparison_request, hang, http, make_lps, ok_with


def _requests(n: int) -> list:
    return [comparison_request(f"c{i:02d}") for i in range(n)]


def _dispatch_times(world) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for record in world.events("lps.item.dispatched"):
        times.setdefault(record.ids["correlation_id"], []).append(record.t)
    return times


def test_each_item_of_a_bundle_is_dispatched_once_as_its_call_starts():
    world = make_lps(QUEUE_PROCESSING_MODE="serial_bundle", LPS_WORKERS=1)
    world.submit_and_wait(_requests(3), 600)
    (bundle,) = world.events("lps.bundle.started")
    assert bundle.fields["size"] == 3
    dispatched = _dispatch_times(world)
    assert dispatched == {f"c0{i}": world.provider.call_times(f"c0{i}") for i in range(3)}
    assert dispatched == {"c00": [0.5], "c01": [1.5], "c02": [2.5]}


def test_a_gate_pause_dispatches_nothing_that_is_not_called():
    """Rate-limit pauses cut bundles short again and again; every dispatch is still a call, and
    the items handed back cost one event per bundle, none per item."""
    scripts = {f"c{i:02d}": [http(429, {"retry-after": "5"}), OK] for i in range(0, 40, 7)}
    world = make_lps(scripts=scripts, QUEUE_PROCESSING_MODE="serial_bundle", LPS_WORKERS=3)
    world.submit_and_wait(_requests(40), 3600)
    assert all(len(world.callbacks_for(f"c{i:02d}")) == 1 for i in range(40))
    released = world.events("lps.bundle.released")
    assert released, "no bundle was cut short: the test lost its point"
    assert {r.fields["reason"] for r in released} == {"concurrency_gate"}
    assert len(world.events("lps.item.dispatched")) == len(world.provider.calls)
    requeued = [r.ids["correlation_id"] for r in world.events("lps.item.requeued")]
    assert sorted(requeued) == sorted(scripts)  # their own retries, nothing else


def test_the_original_bundle_is_marked_whole_and_handed_back_item_by_item():
    """c00 answers that no request remains for 20 s: a pause with no error, so the original's
    whole-bundle policy fails nothing and the gate holds c01's call back."""
    exhausted = RateLimitHints(requests_remaining=0, requests_reset_s=20.0)
    world = make_lps(
        scripts={"c00": [ok_with(exhausted)]},
        QUEUE_PROCESSING_MODE="serial_bundle",
        BUNDLE_FAILURE_POLICY="whole_bundle",
        LPS_WORKERS=2,
    )
    world.submit_and_wait(_requests(3), 600)
    assert _dispatch_times(world)["c01"][0] == 0.5  # marked with c00, before c00's call ended
    held = [r for r in world.events("lps.item.requeued") if r.fields.get("reason")]
    assert [(r.ids["correlation_id"], r.fields["reason"], r.t) for r in held] == [
        ("c01", "concurrency_gate", 1.5),
        ("c02", "concurrency_gate", 1.5),
    ]
    assert world.events("lps.bundle.released") == []


@pytest.mark.parametrize(("first_call_s", "second_sent"), [(35.0, True), (36.0, False)])
def test_an_item_past_its_ttl_when_its_turn_comes_is_expired_not_sent(first_call_s, second_sent):
    """TTL 36 s; the second item's turn comes after the bundle window and the first call, at
    0.5 + ``first_call_s``; the sweep is too rare to see it first."""
    world = make_lps(
        scripts={"c00": [hang(first_call_s)]},
        QUEUE_PROCESSING_MODE="serial_bundle",
        QUEUE_REQUEST_TTL_HOURS=0.01,
        QUEUE_CLEANUP_INTERVAL_S=3600,
        LPS_WORKERS=1,
    )
    world.submit_and_wait(_requests(2), 600)
    (result,) = world.callbacks_for("c01")
    assert (world.provider.call_times("c01") != []) is second_sent
    if second_sent:
        assert result.winner == "Essay A"
        return
    assert result.error_detail.error_type == "queue_expired"
    (expired,) = world.events("lps.item.expired")
    assert (expired.fields["reason"], expired.fields["status"]) == ("ttl", "queued")
    (skipped,) = world.events("lps.item.skipped")
    assert skipped.ids["correlation_id"] == "c01"


def test_a_crash_leaves_its_own_item_for_the_sweep_and_hands_the_rest_back():
    world = make_lps(
        scripts={"c00": [CRASH]},
        QUEUE_PROCESSING_MODE="serial_bundle",
        QUEUE_PROCESSING_TIMEOUT_S=300,
        LPS_WORKERS=1,
    )
    world.submit_and_wait(_requests(3), 3600)
    (crashed,) = world.events("lps.worker.crashed")
    assert crashed.fields["abandoned"] == 1
    (released,) = world.events("lps.bundle.released")
    assert (released.fields["released"], released.fields["reason"]) == (2, "worker_crash")
    assert world.callbacks_for("c00")[0].error_detail.error_type == "processing_timeout"
    for cid in ("c01", "c02"):
        assert world.callbacks_for(cid)[0].winner == "Essay A"
    # served at once, one after the other on the one worker, not after the 300 s sweep
    assert [world.provider.call_times(cid) for cid in ("c01", "c02")] == [[2.0], [3.0]]


def test_a_crash_in_the_original_bundle_leaves_every_item_for_the_sweep():
    world = make_lps(
        scripts={"c00": [CRASH]},
        QUEUE_PROCESSING_MODE="serial_bundle",
        BUNDLE_FAILURE_POLICY="whole_bundle",
        QUEUE_PROCESSING_TIMEOUT_S=300,
        LPS_WORKERS=1,
    )
    world.submit_and_wait(_requests(3), 3600)
    (crashed,) = world.events("lps.worker.crashed")
    assert crashed.fields["abandoned"] == 3
    for cid in ("c00", "c01", "c02"):
        assert world.callbacks_for(cid)[0].error_detail.error_type == "processing_timeout"
    assert world.provider.call_times("c01") == []
