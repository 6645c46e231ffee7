"""Two runs side by side: ``cjsim compare`` (the validation plan) and ``cjsim diff`` (events).

``compare`` reads each run folder's ``analysis.json`` and prints the task document's validation
plan as one table per question, run A next to run B: provider error rates by provider and error
type, A/B positions of anchors and students, completion logs against the store's own counts,
callback dispositions and queue outcomes. ``first_divergence`` walks two ``events.jsonl`` logs in
step and names the first event at which they differ, field by field.

Both read every file they need in full before printing anything, and raise one
``RunFolderError`` naming every problem of both folders, one ``file:line:col: field: problem``
line each: a run folder that is not one, a file that is not JSON or lacks what the comparison
reads. An event log's last line without its newline is the one a killed run was writing and is
left out, as ``engine.run_files`` does; a bad line anywhere else is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import orjson

from engine.located_json import (
    COUNT,
    FLAG,
    LIST,
    NUMBER,
    OBJECT,
    SCALAR,
    TEXT,
    Figure,
    Problem,
    check_figures,
    describe,
    folder_problem,
    parse_json,
    problem_lines,
    read_file_text,
)
from sim.reports.report import flatten
from sim.reports.run_folder import ANALYSIS_FILE, EVENTS_FILE, REPORT_FILE

__all__ = [
    "Divergence",
    "RunFolderError",
    "compare_runs",
    "first_divergence",
    "read_documents",
    "render_divergence",
]


class RunFolderError(ValueError):
    """A run folder that cannot be compared: one located line per problem."""


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    query: str
    keys: tuple[str, ...]
    values: tuple[str, ...]


# The validation plan, in the order the task document asks its questions.
VALIDATION_PLAN = (
    Section(
        "Provider error rate",
        "error_rate_by_provider",
        ("provider",),
        ("calls", "errors", "error_rate"),
    ),
    Section(
        "Provider calls by error type",
        "errors_by_provider_and_type",
        ("provider", "error_type", "http_status"),
        ("calls",),
    ),
    Section(
        "A/B positions, anchors vs students",
        "positions_by_role",
        ("role", "position"),
        ("comparisons",),
    ),
    Section(
        "Completion log vs store counts",
        "completion_vs_store",
        ("cj_batch_id",),
        (
            "submitted",
            "completed",
            "db_completed",
            "failed",
            "db_failed",
            "max_completion_pct",
            "counters_match",
        ),
    ),
    Section(
        "Callbacks by disposition", "callbacks_by_disposition", ("disposition",), ("callbacks",)
    ),
    Section(
        "Queue items by final status",
        "queue_status",
        ("status", "expiry_reason"),
        ("items", "retries"),
    ),
)


# What each file must hold for the comparison to read it.
ANALYSIS_FIGURES = tuple(
    figure
    for section in VALIDATION_PLAN
    for figure in (
        Figure(section.query, LIST, required=True),
        Figure(f"{section.query}.#", OBJECT),
        *(
            Figure(f"{section.query}.#.{column}", SCALAR, required=True)
            for column in (*section.keys, *section.values)
        ),
    )
)
REPORT_FIGURES = (
    Figure("scenario", TEXT, required=True),
    Figure("seed", COUNT, required=True),
    Figure("fingerprint", TEXT, required=True),
    Figure("legacy", FLAG),
)
EVENT_FIGURES = (
    Figure("seq", COUNT, required=True),
    Figure("t", NUMBER, required=True),
    Figure("kind", TEXT, required=True),
    Figure("ids", OBJECT, required=True),
    Figure("fields", OBJECT, required=True),
)


def _missing(path: Path, command: str, needs: tuple[str, ...]) -> Problem:
    hint = f"is {path.parent} a `cjsim run` output folder? {command} reads {' and '.join(needs)}"
    return Problem(str(path), 1, 1, "(file)", f"not found ({hint})")


def read_documents(
    run: Path, needs: dict[str, tuple[Figure, ...]], command: str, problems: list[Problem]
) -> dict[str, dict[str, Any]]:
    """The JSON files ``command`` reads from a run folder, each checked against its figures;
    what is wrong with them goes to ``problems``."""
    where = folder_problem(run, f"{command} needs a `cjsim run` output folder")
    if where is not None:
        problems.append(where)
        return {}
    documents = {}
    for name, figures in needs.items():
        path = run / name
        if not path.exists():
            problems.append(_missing(path, command, tuple(needs)))
            continue
        text = read_file_text(path)
        if isinstance(text, Problem):
            problems.append(text)
            continue
        document, found = parse_json(text, str(path))
        problems += found
        if document is None:
            continue
        if not isinstance(document.value, dict):
            problems.append(document.problem((), f"not a JSON object (got {describe(document)})"))
            continue
        found = check_figures(document, figures)
        problems += found
        if not found:
            documents[name] = document.value
    return documents


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _section(section: Section, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[str]:
    by_key_a = {tuple(row[k] for k in section.keys): row for row in a}
    by_key_b = {tuple(row[k] for k in section.keys): row for row in b}
    keys = sorted(by_key_a.keys() | by_key_b.keys(), key=lambda key: [_cell(k) for k in key])
    # One measure: a column pair. Several: a row per measure, so the table stays narrow.
    wide = len(section.values) == 1
    if wide:
        rows = [[*section.keys, f"{section.values[0]} A", f"{section.values[0]} B"]]
    else:
        rows = [[*section.keys, "measure", "A", "B"]]
    for key in keys:
        for value in section.values:
            cells = [
                _cell(side[key][value]) if key in side else "-" for side in (by_key_a, by_key_b)
            ]
            rows.append([_cell(k) for k in key] + ([] if wide else [value]) + cells)
    lines = [section.title]
    lines += _table(rows) if keys else ["  (nothing in either run)"]
    return lines


def compare_runs(run_a: Path, run_b: Path) -> str:
    """The validation plan of two run folders, side by side."""
    needs = {ANALYSIS_FILE: ANALYSIS_FIGURES, REPORT_FILE: REPORT_FIGURES}
    problems: list[Problem] = []
    runs = [read_documents(run, needs, "compare", problems) for run in (run_a, run_b)]
    if problems:
        raise RunFolderError(problem_lines(problems))
    lines = []
    for label, run, documents in zip(("A", "B"), (run_a, run_b), runs, strict=True):
        report = documents[REPORT_FILE]
        legacy = " legacy" if report.get("legacy") else ""
        lines.append(
            f"{label}: {run}  ({report['scenario']} seed {report['seed']}"
            f"{legacy}, fingerprint {report['fingerprint'][:12]})"
        )
    for section in VALIDATION_PLAN:
        lines.append("")
        lines += _section(
            section, runs[0][ANALYSIS_FILE][section.query], runs[1][ANALYSIS_FILE][section.query]
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first event at which two logs differ: its line in A's file and in B's (1-based;
    where one log has ended, the other's line), and the two records (``None``: that log ended).
    The line numbers differ only where a log holds blank lines."""

    line: int
    a: dict[str, Any] | None
    b: dict[str, Any] | None
    line_b: int | None = None  # ``None``: the same as ``line``


