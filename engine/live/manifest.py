"""``run.json``: what a live run is, and what each of its sessions did.

A run is one batch judged live, in one or more sessions: the first, then one per ``--resume``.
The manifest is written whole (``run_folder.write_json``) before the first comparison and again
whenever a session starts, submits the batch or ends, so a run killed at any instant names its
configuration, its database and its batch, and says how much it has spent so far: the caps of
a resumed session count the whole run's requests and cost, not only its own.

The run's id is random (a live run is not a replay), and every session draws its identifiers
(correlation ids, queue ids, event ids) from a namespace of its own, so two runs that share a
PostgreSQL database, or two sessions of one run, never issue the same id.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.live.config import LiveConfig, LiveConfigError
from engine.live.run_folder import MANIFEST_FILE, write_json
from engine.located_json import Problem, parse_json, problem_lines, read_file_text
from engine.located_yaml import as_written, describe, yaml_path
from engine.randomness import derive_seed

__all__ = ["ManifestError", "RunManifest", "SessionEntry", "new_run_id", "read_manifest"]


class ManifestError(LiveConfigError):
    """A folder whose ``run.json`` is missing or unreadable; one located line."""


class SessionEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1)
    started_at: datetime
    ended_at: datetime | None = None  # None: still running, or killed
    requests: int = 0  # provider calls this session sent
    cost_usd: float = 0.0  # their estimated cost
    stopped: str | None = None  # why it stopped before the batch finished
    retry_errors: bool = False


class RunManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = 1
    run_id: str
    name: str
    dry_run: bool
    config: dict[str, Any]  # the validated configuration, as data
    config_dir: str  # where its relative paths (essays, anchors, assessment files) point
    config_file: str | None = None  # the configuration file the run began from, as given
    database: str  # the store's URL, its password masked
    bos_batch_id: str
    cj_batch_ids: list[int] = Field(default_factory=list)
    sessions: list[SessionEntry] = Field(default_factory=list)

    @property
    def live_config(self) -> LiveConfig:
        return LiveConfig.model_validate(self.config)

    @property
    def requests(self) -> int:
        """Provider calls sent by every session so far."""
        return sum(session.requests for session in self.sessions)

    @property
    def cost_usd(self) -> float:
        return sum(session.cost_usd for session in self.sessions)

    def session_seed(self, root_seed: int, number: int) -> int:
        """The root seed of session ``number``: the configuration's seed, in this run's and
        this session's own namespace (see the module docstring)."""
        return derive_seed(root_seed, f"live:{self.run_id}:session:{number}")

    def write(self, folder: Path) -> None:
        write_json(folder / MANIFEST_FILE, self.model_dump(mode="json"))


def new_run_id() -> str:
    return secrets.token_hex(8)


def read_manifest(folder: Path) -> RunManifest:
    path = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise ManifestError(f"{folder}: --resume: not a folder")
    if not path.exists():
        raise ManifestError(
            f"{path}:1:1: --resume: not found: {folder} holds no live run to resume"
        )
    text = read_file_text(path)
    if isinstance(text, Problem):
        raise ManifestError(problem_lines([text]))
    document, problems = parse_json(text, str(path))  # nesting and NaN refused, located
    if document is None:
        raise ManifestError(problem_lines(problems))
    try:
        manifest = RunManifest.model_validate(document.value)
        LiveConfig.model_validate(manifest.config)  # the configuration it will resume with
    except ValidationError as exc:
        # A configuration error's location is inside config; a manifest's starts at the top.
        inside = () if exc.title == RunManifest.__name__ else ("config",)
        raise ManifestError(
            problem_lines(
                [
                    document.problem((*inside, *yaml_path(as_written(e)["loc"])), describe(e)[1])
                    for e in exc.errors()
                ]
            )
        ) from None
    return manifest
