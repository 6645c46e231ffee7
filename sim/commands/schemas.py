"""The JSON Schemas of scenario files and live configurations, as shipped in ``schemas/``.

Editors validate and complete YAML against them: every shipped YAML opens with
``# yaml-language-server: $schema=<relative path>``, the line the YAML language server (VS Code,
Neovim, Helix...) reads. The schemas are generated from the pydantic models, so they can never
say something the loaders do not; ``tests/sim/test_schemas.py`` fails when a shipped file is
stale (``cjsim schema --write schemas`` writes them again).

What the models' own ``model_json_schema()`` lacks is added here: the draft and a title, the
``$schema`` key an editor may put in a file (the loaders drop it), one copy of the engine
settings' block in ``$defs`` where the models inline it twice, and descriptions written on one
line (the models' come from multi-line docstrings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.live.config import LiveConfig
from engine.run_files import write_whole
from engine.settings import settings_json_schema
from sim.harness.scenario import Scenario
from sim.harness.schema_header import (
    HEADER_PREFIX,
    LIVE_SCHEMA_FILE,
    SCENARIO_SCHEMA_FILE,
    SCHEMAS_FOLDER,
    SWEEP_SCHEMA_FILE,
    header_line,
)
from sim.harness.sweep_spec import Sweep

__all__ = [
    "DRAFT",
    "HEADER_PREFIX",
    "LIVE_SCHEMA_FILE",
    "SCENARIO_SCHEMA_FILE",
    "SCHEMAS_FOLDER",
    "SCHEMA_FILES",
    "header_line",
    "live_schema",
    "scenario_schema",
    "schema_text",
    "sweep_schema",
    "write_schemas",
]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SETTINGS_DEF = "EngineSettings"
SCHEMA_KEY_PROPERTY = {
    "type": "string",
    "description": "The JSON Schema an editor checks this file against; cjsim ignores it.",
}


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (``cjsim run FILE``)."""
    return _finished(Scenario.model_json_schema(), "cjsim scenario")


def live_schema() -> dict[str, Any]:
    """The JSON Schema of a live run's configuration (``cjsim live CONFIG``)."""
    return _finished(LiveConfig.model_json_schema(), "cjsim live configuration")


def sweep_schema() -> dict[str, Any]:
    """The JSON Schema of a sweep file (``cjsim sweep FILE``)."""
    return _finished(Sweep.model_json_schema(), "cjsim sweep")


#: Each shipped schema file and the function that makes it.
SCHEMA_FILES: dict[str, Callable[[], dict[str, Any]]] = {
    SCENARIO_SCHEMA_FILE: scenario_schema,
    LIVE_SCHEMA_FILE: live_schema,
    SWEEP_SCHEMA_FILE: sweep_schema,
}


def schema_text(schema: dict[str, Any]) -> str:
    """A schema as its file holds it: indented, keys sorted, one trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema of ``SCHEMA_FILES`` into ``folder`` (made if missing); return their
    paths. Each file is written whole: a temporary file in ``folder`` renamed into place, so a
    failure never leaves a file cut short."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in SCHEMA_FILES.items():
        path = folder / name
        write_whole(path, schema_text(make()))
        written.append(path)
    return written


def _finished(schema: dict[str, Any], title: str) -> dict[str, Any]:
    schema = _one_line_descriptions(_settings_by_reference(schema))
    schema["properties"] = {"$schema": SCHEMA_KEY_PROPERTY, **schema["properties"]}
    return {"$schema": DRAFT, **schema, "title": title}


def _settings_by_reference(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every inline copy of the settings block replaced by a ``$ref`` to one
    copy in ``$defs`` (the field's own description and default stay beside it)."""
    block = settings_json_schema()

    def replace(node: Any) -> Any:
        if isinstance(node, list):
            return [replace(item) for item in node]
        if not isinstance(node, dict):
            return node
        if node.get("properties") == block["properties"]:
            rest = {key: value for key, value in node.items() if key not in block}
            return {"$ref": f"#/$defs/{SETTINGS_DEF}", **rest}
        return {key: replace(value) for key, value in node.items()}

    replaced: dict[str, Any] = replace(schema)
    if replaced != schema:
        definitions = replaced.setdefault("$defs", {})
        assert SETTINGS_DEF not in definitions, f"a model is already named {SETTINGS_DEF}"
        definitions[SETTINGS_DEF] = {
            **block,
            "title": SETTINGS_DEF,
            "description": "Engine settings by name, each with its type, default and meaning "
            "(engine/settings.py).",
        }
    return replaced


def _one_line_descriptions(node: Any) -> Any:
    """Descriptions with their docstrings' line breaks and indents folded into spaces."""
    if isinstance(node, list):
        return [_one_line_descriptions(item) for item in node]
    if not isinstance(node, dict):
        return node
    folded = {key: _one_line_descriptions(value) for key, value in node.items()}
    description = folded.get("description")
    if isinstance(description, str):
        folded["description"] = re.sub(r"\s+", " ", description).strip()
    return folded
