"""Just enough PromQL to check the dashboards' names: which metrics an expression selects, which
labels it matches and groups by, and whether its brackets, ranges and functions look right.

Not a parser: promtool is not available here, and the panels use a small, regular part of the
language (aggregations with ``by`` before their body, ``rate``, ``histogram_quantile``, binary
``/``). Anything outside that part is reported as a problem rather than guessed at, so a new
panel that needs more teaches this module first.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Selector", "expression_problems", "panel_problems", "selectors"]

AGGREGATIONS = frozenset({"sum", "max", "min", "avg", "count", "topk", "bottomk", "group"})
FUNCTIONS = frozenset(
    {"rate", "irate", "increase", "delta", "histogram_quantile", "clamp_min", "clamp_max", "abs"}
    | {"max_over_time", "min_over_time", "avg_over_time", "absent", "vector", "scalar"}
)
KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool"})
KEYWORDS |= {"and", "or", "unless", "offset"}
GRAFANA_VARIABLES = frozenset({"$__rate_interval", "$provider", "$datasource"})
# Prometheus adds these to every scraped series, whatever the engine registers.
TARGET_LABELS = frozenset({"job", "instance"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NAME = re.compile(r"[A-Za-z_:][\w:]*")
_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*(?:,|$)')
_GROUPING = re.compile(r"\b(by|without)\s*\(([^()]*)\)")
_RANGE = re.compile(r"\[([^\[\]]*)\]")
_DURATION = re.compile(r"\d+(ms|s|m|h|d|w|y)")
_PAIRS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True, slots=True)
class Selector:
    metric: str
    labels: tuple[str, ...]  # the label names its matchers use
    at: int  # where the metric name starts in the expression


@dataclass(frozen=True, slots=True)
class _Grouping:
    labels: tuple[str, ...]
    body: tuple[int, int]  # the aggregation's body: the span of the parentheses after ``by``


def _blank(expr: str, pattern: re.Pattern[str], keep_ends: bool = True) -> str:
    """``expr`` with every match of ``pattern`` blanked to spaces (its first and last
    characters kept when ``keep_ends``), so positions still line up with ``expr``."""

    def spaces(match: re.Match[str]) -> str:
        text = match.group(0)
        if keep_ends and len(text) >= 2:
            return text[0] + " " * (len(text) - 2) + text[-1]
        return " " * len(text)

    return pattern.sub(spaces, expr)


def _closing(text: str, start: int) -> int | None:
    """The index of the bracket closing the one at ``start``; None when it never closes."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == text[start]:
            depth += 1
        elif text[index] == {"(": ")", "[": "]", "{": "}"}[text[start]]:
            depth -= 1
            if depth == 0:
                return index
    return None


def _syntax_problems(expr: str) -> list[str]:
    problems = []
    if expr.replace('\\"', "").count('"') % 2:
        return [f"unclosed string in {expr!r}"]
    for variable in sorted(set(re.findall(r"\$\w+", expr)) - GRAFANA_VARIABLES):
        problems.append(f"unknown Grafana variable {variable}")
    code = _blank(expr, _STRING)
    stack: list[tuple[str, int]] = []
    for index, char in enumerate(code):
        if char in "([{":
            stack.append((char, index))
        elif char in _PAIRS:
            if not stack or stack[-1][0] != _PAIRS[char]:
                return [*problems, f"unbalanced {char!r} at column {index}"]
            stack.pop()
    if stack:
        return [*problems, f"unclosed {stack[-1][0]!r} at column {stack[-1][1]}"]
    for match in _RANGE.finditer(code):
        window = match.group(1).strip()
        if window != "$__rate_interval" and not _DURATION.fullmatch(window):
            problems.append(f"range [{window}] is neither a duration nor $__rate_interval")
    bare = _blank(
        _blank(_blank(code, _RANGE), re.compile(r"\{[^{}]*\}")), _GROUPING, keep_ends=False
    )
    for match in re.finditer(r"([A-Za-z_:][\w:]*)\s*\(", bare):
        name = match.group(1)
        if name not in FUNCTIONS | AGGREGATIONS:
            problems.append(f"unknown function {name}()")
    for match in _GROUPING.finditer(code):
        before = code[: match.start()].rstrip()
        after = code[match.end() :].lstrip()
        if not before.endswith(tuple(AGGREGATIONS)) or not after.startswith("("):
            problems.append(
                f"{match.group(0)!r} must sit between an aggregation and its body, "
                "as in sum by (x) (...)"
            )
    for match in re.finditer(r"\{([^{}]*)\}", code):
        original = expr[match.start(1) : match.end(1)]
        if _MATCHER.sub("", original).strip():
            problems.append(f"label matchers not understood: {{{original}}}")
    return problems


