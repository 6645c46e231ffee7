"""Does a run meet its scenario's expectations? Invariants to hold or to fail, report checks."""

from __future__ import annotations

from typing import Any

from sim.harness.scenario import INVARIANT_NAMES, Expectation, ReportCheck

__all__ = ["check_expectations", "report_value"]

_MISSING = object()


def report_value(report: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (``batches.0.final_state``), or a sentinel if absent."""
    value: Any = report
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _check(report: dict[str, Any], check: ReportCheck) -> str | None:
    value = report_value(report, check.path)
    if value is _MISSING:
        return f"report has no {check.path}"
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        if op not in check.model_fields_set:
            continue
        expected = getattr(check, op)
        try:
            ok = {"eq": value == expected, "ne": value != expected}.get(op)
            if ok is None:
                if value is None:
                    return f"{check.path} is null, expected {op} {expected}"
                ok = {
                    "lt": value < expected,
                    "le": value <= expected,
                    "gt": value > expected,
                    "ge": value >= expected,
                }[op]
        except TypeError:
            return f"{check.path} = {value!r} cannot be compared with {expected!r}"
        if not ok:
            return f"{check.path} = {value!r}, expected {op} {expected!r}"
    return None


def check_expectations(report: dict[str, Any], expectation: Expectation) -> list[str]:
    """Every unmet expectation, as a sentence (empty when the run is as expected)."""
    problems = []
    invariants = report["invariants"]
    hold = (
        list(INVARIANT_NAMES)
        if expectation.invariants.hold == "all"
        else expectation.invariants.hold
    )
    must_fail = set(expectation.invariants.fail)
    for name in hold:
        if name not in must_fail and not invariants[name]["ok"]:
            problems.append(f"invariant {name} failed: {invariants[name]['detail']}")
    for name in sorted(must_fail):
        if invariants[name]["ok"]:
            problems.append(f"invariant {name} was expected to fail but held")
    for check in expectation.report:
        problem = _check(report, check)
        if problem:
            problems.append(problem)
    return problems
