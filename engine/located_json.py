"""JSON files read with every problem located: ``file:line:col: field: problem``.

``read_file_text`` decodes a file (UTF-8, a byte-order mark accepted; binary, UTF-16 and other
encodings named as such); ``parse_json`` parses one document or one JSON-lines record and
refuses NaN and infinity (Python's json accepts them; no other reader does); ``check_figures``
holds a parsed value against a table of ``Figure``s. Each returns ``Problem``s instead of
raising, so that a caller can report every problem of a file at once. Traces
(``engine/traces.py``) and run folders (``cjsim compare``, ``cjsim diff``) are read with it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "COUNT",
    "DEPTH_MAX",
    "FLAG",
    "LIST",
    "NUMBER",
    "OBJECT",
    "PROBLEMS_SHOWN_MAX",
    "SCALAR",
    "TEXT",
    "Figure",
    "JsonPath",
    "JsonText",
    "Kind",
    "Problem",
    "check_figures",
    "describe",
    "describe_value",
    "folder_problem",
    "is_number",
    "parse_json",
    "problem_lines",
    "problem_position",
    "read_file_text",
]

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


def problem_position(problem: Problem) -> tuple[int, int]:
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
        if path.exists() and not path.is_file():  # a named pipe would wait for a writer forever
            kind = "a folder" if path.is_dir() else "not a regular file"
            return Problem(source, 1, 1, "(file)", f"{kind}; a file was expected")
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
    return (None if problems else document), sorted(problems, key=problem_position)


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


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


OBJECT = Kind("an object", lambda value: isinstance(value, dict))
LIST = Kind("a list", lambda value: isinstance(value, list))
TEXT = Kind("text", lambda value: isinstance(value, str))
FLAG = Kind("true or false", lambda value: isinstance(value, bool))
NUMBER = Kind("a number", is_number)
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
    return sorted(problems, key=problem_position)


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
