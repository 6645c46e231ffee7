"""Recorded traces: the original system's callback dumps, read, summarised and written.

A trace is a folder::

    <trace>/llm_callbacks.jsonl   one EventEnvelope carrying an LLMComparisonResultV1 per line
    <trace>/summary.json          the original summariser's figures (see ``summarize``)
    <trace>/published.json        the figures the original project published, where they exist
    <trace>/README.md             where it came from

``load_trace`` reads and checks all of it and raises one ``TraceError`` naming every problem it
found, one line each, file by file and in file order: ``file:line:col: field: problem``.
``summarize`` recomputes ``summary.json`` exactly as the original's capture script did:
percentiles by linear interpolation at ``(n - 1) * p``. ``TraceRecorder`` appends callbacks as
they arrive (live runs record through it) and writes the summary when it closes.

Each file is read with every problem located by ``engine/located_json.py``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from engine.contracts import EventEnvelope, LLMComparisonResultV1
from engine.located_json import (
    COUNT,
    NUMBER,
    OBJECT,
    TEXT,
    Figure,
    JsonText,
    Problem,
    check_figures,
    describe,
    describe_value,
    folder_problem,
    is_number,
    parse_json,
    problem_lines,
    problem_position,
    read_file_text,
)
from engine.run_files import seal, write_whole

__all__ = [
    "CALLBACKS_FILE",
    "PUBLISHED_FILE",
    "SUMMARY_FILE",
    "Trace",
    "TraceError",
    "TraceRecorder",
    "compare_to_published",
    "load_trace",
    "percentile",
    "summarize",
]

CALLBACKS_FILE = "llm_callbacks.jsonl"
SUMMARY_FILE = "summary.json"
PUBLISHED_FILE = "published.json"  # figures the original project published, where they exist
NOT_FIGURES = frozenset({"source", "parity_tolerances"})


class TraceError(ValueError):
    """A trace that cannot be read: one ``file:line:col: field: problem`` line per problem."""


@dataclass(frozen=True, slots=True)
class Trace:
    scenario_id: str
    envelopes: tuple[EventEnvelope, ...]
    results: tuple[LLMComparisonResultV1, ...]
    summary: dict[str, Any] | None  # as stored in summary.json, if present
    # published.json, if present; its numbers are Decimals: the precision they were published
    # with is the precision ``compare_to_published`` checks them at.
    published: dict[str, Any] | None = None

    @property
    def folder_name(self) -> str:
        return self.scenario_id


def load_trace(folder: Path) -> Trace:
    """Every callback of a trace folder, with its summary and published figures if present.

    A last line without its newline is the one a killed run was writing: it is left out (see
    ``engine.run_files``). A file with no callback at all is refused."""
    folder = Path(folder)
    hint = f"a trace folder holds {CALLBACKS_FILE}"
    where = folder_problem(folder, hint)
    if where is not None:
        raise TraceError(str(where))
    problems: list[Problem] = []
    path = folder / CALLBACKS_FILE
    if path.exists():
        envelopes = _read_callbacks(path, problems)
        if not envelopes and not problems:
            problems.append(Problem(str(path), 1, 1, "(file)", "no callbacks: the file is empty"))
    else:
        envelopes = []
        problems.append(Problem(str(path), 1, 1, "(file)", f"no such file ({hint})"))
    summary = _read_figures(folder / SUMMARY_FILE, SUMMARY_FIGURES, problems, exact=False)
    published = _read_figures(folder / PUBLISHED_FILE, PUBLISHED_FIGURES, problems, exact=True)
    if problems:
        raise TraceError(problem_lines(problems))
    scenario_id = (summary or {}).get("scenario_id") or folder.name or folder.resolve().name
    results = tuple(envelope.result() for envelope in envelopes)
    return Trace(scenario_id, tuple(envelopes), results, summary, published)


def _read_callbacks(path: Path, problems: list[Problem]) -> list[EventEnvelope]:
    text = read_file_text(path, cut_tail=True)
    if isinstance(text, Problem):
        problems.append(text)
        return []
    envelopes = []
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        if not line.strip():
            continue
        document, found = parse_json(line, str(path), line=number, whole="(line)")
        problems += found
        if document is None:
            continue
        if not isinstance(document.value, dict):
            problems.append(document.problem((), f"not a JSON object (got {describe(document)})"))
            continue
        envelope = _envelope(document, problems)
        if envelope is not None:
            envelopes.append(envelope)
    return envelopes


def _envelope(document: JsonText, problems: list[Problem]) -> EventEnvelope | None:
    """The line's envelope if it and the result inside are valid; else its problems."""
    try:
        envelope = EventEnvelope.model_validate(document.value)
    except ValidationError as exc:
        problems += _validation_problems(document, exc, ())
        return None
    try:
        envelope.result()
    except ValidationError as exc:
        problems += _validation_problems(document, exc, ("data",))
        return None
    except ValueError as exc:  # the envelope carries another event type
        problems.append(document.problem(("event_type",), str(exc)))
        return None
    return envelope


