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

How a JSON file is read with every problem located is the second half of this module (from
``Problem`` on); ``cjsim compare`` and ``cjsim diff`` read run folders with it too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from pydantic import ValidationError

from engine.contracts import EventEnvelope, LLMComparisonResultV1
from engine.run_files import seal, write_whole

__all__ = [
    "CALLBACKS_FILE",
    "COUNT",
    "FLAG",
    "LIST",
    "NUMBER",
    "OBJECT",
    "PUBLISHED_FILE",
    "SCALAR",
    "SUMMARY_FILE",
    "TEXT",
    "Figure",
    "JsonText",
    "Kind",
    "Problem",
    "Trace",
    "TraceError",
    "TraceRecorder",
    "check_figures",
    "compare_to_published",
    "describe",
    "folder_problem",
    "load_trace",
    "parse_json",
    "percentile",
    "problem_lines",
    "read_file_text",
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
    return sorted(found, key=_position)


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
            if not _is_number(ours) or round(_as_float(ours), places) != _as_float(theirs):
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


# ---------------------------------------------------------------------------------------------
# Reading JSON with every problem located.
#
# ``read_file_text`` decodes a file (UTF-8, a byte-order mark accepted; binary, UTF-16 and
# other encodings named as such); ``parse_json`` parses one document or one JSON-lines record
# and refuses NaN and infinity (Python's json accepts them; no other reader does);
# ``check_figures`` holds a parsed value against a table of ``Figure``s. Each returns
# ``Problem``s instead of raising, so that a caller can report every problem of a file at once.

PROBLEMS_SHOWN_MAX = 20  # an error lists this many problems, then counts the rest on one line
DEPTH_MAX = 64  # JSON nested deeper is refused (json itself overflows the stack near 1000)
_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"
JsonPath = tuple[str | int, ...]  # a place in a JSON value: object keys and list indexes


class Problem(NamedTuple):
    """One thing wrong with an input file, and where: ``source:line:col: field: message``."""

    source: str
    line: int
    col: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.col}: {self.field}: {self.message}"


def _position(problem: Problem) -> tuple[int, int]:
    return problem.line, problem.col


def problem_lines(problems: Sequence[Problem]) -> str:
    """The problems, one line each in the order given (a repeated one once); past
    ``PROBLEMS_SHOWN_MAX``, one last line, placed at the first left out, counts the rest."""
    unique = list(dict.fromkeys(problems))
    lines = [str(problem) for problem in unique[:PROBLEMS_SHOWN_MAX]]
    rest = unique[PROBLEMS_SHOWN_MAX:]
    if rest:
        more = f"{len(rest)} more problems from here on, not shown"
        lines.append(str(rest[0]._replace(field="(more)", message=more)))
    return "\n".join(lines)


def folder_problem(folder: Path, hint: str) -> Problem | None:
    """Why ``folder`` is not a folder to read from (missing, or a file), if it is not."""
    if folder.is_dir():
        return None
    what = "a file, not a folder" if folder.exists() else "no such folder"
    return Problem(str(folder), 1, 1, "(folder)", f"{what} ({hint})")


