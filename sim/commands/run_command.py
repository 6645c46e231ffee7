"""``cjsim run``: one scenario, one seed, a summary, a report, and an honest exit code."""

from __future__ import annotations

import io
import json
import shlex
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from engine.eventlog import LogRecord
from engine.ports import TaskCrashed
from engine.run_files import write_whole
from sim.adapters.runtime import SimulationStalled
from sim.commands.out_folder import output_folder
from sim.commands.report_command import write_run_page
from sim.harness.expectations import check_expectations
from sim.harness.runner import run_scenario
from sim.harness.scenario import Scenario
from sim.harness.scenario_file import load_scenario
from sim.harness.swarm_result import ENGINE_CRASHES
from sim.harness.swarm_variant import swarm_variant
from sim.reports.analysis import write_outcomes
from sim.reports.ranking import ranking_lines, read_ranking
from sim.reports.report import build_report
from sim.reports.run_description import run_description
from sim.reports.run_folder import (
    ANALYSIS_FILE,
    EVENTS_FILE,
    HTML_FILE,
    OUTCOMES_FILE,
    REPORT_FILE,
    RUN_FILES,
    SCENARIO_FILE,
)

__all__ = ["RunRequest", "default_out_dir", "reproduce_command", "run_command"]

EXIT_OK, EXIT_EXPECTATION, EXIT_BAD_INPUT = 0, 1, 2
RANKING_ENDS = 3  # the summary ends with the top and bottom three of each batch's ranking


@dataclass(frozen=True, slots=True)
class RunRequest:
    path: Path
    seed: int | None
    overrides: tuple[str, ...]
    out: Path | None
    legacy: bool
    swarm: bool
    html: bool = True  # write report.html, the run's page


def reproduce_command(request: RunRequest, seed: int) -> str:
    parts = ["cjsim", "run", str(request.path), "--seed", str(seed)]
    for override in request.overrides:
        parts += ["--set", override]
    if request.legacy:
        parts.append("--legacy")
    if request.swarm:
        parts.append("--swarm")
    return shlex.join(parts)


def default_out_dir(scenario: Scenario, seed: int, legacy: bool) -> Path:
    return Path("runs") / f"{scenario.name}-seed{seed}{'-legacy' if legacy else ''}"


def load_for_run(request: RunRequest) -> tuple[Scenario, int]:
    scenario = load_scenario(request.path, overrides=list(request.overrides))
    seed = scenario.seed if request.seed is None else request.seed
    if request.swarm:
        scenario = swarm_variant(scenario, seed)
    return scenario, seed


def run_command(
    request: RunRequest,
    *,
    wall_clock: Callable[[], float],
    out: TextIO,
    progress: Callable[[LogRecord], None] | None = None,
) -> int:
    """Run, print the summary, write the report; return the exit code. ``ScenarioError`` and
    ``OutputTaken`` propagate to the caller (exit 2); an engine crash is the run's failure
    (exit 1), reported with its task and cause. ``progress`` hears every event (a display)."""
    scenario, seed = load_for_run(request)
    # Chosen before the run, so that a taken --out is refused before any work.
    folder = output_folder(request.out, default_out_dir(scenario, seed, request.legacy), RUN_FILES)
    started = wall_clock()
    try:
        outcome = run_scenario(
            scenario,
            seed=seed,
            legacy=request.legacy,
            base_dir=request.path.parent,
            listeners=() if progress is None else (progress,),
        )
    except ENGINE_CRASHES as crash:
        # The engine under test failed, which is a finding of the run, not a bug of the
        # command: the legacy settings bring back the original's worker crash on purpose.
        _say_engine_crashed(crash, request, seed, out)
        return EXIT_EXPECTATION
    wall = wall_clock() - started
    report = build_report(outcome, wall_seconds=wall)
    folder.mkdir(parents=True, exist_ok=True)
    write_whole(folder / REPORT_FILE, json.dumps(report, indent=2, sort_keys=True) + "\n")
    events = io.StringIO()
    outcome.log.write_jsonl(events)
    write_whole(folder / EVENTS_FILE, events.getvalue())
    described = run_description(scenario, seed=seed, legacy=request.legacy, file=str(request.path))
    write_whole(folder / SCENARIO_FILE, json.dumps(described, indent=2, sort_keys=True) + "\n")
    write_outcomes(outcome, folder)
    if request.html:
        write_run_page(folder)
    problems = check_expectations(report, scenario.expectation(legacy=request.legacy))
    print_summary(report, request, folder, out)
    if problems:
        out.write("\nFAILED\n")
        for problem in problems:
            out.write(f"  {problem}\n")
        for name, result in report["invariants"].items():
            if not result["ok"] and result["first_event"] and any(name in p for p in problems):
                event = result["first_event"]
                out.write(
                    f"  first event that broke {name}: #{event['seq']} at "
                    f"t={event['t']:.3f}s {event['kind']} {_ids(event['ids'])}\n"
                )
        out.write(f"  reproduce: {reproduce_command(request, seed)}\n")
        return EXIT_EXPECTATION
    _say_expected_breaks(report, scenario, request.legacy, out)
    return EXIT_OK


