"""``scenario.json``: what a run folder's run was asked to do, for the pages that show it.

``report.json`` says what a run did; this file says what it was: the scenario as run (after
``--set`` overrides and, for ``--swarm``, its storm), the seed, whether the original system's
bugs were restored, and the engine settings that differ from the defaults a run starts from.
The HTML report reads it for its header, its grade scale and its fault windows; a folder
without it (a live run, an older run) still gets a page, without those parts.
"""

from __future__ import annotations

from typing import Any

from engine.settings import Settings
from sim.harness.scenario import Scenario

__all__ = ["SCENARIO_FORMAT", "run_description", "settings_changed"]

#: Bumped when a reader could misread an older file.
SCENARIO_FORMAT = 1


def settings_changed(settings: Settings) -> dict[str, Any]:
    """The settings whose value differs from a simulated run's defaults, by name, sorted."""
    defaults = Settings.for_simulation().model_dump(mode="json")
    chosen = settings.model_dump(mode="json")
    return {name: chosen[name] for name in sorted(chosen) if chosen[name] != defaults.get(name)}


def run_description(scenario: Scenario, *, seed: int, legacy: bool, file: str) -> dict[str, Any]:
    """The content of ``scenario.json`` for a run of ``scenario`` read from ``file``."""
    return {
        "format": SCENARIO_FORMAT,
        "file": file,
        "seed": seed,
        "legacy": legacy,
        "settings_changed": settings_changed(scenario.engine_settings(legacy=legacy)),
        "scenario": scenario.model_dump(mode="json"),
    }
