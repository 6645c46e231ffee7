"""What the comparison page shows of two or more runs, read from their folders: values, not HTML.

Theory of operation. The first run is the reference: every difference is another run's value
minus the first run's (``B − A``, ``C − A``), never a difference between two later runs, so a
column always answers "what changed against A". The figures come from where the other readers
get them, so the page cannot disagree with them: ``report.json`` and ``analysis.json`` are read
and checked by ``sim.reports.compare`` (``cjsim compare`` prints the same validation plan), the
ranking by ``sim.reports.ranking`` (``cjsim show``), the timeline by
``sim.reports.run_page_timeline`` (the run page's), and Kendall's tau by the engine's own
``kendall_tau_b``. Rankings are joined on (batch, essay id), so an essay missing from one run
shows as a gap rather than shifting the rows. Everything is sorted by value, never by set or
dict order, so that the page is the same bytes for the same folders.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from engine.cj.alignment import kendall_tau_b
from engine.located_json import OBJECT, Figure, Problem, problem_lines
from engine.settings import Settings
from sim.reports.compare import ANALYSIS_FIGURES, REPORT_FIGURES, RunFolderError, read_documents
from sim.reports.ranking import RankedEssay, read_ranking
from sim.reports.report import flatten
from sim.reports.run_folder import ANALYSIS_FILE, OUTCOMES_FILE, REPORT_FILE, SCENARIO_FILE
from sim.reports.run_page_timeline import Timeline, read_timeline

__all__ = [
    "Agreement",
    "ComparedRuns",
    "FigureRow",
    "JoinedEssay",
    "RunSide",
    "SettingRow",
    "difference",
    "read_runs",
    "setting_differences",
]

#: Labels of the runs in the order given; more runs than letters is a mistake of the caller.
LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = 6

# The headline figures of report.json, by dotted path, in the order a reader asks for them.
# Paths with ``*`` stand for every key any run has there (error types, say); ``batches`` are
# expanded per batch id below.
HEADLINE_PATHS = (
    ("virtual seconds", "virtual_seconds"),
    ("events", "events"),
    ("provider calls", "provider_calls"),
    ("provider errors: *", "errors_by_type.*"),
    ("errors that reached CJ: *", "final_errors_by_type.*"),
    ("callbacks applied", "callbacks.applied"),
    ("callbacks duplicate", "callbacks.duplicate"),
    ("callbacks orphan", "callbacks.orphan"),
    ("callbacks late", "callbacks.late"),
    ("queue items", "queue.items"),
    ("queue items completed", "queue.completed"),
    ("queue items failed", "queue.failed"),
    ("queue items expired", "queue.expired"),
    ("queue retries", "queue.retries"),
    ("queue depth, highest", "queue.max_depth"),
    ("worker crashes", "queue.worker_crashes"),
    ("anchors shown first (share)", "position_balance.anchors.a_share"),
    ("students shown first (share)", "position_balance.students.a_share"),
    ("position skew, largest", "position_balance.max_abs_skew"),
    ("input tokens", "usage.input_tokens"),
    ("output tokens", "usage.output_tokens"),
    ("cost (USD)", "usage.cost_usd"),
    ("rate-limited calls", "concurrency.rate_limited_calls"),
)
BATCH_FIGURES = (
    "final_state",
    "submitted",
    "completed",
    "failed",
    "iterations",
    "kendall_tau",
    "inversions",
    "ssr",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSide:
    """One run folder as the page reads it."""

    label: str  # "A" for the first run, "B" for the second, ...
    folder: Path
    report: dict[str, Any]
    analysis: dict[str, Any]
    settings_changed: dict[str, Any] | None  # None: the folder has no scenario.json
    # The settings the run's scenario named, whatever their value (None: no scenario.json)
    settings_set: frozenset[str] | None = None
    ranking: tuple[RankedEssay, ...]
    timeline: Timeline


@dataclass(frozen=True, slots=True, kw_only=True)
class FigureRow:
    """One figure in every run (``None`` where a run lacks it) and each later run's difference
    from the first (``None`` where either is not a number)."""

    name: str
    values: tuple[Any, ...]
    differences: tuple[float | int | None, ...]  # one per run after the first


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinedEssay:
    """An essay of a batch in every run: its rank and score in each (``None``: not ranked in
    that run, or not there at all)."""

    cj_batch_id: int
    essay_id: str
    is_anchor: bool
    known_grade: str | None
    ranks: tuple[int | None, ...]
    scores: tuple[float | None, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Agreement:
    """How far a later run's ranking of a batch agrees with the first run's, over the essays
    ranked in both: Kendall's tau-b of their ranks (``None``: fewer than two such essays, or
    no variation) and how many of those essays changed rank."""

    label: str  # the later run
    cj_batch_id: int
    essays: int
    tau: float | None
    moved: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ComparedRuns:
    runs: tuple[RunSide, ...]
    headline: tuple[FigureRow, ...]
    ranking: tuple[JoinedEssay, ...]
    agreements: tuple[Agreement, ...]

    @property
    def end_s(self) -> float:
        """The latest event of any run: the common end of every timeline's axis."""
        return float(max(run.timeline.end_s for run in self.runs))


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingRow:
    """An engine setting whose value is not the same in every run that recorded its settings:
    its value in each run (``None``: that run's folder has no scenario.json) and whether that
    value is the default the run left it at (its scenario did not name it)."""

    name: str
    values: tuple[Any, ...]
    defaults: tuple[bool, ...]


