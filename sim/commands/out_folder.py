"""Where a command writes: never over what an earlier run wrote.

A folder named with ``--out`` that already holds a run (any of its marker files) is refused
before any work, by the option's name: the user chose that place, so guessing another would
surprise them. The default folder (``runs/<scenario>-seed<N>``) is the command's own choice,
so when it is taken the next free sibling is used instead (``...-2``, ``...-3``): running the
Quickstart twice keeps both runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["NAME_BYTES_MAX", "SIBLINGS_MAX", "OutputTaken", "output_file", "output_folder"]

SIBLINGS_MAX = 10_000  # a bound on the search for a free default folder
NAME_BYTES_MAX = 255  # one name in a path (NAME_MAX on Linux, macOS and Windows alike)


class OutputTaken(ValueError):
    """An output place that cannot be written without destroying something; one line."""


def output_folder(requested: Path | None, default: Path, markers: Sequence[str]) -> Path:
    """The folder to write into: ``requested`` if it is free, else the first free of
    ``default``, ``default-2``, ... . Raises ``OutputTaken`` for a requested folder that is a
    file or holds an earlier run."""
    if requested is not None:
        _refuse_long_names(requested)
        if requested.exists() and not requested.is_dir():
            raise OutputTaken(f"{requested}: --out: exists and is not a folder")
        held = _held(requested, markers)
        if held:
            raise OutputTaken(
                f"{requested}: --out: holds an earlier run ({', '.join(held)}), which is never "
                "overwritten; choose another folder, or remove this one first"
            )
        return requested
    for number in range(1, SIBLINGS_MAX + 1):
        candidate = default if number == 1 else default.with_name(f"{default.name}-{number}")
        if not candidate.exists() or (candidate.is_dir() and not _held(candidate, markers)):
            return candidate
    raise OutputTaken(f"{default}: {SIBLINGS_MAX} earlier runs use this name; give --out")


def output_file(requested: Path | None, default: Path) -> Path:
    """The file to write: ``requested`` if nothing is there yet, else the first free of
    ``default``, ``default-2.ext``, ... (a page written earlier is kept, as a run folder is).
    Raises ``OutputTaken`` for a requested path that exists or whose folder does not."""
    if requested is not None:
        _refuse_long_names(requested)
        if requested.exists():
            raise OutputTaken(
                f"{requested}: --out: exists, and is never overwritten; choose another name"
            )
        if not requested.parent.is_dir():
            raise OutputTaken(f"{requested}: --out: the folder {requested.parent} does not exist")
        return requested
    for number in range(1, SIBLINGS_MAX + 1):
        candidate = default if number == 1 else default.with_stem(f"{default.stem}-{number}")
        if not candidate.exists():
            return candidate
    raise OutputTaken(f"{default}: {SIBLINGS_MAX} earlier files use this name; give --out")


def _refuse_long_names(requested: Path) -> None:
    long = next((part for part in requested.parts if len(part.encode()) > NAME_BYTES_MAX), None)
    if long is not None:
        raise OutputTaken(
            f"{requested}: --out: the name {long[:20]}... is longer than the "
            f"{NAME_BYTES_MAX} bytes a file system allows"
        )


def _held(folder: Path, markers: Sequence[str]) -> list[str]:
    return [name for name in markers if (folder / name).exists()]