@dataclass(frozen=True, slots=True)
class _Event:
    line: int
    text: str  # the record's line without surrounding whitespace, compared exactly
    record: dict[str, Any]


def _event_log(run: Path, problems: list[Problem]) -> list[_Event]:
    """A run folder's events, every line checked; what is wrong goes to ``problems``."""
    where = folder_problem(run, "diff needs a `cjsim run` output folder")
    if where is not None:
        problems.append(where)
        return []
    path = run / EVENTS_FILE
    if not path.exists():
        problems.append(_missing(path, "diff", (EVENTS_FILE,)))
        return []
    text = read_file_text(path, cut_tail=True)
    if isinstance(text, Problem):
        problems.append(text)
        return []
    events = []
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        line = line.strip()
        if not line:
            continue
        record = _well_formed(line)
        if record is None:  # the slow path, to say exactly what is wrong
            document, found = parse_json(line, str(path), line=number, whole="(line)")
            problems += found
            if document is None:
                continue
            if not isinstance(document.value, dict):
                what = describe(document)
                problems.append(document.problem((), f"not an event record (got {what})"))
                continue
            found = check_figures(document, EVENT_FIGURES)
            problems += found
            if found:
                continue
            record = document.value
        events.append(_Event(number, line, record))
    return events


def _well_formed(line: str) -> dict[str, Any] | None:
    """The record on a line the writer could have written; ``None`` for anything else. (orjson,
    not json: a long log is read in a fraction of the time, and it refuses NaN by itself.)"""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    seq, t = record.get("seq"), record.get("t")
    if not (type(seq) is int and seq >= 0 and type(t) in (int, float)):
        return None
    if not (type(record.get("kind")) is str and type(record.get("ids")) is dict):
        return None
    return record if type(record.get("fields")) is dict else None


