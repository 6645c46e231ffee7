"""``cjsim report`` and ``cjsim show``: a run folder looked at, as a page or in the terminal.

``report`` writes one self-contained HTML file: the run page for one folder, the comparison
page for two or more. It never writes over a file: ``--out`` must name a new file, and the
default (``RUN_DIR/report.html``, or ``compare-<A>-vs-<B>.html`` next to the first run) moves
to the next free name when taken, as ``cjsim run``'s default folder does. ``show`` prints the
ranking and the headline figures of one folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from engine.located_json import (
    COUNT,
    FLAG,
    LIST,
    NUMBER,
    OBJECT,
    TEXT,
    Figure,
    Problem,
    folder_problem,
    problem_lines,
)
from engine.run_files import write_whole
from sim.commands.out_folder import output_file
from sim.reports.compare import RunFolderError, read_documents
from sim.reports.ranking import not_outcome_tables, ranking_lines, read_ranking
from sim.reports.run_folder import HTML_FILE, OUTCOMES_FILE, REPORT_FILE

__all__ = [
    "check_page_inputs",
    "check_run_folders",
    "report_command",
    "run_page_text",
    "show_command",
    "write_run_page",
]

#: The files a page or the terminal summary is made from.
NEEDED = (REPORT_FILE, OUTCOMES_FILE)
#: What ``show`` reads of report.json (a field of the wrong kind is one located line).
HEADLINE_FIGURES = (
    Figure("scenario", TEXT, required=True),
    Figure("seed", COUNT, required=True),
    Figure("fingerprint", TEXT, required=True),
    Figure("legacy", FLAG),
    Figure("invariants", OBJECT, required=True),
    Figure("invariants.*", OBJECT),
    Figure("invariants.*.ok", FLAG, required=True),
    Figure("batches", LIST, required=True),
    Figure("batches.#", OBJECT),
    *(
        Figure(f"batches.#.{name}", kind, required=True)
        for name, kind in (
            ("cj_batch_id", COUNT),
            ("final_state", TEXT),
            ("upload_status", TEXT),
            ("submitted", COUNT),
            ("completed", COUNT),
            ("failed", COUNT),
        )
    ),
    Figure("errors_by_type", OBJECT, required=True),
    Figure("errors_by_type.*", COUNT),
    Figure("provider_calls", COUNT, required=True),
    Figure("usage", OBJECT),
    Figure("usage.input_tokens", COUNT),
    Figure("usage.output_tokens", COUNT),
    Figure("usage.cost_usd", NUMBER),
    Figure("virtual_seconds", NUMBER, required=True),
)


def check_run_folders(runs: Sequence[Path], command: str) -> None:
    """Raise ``RunFolderError`` naming every folder of ``runs`` that is not a run's output."""
    problems: list[Problem] = []
    for run in runs:
        where = folder_problem(run, f"{command} needs a `cjsim run` or `cjsim live` output folder")
        if where is not None:
            problems.append(where)
            continue
        for name in NEEDED:
            if not (run / name).is_file():
                hint = f"is {run} a run's output folder? {command} reads {' and '.join(NEEDED)}"
                problems.append(Problem(str(run / name), 1, 1, "(file)", f"not found ({hint})"))
    if problems:
        raise RunFolderError(problem_lines(problems))


#: What the run page reads of scenario.json, when the folder has one.
SCENARIO_FIGURES = (
    Figure("seed", COUNT),
    Figure("legacy", FLAG),
    Figure("settings_changed", OBJECT, required=True),
    Figure("scenario", OBJECT, required=True),
    Figure("scenario.name", TEXT, required=True),
    Figure("scenario.faults", LIST),
    Figure("scenario.faults.#", OBJECT),
    Figure("scenario.cohort", OBJECT),
    Figure("scenario.run", OBJECT),
)
#: What a page cannot make of a file that does not hold what cjsim wrote (a run folder edited
#: by hand, or written by another version), past the checks above.
UNREADABLE = (KeyError, IndexError, TypeError, AttributeError, ValueError)


def check_page_inputs(run: Path, command: str) -> None:
    """Raise ``RunFolderError`` for a run folder whose files a page cannot read: each problem
    located in its file (report.json, scenario.json), or the DuckDB file named."""
    import duckdb

    from sim.reports.run_folder import SCENARIO_FILE

    check_run_folders([run], command)
    needs = {REPORT_FILE: HEADLINE_FIGURES}
    if (run / SCENARIO_FILE).exists():
        needs[SCENARIO_FILE] = SCENARIO_FIGURES
    problems: list[Problem] = []
    read_documents(run, needs, command, problems)
    if problems:
        raise RunFolderError(problem_lines(problems))
    try:
        con = duckdb.connect(str(run / OUTCOMES_FILE), read_only=True)
        try:
            tables = {name for (name,) in con.execute("SHOW TABLES").fetchall()}
        finally:
            con.close()
    except duckdb.Error as exc:
        raise not_outcome_tables(run / OUTCOMES_FILE, exc) from None
    missing = sorted(set(OUTCOME_TABLES) - tables)
    if missing:
        raise not_outcome_tables(run / OUTCOMES_FILE, f"no table {', '.join(missing)}")