def _validation_problems(
    document: JsonText, exc: ValidationError, prefix: tuple[str | int, ...]
) -> list[Problem]:
    found = []
    for error in exc.errors(include_url=False):
        # pydantic puts union branches ("function-after[...]") in a location; they are no keys.
        loc = prefix + tuple(
            part for part in error["loc"] if isinstance(part, int) or "[" not in part
        )
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "extra_forbidden":
            message = "unknown key"
        elif not isinstance(error.get("input"), dict | list):
            message += f" (got {describe_value(error.get('input'))})"
        found.append(document.problem(loc, message))
    return sorted(found, key=problem_position)


def _read_figures(
    path: Path, figures: Sequence[Figure], problems: list[Problem], *, exact: bool
) -> dict[str, Any] | None:
    """A trace's optional JSON file of figures, checked; ``None`` if absent or bad."""
    if not path.exists():
        return None
    text = read_file_text(path)
    if isinstance(text, Problem):
        problems.append(text)
        return None
    document, found = parse_json(text, str(path), exact=exact)
    problems += found
    if document is None:
        return None
    if not isinstance(document.value, dict):
        problems.append(document.problem((), f"not a JSON object (got {describe(document)})"))
        return None
    found = check_figures(document, figures)
    problems += found
    return None if found else document.value


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation at ``(n - 1) * p`` over the sorted values (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * p
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"min": None, "mean": None, "max": None}
    return {"min": min(values), "mean": sum(values) / len(values), "max": max(values)}


def summarize(scenario_id: str, results: Iterable[LLMComparisonResultV1]) -> dict[str, Any]:
    """The original capture script's ``summary.json`` for these callbacks."""
    items = list(results)
    successes = [r for r in items if not r.is_error]
    winner_counts: dict[str, int] = {}
    error_codes: dict[str, int] = {}
    for result in items:
        if result.error_detail is not None:
            winner_counts["error"] = winner_counts.get("error", 0) + 1
            code = result.error_detail.error_code
            error_codes[code] = error_codes.get(code, 0) + 1
        else:
            assert result.winner is not None
            winner_counts[result.winner] = winner_counts.get(result.winner, 0) + 1
    latencies = [float(r.response_time_ms) for r in successes]
    latency: dict[str, float | None] = {
        "min_ms": None,
        "mean_ms": None,
        "p95_ms": None,
        "p99_ms": None,
    }
    if latencies:
        latency = {
            "min_ms": min(latencies),
            "mean_ms": sum(latencies) / len(latencies),
            "p95_ms": percentile(latencies, 0.95),
            "p99_ms": percentile(latencies, 0.99),
        }
    return {
        "scenario_id": scenario_id,
        "total_events": len(items),
        "success_count": len(successes),
        "error_count": len(items) - len(successes),
        "winner_counts": dict(sorted(winner_counts.items())),
        "error_code_counts": dict(sorted(error_codes.items())),
        "response_time_ms": latency,
        "token_usage": {
            "prompt_tokens": _stats([float(r.token_usage.prompt_tokens) for r in successes]),
            "completion_tokens": _stats(
                [float(r.token_usage.completion_tokens) for r in successes]
            ),
            "total_tokens": _stats([float(r.token_usage.total_tokens) for r in successes]),
        },
        "bt_se_summary": None,
        "bt_quality_flags": None,
    }


