"""Recorded traces: the original system's callback dumps, read, summarised and written.

A trace is a folder::

    <trace>/llm_callbacks.jsonl   one EventEnvelope carrying an LLMComparisonResultV1 per line
    <trace>/summary.json          the original summariser's figures (see ``summarize``)
    <trace>/README.md             where it came from

``load_trace`` validates every line and reports ``file:line: problem`` for a bad one.
``summarize`` recomputes ``summary.json`` exactly as the original's capture script did:
percentiles by linear interpolation at ``(n - 1) * p``. ``TraceRecorder`` appends callbacks as
they arrive (live runs record through it) and writes the summary when it closes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from engine.contracts import EventEnvelope, LLMComparisonResultV1
from engine.run_files import seal, whole_lines, write_whole

__all__ = [
    "CALLBACKS_FILE",
    "SUMMARY_FILE",
    "Trace",
    "TraceError",
    "TraceRecorder",
    "load_trace",
    "percentile",
    "summarize",
]

CALLBACKS_FILE = "llm_callbacks.jsonl"
SUMMARY_FILE = "summary.json"
PUBLISHED_FILE = "published.json"  # figures the original project published, where they exist
NOT_FIGURES = frozenset({"source", "parity_tolerances"})


class TraceError(ValueError):
    """A trace that cannot be read; the message starts with ``file:line:``."""


@dataclass(frozen=True, slots=True)
class Trace:
    scenario_id: str
    envelopes: tuple[EventEnvelope, ...]
    results: tuple[LLMComparisonResultV1, ...]
    summary: dict[str, Any] | None  # as stored in summary.json, if present

    @property
    def folder_name(self) -> str:
        return self.scenario_id


def load_trace(folder: Path) -> Trace:
    folder = Path(folder)
    path = folder / CALLBACKS_FILE
    if not path.is_file():
        raise TraceError(f"{path}:1: no such file (a trace folder holds {CALLBACKS_FILE})")
    envelopes, results = [], []
    # Whole lines only: a run killed while writing its last line leaves it cut short.
    try:
        lines = whole_lines(path)
    except UnicodeDecodeError as exc:
        raise TraceError(f"{path}:1: not UTF-8 text (byte {exc.start})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            envelope = EventEnvelope.model_validate_json(line)
            result = envelope.result()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "envelope"
            raise TraceError(f"{path}:{number}: {where}: {first['msg']}") from None
        except ValueError as exc:
            raise TraceError(f"{path}:{number}: {exc}") from None
        envelopes.append(envelope)
        results.append(result)
    summary = None
    summary_path = folder / SUMMARY_FILE
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise TraceError(f"{summary_path}:1: not JSON: {exc}") from None
    scenario_id = (summary or {}).get("scenario_id") or folder.name
    return Trace(scenario_id, tuple(envelopes), tuple(results), summary)


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
        seal(path)
        self.earlier: tuple[EventEnvelope, ...] = (
            load_trace(self.folder).envelopes if path.is_file() else ()
        )
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


def compare_to_published(summary: dict[str, Any], published_text: str) -> list[str]:
    """Every published figure the summary does not reproduce, as ``path: ours != theirs``.

    Published ``null`` means "not published" and is skipped; counts must match exactly; a
    number is compared at the precision it was published with (``1609.9`` to one decimal).
    """
    published = json.loads(published_text, parse_float=Decimal, parse_int=Decimal)
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
            if ours is None or round(float(ours), places) != float(theirs):
                problems.append(f"{path.rstrip('.')}: {ours} != published {theirs}")
            return
        if ours != theirs:
            problems.append(f"{path.rstrip('.')}: {ours!r} != published {theirs!r}")

    walk(summary, published, "")
    return problems
