"""Issue 14's hostile corpus: every command, every kind of input, each refused where it is wrong.

The cases live by kind in ``corpus_scenarios.py``, ``corpus_commands.py`` and ``corpus_live.py``,
built with ``corpus_cases.py``.

Each case is one command line (with the files and environment it needs) that a user could
type. It must exit 2 with a line that starts at the problem's place, ``FILE:LINE:COL: field``
for a file, or the option, variable or argument by name; no traceback on either stream; no
work started first (``cli`` replaces every command's real work with a tripwire); refused
within 10 s; and nothing on disk created or changed.

``at`` is a regular expression that some line of stderr must match from its start (several:
lines in that order); the tokens ``{tmp}``, ``{bad}``, ``{live}``, ``{livedir}``, ``{storm}``
and ``{generic}`` stand for paths and are escaped. ``says`` must appear in the first such line.
A case marked ``pending`` fails today because of a bug outside the tests; it is a strict xfail,
so it fails loudly the day the bug is fixed, and its mark can go.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.bad_input.conftest import REFUSE_WITHIN_S
from tests.bad_input.corpus_cases import LIVE_EXAMPLE, SCENARIOS, Case, Fifo
from tests.bad_input.corpus_commands import COMPARE, OPTIONS, TRACES
from tests.bad_input.corpus_live import ANCHORS, LIVE
from tests.bad_input.corpus_scenarios import DUPLICATES, FIELDS, NEAR_NAMES, SYNTAX

CORPUS = [
    *SYNTAX,
    *FIELDS,
    *NEAR_NAMES,
    *DUPLICATES,
    *OPTIONS,
    *LIVE,
    *ANCHORS,
    *TRACES,
    *COMPARE,
]


# ------------------------------------------------------------------------------------------
# The test
# ------------------------------------------------------------------------------------------


def _places(tmp_path: Path) -> dict[str, str]:
    return {
        "{bad}": str(tmp_path / "bad.yaml"),
        "{live}": str(tmp_path / "live" / "eng5_sample.yaml"),
        "{livedir}": str(tmp_path / "live"),
        "{storm}": str(SCENARIOS / "storm.yaml"),
        "{generic}": str(SCENARIOS / "profile_cj_generic.yaml"),
        "{tmp}": str(tmp_path),
    }


def _fill(text: str, places: dict[str, str], *, pattern: bool = False) -> str:
    for token, path in places.items():
        text = text.replace(token, re.escape(path) if pattern else path)
    return text


def _tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a digest of its content: what a refusal may not change."""

    def digest(path: Path) -> str:
        if path.is_dir():
            return "folder"
        if not path.is_file():  # a named pipe: reading it would wait forever
            return "special"
        return hashlib.sha256(path.read_bytes()).hexdigest()

    return {str(path.relative_to(root)): digest(path) for path in sorted(root.rglob("*"))}


def _prepare(case: Case, tmp_path: Path, places: dict[str, str]) -> None:
    if case.live:
        shutil.copytree(LIVE_EXAMPLE, tmp_path / "live")
    for name, content in case.files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Fifo):
            os.mkfifo(target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(_fill(content, places), encoding="utf-8", newline="")


@pytest.mark.parametrize("case", CORPUS)
def test_hostile_input_is_refused_where_it_is_wrong(case, cli, tmp_path, monkeypatch):
    places = _places(tmp_path)
    _prepare(case, tmp_path, places)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # a default output folder would land here, and be seen
    before = _tree(tmp_path)

    outcome = cli(*(_fill(arg, places) for arg in case.argv))

    assert outcome.work_started is None, f"{outcome.work_started} began before a refusal"
    assert not outcome.timed_out, f"neither refused nor started within {REFUSE_WITHIN_S} s"
    assert "Traceback" not in outcome.err + outcome.out, outcome.err
    assert outcome.code == 2, outcome.err
    if not outcome.err.startswith("usage:"):  # argparse's usage may wrap; problems may not
        assert not [line for line in outcome.err_lines if line[:1].isspace()], outcome.err
    lines = iter(outcome.err_lines)
    for index, pattern in enumerate(case.at):
        expected = _fill(pattern, places, pattern=True)
        hit = next((line for line in lines if re.match(expected, line)), None)
        assert hit is not None, f"no line (in order) matches {expected!r}:\n{outcome.err}"
        if index == 0:
            assert case.says in hit
    assert _tree(tmp_path) == before, "a refused command created or changed files"


def test_the_corpus_is_at_least_a_hundred_cases_across_every_command():
    commands = {param.values[0].argv[0] for param in CORPUS}
    assert len(CORPUS) >= 100
    assert commands >= {
        "run",
        "swarm",
        "validate",
        "schema",
        "trace",
        "compare",
        "diff",
        "live",
        "promote",
        "demo",
    }
