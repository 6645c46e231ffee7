"""How a run's files are written so that ``kill -9`` at any instant loses nothing.

Two kinds of file. Whole files (summaries, reports, manifests) are written by ``write_whole``:
a temporary file in the same folder, flushed to disk, renamed over the name; a reader sees the
old version or the new one, never a mixture.

Append-only JSON-lines files: a live run writes its event log and its trace one line at a time,
each flushed, so a run killed at any instant leaves every line it finished intact. The line
being written at that instant may be cut short (a line longer than one write). Readers take
whole lines only: a last line with no newline is the cut one. Before a resumed run appends,
``seal`` moves such a tail into a file of its own beside the log (``events.jsonl.cut-1``), so
the log stays valid JSON lines and nothing that was written is thrown away.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["seal", "whole_lines", "write_whole"]


def write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` all at once: a temporary file, flushed, renamed into place."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with open(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def whole_lines(path: Path) -> list[str]:
    """The file's complete lines, blank ones included so that numbering holds (without their
    newlines); none if the file does not exist. Raises ``UnicodeDecodeError`` on binary data."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    end = data.rfind(b"\n")
    if end < 0:
        return []
    return data[:end].decode("utf-8").split("\n")


def seal(path: Path) -> Path | None:
    """Make ``path`` end at a line boundary before appending; return where a cut tail went."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    with path.open("rb+") as handle:
        data = handle.read()
        if data.endswith(b"\n"):
            return None
        end = data.rfind(b"\n") + 1
        number = 1
        while (aside := path.with_name(f"{path.name}.cut-{number}")).exists():
            number += 1
        aside.write_bytes(data[end:])
        handle.truncate(end)
        handle.flush()
        os.fsync(handle.fileno())
    return aside
