"""Redacting secrets from text: known values exactly, and anything shaped like a key.

One mechanism for the provider adapters (which redact error messages before they leave the
adapter) and for live runs (which scrub every line they write). Each caller brings its own
shapes: an error text may show a masked key (``sk-proj-****abcd``), a run's justifications
are prose that must survive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "redact"]

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8  # a shorter "secret" would redact ordinary words


def redact(text: str, secrets: Iterable[str], shapes: re.Pattern[str]) -> str:
    """``text`` with every known secret (longest first, exactly) and every match of ``shapes``
    replaced by ``REDACTED``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, REDACTED)
    return shapes.sub(REDACTED, text)
