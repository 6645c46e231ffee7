"""``cjsim sweep SWEEP.yaml``: every scenario × arm × seed of a sweep file, run on an executor,
kept as Parquet rows, and summarised with bootstrap intervals.

The output folder (default ``runs/sweep-<name>``) holds ``sweep.json`` (which sweep file),
``parts/`` (the rows), ``sweep.duckdb`` (a view over them), ``summary.json`` and
``sweep.html`` (the table as a page, a chart per figure); the table is printed too. Running
the same sweep into the same folder resumes it: the run ids already recorded are skipped. A
folder that holds another sweep is refused. Ctrl-C writes the rows that finished and stops;
nothing finished is lost. Exit 0 when every run held its invariants, 1 when one broke or
crashed (each listed with the command that reproduces it), 2 on bad input, 130 interrupted.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from engine.run_files import write_whole
from sim.commands.out_folder import OutputTaken, output_folder
from sim.harness.executors import Executor
from sim.harness.sweep_run import BROKEN, CRASHED, HELD, crashed_row, run_sweep_run
from sim.harness.sweep_spec import Sweep, SweepRun, load_sweep, runs
from sim.reports.run_folder import RUN_FILES
from sim.reports.sweep_results import PARTS_FOLDER, ResultParts, read_rows, recorded_run_ids
from sim.reports.sweep_stats import arm_figures, paired_figures, summary_lines

__all__ = ["SWEEP_FILE", "SweepRequest", "sweep_command"]

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
SWEEP_FILE = "sweep.json"
SUMMARY_FILE = "summary.json"
PAGE_FILE = "sweep.html"
LISTED_FAILURES_MAX = 10


@dataclass(frozen=True, slots=True)
class SweepRequest:
    path: Path
    out: Path | None
    seeds: int | None  # overrides the file's seed count


def _folder(request: SweepRequest, sweep: Sweep) -> Path:
    """The sweep's folder: its own earlier folder is resumed; another sweep's, or a run's, is
    refused."""
    default = Path("runs") / f"sweep-{sweep.name}"
    candidate = request.out or default
    if (candidate / SWEEP_FILE).is_file():
        try:
            earlier = json.loads((candidate / SWEEP_FILE).read_text(encoding="utf-8"))
            name = earlier["name"]
        except (OSError, ValueError, KeyError, TypeError):
            raise OutputTaken(
                f"{candidate / SWEEP_FILE}: --out: holds a sweep.json that cannot be read; "
                "choose another folder"
            ) from None
        if name == sweep.name:
            return candidate
        if request.out is not None:
            raise OutputTaken(
                f"{candidate}: --out: holds the sweep {name!r}, not {sweep.name!r}; choose "
                "another folder"
            )
    return output_folder(request.out, default, (*RUN_FILES, SWEEP_FILE, PARTS_FOLDER))


def sweep_command(
    request: SweepRequest,
    *,
    executor: Executor,
    out: TextIO,
    progress: Callable[[Iterable[Any], int], Iterable[Any]],
) -> int:
    sweep = load_sweep(request.path)
    if request.seeds is not None:
        sweep = sweep.model_copy(
            update={"seeds": sweep.seeds.model_copy(update={"count": request.seeds})}
        )
    folder = _folder(request, sweep)
    folder.mkdir(parents=True, exist_ok=True)
    content = request.path.read_bytes()
    write_whole(
        folder / SWEEP_FILE,
        json.dumps(
            {
                "name": sweep.name,
                "file": str(request.path),
                "sha256": hashlib.sha256(content).hexdigest(),
            },
            indent=2,
        )
        + "\n",
    )
    planned = list(runs(sweep, request.path))
    done = recorded_run_ids(folder)
    todo = [run for run in planned if run.run_id not in done]
    out.write(
        f"cjsim sweep {request.path}: {len(planned)} runs ({len(sweep.scenarios)} scenarios, "
        f"{len(planned) // max(1, len(sweep.scenarios) * sweep.seeds.count)} arms, "
        f"{sweep.seeds.count} seeds)"
        + (f", {len(planned) - len(todo)} already recorded" if len(todo) < len(planned) else "")
        + f", output {folder}\n"
    )
    out.flush()
    parts = ResultParts(folder)
    interrupted = False
    try:
        for row in progress(_rows(executor, todo), len(todo)):
            parts.add(row)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        parts.flush()
    if interrupted:
        out.write(
            f"\ninterrupted: {parts.written} finished runs kept in {folder}; run the same "
            "command again to resume\n"
        )
        return EXIT_INTERRUPTED
    planned_ids = {run.run_id for run in planned}
    rows = [row for row in read_rows(folder) if row["run_id"] in planned_ids]
    return _report(sweep, request, rows, planned, folder, out)


def _rows(executor: Executor, todo: list[SweepRun]) -> Iterator[dict[str, Any]]:
    for _, row in executor.run(run_sweep_run, todo, failed=crashed_row, key_of=_key):
        yield row


def _key(run: SweepRun) -> str:
    return f"run-{run.run_id}"


def _report(
    sweep: Sweep,
    request: SweepRequest,
    rows: list[dict[str, Any]],
    planned: list[SweepRun],
    folder: Path,
    out: TextIO,
) -> int:
    arms = arm_figures(rows, sweep.figures, sweep.name)
    pairs = paired_figures(rows, sweep.figures, sweep.name, compare=sweep.compare)
    verdicts = {
        verdict: sum(row["verdict"] == verdict for row in rows)
        for verdict in (HELD, BROKEN, CRASHED)
    }
    write_whole(
        folder / SUMMARY_FILE,
        json.dumps(
            {
                "sweep": sweep.name,
                "runs": len(rows),
                "verdicts": verdicts,
                "arms": [asdict(item) for item in arms],
                "pairs": [asdict(item) for item in pairs],
            },
            indent=2,
            sort_keys=True,
        )
        + "\n",
    )
    from sim.reports.sweep_page import sweep_page_html

    page = sweep_page_html(sweep.name, sweep.description, verdicts, arms, pairs)
    write_whole(folder / PAGE_FILE, page)
    out.write("\n")
    for line in summary_lines(arms, pairs):
        out.write(line + "\n")
    missing = [f for f in sweep.figures if all(row.get(f) is None for row in rows)]
    for figure in missing:
        out.write(f"note: no run reported the figure {figure!r} (is it a report.json path?)\n")
    out.write(
        f"runs: {len(rows)} of {len(planned)}; held {verdicts[HELD]}, broken "
        f"{verdicts[BROKEN]}, crashed {verdicts[CRASHED]}\n"
        f"rows: {folder / 'parts'} (query them: duckdb {folder / 'sweep.duckdb'} "
        '"SELECT * FROM runs")\n'
        f"page: {folder / PAGE_FILE}\n"
    )
    failed = [row for row in rows if row["verdict"] != HELD]
    by_id = {run.run_id: run for run in planned}
    for row in failed[:LISTED_FAILURES_MAX]:
        run = by_id[row["run_id"]]
        what = row["error"] or f"broke {row['broken']}"
        command = ["cjsim", "run", run.scenario_file, "--seed", str(run.seed)]
        for override in run.arm.overrides:
            command += ["--set", override]
        out.write(f"  {row['run_id']} ({row['arm']}, seed {row['seed']}): {what}\n")
        out.write(f"    reproduce: {shlex.join(command)}\n")
    return EXIT_FAILED if failed else EXIT_OK