class TraceRecorder:
    """Appends callbacks to ``<folder>/llm_callbacks.jsonl`` as they arrive; ``close`` writes
    ``summary.json`` (of every callback in the file: a resumed run's too). Lines are flushed
    one by one, so an interrupted run keeps what it saw; ``earlier`` holds what the file held
    when the recorder opened it."""

    def __init__(
        self, folder: Path, scenario_id: str, *, scrub: Callable[[str], str] | None = None
    ) -> None:
        self.folder = Path(folder)
        self._scrub = scrub
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scenario_id = scenario_id
        path = self.folder / CALLBACKS_FILE
        # A resumed run appends to its trace: the summary covers every callback of the run.
        # Its file may be empty (killed before the first callback), which load_trace refuses.
        seal(path)
        problems: list[Problem] = []
        earlier = _read_callbacks(path, problems) if path.is_file() else []
        if problems:
            raise TraceError(problem_lines(problems))
        self.earlier: tuple[EventEnvelope, ...] = tuple(earlier)
        self._results = [envelope.result() for envelope in self.earlier]
        self._handle: TextIO | None = path.open("a", encoding="utf-8")

    def record(self, envelope: EventEnvelope) -> None:
        if self._handle is None:
            raise RuntimeError("the trace recorder is closed")
        self._results.append(envelope.result())
        line = envelope.model_dump_json()
        self._handle.write((self._scrub(line) if self._scrub else line) + "\n")
        self._handle.flush()

    def close(self) -> dict[str, Any]:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        summary = summarize(self.scenario_id, self._results)
        write_whole(self.folder / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
        return summary


def compare_to_published(
    summary: Mapping[str, Any], published: str | Mapping[str, Any]
) -> list[str]:
    """Every published figure the summary does not reproduce, as ``path: ours != theirs``.

    ``published`` is ``published.json``'s text or ``Trace.published``. Published ``null`` means
    "not published" and is skipped; counts must match exactly; a number is compared at the
    precision it was published with (``1609.9`` to one decimal). A figure of ours that is not a
    number where a number was published is a difference, not a crash.
    """
    if isinstance(published, str):
        published = json.loads(published, parse_float=Decimal, parse_int=Decimal)
    problems: list[str] = []

    def walk(ours: Any, theirs: Any, path: str) -> None:
        if theirs is None:
            return
        if isinstance(theirs, dict):
            for key, value in theirs.items():
                if key in NOT_FIGURES:
                    continue
                if not isinstance(ours, dict) or key not in ours:
                    problems.append(f"{path}{key}: missing, published {value}")
                    continue
                walk(ours[key], value, f"{path}{key}.")
            return
        if isinstance(theirs, Decimal):
            places = max(0, -int(theirs.as_tuple().exponent))
            if not is_number(ours) or round(_as_float(ours), places) != _as_float(theirs):
                problems.append(f"{path.rstrip('.')}: {ours} != published {theirs}")
            return
        if ours != theirs:
            problems.append(f"{path.rstrip('.')}: {ours!r} != published {theirs!r}")

    walk(summary, published, "")
    return problems


def _as_float(value: int | float | Decimal) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        return math.inf if value > 0 else -math.inf


def _summary_figures() -> tuple[Figure, ...]:
    groups = ("winner_counts", "error_code_counts")
    return (
        Figure("scenario_id", TEXT),
        *(Figure(name, COUNT) for name in ("total_events", "success_count", "error_count")),
        *(Figure(name, OBJECT) for name in groups),
        *(Figure(f"{name}.*", COUNT) for name in groups),
        Figure("response_time_ms", OBJECT),
        Figure("response_time_ms.*", NUMBER, nullable=True),
        Figure("token_usage", OBJECT),
        Figure("token_usage.*", OBJECT),
        Figure("token_usage.*.*", NUMBER, nullable=True),
    )


# What summary.json holds (see ``summarize``), checked where present: a file written by hand or
# by another tool must not crash a comparison with a string where a number belongs.
SUMMARY_FIGURES = _summary_figures()
# Published figures: the same, any of them left out or null ("not published"); a count may be
# written 66.0, which compares equal.
PUBLISHED_FIGURES = tuple(
    Figure(f.path, NUMBER if f.kind is COUNT else f.kind, nullable=True) for f in SUMMARY_FIGURES
)
