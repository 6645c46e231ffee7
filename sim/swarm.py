"""``cjsim swarm``: many seeds, each with its own fault mix, then the first failure shrunk.

Each seed runs the scenario's swarm variant (``sim.swarm_variant``) in a worker process and is
judged by the scenario's invariant expectations. Failing seeds are listed with the command that
replays each. The first failure is then shrunk, Hypothesis-style: faults are dropped, rates
halved, counts cut, the cohort and the batch count reduced, keeping each change only while the
same invariant still fails; the smallest scenario is written as YAML next to the results.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sim.expectations import check_expectations
from sim.report import build_report
from sim.runner import run_scenario
from sim.scenario import Expectation, Scenario, load_scenario
from sim.swarm_variant import swarm_variant

__all__ = ["SeedResult", "run_seed", "shrink", "swarm_seeds"]

SHRINK_RUNS_MAX = 80


@dataclass(frozen=True, slots=True)
class SeedResult:
    seed: int
    ok: bool
    broken: tuple[str, ...]
    problems: tuple[str, ...]
    fingerprint: str


def _invariants_only(expectation: Expectation) -> Expectation:
    return expectation.model_copy(update={"report": []})


def run_seed(path: str, seed: int, legacy: bool, overrides: tuple[str, ...]) -> SeedResult:
    """One swarm seed (runs in a worker process)."""
    scenario = swarm_variant(load_scenario(Path(path), overrides=list(overrides)), seed)
    return judge(scenario, seed, legacy, base_dir=Path(path).parent)


def judge(scenario: Scenario, seed: int, legacy: bool, *, base_dir: Path | None) -> SeedResult:
    outcome = run_scenario(scenario, seed=seed, legacy=legacy, base_dir=base_dir)
    report = build_report(outcome)
    expectation = _invariants_only(scenario.expectation(legacy=legacy))
    problems = check_expectations(report, expectation)
    broken = tuple(sorted(name for name, r in report["invariants"].items() if not r["ok"]))
    return SeedResult(seed, not problems, broken, tuple(problems), outcome.fingerprint)


def swarm_seeds(
    path: Path,
    seeds: Iterable[int],
    *,
    workers: int,
    legacy: bool,
    overrides: tuple[str, ...],
    progress: Callable[[Iterable[Any], int], Iterable[Any]],
) -> list[SeedResult]:
    seed_list = list(seeds)
    if workers <= 1:
        results = [
            run_seed(str(path), s, legacy, overrides) for s in progress(seed_list, len(seed_list))
        ]
        return sorted(results, key=lambda r: r.seed)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_seed, str(path), s, legacy, overrides) for s in seed_list]
        from concurrent.futures import as_completed

        results = [future.result() for future in progress(as_completed(futures), len(futures))]
    return sorted(results, key=lambda r: r.seed)


def _candidates(data: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Smaller versions of a scenario, most aggressive first."""
    faults = data.get("faults", [])
    for index in range(len(faults)):
        yield {**data, "faults": faults[:index] + faults[index + 1 :]}
    for index, fault in enumerate(faults):
        rate = fault.get("rate", 1.0)
        if rate > 0.01:
            yield {
                **data,
                "faults": [
                    *faults[:index],
                    {**fault, "rate": round(rate / 2, 6)},
                    *faults[index + 1 :],
                ],
            }
        if fault.get("count") and fault["count"] > 1:
            yield {
                **data,
                "faults": [
                    *faults[:index],
                    {**fault, "count": fault["count"] // 2},
                    *faults[index + 1 :],
                ],
            }
    run = data.get("run", {})
    if run.get("batches", 1) > 1:
        yield {**data, "run": {**run, "batches": run["batches"] // 2}}
    cohort = data.get("cohort", {})
    students = cohort.get("students", {})
    count = students.get("count", 12)
    if count > 2:
        yield {**data, "cohort": {**cohort, "students": {**students, "count": max(2, count // 2)}}}


def shrink(
    scenario: Scenario, seed: int, legacy: bool, invariant: str, *, base_dir: Path | None
) -> tuple[Scenario, int]:
    """The smallest variant that still breaks ``invariant`` (and how many runs it took)."""
    current = scenario.model_dump(mode="json", exclude_defaults=True)
    current.setdefault(
        "faults", [f.model_dump(mode="json", exclude_defaults=True) for f in scenario.faults]
    )
    runs = 0
    improved = True
    while improved and runs < SHRINK_RUNS_MAX:
        improved = False
        for candidate in _candidates(current):
            if runs >= SHRINK_RUNS_MAX:
                break
            runs += 1
            try:
                smaller = Scenario.model_validate(candidate)
            except ValueError:
                continue
            if invariant in judge(smaller, seed, legacy, base_dir=base_dir).broken:
                current = candidate
                improved = True
                break
    return Scenario.model_validate(current), runs


def write_scenario(scenario: Scenario, path: Path, note: str) -> None:
    data = json.loads(scenario.model_dump_json(exclude_defaults=True))
    path.write_text(f"# {note}\n" + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
