"""The first line of a scenario file cjsim writes: ``# yaml-language-server: $schema=...``, the
line an editor's YAML language server reads to validate and complete the file against the
shipped schema. Shrunk and promoted scenarios get it when a folder above them holds
``schemas/``; ``sim/commands/schemas.py`` makes the schemas themselves."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "HEADER_PREFIX",
    "LIVE_SCHEMA_FILE",
    "SCENARIO_SCHEMA_FILE",
    "SCHEMAS_FOLDER",
    "SWEEP_SCHEMA_FILE",
    "header_line",
]

SCHEMAS_FOLDER = "schemas"
SCENARIO_SCHEMA_FILE = "scenario.schema.json"
LIVE_SCHEMA_FILE = "live.schema.json"
SWEEP_SCHEMA_FILE = "sweep.schema.json"
#: The first line of a YAML file that names its schema, for the YAML language server.
HEADER_PREFIX = "# yaml-language-server: $schema="


def header_line(yaml_path: Path, schema_file: str = SCENARIO_SCHEMA_FILE) -> str:
    """The ``# yaml-language-server: $schema=...`` line (with its newline) for a YAML file
    about to be written at ``yaml_path``, naming ``schemas/<schema_file>`` by a relative path
    when a folder above the file holds it; else nothing (the line would name no file)."""
    here = Path(yaml_path).resolve().parent
    for folder in (here, *here.parents):
        schema = folder / SCHEMAS_FOLDER / schema_file
        if schema.is_file():
            relative = Path(*[".."] * len(here.relative_to(folder).parts), SCHEMAS_FOLDER)
            return f"{HEADER_PREFIX}{(relative / schema_file).as_posix()}\n"
    return ""
