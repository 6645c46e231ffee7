"""Error classification at its edges: every rule with the minimal input that triggers it, every
status next to its neighbours, header names in any letter case, and whole ``details`` dicts
asserted exactly (the survivors of `nox -s mutants`, docs/decisions/0009-mutation-testing.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.contracts import ErrorDetail
from engine.lps.calls import RateLimitHints, TokenUsage
from engine.lps.errors import (
    ProviderError,
    classify_answer,
    classify_http,
    classify_transport,
    parse_retry_after,
    unclassified,
)

T = datetime(2025, 12, 1, tzinfo=UTC)


def _classify(status, body=None, headers=None):
    return classify_http(
        status,
        headers=headers or {},
        body=body if body is not None else {},
        provider="anthropic",
        correlation_id="corr-1",
        timestamp=T,
    )


def _kind(detail):
    return detail.error_type, detail.details["retryable"]


# --- statuses alone, each next to its neighbours ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "retryable"),
    [
        (428, "client_error", False),
        (429, "rate_limit", True),  # a bare 429, no body: rate limited, not out of quota
        (430, "client_error", False),
        (528, "server_error", True),
        (529, "overloaded", True),  # a bare 529, no overloaded_error body
        (530, "server_error", True),
        (407, "client_error", False),
        (408, "timeout", True),
        (409, "client_error", False),
        (503, "server_error", True),  # 503 alone is not overloaded: that needs the OpenAI code
        (504, "timeout", True),
        (505, "server_error", True),
        (499, "client_error", False),  # the 5xx boundary
        (500, "server_error", True),
        (501, "server_error", True),
        (400, "client_error", False),
        (401, "authentication", False),
        (402, "client_error", False),
        (403, "authentication", False),
        (404, "client_error", False),
    ],
)
def test_a_bare_status_is_classified_by_itself(status, error_type, retryable):
    assert _kind(_classify(status)) == (error_type, retryable)


def test_a_bare_status_records_no_provider_fields_and_a_default_message():
    detail = _classify(500)
    assert detail.message == "HTTP 500"
    assert detail.error_code == "EXTERNAL_SERVICE_ERROR"
    assert (detail.service, detail.operation) == ("llm_provider_service", "generate_comparison")
    assert (detail.correlation_id, detail.timestamp) == ("corr-1", T)
    assert detail.details == {
        "error_type": "server_error",
        "retryable": True,
        "provider": "anthropic",
        "http_status": 500,
        "retry_after_s": None,
        "provider_error_type": None,
        "provider_error_code": None,
        "provider_request_id": None,
    }


# --- body shapes, one at a time ---------------------------------------------------------------


def test_an_overloaded_error_type_is_overloaded_whatever_the_status():
    detail = _classify(500, {"error": {"type": "overloaded_error"}})
    assert _kind(detail) == ("overloaded", True)
    assert detail.details["provider_error_type"] == "overloaded_error"
    assert detail.details["provider_error_code"] is None


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(502, "server_error"), (503, "overloaded"), (504, "timeout")],
)
def test_the_openai_overloaded_code_counts_only_on_a_503(status, error_type):
    detail = _classify(status, {"error": {"code": "server_is_overloaded"}})
    assert detail.error_type == error_type
    assert detail.details["provider_error_type"] is None
    assert detail.details["provider_error_code"] == "server_is_overloaded"


@pytest.mark.parametrize(
    "error",
    [
        {"details": {"error_code": "enforced_spend_limit_reached"}},  # Anthropic spend limit
        {"type": "insufficient_quota"},  # OpenAI, type alone
        {"code": "insufficient_quota"},  # OpenAI, code alone
        {"code": "credit_balance_exhausted"},
    ],
)
def test_each_quota_marker_alone_makes_a_429_quota_exhausted(error):
    detail = _classify(429, {"error": error}, {"retry-after": "30"})
    assert _kind(detail) == ("quota_exhausted", False)
    assert detail.error_code == "QUOTA_EXCEEDED"
    assert detail.details["retry_after_s"] is None  # never retried, so no wait is kept


@pytest.mark.parametrize(
    "error",
    [
        {"details": {"error_code": "enforced_spend_limit_reached"}},
        {"type": "insufficient_quota"},
        {"code": "credit_balance_exhausted"},
    ],
)
def test_a_quota_marker_on_another_status_is_not_quota_exhausted(error):
    assert _kind(_classify(400, {"error": error})) == ("client_error", False)


def test_the_nested_error_code_is_recorded_alone_and_wins_over_the_code():
    alone = _classify(429, {"error": {"details": {"error_code": "enforced_spend_limit_reached"}}})
    assert alone.details["provider_error_code"] == "enforced_spend_limit_reached"
    assert alone.details["provider_error_type"] is None
    both = _classify(
        429,
        {
            "error": {
                "code": "rate_limited",
                "details": {"error_code": "enforced_spend_limit_reached"},
            }
        },
    )
    assert both.details["provider_error_code"] == "enforced_spend_limit_reached"


@pytest.mark.parametrize(
    "nested",
    [{"reason": "spend"}, {"error_code": None}, {"error_code": ""}, {}, "spend limit", ["x"], None],
)
def test_details_without_an_error_code_give_no_nested_code(nested):
    detail = _classify(429, {"error": {"type": "rate_limit_error", "details": nested}})
    assert _kind(detail) == ("rate_limit", True)
    assert detail.details["provider_error_code"] is None


def test_the_provider_code_alone_is_recorded():
    detail = _classify(400, {"error": {"code": "context_length_exceeded"}})
    assert detail.details["provider_error_code"] == "context_length_exceeded"
    assert detail.details["provider_error_type"] is None


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"error": {"type": "overloaded_error", "message": "busy"}}),
        json.dumps({"error": {"type": "overloaded_error", "message": "busy"}}).encode(),
    ],
)
def test_a_json_body_as_text_or_bytes_is_parsed(body):
    detail = _classify(500, body)
    assert _kind(detail) == ("overloaded", True)
    assert detail.message == "busy"


@pytest.mark.parametrize(
    "body",
    ["<html>bad gateway</html>", b"\xff\xfe", "[1, 2]", '"overloaded_error"', [1], {"error": "x"}],
)
def test_a_body_without_an_error_object_is_ignored(body):
    detail = _classify(502, body)
    assert _kind(detail) == ("server_error", True)
    assert detail.message == "HTTP 502"
    assert detail.details["provider_error_type"] is None
    assert detail.details["provider_error_code"] is None


# --- headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "request_id"),
    [
        ({"request-id": "req_a"}, "req_a"),
        ({"Request-Id": "req_a"}, "req_a"),
        ({"x-request-id": "req_b"}, "req_b"),  # OpenAI's header, alone
        ({"X-Request-ID": "req_b"}, "req_b"),
        ({"request-id": "req_a", "x-request-id": "req_b"}, "req_a"),
        ({"other": "x"}, None),
    ],
)
def test_the_request_id_is_read_from_either_header_in_any_case(headers, request_id):
    assert _classify(500, headers=headers).details["provider_request_id"] == request_id


@pytest.mark.parametrize(
    ("status", "retry_after_s"),
    [
        (429, 7.0),
        (529, 7.0),
        (500, 7.0),
        (408, 7.0),
        (401, None),  # not retried, so its Retry-After is dropped
        (403, None),
        (400, None),
        (404, None),
    ],
)
def test_retry_after_is_kept_only_where_the_error_is_retried(status, retry_after_s):
    detail = _classify(status, headers={"Retry-After": "7"})
    assert detail.details["retry_after_s"] == retry_after_s


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "0"}, 0.0),  # zero is a wait of zero, not "no header"
        ({"retry-after-ms": "0"}, 0.0),
        ({"RETRY-AFTER": "3"}, 3.0),
        ({"Retry-After-Ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "5"}, 0.25),  # ms preferred
        ({"retry-after-ms": "soon", "retry-after": "5"}, 5.0),  # unreadable ms falls back
        ({"retry-after-ms": "-1", "retry-after": "5"}, 5.0),  # negative ms falls back
        ({"retry-after-ms": "soon"}, None),
        ({"retry-after": "2.5"}, 2.5),
    ],
)
def test_retry_after_edges(headers, expected):
    assert parse_retry_after(headers) == expected


# --- answers and transport --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("problem", "error_type", "error_code"),
    [
        ("max_tokens", "max_tokens", "EXTERNAL_SERVICE_ERROR"),
        ("invalid_response", "invalid_response", "INVALID_RESPONSE"),
        ("anything else", "invalid_response", "INVALID_RESPONSE"),
    ],
)
def test_an_answer_that_is_not_a_verdict_records_exactly_what_was_said(
    problem, error_type, error_code
):
    detail = classify_answer(
        problem,
        "cut off",
        provider="openai",
        correlation_id="corr-2",
        timestamp=T,
        stop_reason="length",
        provider_request_id="req_9",
    )
    assert detail.error_code == error_code
    assert detail.message == "cut off"
    assert detail.details == {
        "error_type": error_type,
        "retryable": False,
        "provider": "openai",
        "http_status": 200,
        "retry_after_s": None,
        "stop_reason": "length",
        "provider_request_id": "req_9",
    }


@pytest.mark.parametrize(
    ("kind", "error_type", "error_code"),
    [
        ("timeout", "timeout", "TIMEOUT"),
        ("connection", "connection", "CONNECTION_ERROR"),
        ("reset", "connection", "CONNECTION_ERROR"),
    ],
)
def test_a_transport_failure_records_exactly_what_happened(kind, error_type, error_code):
    detail = classify_transport(
        kind, "refused", provider="openai", correlation_id="corr-3", timestamp=T
    )
    assert detail.error_code == error_code
    assert detail.details == {
        "error_type": error_type,
        "retryable": True,
        "provider": "openai",
        "http_status": None,
        "retry_after_s": None,
    }


@pytest.mark.parametrize(("length", "kept"), [(499, 499), (500, 500), (501, 500), (900, 500)])
def test_a_provider_message_is_cut_at_500_characters(length, kept):
    detail = _classify(400, {"error": {"message": "m" * length}})
    assert detail.message == "m" * kept


# --- ProviderError and the legacy view --------------------------------------------------------


def test_a_provider_error_carries_its_detail_and_what_the_call_cost():
    detail = _classify(429, {"error": {"message": "slow down"}}, {"retry-after": "2"})
    usage = TokenUsage(prompt_tokens=10, completion_tokens=3)
    hints = RateLimitHints(requests_remaining=0, retry_after_s=2.0)
    error = ProviderError(detail, usage=usage, model="claude-x", rate_limit=hints)
    assert str(error) == "rate_limit: slow down"
    assert error.detail is detail
    assert (error.usage, error.model, error.rate_limit) == (usage, "claude-x", hints)
    assert (error.error_type, error.retryable) == ("rate_limit", True)
    bare = ProviderError(_classify(401))
    assert (bare.usage, bare.model, bare.rate_limit) == (None, None, None)
    assert (bare.error_type, bare.retryable) == ("authentication", False)


def test_a_provider_error_without_a_retryable_flag_is_not_retried():
    detail = ErrorDetail(
        error_code="E",
        message="m",
        correlation_id="c",
        timestamp=T,
        service="s",
        operation="o",
    )
    assert ProviderError(detail).retryable is False


@pytest.mark.parametrize(
    ("detail", "http_status", "retry_after_s"),
    [
        (_classify(401, headers={"retry-after": "9"}), 401, None),
        (_classify(429, {"error": {"type": "insufficient_quota"}}), 429, None),
        (_classify(529, headers={"retry-after": "4"}), 529, 4.0),
    ],
)
def test_the_legacy_view_makes_every_failure_one_retryable_unknown(
    detail, http_status, retry_after_s
):
    legacy = unclassified(detail)
    assert legacy.error_code == "EXTERNAL_SERVICE_ERROR"
    assert legacy.details == {
        "error_type": "unknown",
        "retryable": True,
        "provider": "anthropic",
        "http_status": http_status,
        "retry_after_s": retry_after_s,
    }
    assert (legacy.message, legacy.correlation_id, legacy.timestamp) == (
        detail.message,
        detail.correlation_id,
        detail.timestamp,
    )
    assert detail.error_type != "unknown"  # the original is left as it was


def test_the_legacy_view_of_a_transport_failure_has_no_status():
    detail = classify_transport("timeout", "t", provider="openai", correlation_id="c", timestamp=T)
    legacy = unclassified(detail)
    assert legacy.details == {
        "error_type": "unknown",
        "retryable": True,
        "provider": "openai",
        "http_status": None,
        "retry_after_s": None,
    }
    assert legacy.error_code == "EXTERNAL_SERVICE_ERROR"
