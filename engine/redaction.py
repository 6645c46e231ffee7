"""Redacting secrets from text: known values exactly, and anything shaped like a key.

One mechanism for the provider adapters (which redact error messages before they leave the
adapter) and for live runs (which scrub every line they write). Each caller brings its own
shapes: an error text may show a masked key (``sk-proj-****abcd``), a run's justifications
are prose that must survive.

A caller whose shapes need more judgement than a pattern can hold passes ``select``: it sees
each match and answers which part of it is the secret (so that ``x-api-key: [REDACTED]`` keeps
its label), or None for a match that is not a secret after all (``Bearer responsibilities``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Select", "redact"]

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8  # a shorter "secret" would redact ordinary words

#: Given a match of the shapes: the span (in the text) to redact, or None to keep the match.
Select = Callable[[re.Match[str]], tuple[int, int] | None]


def redact(
    text: str,
    secrets: Iterable[str],
    shapes: re.Pattern[str],
    *,
    select: Select | None = None,
) -> str:
    """``text`` with every known secret (longest first, exactly) and every match of ``shapes``
    replaced by ``REDACTED``; with ``select``, only the span it picks from each match, and
    nothing of a match it rejects."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, REDACTED)
    if select is None:
        return shapes.sub(REDACTED, text)

    def replace(match: re.Match[str]) -> str:
        span = select(match)
        whole = match.group(0)
        if span is None:
            return whole
        start, end = span
        offset = match.start()
        assert offset <= start <= end <= match.end(), f"span {span} outside {match.span()}"
        return whole[: start - offset] + REDACTED + whole[end - offset :]

    return shapes.sub(replace, text)
