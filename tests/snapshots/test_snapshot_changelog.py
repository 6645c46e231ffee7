"""No snapshot changes without a reason on record: every file under ``tests/**/__snapshots__/``
must have its current digest listed in CHANGELOG.md's "Snapshot changes" section (or in a
decision note), so ``pytest --snapshot-update`` alone cannot make CI pass.

Theory of operation. A record is a list item naming a snapshot file and the first 12 hex digits
of the sha256 of its contents (line endings read as LF, so a checkout's line endings do not
matter)::

    - `tests/snapshots/__snapshots__/test_eng5_ranking.ambr` sha256 `0123456789ab`

In CHANGELOG.md, records sit under a ``### `` entry whose prose says why the files changed; an
entry that lists files without a word of why is refused. In ``docs/decisions/*.md`` a record
counts wherever it stands: the note is the why. Records are never removed; an old digest is
history. The check needs no git history, so it holds on a fresh clone and a shallow CI checkout
alike (docs/decisions/0010-snapshot-policy.md).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHANGELOG = "CHANGELOG.md"
SECTION = "## Snapshot changes"
DECISIONS = "docs/decisions"
DIGEST_HEX = 12
RECORD = re.compile(r"^\s*[-*]\s+`(?P<path>[^`]+)`\s+sha256\s+`(?P<digest>[0-9a-f]+)`")


def snapshot_files(root: Path) -> list[Path]:
    """Every file syrupy keeps under ``root``'s tests, in path order."""
    return sorted(p for p in (root / "tests").glob("**/__snapshots__/**/*") if p.is_file())


def digest(path: Path) -> str:
    """The first ``DIGEST_HEX`` hex digits of the sha256 of ``path``, line endings read as LF."""
    text = path.read_bytes().replace(b"\r\n", b"\n")
    return hashlib.sha256(text).hexdigest()[:DIGEST_HEX]


def record_line(root: Path, path: Path) -> str:
    """The record to paste for ``path`` as it is now."""
    return f"- `{path.relative_to(root).as_posix()}` sha256 `{digest(path)}`"


@dataclass(kw_only=True)
class _Entry:
    """A ``### `` entry of the Snapshot changes section, as it is read."""

    line: int
    title: str
    records: int = 0
    has_why: bool = False


def _changelog_section(lines: list[str]) -> Iterator[tuple[int, str]]:
    """The lines of the Snapshot changes section, with their line numbers (from 1)."""
    inside = False
    for number, line in enumerate(lines, start=1):
        if line.startswith("## "):
            inside = line.rstrip() == SECTION
        elif inside:
            yield number, line


def recorded(root: Path) -> tuple[set[tuple[str, str]], list[str]]:
    """The (path, digest) pairs on record under ``root``, and what is wrong with the records."""
    pairs: set[tuple[str, str]] = set()
    problems: list[str] = []
    changelog = root / CHANGELOG
    if not changelog.is_file():
        return pairs, [f"{CHANGELOG}: missing; snapshot changes are recorded in its {SECTION!r}"]
    lines = changelog.read_text(encoding="utf-8").splitlines()
    if SECTION not in (line.rstrip() for line in lines):
        problems.append(f"{CHANGELOG}: no {SECTION!r} section")
    entries: list[_Entry] = []
    for number, line in _changelog_section(lines):
        match = RECORD.match(line)
        if line.startswith("### "):
            entries.append(_Entry(line=number, title=line[4:].strip()))
        elif match and not entries:
            problems.append(
                f"{CHANGELOG}:{number}: a record before any '### ' entry: put it under an entry "
                "that says why the file changed"
            )
        elif match:
            pairs.add((match["path"], match["digest"][:DIGEST_HEX]))
            entries[-1].records += 1
        elif line.strip() and entries:
            entries[-1].has_why = True
    problems += [
        f"{CHANGELOG}:{entry.line}: entry {entry.title!r} lists {entry.records} snapshot "
        "file(s) but not why they changed: add a sentence"
        for entry in entries
        if entry.records and not entry.has_why
    ]
    for note in sorted((root / DECISIONS).glob("*.md")):
        for line in note.read_text(encoding="utf-8").splitlines():
            if match := RECORD.match(line):
                pairs.add((match["path"], match["digest"][:DIGEST_HEX]))
    return pairs, problems


def snapshot_problems(root: Path) -> list[str]:
    """One message per snapshot file under ``root`` whose current contents are not on record,
    after any problem with the records themselves."""
    pairs, problems = recorded(root)
    for path in snapshot_files(root):
        name = path.relative_to(root).as_posix()
        if (name, digest(path)) not in pairs:
            problems.append(
                f"{name} changed (sha256 {digest(path)}) with no entry in {CHANGELOG}'s "
                f"Snapshot changes: say why it changed, under an entry, with the line\n"
                f"    {record_line(root, path)}"
            )
    return problems