#: The outcome tables a page reads (sim/reports/analysis.py makes them).
OUTCOME_TABLES = ("events", "comparisons", "callbacks", "provider_calls", "queue_items", "scores")


def run_page_text(run: Path, command: str = "cjsim report") -> str:
    """``run``'s page, its inputs checked first; ``RunFolderError`` when they cannot be read."""
    from sim.reports.run_page import run_page_html

    check_page_inputs(run, command)
    try:
        return run_page_html(run)
    except UNREADABLE as exc:
        raise RunFolderError(
            f"{run}:1:1: (folder): its files do not hold what cjsim writes ({type(exc).__name__}: "
            f"{exc}); was the folder edited, or written by another version of cjsim?"
        ) from None


def write_run_page(run: Path) -> Path:
    """Write the page of the run this process has just written into ``run`` (``cjsim run``):
    its files are cjsim's own, so they are not checked again. Its path."""
    from sim.reports.run_page import run_page_html

    target = output_file(None, run / HTML_FILE)
    write_whole(target, run_page_html(run))
    return target


def report_command(runs: Sequence[Path], out: Path | None, stdout: TextIO) -> Path:
    """Write the page of ``runs`` (one: the run page; more: the comparison page)."""
    check_run_folders(runs, "cjsim report")
    if len(runs) == 1:
        target = output_file(out, runs[0] / HTML_FILE)
        write_whole(target, run_page_text(runs[0]))
    else:
        from sim.reports.compare_page import compare_page_html

        for run in runs:
            check_page_inputs(run, "cjsim report")
        names = "-vs-".join(run.resolve().name for run in runs)
        target = output_file(out, runs[0].resolve().parent / f"compare-{names}.html")
        try:
            page = compare_page_html(list(runs))
        except UNREADABLE as exc:
            raise RunFolderError(
                f"{runs[0]}:1:1: (folder): these run folders do not hold what cjsim writes "
                f"({type(exc).__name__}: {exc}); were they edited, or written by another version?"
            ) from None
        write_whole(target, page)
    stdout.write(f"wrote {target}\n  open it: file://{target.resolve()}\n")
    return target


def show_command(run: Path, stdout: TextIO) -> None:
    """Print ``run``'s headline figures and its ranking."""
    check_run_folders([run], "cjsim show")
    problems: list[Problem] = []
    report = read_documents(run, {REPORT_FILE: HEADLINE_FIGURES}, "cjsim show", problems)
    if problems:
        raise RunFolderError(problem_lines(problems))
    ranking = read_ranking(run / OUTCOMES_FILE)  # read whole before a line is printed
    for line in headline_lines(report[REPORT_FILE]):
        stdout.write(line + "\n")
    stdout.write("\n")
    for line in ranking_lines(ranking):
        stdout.write(line + "\n")


def headline_lines(report: dict[str, Any]) -> list[str]:
    """The figures a reader wants first: what ran, whether it held, what it cost."""
    invariants = report.get("invariants") or {}
    broken = [name for name, result in invariants.items() if not result.get("ok")]
    held = len(invariants) - len(broken)
    verdict = f"{held}/{len(invariants)} invariants hold"
    if broken:
        verdict += f" (broken: {', '.join(broken)})"
    lines = [
        f"{report.get('scenario')}  seed {report.get('seed')}"
        + ("  (legacy)" if report.get("legacy") else ""),
        f"  fingerprint {report.get('fingerprint')}",
        f"  {verdict}",
    ]
    for batch in report.get("batches") or []:
        lines.append(
            f"  batch {batch['cj_batch_id']}: {batch['final_state']} "
            f"({batch['upload_status']}), {batch['submitted']} submitted, "
            f"{batch['completed']} completed, {batch['failed']} failed"
        )
    usage = report.get("usage") or {}
    cost = usage.get("cost_usd")
    lines.append(
        f"  provider calls {report['provider_calls']}, "
        f"errors {sum(report['errors_by_type'].values())}, "
        f"tokens {usage.get('input_tokens', 0):,} in / {usage.get('output_tokens', 0):,} out"
        + ("" if cost is None else f", cost ${cost:,.2f}")
        + f"; {report['virtual_seconds']:,.1f} virtual s"
    )
    return lines