def read_file_text(path: Path, *, cut_tail: bool = False) -> str | Problem:
    """A file's text, UTF-8 with or without a byte-order mark, or why it cannot be had.

    With ``cut_tail`` (a JSON-lines file) only its complete lines: a run killed while writing
    leaves its last line without a newline, and that line is left out, as ``engine.run_files``
    does; the text then ends with a newline or is empty."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Problem(source, 1, 1, "(file)", f"cannot read the file: {exc.strerror}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Problem(source, 1, 1, "(file)", "UTF-16 text (save it as UTF-8)")
    nul = data.find(b"\x00")
    if nul >= 0:
        return Problem(source, 1, 1, "(file)", f"a binary file (a NUL byte at byte {nul})")
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if cut_tail:
        data = data[: data.rfind(b"\n") + 1]
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        start = bom + exc.start
        line_start = data.rfind(b"\n", 0, start) + 1
        line = data.count(b"\n", 0, start) + 1
        col = len(data[max(line_start, bom) : start].decode("utf-8", "replace")) + 1
        message = f"not UTF-8 text (byte {start} cannot be decoded)"
        return Problem(source, line, col, "(file)", message)


class _NotFinite:
    """What the parser makes of ``NaN``, ``Infinity`` and ``-Infinity``: kept to be reported."""

    def __init__(self, literal: str) -> None:
        self.literal = literal


@dataclass(slots=True)
class JsonText:
    """A parsed JSON text and where it sits in its file, to locate any of its values."""

    source: str
    text: str
    value: Any
    line: int = 1  # the file line the text starts on (a JSON-lines record's own line)
    whole: str = "(top level)"  # the field name of the whole text in a message
    _offsets: dict[JsonPath, int] | None = field(default=None, repr=False)

    def problem(self, path: JsonPath, message: str) -> Problem:
        """``message`` about the value at ``path``: at its key (an object member) or its first
        character; for a missing one, at the deepest place of the path that exists."""
        if self._offsets is None:
            self._offsets = _offsets(self.text)
        reached = path
        while reached not in self._offsets:
            reached = reached[:-1]
        offset = self._offsets[reached]
        line = self.line + self.text.count("\n", 0, offset)
        col = offset - self.text.rfind("\n", 0, offset)
        name = ".".join(str(part) for part in path) or self.whole
        return Problem(self.source, line, col, name, message)


def parse_json(
    text: str, source: str, *, line: int = 1, whole: str = "(top level)", exact: bool = False
) -> tuple[JsonText | None, list[Problem]]:
    """The parsed text, or ``None`` and its problems. ``exact`` parses numbers as Decimals."""
    number = Decimal if exact else None
    if not text.strip():
        return None, [Problem(source, line, 1, whole, "empty (a JSON value was expected)")]
    try:
        value = json.loads(text, parse_constant=_NotFinite, parse_float=number, parse_int=number)
    except json.JSONDecodeError as exc:
        at = Problem(source, line + exc.lineno - 1, exc.colno, whole, f"not JSON: {exc.msg}")
        return None, [at]
    except RecursionError:
        return None, [Problem(source, line, 1, whole, f"nested deeper than {DEPTH_MAX} levels")]
    except ValueError as exc:  # an integer of more digits than Python converts
        return None, [Problem(source, line, 1, whole, f"not JSON: {exc}")]
    document = JsonText(source, text, value, line, whole)
    depth, odd = _survey(value)
    if depth > DEPTH_MAX:
        return None, [Problem(source, line, 1, whole, f"nested deeper than {DEPTH_MAX} levels")]
    problems = [document.problem(path, message) for path, message in odd]
    return (None if problems else document), sorted(problems, key=_position)


def _survey(value: Any) -> tuple[int, list[tuple[JsonPath, str]]]:
    """How deep the value nests, and where it holds NaN or infinity (stops past DEPTH_MAX)."""
    deepest = 0
    odd: list[tuple[JsonPath, str]] = []
    pending: list[tuple[Any, JsonPath]] = [(value, ())]
    while pending:
        item, path = pending.pop()
        deepest = max(deepest, len(path))
        if len(path) > DEPTH_MAX:
            continue
        if isinstance(item, dict):
            pending += [(child, (*path, key)) for key, child in item.items()]
        elif isinstance(item, list):
            pending += [(child, (*path, index)) for index, child in enumerate(item)]
        elif isinstance(item, _NotFinite):
            odd.append(
                (path, f"{item.literal} is not a finite number (JSON has no NaN or infinity)")
            )
        elif isinstance(item, float | Decimal) and not math.isfinite(item):
            odd.append((path, "a number beyond the range of a float (not finite)"))
    return deepest, odd


def _offsets(text: str) -> dict[JsonPath, int]:
    """Where every value of a JSON text the parser accepted starts (an object member: where
    its key starts)."""
    offsets: dict[JsonPath, int] = {}

    def skip(at: int) -> int:
        while at < len(text) and text[at] in _WHITESPACE:
            at += 1
        return at

    def walk(at: int, path: JsonPath) -> int:  # ``at`` is the value's first character
        opening = text[at]
        if opening not in "{[":
            return int(_DECODER.raw_decode(text, at)[1])
        closing = "}" if opening == "{" else "]"
        at = skip(at + 1)
        index = 0
        while text[at] != closing:
            if opening == "{":
                key, after = _DECODER.raw_decode(text, at)
                offsets[(*path, key)] = at
                child: JsonPath = (*path, key)
                at = skip(skip(after) + 1)  # past the colon
            else:
                child = (*path, index)
                offsets[child] = at
                index += 1
            at = skip(walk(at, child))
            if text[at] == ",":
                at = skip(at + 1)
        return at + 1

    start = skip(0)
    offsets[()] = start
    walk(start, ())
    return offsets


class Kind(NamedTuple):
    """A kind of JSON value: what a message calls it, and the test a value must pass."""

    name: str
    test: Callable[[Any], bool]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


OBJECT = Kind("an object", lambda value: isinstance(value, dict))
LIST = Kind("a list", lambda value: isinstance(value, list))
TEXT = Kind("text", lambda value: isinstance(value, str))
FLAG = Kind("true or false", lambda value: isinstance(value, bool))
NUMBER = Kind("a number", _is_number)
COUNT = Kind("a whole number, 0 or more", lambda value: type(value) is int and value >= 0)
SCALAR = Kind("a number, text, true, false or null", lambda v: not isinstance(v, dict | list))


@dataclass(frozen=True, slots=True)
class Figure:
    """A value a JSON document should hold: its dotted path (``*`` any key of an object, ``#``
    any item of a list), its kind, whether it must be there and whether ``null`` will do."""

    path: str
    kind: Kind
    required: bool = False
    nullable: bool = False


def check_figures(document: JsonText, figures: Sequence[Figure]) -> list[Problem]:
    """Every figure that is missing (if required) or of the wrong kind, in file order. A
    container of the wrong kind is reported once, not again for each figure inside it."""
    problems = []
    for figure in figures:
        for path, value, present in _expand(document.value, figure.path.split(".")):
            if not present:
                if figure.required:
                    problems.append(document.problem(path, "required field is missing"))
            elif not (figure.kind.test(value) or (value is None and figure.nullable)):
                expected = figure.kind.name + (" or null" if figure.nullable else "")
                problems.append(
                    document.problem(path, f"expected {expected}, got {describe_value(value)}")
                )
    return sorted(problems, key=_position)


def _expand(value: Any, parts: list[str]) -> Iterator[tuple[JsonPath, Any, bool]]:
    """The places a figure's path reaches: (path, value, present)."""
    reached: list[tuple[JsonPath, Any]] = [((), value)]
    for number, part in enumerate(parts, start=1):
        following: list[tuple[JsonPath, Any]] = []
        for path, node in reached:
            if part == "*" and isinstance(node, dict):
                following += [((*path, key), child) for key, child in node.items()]
            elif part == "#" and isinstance(node, list):
                following += [((*path, index), child) for index, child in enumerate(node)]
            elif part not in "*#" and isinstance(node, dict):
                if part in node:
                    following.append(((*path, part), node[part]))
                elif number == len(parts):
                    yield (*path, part), None, False
        reached = following
    for path, node in reached:
        yield path, node, True


def describe(document: JsonText) -> str:
    """What a whole JSON text holds, as a message says it."""
    return describe_value(document.value)


def describe_value(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, _NotFinite):
        return value.literal
    return f"{value}"


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
