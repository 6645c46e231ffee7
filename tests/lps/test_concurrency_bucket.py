"""The token bucket: full at the start, a minute's worth at most, refilled continuously."""

from __future__ import annotations

import pytest

from engine.lps.concurrency_bucket import TokenBucket


def test_a_bucket_starts_full_and_refills_at_its_rate_up_to_its_capacity():
    bucket = TokenBucket.per_minute(60, now_s=0.0)
    assert bucket.remaining(now_s=0.0) == 60
    assert bucket.reset_s(now_s=0.0) == 0.0
    drained = bucket.take(60, now_s=0.0)
    assert drained.remaining(now_s=0.0) == 0
    assert drained.reset_s(now_s=0.0) == 60.0
    assert drained.remaining(now_s=0.999) == 0
    assert drained.remaining(now_s=1.0) == 1
    assert drained.remaining(now_s=3600.0) == 60  # never above capacity


def test_wait_s_is_when_the_next_whole_token_is_there():
    bucket = TokenBucket.per_minute(30, now_s=0.0).take(30, now_s=0.0)  # 0.5 a second
    assert bucket.wait_s(now_s=0.0) == pytest.approx(2.0)
    assert bucket.wait_s(now_s=1.5) == pytest.approx(0.5)
    later = 2.0 + 1e-6
    assert bucket.wait_s(now_s=later) == 0.0
    assert bucket.wait_s(now_s=0.0 + bucket.wait_s(now_s=0.0)) == 0.0  # a wait ends the wait


def test_tokens_charged_after_the_answer_can_put_the_bucket_in_debt():
    bucket = TokenBucket.per_minute(6000, now_s=0.0).take(8000, now_s=0.0)  # 100 a second
    assert bucket.remaining(now_s=0.0) == 0
    assert bucket.wait_s(now_s=0.0) == pytest.approx(20.01)  # the debt, then one token
    assert bucket.reset_s(now_s=0.0) == pytest.approx(80.0)


def test_giving_back_never_overfills():
    bucket = TokenBucket.per_minute(10, now_s=0.0).take(-5, now_s=0.0)
    assert bucket.remaining(now_s=0.0) == 10


@pytest.mark.parametrize("limit", [0, -1, float("inf"), float("nan")])
def test_a_limit_must_be_finite_and_positive(limit):
    with pytest.raises(ValueError, match="per-minute limit"):
        TokenBucket.per_minute(limit, now_s=0.0)
