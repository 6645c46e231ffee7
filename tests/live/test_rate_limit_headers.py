"""Rate-limit headers read into ``RateLimitHints``: each parser at its edges, both dialects whole.

Pure functions: no server, no clock (``NOW`` is passed in). An unreadable header is ``None``,
never an exception.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx2
import pytest

from engine.lps.calls import RateLimitHints
from engine.lps.providers.rate_limits import (
    HORIZON_S,
    anthropic_hints,
    openai_hints,
    parse_count,
    parse_go_duration,
    parse_instant_s,
    parse_retry_after_s,
)

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("49", 49),
        ("0", 0),
        (" 7 ", 7),
        ("000012", 12),
        ("-1", None),
        ("4.5", None),
        ("1e3", None),
        ("", None),
        ("many", None),
        ("١٢", None),  # Arabic-Indic digits are digits to str.isdigit, not to a provider
        (None, None),
    ],
)
def test_a_count_is_a_plain_non_negative_integer(text, count):
    assert parse_count(text) == count


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("120ms", 0.12),
        ("1h2m3.5s", 3723.5),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("12ns", 12e-9),
        ("0", 0.0),
        ("1.5", 1.5),  # a bare number: seconds
        (".5s", 0.5),
        ("168h", HORIZON_S),  # the horizon itself is still a plan
        ("168h0m1s", None),  # past it, a misread
        ("-1s", None),
        ("1x", None),
        ("1s junk", None),
        ("1 s", None),
        ("s", None),
        ("", None),
        ("inf", None),
        ("nan", None),
        ("1e3s", None),
        (None, None),
    ],
)
def test_an_openai_reset_is_a_go_duration(text, seconds):
    assert parse_go_duration(text) == (None if seconds is None else pytest.approx(seconds))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-11-30T09:00:01Z", 1.0),
        ("2026-11-30T09:00:00.5Z", 0.5),
        ("2026-11-30t09:00:02z", 2.0),
        ("2026-11-30T10:00:30+01:00", 30.0),  # the offset is honoured
        ("2026-11-30T09:00:00Z", 0.0),
        ("2026-11-30T08:59:59Z", 0.0),  # already past: the limit has reset
        ("2026-11-30T09:00:01", None),  # no offset: which instant is a guess
        ("2026-12-08T09:00:00Z", None),  # beyond the horizon
        ("tomorrow", None),
        ("", None),
        (None, None),
    ],
)
def test_an_anthropic_reset_is_an_instant_measured_from_now(text, seconds):
    assert parse_instant_s(text, NOW) == seconds


def test_an_instant_needs_an_aware_now():
    assert parse_instant_s("2026-11-30T09:00:01Z", NOW.replace(tzinfo=None)) is None
    assert parse_instant_s("2026-11-30T09:00:01Z", NOW.astimezone(timezone(timedelta(hours=5))))


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "7"}, 0.25),  # milliseconds win
        ({"retry-after-ms": "soon", "retry-after": "7"}, 7.0),  # ...when they can be read
        ({"retry-after": "Mon, 30 Nov 2026 09:00:30 GMT"}, 30.0),
        ({"retry-after": "Mon, 30 Nov 2026 08:00:00 GMT"}, 0.0),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "later"}, None),
        ({"retry-after": "7, 8"}, None),  # a repeated header, joined by the client
        ({}, None),
    ],
)
def test_retry_after_prefers_milliseconds_then_seconds_then_a_date(headers, seconds):
    assert parse_retry_after_s(headers, NOW) == seconds


def test_anthropic_hints_read_every_header_in_its_own_format():
    headers = httpx2.Headers(
        {
            "Anthropic-RateLimit-Requests-Remaining": "49",
            "anthropic-ratelimit-requests-reset": "2026-11-30T09:00:01Z",
            "anthropic-ratelimit-tokens-remaining": "39000",
            "anthropic-ratelimit-tokens-reset": "2026-11-30T09:06:00Z",
            "retry-after": "7",
            "x-ratelimit-remaining-requests": "1",  # the other dialect's: ignored
        }
    )
    assert anthropic_hints(headers, NOW) == RateLimitHints(
        requests_remaining=49,
        tokens_remaining=39000,
        requests_reset_s=1.0,
        tokens_reset_s=360.0,
        retry_after_s=7.0,
    )


def test_openai_hints_read_every_header_in_its_own_format():
    headers = httpx2.Headers(
        {
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
            "X-RateLimit-Remaining-Tokens": "149000",
            "x-ratelimit-reset-tokens": "6m0s",
            "retry-after-ms": "1500",
            "anthropic-ratelimit-requests-remaining": "1",  # the other dialect's: ignored
        }
    )
    assert openai_hints(headers, NOW) == RateLimitHints(
        requests_remaining=499,
        tokens_remaining=149000,
        requests_reset_s=0.12,
        tokens_reset_s=360.0,
        retry_after_s=1.5,
    )


@pytest.mark.parametrize("hints", [anthropic_hints, openai_hints])
def test_no_readable_header_is_no_hints(hints):
    assert hints({}, NOW) is None
    assert hints({"content-type": "application/json"}, NOW) is None
    unreadable = {
        "anthropic-ratelimit-requests-remaining": "lots",
        "x-ratelimit-remaining-requests": "lots",
        "retry-after": "later",
    }
    assert hints(unreadable, NOW) is None


@pytest.mark.parametrize(
    ("hints", "name"),
    [
        (anthropic_hints, "anthropic-ratelimit-tokens-remaining"),
        (openai_hints, "x-ratelimit-remaining-tokens"),
    ],
)
def test_one_readable_header_is_hints_with_that_field_alone(hints, name):
    assert hints({name: "5", "retry-after": "later"}, NOW) == RateLimitHints(tokens_remaining=5)
