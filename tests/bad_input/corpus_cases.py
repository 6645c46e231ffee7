"""The hostile corpus's vocabulary: a ``Case`` (one command line a user could type, with the
files and environment it needs, and where its refusal must point), the builders of each kind of
case, and the inputs the cases share. The cases themselves are in ``corpus_*.py``, the test in
``test_hostile_corpus.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.bad_input.conftest import ROOT

SCENARIOS = ROOT / "scenarios"
LIVE_EXAMPLE = ROOT / "examples" / "live"
LIVE_TEXT = (LIVE_EXAMPLE / "eng5_sample.yaml").read_text(encoding="utf-8")
ANCHORS_TEXT = (LIVE_EXAMPLE / "anchors.csv").read_text(encoding="utf-8")
TRACE = ROOT / "traces" / "cj_lps_roundtrip_mock_20251205"
CALLBACK_LINES = (TRACE / "llm_callbacks.jsonl").read_text(encoding="utf-8").splitlines()
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256))
HUGE = str(10**30)


class Fifo:
    """A named pipe in place of a file: opening it waits for a writer that never comes."""


Content = str | bytes | Fifo


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    at: tuple[str, ...]
    says: str = ""
    files: Mapping[str, Content] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    live: bool = False  # the example live run (configuration, essays, anchors) in {livedir}


def case(
    name: str,
    argv: list[str],
    at: str | tuple[str, ...],
    says: str = "",
    *,
    files: Mapping[str, Content] | None = None,
    env: Mapping[str, str] | None = None,
    live: bool = False,
    pending: str | None = None,
) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=f"pending: {pending}")] if pending else []
    return pytest.param(
        Case(tuple(argv), (at,) if isinstance(at, str) else at, says, files or {}, env or {}, live),
        id=name,
        marks=marks,
    )


def scenario(name: str, document: str | bytes, at: str, says: str = "", **kw: Any) -> Any:
    """``cjsim validate`` of one scenario file, ``{bad}``."""
    return case(name, ["validate", "{bad}"], at, says, files={"bad.yaml": document}, **kw)


def position(text: str, needle: str) -> str:
    """``LINE:COL`` (1-based) of the first ``needle`` in ``text`` outside a comment."""
    for number, line in enumerate(text.splitlines(), start=1):
        col = line.find(needle)
        if col >= 0 and "#" not in line[:col]:
            return f"{number}:{col + 1}"
    raise AssertionError(f"{needle!r} is not in the text")


def live_text(*edits: tuple[str, str]) -> str:
    """The example live configuration with each ``(old, new)`` replaced once."""
    text = LIVE_TEXT
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def live_config(name: str, text: str, at: str, says: str = "", **kw: Any) -> Any:
    """``cjsim live --dry-run`` of an edited example configuration, ``{live}``."""
    files = {"live/eng5_sample.yaml": text, **kw.pop("files", {})}
    argv = ["live", "{live}", "--dry-run", "--out", "{tmp}/out", *kw.pop("extra", [])]
    return case(name, argv, at, says, files=files, live=True, **kw)


def live_at(text: str, needle: str, field_path: str) -> str:
    return "{live}:" + position(text, needle) + ": " + re.escape(field_path)


def anchors(name: str, csv: str | bytes, at: str, says: str = "", **kw: Any) -> Any:
    """``cjsim validate`` of the example live configuration with another anchors CSV."""
    files = {"live/anchors.csv": csv}
    return case(name, ["validate", "{live}"], at, says, files=files, live=True, **kw)
