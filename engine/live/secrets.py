"""Keeping secrets out of everything a live run writes.

The provider adapters never put a key or an Authorization header into an error, but a live run
writes traces, event logs, logs and reports that people share, so every line goes through
``Scrubber`` as well: the values of the known key variables (exactly, wherever they appear), and
anything shaped like a key or a bearer token, become ``[REDACTED]``.

Those lines are mostly prose (essays, justifications, essay ids), so shapes are matched only as
whole tokens of the forms keys really take (issue 13: "risk-assessment-frameworks" became
"ri[REDACTED]", "The bearer responsibilities" became "The [REDACTED]"). A token is a run of
letters, digits, ``-`` and ``_``; a match may neither start nor end inside one, so
"essay-sk-anthology-01" and "desk-analysis-report" hold no key. The shapes:

* Anthropic keys: ``sk-ant-<kind><two digits>-<body>`` (``sk-ant-api03-…``, ``sk-ant-admin01-…``):
  the tagged prefix is no English word, so any body of 8 or more characters counts.
* OpenAI keys: ``sk-`` and a body of at least 20 characters that looks random (below): legacy
  keys (48 letters and digits), project (``sk-proj-``), service-account (``sk-svcacct-``) and
  admin (``sk-admin-``) keys; and masked ones (``sk-proj-****abcd``).
* ``Authorization: Bearer|Basic|Token <credential>``, in a header, JSON or a log: the credential,
  whatever it looks like. ``Authorization``, ``x-api-key`` or ``api_key`` with a value and no
  scheme: the value, if it looks random. ``Bearer <token>`` elsewhere: the token, if it is at
  least 20 characters long and looks random ("The bearer responsibilities" stays).

A token looks random when one of its runs of letters and digits (between ``-``, ``_``, ``.`` and
the like) is long and is no word: letters mixed with digits, or case mixed inside it
("hJ4kLm"), or longer than words are (over 30 letters, 12 capitals or 12 digits). English
hyphenated words never are; keys, whose bodies are random base62 or base64, always have one.
A label keeps its text (``x-api-key: [REDACTED]``), so a reader still sees what was removed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from engine.redaction import REDACTED, redact

__all__ = ["KEY_VARIABLES", "REDACTED", "Scrubber", "looks_random"]

KEY_VARIABLES = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")

# A token starts where no letter, digit, "-" or "_" precedes it; or after a JSON escape such as
# "\n" or "\u201c", whose letter or hex digits belong to the escape, not to a word (traces are
# JSON lines, and the run log's json.dumps writes every non-ASCII character, such as the curly
# quote around a pasted key, as "\uXXXX").
_START = r"(?:(?<![A-Za-z0-9_-])|(?<=\\[nrtbf])|(?<=\\u[0-9A-Fa-f]{4}))"
_END = r"(?![A-Za-z0-9_-])"
# RFC 6750's b64token, with the "*" of masked values; dots only inside, so that a sentence's
# full stop after a token is kept.
_CREDENTIAL = r"[A-Za-z0-9_~+/*-]+(?:\.[A-Za-z0-9_~+/*-]+)*=*"
# A value may follow any Unicode space or sit in any Unicode quotes (a key pasted from a document:
# 'x-api-key: “Zq8...”', "x-api-key:\u00a0Zq8..."), and in a JSON line, as the run log's
# json.dumps writes it, each of those is an escape ("\u201c", "\u00a0", '\\"'): a value after
# one leaked. _SPACE is what \s matches or its JSON escape; _QUOTE is a character of Unicode's
# Quotation_Mark property or its JSON escape.
_SPACE = r"(?:\s|\\[tnfr]|\\u(?i:000b|001[c-f]|0085|00a0|1680|200[0-9a]|202[89f]|205f|3000))"
_QUOTE = (
    r"(?:[\"'\u00ab\u00bb\u2018-\u201f\u2039\u203a\u2e42\u300c-\u300f\u301d-\u301f\ufe41-\ufe44"
    r"\uff02\uff07\uff62\uff63]|\\\"|\\u(?i:00ab|00bb|201[89a-f]|2039|203a|2e42|300[c-f]|301[d-f]"
    r"|fe4[1-4]|ff0[27]|ff6[23]))"
)
_LABEL_VALUE = rf"{_QUOTE}?{_SPACE}*[:=]{_SPACE}*{_QUOTE}?"  # "x-api-key: v", '"api_key":"v'

_KEYS = r"""
        (?P<anthropic>sk-ant-[a-z]{2,12}[0-9]{2}-[A-Za-z0-9_-]{8,})
      | (?P<masked>sk-[A-Za-z0-9_-]*\*{4,}[A-Za-z0-9_*-]*)
      | sk-(?P<openai>[A-Za-z0-9_-]{20,})
"""
_KEY = re.compile(_KEYS, re.VERBOSE)
_SHAPES = re.compile(
    rf"""
    {_START}(?:{_KEYS}
      | (?i:authorization){_LABEL_VALUE}(?i:bearer|basic|token)
        {_SPACE}+(?P<authorization>{_CREDENTIAL})
      | (?i:authorization|x-api-key|api[_-]?key){_LABEL_VALUE}(?P<labelled>{_CREDENTIAL})
      | (?i:bearer){_SPACE}+(?P<bearer>{_CREDENTIAL})
    ){_END}
    """,
    re.VERBOSE,
)

# Runs of letters and digits that words are made of; anything else of that length is random.
_WORD_RUN = re.compile(r"[a-z]{1,30}|[A-Z][a-z]{1,29}|[A-Z]{1,12}|[0-9]{1,12}")
_RUN_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")

_OPENAI_RUN_MIN = 16
_BEARER_LENGTH_MIN = 20
_BEARER_RUN_MIN = 16
_LABELLED_RUN_MIN = 1  # after "x-api-key:" any run that is not a word is a credential


def looks_random(token: str, *, run_min: int) -> bool:
    """Whether ``token`` has a run of at least ``run_min`` letters and digits that no word has
    (see the module docstring)."""
    return any(
        len(run) >= run_min and _WORD_RUN.fullmatch(run) is None
        for run in _RUN_SEPARATORS.split(token)
    )


def _is_key(match: re.Match[str]) -> bool:
    """Whether a match of ``_KEYS`` is a key (an ``sk-`` body must look random)."""
    openai = match.group("openai")
    return openai is None or looks_random(openai, run_min=_OPENAI_RUN_MIN)


def _secret_span(match: re.Match[str]) -> tuple[int, int] | None:
    """What of a shape's match to redact: the key, the credential after its label, or nothing."""
    shape = match.lastgroup
    assert shape is not None, f"a shape without its group: {match.group(0)!r}"
    if shape in ("anthropic", "masked", "openai"):
        return match.span() if _is_key(match) else None
    value = match.group(shape)
    key = _KEY.fullmatch(value)
    if shape == "authorization" or (key is not None and _is_key(key)):
        return match.span(shape)
    if shape == "labelled":
        secret = looks_random(value, run_min=_LABELLED_RUN_MIN)
    else:
        assert shape == "bearer", shape
        secret = len(value) >= _BEARER_LENGTH_MIN and looks_random(value, run_min=_BEARER_RUN_MIN)
    return match.span(shape) if secret else None


class Scrubber:
    """``scrub(text)`` with every known secret value and key-shaped token redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values = tuple(sorted(set(secrets)))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Scrubber:
        env = os.environ if environ is None else environ
        return cls(env.get(name, "") for name in KEY_VARIABLES)

    def scrub(self, text: str) -> str:
        return redact(text, self._values, _SHAPES, select=_secret_span)