def test_every_snapshot_file_is_on_record_as_it_is_now():
    problems = snapshot_problems(ROOT)
    assert not problems, "\n".join(problems)


def _copy(tmp_path: Path) -> Path:
    """The snapshots, CHANGELOG.md and decision notes of this tree, copied under ``tmp_path``."""
    copy = tmp_path / "tree"
    for path in [*snapshot_files(ROOT), ROOT / CHANGELOG, *(ROOT / DECISIONS).glob("*.md")]:
        target = copy / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return copy


def _add_entry(copy: Path, entry: str) -> int:
    """Put ``entry`` above the newest entry of the copy's Snapshot changes section; the number
    of its first line."""
    lines = (copy / CHANGELOG).read_text(encoding="utf-8").splitlines()
    at = next(number for number, line in _changelog_section(lines) if line.startswith("### "))
    lines[at - 1 : at - 1] = [*entry.splitlines(), ""]
    (copy / CHANGELOG).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return at


def _change_the_ranking(copy: Path) -> Path:
    """The copy's ranking snapshot with one more line at its end."""
    changed = copy / "tests/snapshots/__snapshots__/test_eng5_ranking.ambr"
    changed.write_text(changed.read_text() + "\n")
    return changed


def test_an_unrecorded_change_to_a_snapshot_is_refused_naming_the_file_and_its_digest(tmp_path):
    copy = _copy(tmp_path)
    assert snapshot_problems(copy) == []
    changed = copy / "tests/snapshots/__snapshots__/test_eng5_ranking.ambr"
    changed.write_text(changed.read_text().replace("A      MID", "B      MID", 1))
    name = "tests/snapshots/__snapshots__/test_eng5_ranking.ambr"
    assert snapshot_problems(copy) == [
        f"{name} changed (sha256 {digest(changed)}) with no entry in CHANGELOG.md's Snapshot "
        f"changes: say why it changed, under an entry, with the line\n"
        f"    - `{name}` sha256 `{digest(changed)}`"
    ]


def test_a_new_snapshot_file_needs_an_entry_too(tmp_path):
    copy = _copy(tmp_path)
    new = copy / "tests/sim/__snapshots__/test_new.ambr"
    new.parent.mkdir(parents=True)
    new.write_text("# serializer version: 1\n")
    problems = snapshot_problems(copy)
    assert len(problems) == 1
    assert problems[0].startswith("tests/sim/__snapshots__/test_new.ambr changed (sha256 ")


def test_an_entry_with_its_reason_lets_the_change_through(tmp_path):
    copy = _copy(tmp_path)
    changed = _change_the_ranking(copy)
    _add_entry(
        copy,
        f"### Test entry\n\nA blank line at the end, to test the guard.\n\n"
        f"{record_line(copy, changed)}",
    )
    assert snapshot_problems(copy) == []


def test_an_entry_without_a_reason_is_refused(tmp_path):
    copy = _copy(tmp_path)
    changed = _change_the_ranking(copy)
    line = _add_entry(copy, f"### Refreshed\n\n{record_line(copy, changed)}")
    assert snapshot_problems(copy) == [
        f"CHANGELOG.md:{line}: entry 'Refreshed' lists 1 snapshot file(s) "
        "but not why they changed: add a sentence"
    ]


def test_a_record_in_a_decision_note_counts(tmp_path):
    copy = _copy(tmp_path)
    changed = _change_the_ranking(copy)
    note = copy / DECISIONS / "9999-test.md"
    note.write_text(f"# 9999: a test note\n\n{record_line(copy, changed)}\n")
    assert snapshot_problems(copy) == []


def test_a_record_outside_the_snapshot_changes_section_does_not_count(tmp_path):
    copy = _copy(tmp_path)
    changed = _change_the_ranking(copy)
    text = (copy / CHANGELOG).read_text()
    (copy / CHANGELOG).write_text(
        f"{text}\n## Other\n\n### Elsewhere\n\nWhy.\n\n{record_line(copy, changed)}\n"
    )
    problems = snapshot_problems(copy)
    assert len(problems) == 1
    assert problems[0].startswith("tests/snapshots/__snapshots__/test_eng5_ranking.ambr changed")


def test_a_checkout_with_crlf_line_endings_has_the_same_digests(tmp_path):
    lf, crlf = tmp_path / "lf.ambr", tmp_path / "crlf.ambr"
    lf.write_bytes(b"a\nb\n")
    crlf.write_bytes(b"a\r\nb\r\n")
    assert digest(lf) == digest(crlf) == hashlib.sha256(b"a\nb\n").hexdigest()[:DIGEST_HEX]
