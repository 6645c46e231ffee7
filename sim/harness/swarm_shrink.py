"""Shrinking a swarm failure to a small scenario that still fails, and writing it out whole.

Theory of operation. A storm that breaks an invariant usually holds a dozen faults, eight
batches and a page of settings, most of them beside the point. ``shrink`` first drops faults
in chunks (delta debugging: all of them, then halves, quarters, down to one at a time), then
tries smaller versions of the rest, Hypothesis-style, most aggressive first: one batch, half the
students, no drawn settings or one fewer (back to the engine's default), a calm bus, one fault
fewer, one fault's rate or count halved. A candidate is kept while it still fails the
same way (``Failure``): it still breaks the same invariant, or it still crashes with the same
kind of exception (``TaskCrashed(KeyError)``). After a kept candidate the search goes on from
the same place in the new list; it ends after a whole pass keeps nothing, or after
``SHRINK_RUNS_MAX`` runs. Each run is one seed of the same world, so shrinking is as
deterministic as the runs are.

The result is written self-contained: ``self_contained`` makes every relative path in it
(``provider.replay``) absolute, so that ``cjsim run /abs/minimal-seedN.yaml --seed N`` reproduces
the failure from any current directory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sim.harness.scenario import Scenario
from sim.harness.schema_header import header_line
from sim.harness.swarm import judge
from sim.harness.swarm_result import SeedResult

__all__ = ["SHRINK_RUNS_MAX", "Failure", "self_contained", "shrink", "write_scenario"]

SHRINK_RUNS_MAX = 80


@dataclass(frozen=True, slots=True)
class Failure:
    """How a seed failed: the invariant it broke, or the kind of crash (``invariant`` is then
    ``"crash"``)."""

    invariant: str
    crash_kind: str = ""

    @classmethod
    def of(cls, result: SeedResult) -> Failure:
        if result.crashed:
            return cls(result.broken[0], result.error_kind)
        return cls(result.broken[0])

    def matches(self, result: SeedResult) -> bool:
        if self.crash_kind:
            return result.crashed and result.error_kind == self.crash_kind
        return self.invariant in result.broken

    def describe(self) -> str:
        return f"crashes ({self.crash_kind})" if self.crash_kind else f"breaks {self.invariant}"


def self_contained(scenario: Scenario, base_dir: Path | None) -> Scenario:
    """``scenario`` with its relative paths (``provider.replay``) made absolute from
    ``base_dir`` (the scenario file's folder)."""
    replay = scenario.provider.replay
    if replay is None or Path(replay).is_absolute() or base_dir is None:
        return scenario
    provider = scenario.provider.model_copy(update={"replay": str((base_dir / replay).resolve())})
    return scenario.model_copy(update={"provider": provider})


def _replace(items: list[Any], index: int, item: Any) -> list[Any]:
    return [*items[:index], item, *items[index + 1 :]]


def _candidates(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Smaller versions of a scenario (as data), most aggressive first."""
    faults = data.get("faults", [])
    run = data.get("run", {})
    if run.get("batches", 1) > 1:
        yield {**data, "run": {**run, "batches": 1}}
        if run["batches"] > 2:
            yield {**data, "run": {**run, "batches": run["batches"] // 2}}
    cohort = data.get("cohort", {})
    students = cohort.get("students", {})
    count = students.get("count", 12)
    if students.get("ids") is None and count > 2:
        yield {**data, "cohort": {**cohort, "students": {**students, "count": max(2, count // 2)}}}
    settings = data.get("settings", {})
    if len(settings) > 1:
        yield {**data, "settings": {}}
    for name in sorted(settings):
        yield {**data, "settings": {k: v for k, v in settings.items() if k != name}}
    if run.get("bus_jitter_ms"):
        yield {**data, "run": {**run, "bus_jitter_ms": 0.0}}
    for index in range(len(faults)):
        yield {**data, "faults": faults[:index] + faults[index + 1 :]}
    for index, fault in enumerate(faults):
        rate = fault.get("rate", 1.0)
        if rate > 0.01:
            yield {**data, "faults": _replace(faults, index, {**fault, "rate": round(rate / 2, 6)})}
        if fault.get("count") and fault["count"] > 1:
            halved = {**fault, "count": fault["count"] // 2}
            yield {**data, "faults": _replace(faults, index, halved)}


class _Trials:
    """Runs candidates against the failure, at most ``SHRINK_RUNS_MAX`` of them."""

    def __init__(self, seed: int, legacy: bool, failure: Failure, base_dir: Path | None) -> None:
        self.seed, self.legacy, self.failure, self.base_dir = seed, legacy, failure, base_dir
        self.runs = 0

    @property
    def exhausted(self) -> bool:
        return self.runs >= SHRINK_RUNS_MAX

    def still_fails(self, candidate: dict[str, Any]) -> bool:
        """Whether ``candidate`` fails the same way (False if it is not a valid scenario, or
        the runs are spent)."""
        if self.exhausted:
            return False
        try:
            smaller = Scenario.model_validate(candidate)
            smaller.engine_settings(legacy=self.legacy)
        except (ValueError, ValidationError):
            return False
        self.runs += 1
        result = judge(smaller, self.seed, self.legacy, base_dir=self.base_dir)
        return self.failure.matches(result)


def _drop_fault_chunks(current: dict[str, Any], trials: _Trials) -> dict[str, Any]:
    """Delta debugging (Zeller's ddmin) over the fault list: drop all of them, then halves,
    quarters... down to single faults. A storm holds a dozen faults or more and most are
    beside the point, so dropping them in chunks saves most of the runs one at a time costs."""
    chunks = 1
    while current.get("faults") and not trials.exhausted:
        faults = current["faults"]
        size = -(-len(faults) // chunks)  # ceiling
        for start in range(0, len(faults), size):
            candidate = {**current, "faults": faults[:start] + faults[start + size :]}
            if trials.still_fails(candidate):
                current, chunks = candidate, max(chunks - 1, 2)
                break
        else:
            if size == 1:
                break
            chunks = min(chunks * 2, len(faults))
    return current


def shrink(
    scenario: Scenario, seed: int, legacy: bool, failure: Failure, *, base_dir: Path | None
) -> tuple[Scenario, int]:
    """The smallest variant found that still fails as ``failure`` (and how many runs it took)."""
    current = scenario.model_dump(mode="json", exclude_defaults=True)
    current["faults"] = [f.model_dump(mode="json", exclude_defaults=True) for f in scenario.faults]
    trials = _Trials(seed, legacy, failure, base_dir)
    current = _drop_fault_chunks(current, trials)
    index = 0
    kept_this_pass = False
    while not trials.exhausted:
        candidates = list(_candidates(current))
        if index >= len(candidates):
            if not kept_this_pass:
                break
            index, kept_this_pass = 0, False
            continue
        if trials.still_fails(candidates[index]):
            current = candidates[index]
            kept_this_pass = True  # the next candidate now sits at the same index
        else:
            index += 1
    return Scenario.model_validate(current), trials.runs


def write_scenario(scenario: Scenario, path: Path, note: str) -> None:
    """Write ``scenario`` as YAML, ``note`` as its opening comment lines (after the line that
    names the scenario schema, when a folder above ``path`` ships one)."""
    data = json.loads(scenario.model_dump_json(exclude_defaults=True))
    data = {"name": data.pop("name"), "seed": scenario.seed, **data}  # the seed, even if 42
    header = header_line(path) + "".join(f"# {line}\n" for line in note.splitlines())
    partial = path.with_name(path.name + ".partial")
    partial.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    partial.replace(path)  # whole or not at all