def first_divergence(run_a: Path, run_b: Path) -> Divergence | None:
    """The first event at which the logs of two runs differ, or ``None`` if they are equal."""
    problems: list[Problem] = []
    logs = [_event_log(run, problems) for run in (run_a, run_b)]
    if problems:
        raise RunFolderError(problem_lines(problems))
    for a, b in zip_longest(*logs):
        if a is None or b is None or a.text != b.text:
            line_a = a.line if a is not None else b.line
            line_b = b.line if b is not None else line_a
            return Divergence(
                line_a,
                None if a is None else a.record,
                None if b is None else b.record,
                None if line_b == line_a else line_b,
            )
    return None


def _is_time(field: str) -> bool:
    """A virtual time or duration in seconds: an event's ``t`` and any ``*_s`` field."""
    name = field.rsplit(".", 1)[-1]
    return name == "t" or name.endswith("_s")


def _shown(field: str, value: Any) -> str:
    """A value as ``diff`` prints it: times to the millisecond, other floats to six significant
    digits (enough to tell figures apart, few enough to read), anything else as it is."""
    if isinstance(value, float):
        rounded = round(value, 3) if _is_time(field) else float(f"{value:.6g}")
        return repr(rounded)
    return repr(value)


def _describe(record: dict[str, Any]) -> str:
    ids = " ".join(f"{k}={v}" for k, v in record["ids"].items())
    t = _shown("t", record["t"])
    return f"#{record['seq']} t={t} {record['kind']} {ids}".rstrip()


def render_divergence(divergence: Divergence | None, run_a: Path, run_b: Path) -> str:
    if divergence is None:
        return f"{run_a} and {run_b}: identical event logs\n"
    where = f"event line {divergence.line}"
    if divergence.line_b is not None:
        where += f" of A, line {divergence.line_b} of B"
    lines = [f"first divergence at {where}:"]
    for label, record in (("A", divergence.a), ("B", divergence.b)):
        lines.append(f"  {label}: " + (_describe(record) if record else "(log ends)"))
    if divergence.a is not None and divergence.b is not None:
        flat_a, flat_b = flatten(divergence.a), flatten(divergence.b)
        for field in sorted(flat_a.keys() | flat_b.keys()):
            value_a, value_b = flat_a.get(field), flat_b.get(field)
            if value_a == value_b and type(value_a) is type(value_b):
                continue
            shown_a, shown_b = _shown(field, value_a), _shown(field, value_b)
            closer = "  (they differ in digits not shown)" if shown_a == shown_b else ""
            lines.append(f"    {field}: {shown_a} -> {shown_b}{closer}")
    return "\n".join(lines) + "\n"
