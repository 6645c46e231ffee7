"""The scenarios the benchmarks simulate, and what a simulated world is measured by."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from sim.harness.runner import RunOutcome, run_scenario
from sim.harness.scenario_file import load_scenario
from sim.reports.analysis import write_outcomes

ROOT = Path(__file__).resolve().parents[2]
ENG5_REGULAR_24 = ROOT / "scenarios" / "eng5_regular_24.yaml"
RATE_LIMITED_PROVIDER = ROOT / "scenarios" / "rate_limited_provider.yaml"
SCALE = ROOT / "tests" / "benchmarks" / "scenarios"


def simulation(path: Path, overrides: list[str] | None = None) -> Callable[[], RunOutcome]:
    """A call that simulates the scenario at ``path``, loaded once, here."""
    scenario = load_scenario(path, overrides=overrides or [])
    return lambda: run_scenario(scenario, base_dir=path.parent)


def comparisons_made(outcome: RunOutcome) -> int:
    """The comparisons that got a result: the work a run did, whatever its budget said."""
    made = sum(pair.outcome is not None for pair in outcome.pairs())
    assert made > 0, f"{outcome.scenario.name}: no comparison made"
    return made


class AnalysisOfLatest:
    """Writes the outcome files of the latest world a simulation side returned, each time into
    a fresh folder (a folder that holds a run is refused). Interleaved after its simulation in
    one round and before the next simulation in the next, it analyses the latest world both
    times."""

    def __init__(self, simulate: Callable[[], RunOutcome], out_root: Path) -> None:
        self._simulate = simulate
        self._out_root = out_root
        self._folders = itertools.count()
        self.latest: RunOutcome | None = None

    def simulate(self) -> RunOutcome:
        # Drop the previous world first, so that at most one is alive while the next is built.
        self.latest = None
        self.latest = self._simulate()
        return self.latest

    def analyse(self) -> dict:
        assert self.latest is not None, "analyse before any simulation"
        out = self._out_root / f"analysis-{next(self._folders)}"
        out.mkdir()
        return write_outcomes(self.latest, out)
