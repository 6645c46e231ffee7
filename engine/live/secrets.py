"""Keeping secrets out of everything a live run writes.

The provider adapters never put a key or an Authorization header into an error, but a live run
writes traces, event logs, logs and reports that people share, so every line goes through
``Scrubber`` as well: the values of the known key variables (exactly), and anything shaped like
a key or a bearer token (by pattern), become ``[REDACTED]``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from engine.redaction import REDACTED, redact

__all__ = ["KEY_VARIABLES", "REDACTED", "Scrubber"]

KEY_VARIABLES = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")

_SHAPES = re.compile(
    r"sk-ant-[A-Za-z0-9_-]{8,}"  # Anthropic keys
    r"|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}"  # OpenAI keys
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"  # Authorization: Bearer ...
    r"|(?i:x-api-key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9._-]{8,}"  # x-api-key: ...
)


class Scrubber:
    """``scrub(text)`` with every known secret value and key-shaped string redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values = tuple(set(secrets))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Scrubber:
        env = os.environ if environ is None else environ
        return cls(env.get(name, "") for name in KEY_VARIABLES)

    def scrub(self, text: str) -> str:
        return redact(text, self._values, _SHAPES)