def setting_differences(runs: Sequence[RunSide]) -> list[SettingRow]:
    """The settings in which the runs differ, by name. A scenario.json lists only the settings
    that differ from a simulated run's defaults, so a setting a run does not list had the
    default value."""
    defaults = Settings.for_simulation().model_dump(mode="json")
    recorded = [run.settings_changed for run in runs]
    names = sorted({name for changed in recorded for name in changed or {}})
    rows = []
    for name in names:
        values = tuple(
            None if changed is None else changed.get(name, defaults.get(name))
            for changed in recorded
        )
        known = [v for v, changed in zip(values, recorded, strict=True) if changed is not None]
        if any(value != known[0] for value in known[1:]):
            left = tuple(
                run.settings_changed is not None
                and name not in run.settings_changed
                and name not in (run.settings_set or frozenset())
                for run in runs
            )
            rows.append(SettingRow(name=name, values=values, defaults=left))
    return rows


def difference(first: Any, other: Any) -> float | int | None:
    """``other − first`` when both are numbers (not booleans), floats rounded to six places so
    that 0.1 − 0.3 reads as -0.2; else ``None``."""
    numbers = all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in (first, other)
    )
    if not numbers:
        return None
    if isinstance(first, int) and isinstance(other, int):
        return other - first
    return round(float(other) - float(first), DIGITS) + 0.0  # + 0.0: no "-0.0"


