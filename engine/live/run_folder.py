"""A live run's folder: what it holds, who may write it, and how nothing in it is ever lost.

Theory of operation. A folder holds at most one run, named by ``run.json`` (its manifest: the
run's id, its configuration, and one entry per session). A new run refuses a folder that holds
another run, or any file a run writes, and says how to go on (``--resume`` or ``--out``); only
``cjsim live --resume`` opens a folder that holds a run, and then only to continue that run.

Every file is one of two kinds:

* append-only: the event log, the trace's callbacks, the structured log. A session opens them
  for appending and writes whole lines, each flushed, so ``kill -9`` at any instant leaves every
  earlier line intact (at worst, the one line being written is cut short; readers skip it);
* whole: everything else (the manifest, the configuration, the cohort, summaries, the report,
  the analysis). Each is written to a temporary file in the same folder, flushed to disk, and
  renamed over its name, so a reader sees the old version or the new one, never a mixture.

The manifest, the configuration and the cohort are written before the first comparison, so a
killed run can always be resumed, and promoted to a replay.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.live.config import LiveConfigError
from engine.run_files import write_whole

__all__ = [
    "MANIFEST_FILE",
    "RUN_FILES",
    "RunFolderTaken",
    "claim_new_folder",
    "refuse_taken_folder",
    "replace_folder_files",
    "staging_folder",
    "write_json",
    "write_whole",
]

MANIFEST_FILE = "run.json"
# Every name a live run writes at the top of its folder: finding any of them means a run was
# here, even one killed before it wrote its manifest.
RUN_FILES = (
    MANIFEST_FILE,
    "config.json",
    "events.jsonl",
    "live.log.jsonl",
    "cj.sqlite",
    "report.json",
    "analysis.json",
    "outcomes.duckdb",
    "trace",
)


class RunFolderTaken(LiveConfigError):
    """The output folder already holds a run (or is not a folder); one line, with a way out."""


def claim_new_folder(folder: Path) -> None:
    """Make ``folder`` for a new run, or refuse it: it is a file, or holds (part of) a run."""
    refuse_taken_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)


def refuse_taken_folder(folder: Path, *, named_by: str | None = None) -> None:
    """``RunFolderTaken`` if ``folder`` cannot take a new run; nothing is written. The
    message starts with ``named_by`` (who chose the folder: ``file:line:col: out``), else with
    the folder and ``--out``."""
    where = named_by or f"{folder}: --out"
    if folder.exists() and not folder.is_dir():
        raise RunFolderTaken(f"{where}: {folder} exists and is not a folder")
    found = [name for name in RUN_FILES if (folder / name).exists()]
    if found:
        raise RunFolderTaken(
            f"{where}: {folder} holds another run ({found[0]}); nothing was changed. Continue it "
            f"with `cjsim live --resume {folder}`, or choose a new folder with `--out DIR`"
        )


def write_json(path: Path, value: Any) -> None:
    write_whole(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


@contextmanager
def staging_folder(folder: Path) -> Iterator[Path]:
    """A private folder inside ``folder`` for files written by code that writes in place (the
    DuckDB analysis); ``replace_folder_files`` then renames them over their names. It is removed
    at the end, whatever happens."""
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_folder_files(staging: Path, folder: Path) -> None:
    """Rename every file of ``staging`` over the same name in ``folder`` (one rename each)."""
    for source in sorted(staging.iterdir()):
        if source.is_file():
            os.replace(source, folder / source.name)
