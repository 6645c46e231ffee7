"""From a live recording to a scenario that replays it: ``cjsim promote TRACE_DIR``.

A live run leaves, next to its callbacks, ``cohort.json``: who was compared (anchor refs and
grades, student ids, their lengths), by which provider and model, under which settings and
budget, with which seed. ``scenario_document`` turns that into a scenario whose simulated
provider replays the trace literally wherever the simulation asks for a recorded pair in its
recorded orientation, and answers from the model elsewhere. The live run's own report is built
against the same scenario, so a live run and its replay are described alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from engine.cj.intake import AnchorInput, EssayInput
from engine.located_json import (
    COUNT,
    LIST,
    OBJECT,
    TEXT,
    Figure,
    JsonText,
    Problem,
    check_figures,
    parse_json,
    problem_lines,
    read_file_text,
)
from engine.located_yaml import as_written, describe, yaml_path
from engine.run_files import write_whole
from engine.settings import Settings
from engine.traces import TraceError, load_trace
from sim.commands.out_folder import OutputTaken
from sim.harness.scenario import Scenario, ScenarioError
from sim.harness.scenario_file import parse_scenario
from sim.harness.schema_header import header_line
from sim.reports.run_description import settings_changed

__all__ = ["COHORT_FILE", "cohort_manifest", "promote", "scenario_document"]

COHORT_FILE = "cohort.json"
MAX_WORDS = 20_000
# Settings the simulation decides for itself (its provider spec says whether it mocks).
NOT_REPLAYED = ("USE_MOCK_LLM", "MOCK_")


def _words(text: str) -> int:
    return max(1, min(MAX_WORDS, len(text.split())))


def cohort_manifest(
    *,
    name: str,
    seed: int,
    grade_scale: str,
    students: tuple[EssayInput, ...],
    anchors: tuple[AnchorInput, ...],
    provider: str,
    model: str,
    reasoning_effort: str | None,
    budget: int | None,
    settings: Settings,
) -> dict[str, Any]:
    """What a replay needs to know about a live run (written as ``cohort.json``)."""
    changed = {
        key: value
        for key, value in settings_changed(settings).items()
        if not key.startswith(NOT_REPLAYED)
    }
    return {
        "name": name,
        "seed": seed,
        "grade_scale": grade_scale,
        "anchors": [
            {"ref": a.anchor_ref_id, "grade": a.grade, "words": _words(a.text)} for a in anchors
        ],
        "students": [{"id": s.essay_id, "words": _words(s.text)} for s in students],
        "provider": {"name": provider, "model": model, "reasoning_effort": reasoning_effort},
        "budget": budget,
        "settings": changed,
    }


def scenario_document(manifest: dict[str, Any], *, replay: str) -> dict[str, Any]:
    """The scenario (as YAML-ready data) that replays the recorded run of ``manifest``."""
    students = manifest["students"]
    words = round(sum(s["words"] for s in students) / len(students)) if students else 450
    provider = manifest["provider"]
    document: dict[str, Any] = {
        "name": f"replay_{manifest['name']}",
        "description": (
            f"Replays the live run {manifest['name']!r} ({provider['name']} "
            f"{provider['model']}) from its trace: recorded pairs are answered as recorded, "
            "any other pair from the model. Written by cjsim promote."
        ),
        "seed": manifest["seed"],
        "cohort": {
            "grade_scale": manifest["grade_scale"],
            "anchors": manifest["anchors"] or "none",
            "students": {"ids": [s["id"] for s in students], "words": words},
        },
        "settings": manifest["settings"],
        "provider": {
            "name": provider["name"],
            "model": provider["model"],
            "replay": replay,
        },
    }
    if provider.get("reasoning_effort"):
        document["provider"]["reasoning_effort"] = provider["reasoning_effort"]
    if manifest.get("budget"):
        document["budget"] = manifest["budget"]
    return document


def promote(trace_dir: Path, out: Path | None = None) -> Path:
    """Write the replay scenario of a recorded live run; return its path.

    Default output: ``replay_<name>.yaml`` next to the trace folder. The trace is checked first
    (every line valid), and the scenario is validated before it is written."""
    trace_dir = Path(trace_dir)
    trace = load_trace(trace_dir)  # TraceError, located, if a line is bad
    manifest_path = trace_dir / COHORT_FILE
    if not manifest_path.is_file():
        raise TraceError(
            f"{manifest_path}:1:1: (file): not found: only a live run's trace knows its cohort "
            "(reconstructed traces are replayed by the shipped scenarios)"
        )
    cohort = _read_cohort(manifest_path)
    manifest = dict(cohort.value)
    target = out or trace_dir.parent / f"replay_{manifest['name']}.yaml"
    if target.exists():  # never over what an earlier promotion (or anything else) wrote
        raise OutputTaken(f"{target}: --out: exists; choose another file or remove this one")
    replay = os.path.relpath(trace_dir.resolve(), target.resolve().parent)
    text = (
        header_line(target)
        + f"# Replays {len(trace.results)} recorded callbacks of {trace_dir}.\n"
        + yaml.safe_dump(scenario_document(manifest, replay=replay), sort_keys=False)
    )
    try:
        Scenario.model_validate(scenario_document(manifest, replay=replay))
    except ValidationError as exc:  # a value of cohort.json the replay cannot take: say which
        raise TraceError(
            problem_lines(
                [
                    cohort.problem(_in_cohort(as_written(e)["loc"]), describe(e)[1])
                    for e in exc.errors()
                ]
            )
        ) from None
    try:
        parse_scenario(text, str(target))
    except ScenarioError as exc:
        raise TraceError(
            f"{manifest_path}:1:1: (file): the promoted scenario would be invalid: {exc}"
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    write_whole(target, text)
    return target


# What scenario_document reads of cohort.json; a file edited by hand is checked against it.
COHORT_FIGURES = (
    Figure("name", TEXT, required=True),
    Figure("seed", COUNT, required=True),
    Figure("grade_scale", TEXT, required=True),
    Figure("anchors", LIST, required=True),
    Figure("anchors.#", OBJECT),
    Figure("anchors.#.ref", TEXT, required=True),
    Figure("anchors.#.grade", TEXT, required=True),
    Figure("anchors.#.words", COUNT, required=True),
    Figure("students", LIST, required=True),
    Figure("students.#", OBJECT),
    Figure("students.#.id", TEXT, required=True),
    Figure("students.#.words", COUNT, required=True),
    Figure("provider", OBJECT, required=True),
    Figure("provider.name", TEXT, required=True),
    Figure("provider.model", TEXT, required=True),
    Figure("provider.reasoning_effort", TEXT, nullable=True),
    Figure("budget", COUNT, nullable=True),
    Figure("settings", OBJECT, required=True),
)


def _read_cohort(path: Path) -> JsonText:
    """``cohort.json``, every problem of it located (``TraceError``)."""
    text = read_file_text(path)
    if isinstance(text, Problem):
        raise TraceError(problem_lines([text]))
    document, problems = parse_json(text, str(path))
    if document is not None:
        if not isinstance(document.value, dict):
            problems = [document.problem((), "expected an object")]
        else:
            problems = check_figures(document, COHORT_FIGURES)
    if problems or document is None:
        raise TraceError(problem_lines(problems))
    return document


def _in_cohort(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Where in cohort.json the value at ``loc`` of the replay scenario came from."""
    path = yaml_path(tuple(loc))
    if path[:2] == ("cohort", "anchors"):
        return ("anchors", *path[2:])
    if path[:3] == ("cohort", "students", "ids"):
        return ("students", *path[3:4], "id")
    if path[:2] == ("cohort", "grade_scale"):
        return ("grade_scale",)
    if path[:1] in (("name",), ("seed",), ("settings",), ("provider",), ("budget",)):
        return path
    return ()