def _figure_paths(flats: Sequence[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    """(name, dotted path, counted) of every headline figure: ``*`` paths expanded to the keys
    any run has there, and marked as counts (a key a run lacks there is a count of 0)."""
    paths: list[tuple[str, str, bool]] = []
    for name, path in HEADLINE_PATHS:
        if not path.endswith(".*"):
            paths.append((name, path, False))
            continue
        prefix = path[:-1]
        keys = sorted(
            {p.removeprefix(prefix) for flat in flats for p in flat if p.startswith(prefix)}
        )
        paths += [(name.replace("*", key), prefix + key, True) for key in keys]
    return paths


def _figure(report: dict[str, Any], flat: dict[str, Any], path: str, counted: bool) -> Any:
    if path in flat:
        return flat[path]
    # A count by key (errors by type) leaves out the keys it did not count.
    return 0 if counted and isinstance(report.get(path.split(".")[0]), dict) else None


def _batches(report: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    """A report's batches by their id (a run's batch list is in id order, but need not be
    the same list as another run's)."""
    return {
        batch.get("cj_batch_id"): batch
        for batch in report.get("batches") or []
        if isinstance(batch, dict)
    }


def _headline(reports: Sequence[dict[str, Any]]) -> list[FigureRow]:
    flats = [flatten(report) for report in reports]
    held = [
        sum(bool(result.get("ok")) for result in (report.get("invariants") or {}).values())
        for report in reports
    ]
    values: list[tuple[str, tuple[Any, ...]]] = [("invariants that hold", tuple(held))]
    for name, path, counted in _figure_paths(flats):
        row = (_figure(r, f, path, counted) for r, f in zip(reports, flats, strict=True))
        values.append((name, tuple(row)))
    batches = [_batches(report) for report in reports]
    for batch_id in sorted({key for found in batches for key in found}, key=str):
        values += [
            (
                f"batch {batch_id}: {field}",
                tuple(found.get(batch_id, {}).get(field) for found in batches),
            )
            for field in BATCH_FIGURES
        ]
    return [
        FigureRow(
            name=name,
            values=row,
            differences=tuple(difference(row[0], value) for value in row[1:]),
        )
        for name, row in values
    ]


def _joined(rankings: Sequence[Sequence[RankedEssay]]) -> list[JoinedEssay]:
    by_run = [{(e.cj_batch_id, e.essay_id): e for e in ranking} for ranking in rankings]
    keys = sorted({key for essays in by_run for key in essays})
    joined = []
    for key in keys:
        present = [essays[key] for essays in by_run if key in essays]
        joined.append(
            JoinedEssay(
                cj_batch_id=key[0],
                essay_id=key[1],
                is_anchor=present[0].is_anchor,
                known_grade=present[0].known_grade,
                ranks=tuple(
                    (essays[key].rank or None) if key in essays else None for essays in by_run
                ),
                scores=tuple(essays[key].score if key in essays else None for essays in by_run),
            )
        )
    # Strongest first in the first run; essays it did not rank after, by their rank elsewhere.
    return sorted(
        joined,
        key=lambda e: (
            e.cj_batch_id,
            tuple((rank is None, rank or 0) for rank in e.ranks),
            e.essay_id,
        ),
    )


def _agreements(labels: Sequence[str], joined: Sequence[JoinedEssay]) -> list[Agreement]:
    agreements = []
    for batch in sorted({essay.cj_batch_id for essay in joined}):
        essays = [essay for essay in joined if essay.cj_batch_id == batch]
        for index, label in enumerate(labels[1:], start=1):
            pairs = [
                (float(first), float(other))
                for first, other in ((essay.ranks[0], essay.ranks[index]) for essay in essays)
                if first is not None and other is not None
            ]
            first_ranks = [a for a, _ in pairs]
            other_ranks = [b for _, b in pairs]
            tau = kendall_tau_b(first_ranks, other_ranks) if len(pairs) >= 2 else None
            agreements.append(
                Agreement(
                    label=label,
                    cj_batch_id=batch,
                    essays=len(pairs),
                    tau=None if tau is None else round(tau, DIGITS),
                    moved=sum(a != b for a, b in pairs),
                )
            )
    return agreements


def _timeline(run: Path, scenario: dict[str, Any] | None) -> Timeline:
    try:
        con = duckdb.connect(str(run / OUTCOMES_FILE), read_only=True, config={"threads": 1})
        try:
            return read_timeline(con, scenario)
        finally:
            con.close()
    except duckdb.Error as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunFolderError(
            f"{run / OUTCOMES_FILE}:1:1: (file): not the outcome tables of a run ({first_line})"
        ) from None


def read_runs(run_dirs: Sequence[Path]) -> ComparedRuns:
    """Read two or more run folders; ``RunFolderError`` names every problem of every folder."""
    if not 2 <= len(run_dirs) <= len(LABELS):
        raise ValueError(f"a comparison needs 2 to {len(LABELS)} run folders, got {len(run_dirs)}")
    problems: list[Problem] = []
    documents = []
    for run in run_dirs:
        needs = {ANALYSIS_FILE: ANALYSIS_FIGURES, REPORT_FILE: REPORT_FIGURES}
        if (run / SCENARIO_FILE).is_file():  # a live run or an older one has none
            needs[SCENARIO_FILE] = (Figure("settings_changed", OBJECT), Figure("scenario", OBJECT))
        documents.append(read_documents(run, needs, "the comparison page", problems))
        if run.is_dir() and not (run / OUTCOMES_FILE).is_file():
            hint = f"is {run} a `cjsim run` output folder? the comparison page reads it"
            problems.append(
                Problem(str(run / OUTCOMES_FILE), 1, 1, "(file)", f"not found ({hint})")
            )
    if problems:
        raise RunFolderError(problem_lines(problems))
    sides = []
    for label, run, found in zip(LABELS, run_dirs, documents, strict=False):
        scenario = found.get(SCENARIO_FILE)
        sides.append(
            RunSide(
                label=label,
                folder=run,
                report=found[REPORT_FILE],
                analysis=found[ANALYSIS_FILE],
                settings_changed=dict(scenario["settings_changed"]) if scenario else None,
                settings_set=frozenset(scenario["scenario"].get("settings") or {})
                if scenario
                else None,
                ranking=tuple(read_ranking(run / OUTCOMES_FILE)),
                timeline=_timeline(run, scenario),
            )
        )
    joined = _joined([side.ranking for side in sides])
    return ComparedRuns(
        runs=tuple(sides),
        headline=tuple(_headline([side.report for side in sides])),
        ranking=tuple(joined),
        agreements=tuple(_agreements([side.label for side in sides], joined)),
    )
