"""Error classification (PR 3) and the dispatch order, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.lps.errors import classify_answer, classify_http, classify_transport, parse_retry_after
from engine.lps.queue import DispatchIndex, QueueStatus, next_status
from engine.lps.retry import retry_delay_s
from engine.randomness import Streams
from engine.settings import Settings

T = datetime(2025, 12, 1, tzinfo=UTC)


def _classify(status, body=None, headers=None):
    return classify_http(
        status,
        headers=headers or {},
        body=body or {},
        provider="p",
        correlation_id="c",
        timestamp=T,
    )


@pytest.mark.parametrize(
    ("status", "body", "error_type", "retryable"),
    [
        (429, {"error": {"type": "rate_limit_error"}}, "rate_limit", True),
        (
            429,
            {
                "error": {
                    "type": "rate_limit_error",
                    "details": {"error_code": "enforced_spend_limit_reached"},
                }
            },
            "quota_exhausted",
            False,
        ),
        (
            429,
            {"error": {"type": "insufficient_quota", "code": "insufficient_quota"}},
            "quota_exhausted",
            False,
        ),
        (429, {"error": {"type": "rate_limit_error", "code": "slow_down"}}, "rate_limit", True),
        (529, {"error": {"type": "overloaded_error"}}, "overloaded", True),
        (
            503,
            {"error": {"type": "service_unavailable_error", "code": "server_is_overloaded"}},
            "overloaded",
            True,
        ),
        (500, {"error": {"type": "api_error"}}, "server_error", True),
        (503, {}, "server_error", True),
        (504, {"error": {"type": "timeout_error"}}, "timeout", True),
        (401, {"error": {"type": "authentication_error"}}, "authentication", False),
        (403, {}, "authentication", False),
        (400, {"error": {"type": "invalid_request_error"}}, "client_error", False),
        (413, "<html>too large</html>", "client_error", False),
    ],
)
def test_http_errors_are_classified(status, body, error_type, retryable):
    detail = _classify(status, body)
    assert detail.error_type == error_type
    assert detail.details["retryable"] is retryable
    assert detail.details["http_status"] == status


def test_the_provider_request_id_and_retry_after_are_kept():
    detail = _classify(
        429,
        {"error": {"type": "rate_limit_error", "message": "slow"}},
        {"request-id": "req_011", "Retry-After": "7"},
    )
    assert detail.details["provider_request_id"] == "req_011"
    assert detail.details["retry_after_s"] == 7.0
    assert detail.message == "slow"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "5"}, 5.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({}, None),
        ({"retry-after": "-3"}, None),
    ],
)
def test_retry_after_parsing(headers, expected):
    assert parse_retry_after(headers) == expected


def test_answers_that_are_not_verdicts_and_transport_failures():
    truncated = classify_answer(
        "max_tokens",
        "cut off",
        provider="p",
        correlation_id="c",
        timestamp=T,
        stop_reason="max_tokens",
    )
    assert (truncated.error_type, truncated.details["retryable"]) == ("max_tokens", False)
    invalid = classify_answer(
        "invalid_response", "no JSON", provider="p", correlation_id="c", timestamp=T
    )
    assert invalid.error_type == "invalid_response"
    for kind, error_type in (("timeout", "timeout"), ("connection", "connection")):
        detail = classify_transport(kind, "x", provider="p", correlation_id="c", timestamp=T)
        assert (detail.error_type, detail.details["retryable"]) == (error_type, True)


def test_retry_delays_follow_the_policy():
    settings = Settings.for_simulation()
    rng = Streams(1).random("retry")
    assert retry_delay_s(_classify(429, headers={"retry-after": "5"}), 0, settings, rng) == 5.0
    assert retry_delay_s(_classify(401), 0, settings, rng) is None
    assert retry_delay_s(_classify(500), 3, settings, rng) is None  # QUEUE_MAX_RETRIES = 3
    delays = [retry_delay_s(_classify(500), n, settings, rng) for n in range(3)]
    # base 4 s doubled per retry, each less up to 25 % of seeded jitter: 3..4, 6..8, 12..16 s
    assert delays == pytest.approx([3.088397953549706, 7.200001996709295, 14.861081387353638])


def test_dispatch_is_by_priority_then_arrival_and_a_retry_keeps_its_place():
    index = DispatchIndex()
    for queue_id, priority in (("a", 5), ("b", 9), ("c", 5), ("d", 1)):
        index.push(queue_id, priority)
    assert index.pop() == "b"
    assert index.pop() == "a"
    index.push("a", 5)  # retried: back before "c", which arrived after it
    assert [index.pop(), index.pop(), index.pop(), index.pop()] == ["a", "c", "d", None]


def test_queue_statuses_only_move_forward():
    assert next_status(QueueStatus.QUEUED, QueueStatus.PROCESSING) is QueueStatus.PROCESSING
    for terminal in (QueueStatus.COMPLETED, QueueStatus.FAILED, QueueStatus.EXPIRED):
        with pytest.raises(RuntimeError, match=f"{terminal.value} cannot become"):
            next_status(terminal, QueueStatus.QUEUED)
