"""One run of a sweep, as a worker runs it: the scenario with its arm's overrides, the seed,
and back a flat row (``run_id``, arm, seed, fingerprint, verdict and every figure of the run's
``report.json``).

A worker parses each scenario and arm once (``_scenario`` is cached per process), not once per
seed. A row holds only what the seed decides, never the machine's figures (wall time, speed):
the same sweep gives the same rows in-process, on a pool and on Dask. Nothing raises out of
``run_sweep_run``: a run that crashes is a row with ``verdict = "crashed"`` and its error.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sim.harness.runner import run_scenario
from sim.harness.scenario import Scenario
from sim.harness.scenario_file import load_scenario
from sim.harness.sweep_spec import SweepRun
from sim.reports.report import BROKEN, HELD, build_report, figures, flatten

__all__ = ["BROKEN", "CRASHED", "HELD", "crashed_row", "run_sweep_run"]

CRASHED = "crashed"  # beside the report's HELD and BROKEN: a run that raised
SCENARIOS_CACHED_MAX = 64  # scenario × arm pairs a worker keeps parsed


@functools.lru_cache(maxsize=SCENARIOS_CACHED_MAX)
def _scenario(path: str, overrides: tuple[str, ...]) -> Scenario:
    return load_scenario(Path(path), overrides=list(overrides))


def _identity(run: SweepRun) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run.run_id,
        "scenario_file": Path(run.scenario_file).name,
        "arm": run.arm.label,
    }
    row.update({f"axis.{axis}": value for axis, value in run.arm.values})
    row["seed"] = run.seed
    return row


def run_sweep_run(run: SweepRun) -> dict[str, Any]:
    """Run ``run`` and return its row; never raises."""
    row = _identity(run)
    try:
        scenario = _scenario(run.scenario_file, run.arm.overrides)
        outcome = run_scenario(scenario, seed=run.seed, base_dir=Path(run.scenario_file).parent)
        report = build_report(outcome)
    except Exception as exc:
        return crashed_row(run, exc)
    broken = sorted(name for name, result in report["invariants"].items() if not result["ok"])
    row.update(
        scenario=scenario.name,
        fingerprint=outcome.fingerprint,
        verdict=BROKEN if broken else HELD,
        broken=",".join(broken),
        error="",
    )
    run_figures = flatten(figures(report))
    row.update(
        {
            name: value
            for name, value in sorted(run_figures.items())
            if isinstance(value, bool | int | float | str) and name not in row
        }
    )
    return row


def crashed_row(run: SweepRun, error: BaseException | None) -> dict[str, Any]:
    """The row of a run that raised (``error``) or whose worker died under it (``None``)."""
    row = _identity(run)
    what = (
        "WorkerDied: the worker process died running it, twice"
        if error is None
        else f"{type(error).__name__}: {error}"
    )
    row.update(scenario="", fingerprint="", verdict=CRASHED, broken="", error=what)
    return row
