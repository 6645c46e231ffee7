"""Sweep files: the validation plan over many seeds, as pydantic models, read with every
problem located (``file:line:col: field: problem``).

A sweep names base scenarios, a grid of **axes** and the **seeds**. Each axis lists its values;
a value is a named set of ``--set`` overrides (``mode: {per_request: {QUEUE_PROCESSING_MODE:
per_request}}``), or, for an axis named after one setting or scenario field, just the values
(``QUEUE_PROCESSING_MODE: [per_request, serial_bundle]``). An **arm** is one value of every
axis; a **run** is one scenario, one arm and one seed, and its id is a digest of the scenario
file's bytes, the arm's overrides and the seed, so that it names the same run on any machine
and in any later sweep (what resuming a sweep relies on).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, StringConstraints, ValidationError, model_validator

from engine.located_yaml import (
    LocatedYamlError,
    field_names,
    in_file_order,
    located_problems,
    position,
    read_text,
    read_yaml,
)
from sim.harness.scenario import ScenarioError
from sim.harness.scenario_bounds import ScenarioModel
from sim.harness.scenario_file import load_scenario

__all__ = ["Arm", "Sweep", "SweepError", "SweepRun", "arms", "load_sweep", "run_id", "runs"]

SEEDS_MAX = 1_000_000  # runs per arm and scenario: a typo must not queue a billion runs
RUNS_MAX = 10_000_000
Name = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")]
Figure = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.]+$")
]


class SweepError(ScenarioError):
    """A sweep file that cannot be run: one located line per problem (exit 2)."""


class SeedRange(ScenarioModel):
    first: int = Field(1, ge=0, le=2**63)
    """The first seed."""
    count: int = Field(ge=1, le=SEEDS_MAX)
    """How many seeds, from ``first`` on: each arm of each scenario runs every one."""


class Sweep(ScenarioModel):
    """A sweep: scenarios × arms × seeds, and the figures to compare."""

    name: Name
    """The sweep's name: its results go to runs/sweep-<name>."""
    description: str = ""
    """What the sweep answers, in free text."""
    scenarios: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        min_length=1, max_length=100
    )
    """Scenario files, relative to the sweep file."""
    axes: dict[Name, list[Any] | dict[Name, dict[str, Any]]] = Field(
        default_factory=dict, max_length=8
    )
    """The grid. Each axis: a list of values for the setting or field the axis is named after,
    or named values, each a mapping of settings and dotted fields to set (as --set does)."""
    seeds: SeedRange
    """Which seeds every arm runs."""
    figures: list[Figure] = Field(min_length=1, max_length=100)
    """report.json figures to compare, by dotted path (provider_calls,
    position_balance.max_abs_skew, batches.0.completed...)."""
    compare: Name | None = None
    """The axis whose arms are compared pairwise, seed by seed, with the other axes equal; none:
    every pair of arms of a scenario."""

    @model_validator(mode="after")
    def _bounded(self) -> Sweep:
        for axis, values in self.axes.items():
            if not values:
                raise ValueError(f"axes.{axis}: an axis needs at least one value")
        if self.compare is not None and self.compare not in self.axes:
            raise ValueError(f"compare: {self.compare!r} is not an axis ({', '.join(self.axes)})")
        arms = 1
        for values in self.axes.values():
            arms *= len(values)
        if arms * len(self.scenarios) * self.seeds.count > RUNS_MAX:
            raise ValueError(f"the grid has more than {RUNS_MAX:,} runs")
        return self


@dataclass(frozen=True, slots=True)
class Arm:
    """One value of every axis: its label (``mode=per_request,faults=none``), each axis's value
    name, and the ``--set`` overrides they add up to, in axis order."""

    label: str
    values: tuple[tuple[str, str], ...]
    overrides: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SweepRun:
    """One run of a sweep: what a worker needs to run it, and its stable id."""

    run_id: str
    scenario_file: str
    arm: Arm
    seed: int


def arms(sweep: Sweep) -> list[Arm]:
    """Every arm of the grid, the first axis varying slowest."""
    named = {axis: _named_values(axis, values) for axis, values in sweep.axes.items()}
    result = []
    for combination in itertools.product(*(named[axis].items() for axis in sweep.axes)):
        values = tuple(
            (axis, value_name)
            for axis, (value_name, _) in zip(sweep.axes, combination, strict=True)
        )
        overrides = tuple(override for _, sets in combination for override in sets)
        label = ",".join(f"{axis}={value}" for axis, value in values) or "base"
        result.append(Arm(label, values, overrides))
    return result


def _named_values(
    axis: str, values: list[Any] | dict[str, dict[str, Any]]
) -> dict[str, tuple[str, ...]]:
    if isinstance(values, list):
        return {_value_name(value): (f"{axis}={_yaml_value(value)}",) for value in values}
    return {
        name: tuple(f"{key}={_yaml_value(value)}" for key, value in sets.items())
        for name, sets in values.items()
    }


def _value_name(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _yaml_value(value: Any) -> str:
    """A value as ``--set`` reads it back (YAML, on one line)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, sort_keys=True)
    return text.removesuffix("\n...\n").strip()


def run_id(scenario_bytes: bytes, arm: Arm, seed: int) -> str:
    """A digest of what decides a run: the scenario file's content, the arm's overrides and
    the seed (not the arm's label or the file's name: renaming either keeps the ids)."""
    digest = hashlib.blake2b(digest_size=10)
    digest.update(hashlib.sha256(scenario_bytes).digest())
    digest.update(json.dumps(list(arm.overrides)).encode())
    digest.update(str(seed).encode())
    return digest.hexdigest()


def runs(sweep: Sweep, sweep_file: Path) -> Iterator[SweepRun]:
    """Every run of the sweep, scenario by scenario, arm by arm, seed by seed."""
    for scenario in sweep.scenarios:
        path = (sweep_file.parent / scenario).resolve()
        content = path.read_bytes()
        for arm in arms(sweep):
            for seed in range(sweep.seeds.first, sweep.seeds.first + sweep.seeds.count):
                yield SweepRun(run_id(content, arm, seed), str(path), arm, seed)


def load_sweep(path: Path) -> Sweep:
    """A sweep file, checked before any run: its fields, that every scenario loads, and that
    every arm's overrides apply to every scenario (each problem at the key that caused it)."""
    path = Path(path)
    source = str(path)
    try:
        document = read_yaml(read_text(path, SweepError), source)
    except LocatedYamlError as exc:
        raise SweepError(str(exc)) from None
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise SweepError(f"{source}:1:1: (top level): a sweep is a mapping of fields")
    problems = list(document.problems)
    try:
        sweep = Sweep.model_validate(data)
    except ValidationError as exc:
        vocabulary = field_names(Sweep.model_json_schema())
        problems += located_problems(exc.errors(), (), document.root, source, vocabulary=vocabulary)
        raise SweepError(in_file_order(problems)) from None
    if problems:
        raise SweepError(in_file_order(problems))
    lines = []
    for index, scenario in enumerate(sweep.scenarios):
        file = path.parent / scenario
        line, col = position(document.root, ("scenarios", index))
        for arm in arms(sweep):
            try:
                load_scenario(file, overrides=list(arm.overrides))
            except ScenarioError as exc:
                first = str(exc).splitlines()[0]
                lines.append(f"{source}:{line}:{col}: scenarios.{index}: arm {arm.label}: {first}")
                break
    if lines:
        raise SweepError("\n".join(lines))
    return sweep
