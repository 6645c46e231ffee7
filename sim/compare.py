"""Two runs side by side: ``cjsim compare`` (the validation plan) and ``cjsim diff`` (events).

``compare`` reads each run folder's ``analysis.json`` and prints the task document's validation
plan as one table per question, run A next to run B: provider error rates by provider and error
type, A/B positions of anchors and students, completion logs against the store's own counts,
callback dispositions and queue outcomes. ``first_divergence`` walks two ``events.jsonl`` logs in
step and names the first event at which they differ, field by field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

from sim.analysis import ANALYSIS_FILE
from sim.report import flatten

__all__ = ["Divergence", "RunFolderError", "compare_runs", "first_divergence", "render_divergence"]

EVENTS_FILE = "events.jsonl"
REPORT_FILE = "report.json"


class RunFolderError(ValueError):
    """A run folder that cannot be compared; the message is one located line."""


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


def _require(path: Path) -> None:
    if not path.is_file():
        raise RunFolderError(f"{path}: not found (is {path.parent} a `cjsim run` output folder?)")


def _read_json(path: Path) -> Any:
    _require(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}") from None


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
    analyses = [_read_json(run / ANALYSIS_FILE) for run in (run_a, run_b)]
    reports = [_read_json(run / REPORT_FILE) for run in (run_a, run_b)]
    lines = []
    for label, run, report in zip(("A", "B"), (run_a, run_b), reports, strict=True):
        legacy = " legacy" if report.get("legacy") else ""
        lines.append(
            f"{label}: {run}  ({report.get('scenario')} seed {report.get('seed')}"
            f"{legacy}, fingerprint {str(report.get('fingerprint'))[:12]})"
        )
    for section in VALIDATION_PLAN:
        lines.append("")
        lines += _section(
            section, analyses[0].get(section.query, []), analyses[1].get(section.query, [])
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first line at which two event logs differ (1-based); ``None`` records end a log."""

    line: int
    a: dict[str, Any] | None
    b: dict[str, Any] | None


def _events(path: Path) -> Iterator[tuple[int, str]]:
    _require(path)
    with path.open(encoding="utf-8") as handle:
        yield from enumerate(handle, start=1)


def _record(path: Path, number: int, line: str | None) -> dict[str, Any] | None:
    if line is None:
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RunFolderError(
            f"{path}:{number}:{exc.colno}: not an event record: {exc.msg}"
        ) from None
    if not isinstance(record, dict):
        raise RunFolderError(f"{path}:{number}:1: not an event record")
    return record


def first_divergence(run_a: Path, run_b: Path) -> Divergence | None:
    """The first event at which the logs of two runs differ, or ``None`` if they are equal."""
    path_a, path_b = run_a / EVENTS_FILE, run_b / EVENTS_FILE
    pairs = zip_longest(_events(path_a), _events(path_b), fillvalue=(0, None))
    for (number_a, line_a), (number_b, line_b) in pairs:
        if line_a != line_b:
            number = max(number_a, number_b)
            return Divergence(
                number, _record(path_a, number, line_a), _record(path_b, number, line_b)
            )
    return None


def _describe(record: dict[str, Any]) -> str:
    ids = " ".join(f"{k}={v}" for k, v in record.get("ids", {}).items())
    return f"#{record.get('seq')} t={record.get('t')} {record.get('kind')} {ids}".rstrip()


def render_divergence(divergence: Divergence | None, run_a: Path, run_b: Path) -> str:
    if divergence is None:
        return f"{run_a} and {run_b}: identical event logs\n"
    lines = [f"first divergence at event line {divergence.line}:"]
    for label, record in (("A", divergence.a), ("B", divergence.b)):
        lines.append(f"  {label}: " + (_describe(record) if record else "(log ends)"))
    if divergence.a is not None and divergence.b is not None:
        flat_a, flat_b = flatten(divergence.a), flatten(divergence.b)
        for field in sorted(flat_a.keys() | flat_b.keys()):
            if flat_a.get(field) != flat_b.get(field):
                lines.append(f"    {field}: {flat_a.get(field)!r} -> {flat_b.get(field)!r}")
    return "\n".join(lines) + "\n"
