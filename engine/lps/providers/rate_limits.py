"""What a provider's response headers say about its rate limits, read into ``RateLimitHints``.

Theory of operation. Every answer (a verdict, a billed failure, a 429 above all) carries the
provider's view of its limits; the adaptive concurrency controller wants it without ever
parsing a header or reading a clock. The two dialects:

* Anthropic: ``anthropic-ratelimit-{requests,tokens}-remaining`` (counts) and
  ``anthropic-ratelimit-{requests,tokens}-reset``, an RFC 3339 *instant*, turned into seconds
  from ``now`` (the runtime's ``utcnow``, passed in: these functions never read a clock).
* OpenAI: ``x-ratelimit-remaining-{requests,tokens}`` (counts) and
  ``x-ratelimit-reset-{requests,tokens}``, a Go-style *duration* (``1s``, ``6m0s``, ``120ms``).
* Both: ``retry-after-ms`` (milliseconds, preferred), else ``retry-after`` (seconds, or an
  HTTP date, again measured from ``now``).

Every function is pure and total: a header that is absent, malformed, negative, non-finite or
absurd reads as ``None``, never as an exception. An instant already past reads as 0 s (the
provider's clock and ours disagree by a little; the limit has reset). ``*_hints`` return
``None`` when no header at all could be read, so a caller tests one value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from engine.lps.calls import RateLimitHints

__all__ = [
    "anthropic_hints",
    "openai_hints",
    "parse_count",
    "parse_go_duration",
    "parse_instant_s",
    "parse_retry_after_s",
]

#: Longer than any provider window (OpenAI's daily limits reset within 24 h): a reset or a
#: retry-after beyond it is a misread header, not a plan.
HORIZON_S = 7 * 24 * 3600.0

_COUNT = re.compile(r"\d{1,18}", re.ASCII)
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
             "m": 60.0, "h": 3600.0}  # fmt: skip
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", re.ASCII)
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+", re.ASCII)


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}


def _bounded(seconds: float) -> float | None:
    return seconds if math.isfinite(seconds) and 0 <= seconds <= HORIZON_S else None


def parse_count(text: str | None) -> int | None:
    """A non-negative integer count (``"49"``); anything else (``"-1"``, ``"4.5"``) is None."""
    if text is None:
        return None
    stripped = text.strip()
    return int(stripped) if _COUNT.fullmatch(stripped) else None


def parse_go_duration(text: str | None) -> float | None:
    """Seconds in a Go duration (``"1s"``, ``"6m0s"``, ``"1h2m3.5s"``, ``"120ms"``, ``"0"``).

    A bare number is read as seconds (a proxy's habit; Go itself only accepts ``"0"``). A sign,
    an unknown unit or trailing junk is None.
    """
    if text is None:
        return None
    stripped = text.strip()
    if _NUMBER.fullmatch(stripped):
        return _bounded(float(stripped))
    parts = _GO_PART.findall(stripped)
    if not parts or "".join(number + unit for number, unit in parts) != stripped:
        return None
    return _bounded(sum(float(number) * _GO_UNITS[unit] for number, unit in parts))


def _seconds_until(instant: datetime, now: datetime) -> float | None:
    if instant.tzinfo is None or now.tzinfo is None:
        return None  # no offset: which instant it names is a guess
    return _bounded(max(0.0, (instant - now).total_seconds()))


def parse_instant_s(text: str | None, now: datetime) -> float | None:
    """Seconds from ``now`` to an RFC 3339 instant (``"2026-11-30T09:15:00Z"``); 0 if past."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped[-1:] in ("z", "Z"):
        stripped = stripped[:-1] + "+00:00"
    try:
        instant = datetime.fromisoformat(stripped)
    except ValueError:
        return None
    return _seconds_until(instant, now)


def parse_retry_after_s(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait: ``retry-after-ms``, else ``retry-after`` as seconds or an HTTP date."""
    lowered = _lowered(headers)
    millis = lowered.get("retry-after-ms", "").strip()
    if _NUMBER.fullmatch(millis):
        seconds = _bounded(float(millis) / 1000.0)
        if seconds is not None:
            return seconds
    raw = lowered.get("retry-after", "").strip()
    if _NUMBER.fullmatch(raw):
        return _bounded(float(raw))
    if not raw:
        return None
    try:
        instant = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return _seconds_until(instant, now)


def _unless_empty(hints: RateLimitHints) -> RateLimitHints | None:
    return None if hints == RateLimitHints() else hints


def anthropic_hints(headers: Mapping[str, str], now: datetime) -> RateLimitHints | None:
    """Anthropic's ``anthropic-ratelimit-*`` and retry headers; resets measured from ``now``."""
    lowered = _lowered(headers)
    prefix = "anthropic-ratelimit-"
    hints = RateLimitHints(
        requests_remaining=parse_count(lowered.get(f"{prefix}requests-remaining")),
        tokens_remaining=parse_count(lowered.get(f"{prefix}tokens-remaining")),
        requests_reset_s=parse_instant_s(lowered.get(f"{prefix}requests-reset"), now),
        tokens_reset_s=parse_instant_s(lowered.get(f"{prefix}tokens-reset"), now),
        retry_after_s=parse_retry_after_s(lowered, now),
    )
    return _unless_empty(hints)


def openai_hints(headers: Mapping[str, str], now: datetime) -> RateLimitHints | None:
    """OpenAI's ``x-ratelimit-*`` and retry headers (``now`` only for an HTTP-date retry)."""
    lowered = _lowered(headers)
    hints = RateLimitHints(
        requests_remaining=parse_count(lowered.get("x-ratelimit-remaining-requests")),
        tokens_remaining=parse_count(lowered.get("x-ratelimit-remaining-tokens")),
        requests_reset_s=parse_go_duration(lowered.get("x-ratelimit-reset-requests")),
        tokens_reset_s=parse_go_duration(lowered.get("x-ratelimit-reset-tokens")),
        retry_after_s=parse_retry_after_s(lowered, now),
    )
    return _unless_empty(hints)