def selectors(expr: str) -> list[Selector]:
    """Every metric the expression selects, with the label names its matchers use."""
    code = _blank(_blank(_blank(expr, _STRING), _RANGE), _GROUPING, keep_ends=False)
    braces = {m.start(): m for m in re.finditer(r"\{[^{}]*\}", code)}
    inside = {i for m in braces.values() for i in range(m.start(), m.end())}
    found = []
    for match in _NAME.finditer(code):
        name, end = match.group(0), match.end()
        if match.start() in inside or name in KEYWORDS:
            continue
        if code[end:].lstrip().startswith("("):
            continue  # a function or aggregation, checked by _syntax_problems
        if match.start() > 0 and (
            code[match.start() - 1].isdigit() or code[match.start() - 1] == "."
        ):
            continue  # the exponent or unit of a number such as 1e3
        rest = len(code[end:]) - len(code[end:].lstrip())
        brace = braces.get(end + rest)
        labels: tuple[str, ...] = ()
        if brace is not None:
            original = expr[brace.start() + 1 : brace.end() - 1]
            labels = tuple(m.group(1) for m in _MATCHER.finditer(original))
        found.append(Selector(name, labels, match.start()))
    return found


def _groupings(expr: str) -> list[_Grouping]:
    code = _blank(expr, _STRING)
    found = []
    for match in _GROUPING.finditer(code):
        labels = tuple(label.strip() for label in match.group(2).split(",") if label.strip())
        start = match.end() + len(code[match.end() :]) - len(code[match.end() :].lstrip())
        end = _closing(code, start) if start < len(code) and code[start] == "(" else None
        if end is not None:
            found.append(_Grouping(labels, (start, end)))
    return found


def expression_problems(expr: str, exposed: Mapping[str, frozenset[str]]) -> list[str]:
    """What is wrong with ``expr`` against ``exposed`` (sample name -> its label names)."""
    problems = _syntax_problems(expr)
    if problems:
        return problems
    found = selectors(expr)
    if not found:
        return [f"selects no metric: {expr!r}"]
    for selector in found:
        if selector.metric not in exposed:
            near = difflib.get_close_matches(selector.metric, list(exposed), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            problems.append(f"no metric {selector.metric!r} in the engine's registry{hint}")
            continue
        for label in selector.labels:
            problems += _label_problem(selector.metric, label, exposed)
    for grouping in _groupings(expr):
        start, end = grouping.body
        for selector in found:
            if start < selector.at < end and selector.metric in exposed:
                for label in grouping.labels:
                    problems += _label_problem(selector.metric, label, exposed)
    return problems


def _label_problem(metric: str, label: str, exposed: Mapping[str, frozenset[str]]) -> list[str]:
    if label in exposed[metric] | TARGET_LABELS:
        return []
    has = ", ".join(sorted(exposed[metric])) or "none"
    return [f"{metric} has no label {label!r} (its labels: {has})"]


def panel_problems(
    panels: Iterable[tuple[str, str, str]], exposed: Mapping[str, frozenset[str]]
) -> list[str]:
    """Problems of every ``(title, expr, legend)``, each prefixed with the panel's title.

    A legend may only name labels the expression keeps: those of its ``by`` clauses, ``le``
    aside (``histogram_quantile`` consumes it)."""
    problems = []
    for title, expr, legend in panels:
        found = expression_problems(expr, exposed)
        kept = {label for g in _groupings(expr) for label in g.labels} - {"le"}
        for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend):
            if label not in kept:
                found.append(f"legend names {label!r}, which the expression does not keep")
        problems += [f"{title}: {problem}" for problem in found]
    return problems
