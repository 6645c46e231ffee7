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
    # Not ``shapes.sub``: a rejected match must not hide one that starts inside it ("bearer
    # Authorization: Bearer <token>"), so the search goes on from the next character.
    parts: list[str] = []
    kept_from = 0  # text before this is in ``parts``
    found = shapes.search(text)
    while found is not None:
        span = select(found)
        if span is None:
            found = shapes.search(text, found.start() + 1)
            continue
        start, end = span
        assert found.start() <= start <= end <= found.end(), f"{span} outside {found.span()}"
        parts += (text[kept_from:start], REDACTED)
        kept_from = end
        found = shapes.search(text, max(found.end(), found.start() + 1))
    parts.append(text[kept_from:])
    return "".join(parts)
