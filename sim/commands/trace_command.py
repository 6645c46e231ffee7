"""``cjsim trace summarize``: a trace's figures recomputed, printed, and checked.

The figures are the original summariser's (``engine.traces.summarize``). People read them as a
table, one figure a line by its dotted name; ``--json`` prints the document itself, for tools.
``--check`` holds them against the folder's ``summary.json`` (every figure, exactly: the
summary was written by the same code) and ``published.json`` (each figure at the precision it
was published with). Bad input raises ``TraceError`` (located lines) from ``load_trace``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from engine.traces import PUBLISHED_FILE, SUMMARY_FILE, compare_to_published, load_trace, summarize
from sim.reports.report import flatten

__all__ = ["trace_summarize"]

EXIT_OK, EXIT_DIFFERS = 0, 1


def trace_summarize(folder: Path, *, check: bool, as_json: bool, out: TextIO) -> int:
    """Print the figures of the trace in ``folder``; with ``check``, what they do not
    reproduce. 0, or 1 when the check finds a difference; raises ``TraceError``."""
    trace = load_trace(folder)
    summary = summarize(trace.scenario_id, trace.results)
    if as_json:
        print(json.dumps(summary, indent=2), file=out)
    else:
        print(figure_table(summary), file=out)
    if not check:
        return EXIT_OK
    print(file=out)
    problems = []
    if trace.summary is not None:
        mismatched = sorted(
            key
            for key in summary.keys() | trace.summary.keys()
            if summary.get(key) != trace.summary.get(key)
        )
        problems += [f"{SUMMARY_FILE}: {key} differs" for key in mismatched]
        if not mismatched:
            print(f"{SUMMARY_FILE}: reproduces", file=out)
    if trace.published is not None:
        figures = compare_to_published(summary, trace.published)
        problems += [f"{PUBLISHED_FILE}: {problem}" for problem in figures]
        if not figures:
            print(f"{PUBLISHED_FILE}: reproduces every published figure", file=out)
    if trace.summary is None and trace.published is None:
        print(f"nothing to check: the folder has no {SUMMARY_FILE} or {PUBLISHED_FILE}", file=out)
    for problem in problems:
        print(problem, file=out)
    return EXIT_DIFFERS if problems else EXIT_OK


def figure_table(summary: dict[str, Any]) -> str:
    """One figure a line, by its dotted name, values in one column; floats to four places,
    ``-`` for a figure there is nothing to compute from, ``(none)`` for an empty group."""
    rows = [(name, _value(value)) for name, value in flatten(summary).items()]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}".rstrip() for name, value in rows)


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return repr(round(value, 4))
    if value == {} or value == []:
        return "(none)"
    return str(value)