def _say_engine_crashed(
    crash: TaskCrashed | SimulationStalled, request: RunRequest, seed: int, out: TextIO
) -> None:
    out.write(f"\nFAILED: the engine crashed: {crash}\n")
    cause = crash.error if isinstance(crash, TaskCrashed) else None
    if cause is not None:
        out.write("".join(traceback.format_exception(cause)))
    if request.legacy:
        out.write(
            "  (--legacy restores the original system's bugs; this crash may be one of them)\n"
        )
    out.write("  no run folder was written: the run did not finish\n")
    out.write(f"  reproduce: {reproduce_command(request, seed)}\n")


def _say_expected_breaks(
    report: dict[str, Any], scenario: Scenario, legacy: bool, out: TextIO
) -> None:
    """A run that breaks only what its scenario says it must (the original system's bugs,
    under ``--legacy``) has succeeded: say so, lest the broken invariants read as a failure."""
    expected = scenario.expectation(legacy=legacy).invariants.fail
    broken = [name for name, result in report["invariants"].items() if not result["ok"]]
    if broken and set(broken) <= set(expected):
        block = "expect_legacy" if legacy and scenario.expect_legacy is not None else "expect"
        who = "the original system" if legacy else "this run"
        out.write(
            f"\n  as expected: {who} breaks {', '.join(broken)} "
            f"({block}.invariants.fail), and the rest of the expectations hold\n"
        )


def _ids(ids: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in ids.items())


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def print_summary(report: dict[str, Any], request: RunRequest, folder: Path, out: TextIO) -> None:
    mode = " (legacy: the original system's behaviour)" if report["legacy"] else ""
    out.write(f"cjsim run {request.path}  seed {report['seed']}{mode}\n\n")
    header = (
        "batch",
        "state",
        "upload status",
        "submitted",
        "completed",
        "failed",
        "max completion",
    )
    rows: list[Sequence[str]] = [header]
    for batch in report["batches"]:
        rows.append(
            (
                str(batch["cj_batch_id"]),
                batch["final_state"],
                batch["upload_status"],
                str(batch["submitted"]),
                str(batch["completed"]),
                str(batch["failed"]),
                f"{batch['max_completion_pct']:.1f}%",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        out.write(
            "  "
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            + "\n"
        )
    errors = ", ".join(f"{k} {v}" for k, v in report["errors_by_type"].items()) or "none"
    callbacks = report["callbacks"]
    queue = report["queue"]
    positions = report["position_balance"]
    held = sum(result["ok"] for result in report["invariants"].values())
    total = len(report["invariants"])
    out.write(f"\n  provider errors: {errors}\n")
    out.write(
        f"  callbacks: applied {callbacks['applied']}, duplicate {callbacks['duplicate']}, "
        f"orphan {callbacks['orphan']}, late {callbacks['late']}, "
        f"invalid {callbacks['invalid']}\n"
    )
    out.write(
        f"  queue: completed {queue['completed']}, failed {queue['failed']}, expired "
        f"{queue['expired']} (processing timeouts {queue['processing_timeouts']}), "
        f"retries {queue['retries']}, max depth {queue['max_depth']}\n"
    )
    out.write(
        f"  positions: anchors in A {_percent(positions['anchors']['a_share'])}, students "
        f"in A {_percent(positions['students']['a_share'])}, max |A-B|/(A+B) "
        f"{positions['max_abs_skew']:.3f}\n"
    )
    out.write(f"  invariants: {held}/{total} hold")
    broken = [name for name, result in report["invariants"].items() if not result["ok"]]
    out.write(f" (broken: {', '.join(broken)})\n" if broken else "\n")
    ratio = report["virtual_per_wall"]
    speed = f" ({ratio:,.0f}x)" if ratio else ""
    out.write(
        f"  time: {report['virtual_seconds']:,.1f} virtual s in "
        f"{report['wall_seconds']:.2f} wall s{speed}\n"
    )
    out.write(f"  fingerprint: {report['fingerprint']}\n")
    out.write(f"  report: {folder / REPORT_FILE}\n")
    out.write(f"  analysis: {folder / ANALYSIS_FILE} (tables: {folder / OUTCOMES_FILE})\n")
    if (folder / HTML_FILE).is_file():
        out.write(f"  page: {folder / HTML_FILE} (open it in a browser)\n")
    out.write("\n")
    for line in ranking_lines(read_ranking(folder / OUTCOMES_FILE), ends=RANKING_ENDS):
        out.write(line + "\n")
    out.write(f"  (the whole ranking: cjsim show {folder})\n")
