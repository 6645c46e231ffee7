"""A sweep's results on disk: one row per run, in Parquet part files, with a DuckDB view.

Rows arrive as runs finish and are written a part at a time (``part-000001.parquet``, ...):
each part is written whole and renamed into place, so a sweep killed at any instant leaves
only complete parts, and the rows already written are never rewritten. ``sweep.duckdb`` holds
one view, ``runs``, over every part (``union_by_name``: a figure that only some runs report,
such as an error type, is NULL in the others). A sweep run again into the same folder reads the
run ids already present and skips them: resuming is running the same command again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from sim.reports.compare import RunFolderError

__all__ = ["PARTS_FOLDER", "SWEEP_DB", "ResultParts", "read_rows", "recorded_run_ids"]

PARTS_FOLDER = "parts"
SWEEP_DB = "sweep.duckdb"
ROWS_PER_PART = 64  # a part is written when this many rows wait, and at the end
PART_PATTERN = "part-*.parquet"


def _parts(folder: Path) -> list[Path]:
    return sorted((folder / PARTS_FOLDER).glob(PART_PATTERN))


def recorded_run_ids(folder: Path) -> set[str]:
    """The run ids the parts in ``folder`` already hold."""
    return {row["run_id"] for row in _query(folder, "SELECT run_id FROM parts")}


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """Every row of the sweep in ``folder``, by run id."""
    return _query(folder, "SELECT * FROM parts ORDER BY run_id")


def _query(folder: Path, query: str) -> list[dict[str, Any]]:
    """``query`` over the parts (as the table ``parts``); ``RunFolderError`` naming a part
    that is not one a sweep wrote (a file damaged or put there by hand)."""
    parts = _parts(folder)
    if not parts:
        return []
    con = duckdb.connect()
    try:
        try:
            files = ", ".join(f"'{_quoted(str(part))}'" for part in parts)
            # A view cannot take a prepared parameter: the file list is written into it.
            con.execute(
                f"CREATE VIEW parts AS SELECT * FROM read_parquet([{files}], union_by_name = true)"
            )
            cursor = con.execute(query)
            columns = [column[0] for column in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        except duckdb.Error:
            raise _bad_part(con, parts) from None
    finally:
        con.close()


def _bad_part(con: duckdb.DuckDBPyConnection, parts: list[Path]) -> RunFolderError:
    from sim.reports.compare import RunFolderError

    for part in parts:
        try:
            con.execute("SELECT run_id FROM read_parquet(?)", [str(part)]).fetchall()
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return RunFolderError(
                f"{part}:1:1: (file): not a part a sweep wrote ({first}); move it aside to go on"
            )
    return RunFolderError(f"{parts[0].parent}:1:1: (folder): its parts cannot be read together")


class ResultParts:
    """Appends rows to ``folder``'s parts, a part per ``ROWS_PER_PART`` rows; ``flush`` writes
    what waits (at the end, and on Ctrl-C, so that no finished row is lost)."""

    def __init__(self, folder: Path, rows_per_part: int = ROWS_PER_PART) -> None:
        self.folder = folder
        self.rows_per_part = rows_per_part
        (folder / PARTS_FOLDER).mkdir(parents=True, exist_ok=True)
        existing = _parts(folder)
        self._next = 1 + max((int(p.stem.removeprefix("part-")) for p in existing), default=0)
        self._waiting: list[dict[str, Any]] = []
        self.written = 0

    def add(self, row: dict[str, Any]) -> None:
        self._waiting.append(row)
        if len(self._waiting) >= self.rows_per_part:
            self.flush()

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.add(row)

    def flush(self) -> None:
        if not self._waiting:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = sorted(self._waiting, key=lambda row: row["run_id"])
        columns = sorted({name for row in rows for name in row}, key=_column_order)
        table = pa.Table.from_pylist([{name: row.get(name) for name in columns} for row in rows])
        target = self.folder / PARTS_FOLDER / f"part-{self._next:06d}.parquet"
        staging = target.with_name(f".{target.name}.partial")
        pq.write_table(table, staging)
        with open(staging, "rb") as file:
            os.fsync(file.fileno())
        os.replace(staging, target)
        self._next += 1
        self.written += len(rows)
        self._waiting.clear()
        self.write_view()

    def write_view(self) -> None:
        """``sweep.duckdb``: the ``runs`` view over every part (made again, whole, each time:
        it holds no data, only the query)."""
        target = self.folder / SWEEP_DB
        staging = target.with_name(f".{target.name}.partial")
        staging.unlink(missing_ok=True)
        con = duckdb.connect(str(staging))
        try:
            pattern = str((self.folder / PARTS_FOLDER).resolve() / PART_PATTERN)
            con.execute(
                "CREATE VIEW runs AS SELECT * FROM "
                f"read_parquet('{_quoted(pattern)}', union_by_name = true)"
            )
        finally:
            con.close()
        os.replace(staging, target)


IDENTITY = ("run_id", "scenario", "scenario_file", "arm", "seed", "fingerprint", "verdict")


def _column_order(name: str) -> tuple[int, str]:
    """The identity columns first, in their order; the arm's axes; then figures by name."""
    if name in IDENTITY:
        return (IDENTITY.index(name), "")
    return (len(IDENTITY) + (0 if name.startswith("axis.") else 1), name)


def _quoted(text: str) -> str:
    return text.replace("'", "''")
