"""YAML files validated by pydantic, with every problem located: ``file:line:col: path: message``.

``read_yaml`` parses a document and keeps its node tree; ``locate`` turns a pydantic error into
one line pointing at the deepest YAML node its location reaches. Scenarios and live run
configurations both load this way, so a user sees the same kind of error from either.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import yaml

__all__ = [
    "SCHEMA_KEY",
    "Located",
    "LocatedYamlError",
    "YamlDocument",
    "as_written",
    "describe",
    "did_you_mean",
    "field_names",
    "in_file_order",
    "locate",
    "locate_all",
    "located_problems",
    "most_specific",
    "place",
    "position",
    "read_text",
    "read_yaml",
    "yaml_path",
]


class LocatedYamlError(ValueError):
    """A document that is not valid YAML; ``str()`` is one located line."""


SCHEMA_KEY = "$schema"  # how editors find a file's schema; not a field of the document


class Located(NamedTuple):
    """One problem's line: where it is (for file order) and what it says."""

    line: int
    col: int
    text: str


def in_file_order(problems: Iterable[Located]) -> str:
    """Problems one per line, in file order, each once."""
    ordered = sorted(problems, key=lambda problem: (problem.line, problem.col))
    return "\n".join(dict.fromkeys(problem.text for problem in ordered))


class YamlDocument(NamedTuple):
    """A parsed document: its data, its node tree (to locate later errors) and the problems
    found while reading it (keys given twice), to be reported with the document's others."""

    data: Any
    root: yaml.Node | None
    problems: list[Located]


NODES_MAX = 1_000_000  # aliases may not expand a document beyond this many values
TEXT_BYTES_MAX = 16 * 2**20  # a text input (an essay, a CSV, a YAML file) is at most this big
#: A YAML document: PyYAML reads about 0.6 MB/s, so this keeps parsing to a few seconds. The
#: largest shipped scenario is a few kilobytes.
YAML_CHARS_MAX = 2 * 2**20
DEPTH_MAX = 200  # nesting deeper than this is refused (PyYAML recurses once per level)


def read_yaml(text: str, source: str) -> YamlDocument:
    """The document, its node tree and its keys given twice (YAML loaders keep the last one
    silently); a top-level ``$schema`` key is dropped. ``LocatedYamlError`` for a document that
    cannot be read at all: malformed, nested too deeply, or aliases that expand beyond
    ``NODES_MAX`` values (a "billion laughs", which would take minutes to walk)."""
    if len(text) > YAML_CHARS_MAX:
        raise LocatedYamlError(
            f"{source}:1:1: yaml: {len(text):,} characters is more than the "
            f"{YAML_CHARS_MAX:,} a scenario or configuration may hold"
        )
    deep = _too_deep(text)
    if deep is not None:
        line, col = deep
        raise LocatedYamlError(f"{source}:{line}:{col}: yaml: nested more than {DEPTH_MAX} deep")
    try:
        root = yaml.compose(text)
        _refuse_alias_bombs(root, source)
        data = _construct(root)  # from the tree already composed: the text is parsed once
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        raise LocatedYamlError(f"{source}:{line}:{col}: yaml: {problem}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line, col = _line_col(text, exc.position)
        raise LocatedYamlError(
            f"{source}:{line}:{col}: yaml: the character {exc.character!r} is not allowed"
        ) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise LocatedYamlError(f"{source}:1:1: yaml: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get(SCHEMA_KEY), str):
        del data[SCHEMA_KEY]
    return YamlDocument(data, root, _duplicate_keys(root, source))


def _construct(root: yaml.Node | None) -> Any:
    """The Python data of a composed document, as ``yaml.safe_load`` would build it."""
    if root is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _too_deep(text: str) -> tuple[int, int] | None:
    """Where flow brackets or indentation first nest past ``DEPTH_MAX`` (before PyYAML, whose
    recursion would overflow the stack), or ``None``."""
    depth = 0
    for offset, char in enumerate(text):
        if char in "[{":
            depth += 1
            if depth > DEPTH_MAX:
                return _line_col(text, offset)
        elif char in "]}":
            depth = max(0, depth - 1)
    for number, line in enumerate(text.splitlines(), start=1):
        indent = len(line) - len(line.lstrip(" -"))
        if indent > 2 * DEPTH_MAX:
            return number, 1
    return None


def _refuse_alias_bombs(root: yaml.Node | None, source: str) -> None:
    """Count the values the document expands to (an alias counts as all it names), each
    node's total once; refuse at the first alias-bearing node that passes ``NODES_MAX``."""
    totals: dict[int, int] = {}  # id(node) -> expanded size; ids only key this walk's memo

    def expanded(node: yaml.Node) -> int:
        known = totals.get(id(node))
        if known is not None:
            return known
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1
        for child in children:
            total += expanded(child)
            if total > NODES_MAX:
                mark = child.start_mark
                raise LocatedYamlError(
                    f"{source}:{mark.line + 1}:{mark.column + 1}: yaml: aliases expand this to "
                    f"more than {NODES_MAX:,} values (a 'billion laughs')"
                )
        totals[id(node)] = total
        return total

    if root is not None:
        expanded(root)


def _duplicate_keys(node: yaml.Node | None, source: str) -> list[Located]:
    problems = []
    pending = [] if node is None else [node]
    visited: set[int] = set()  # a node an alias shares is checked once
    while pending:
        current = pending.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, yaml.Mark] = {}
            for key_node, value_node in current.value:
                key = str(key_node.value)
                if isinstance(key_node, yaml.ScalarNode) and key in seen:
                    mark = key_node.start_mark
                    line, col = mark.line + 1, mark.column + 1
                    problems.append(
                        Located(
                            line,
                            col,
                            f"{source}:{line}:{col}: {key}: duplicate key "
                            f"(first at line {seen[key].line + 1})",
                        )
                    )
                else:
                    seen[key] = key_node.start_mark
                pending.append(value_node)
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)
    return problems


def read_text(path: Any, error: type[ValueError]) -> str:
    """A text file, UTF-8 with or without a byte-order mark; ``error`` (one located line) for
    a file that cannot be read or is not text."""
    try:
        size = path.stat().st_size
        if not path.is_file():  # a folder, or a named pipe that would wait for a writer forever
            kind = "a folder" if path.is_dir() else "not a regular file"
            raise error(f"{path}:1:1: {kind}; a file was expected")
        if size > TEXT_BYTES_MAX:
            raise error(
                f"{path}:1:1: {size / 2**20:,.1f} MiB is more than the "
                f"{TEXT_BYTES_MAX // 2**20} MiB a text input may hold"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}:1:1: cannot read the file: {exc.strerror}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise error(f"{path}:1:1: UTF-16 text (save it as UTF-8)")
    if b"\x00" in data[:8192]:  # no text file holds a NUL, though it may decode as UTF-8
        raise error(f"{path}:1:1: a binary file (byte {data.index(0)} is NUL), not text")
    try:
        return str(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        col = len(data[start : exc.start].decode("utf-8-sig", errors="replace")) + 1
        raise error(
            f"{path}:{line}:{col}: not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be "
            "decoded; save the file as UTF-8)"
        ) from None


def locate_all(
    errors: list[Any],
    prefix: tuple[Any, ...],
    root: yaml.Node | None,
    source: str,
    *,
    vocabulary: Iterable[str] = (),
) -> str:
    """Every problem of a document, one located line each, in file order."""
    return in_file_order(located_problems(errors, prefix, root, source, vocabulary=vocabulary))


def located_problems(
    errors: list[Any],
    prefix: tuple[Any, ...],
    root: yaml.Node | None,
    source: str,
    *,
    vocabulary: Iterable[str] = (),
) -> list[Located]:
    """Every problem of a document, each located.

    A value that fits none of a union's branches is reported once per branch; a branch whose
    location another error goes deeper into is the noise of that union and is left out. An
    unknown key gets a "did you mean" when ``vocabulary`` (the known field names) holds a near
    one."""
    known = sorted(set(vocabulary))
    errors = [as_written(error) for error in errors]
    kept = []
    for error in errors:
        path = yaml_path(prefix + tuple(error["loc"]))
        deeper = any(
            other is not error
            and len(p := yaml_path(prefix + tuple(other["loc"]))) > len(path)
            and p[: len(path)] == path
            for other in errors
        )
        if deeper and _from_union(error):
            continue
        kept.append(error)
    problems = []
    for error in kept or errors[:1]:
        line, col = position(root, yaml_path(prefix + tuple(error["loc"])))
        text = locate(error, prefix, root, source) + did_you_mean(error, known)
        problems.append(Located(line, col, text))
    return problems


def did_you_mean(error: Any, vocabulary: Iterable[str]) -> str:
    """For an unknown key near a known name, `` (did you mean 'name'?)``; else nothing."""
    if error["type"] != "extra_forbidden" or not error["loc"]:
        return ""
    # Case aside: a lower-case setting name (max_pairwise_comparisons) is still near its name.
    by_folded = {name.casefold(): name for name in sorted(vocabulary, reverse=True)}
    folded = str(error["loc"][-1]).casefold()
    near = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.75)
    return f" (did you mean {by_folded[near[0]]!r}?)" if near else ""


def _from_union(error: Any) -> bool:
    return any(
        "[" in str(part) or str(part).startswith(("literal", "function")) for part in error["loc"]
    )


def yaml_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pydantic location without union branch names (they are not YAML keys)."""
    return tuple(
        part
        for part in loc
        if isinstance(part, int)
        or not ("[" in str(part) or str(part).startswith(("literal", "function")))
    )


def most_specific(errors: list[Any]) -> Any:
    """With a union, pydantic reports each branch; the deepest location is the useful one."""
    return max(errors, key=lambda error: len(error["loc"]))


def locate(error: Any, prefix: tuple[Any, ...], root: yaml.Node | None, source: str) -> str:
    error = as_written(error)
    line, col = position(root, yaml_path(prefix + tuple(error["loc"])))
    path, message = describe(error, prefix)
    return f"{source}:{line}:{col}: {path}: {message}"


def describe(error: Any, prefix: tuple[Any, ...] = ()) -> tuple[str, str]:
    """A pydantic error as the dotted field it concerns and a plain message."""
    error = as_written(error)
    # pydantic puts union branches (e.g. "list[AnchorSpec]") in loc; they are not YAML keys.
    path = ".".join(str(part) for part in yaml_path(prefix + tuple(error["loc"])))
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required field is missing"
    message = message.removeprefix("Value error, ")
    if error["type"] not in ("extra_forbidden", "missing") and "input" in error:
        shown = error["input"]
        if not isinstance(shown, dict | list) and not (
            isinstance(shown, float) and not math.isfinite(shown)
        ):
            message = f"{message} (got {shown!r})"
    return path or "(top level)", message


def place(path: Any, loc: tuple[Any, ...]) -> str:
    """``file:line:col`` of the key at ``loc`` in a YAML file already read once without error
    (for a problem found after loading, such as a database that does not answer)."""
    try:
        root = yaml.compose(read_text(path, LocatedYamlError))
    except (LocatedYamlError, yaml.YAMLError):
        root = None
    line, col = position(root, loc)
    return f"{path}:{line}:{col}"


def position(node: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[int, int]:
    """Line and column (1-based) of the deepest YAML node the location reaches."""
    if node is None:
        return 1, 1
    best = node.start_mark
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if _key_matches(key_node, part):
                    best = key_node.start_mark
                    child = value_node
                    break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            child = node.value[part]
            best = child.start_mark
        if child is None:
            break
        node = child
    return best.line + 1, best.column + 1


#: A check across fields names the field it is about at the start of its message
#: (``"window_s: must be [start, end)"``), so that the problem is located at that field, not
#: at the mapping that holds it. A dotted path reaches into a nested mapping.
_NAMES_ITS_FIELD = re.compile(r"^(?:Value error, )?([A-Za-z_]\w*(?:\.\w+)*): (.+)$", re.DOTALL)


def as_written(error: Any) -> Any:
    """An error located where the file says what it is about.

    pydantic names a key that is not a string by a rendering of it (``'None'``, ``1`` for
    True); the key itself, kept in ``input``, is what the file holds. A check across fields
    names its field in its message (``_NAMES_ITS_FIELD``)."""
    if error["type"] == "invalid_key" and error["loc"]:
        return {**error, "loc": (*error["loc"][:-1], error.get("input"))}
    named = _NAMES_ITS_FIELD.match(error["msg"]) if error["type"] == "value_error" else None
    if named is None:
        return error
    field = tuple(int(p) if p.isdigit() else p for p in named.group(1).split("."))
    moved = {key: value for key, value in error.items() if key != "input"}
    return {**moved, "loc": (*error["loc"], *field), "msg": named.group(2)}


def _key_matches(key_node: yaml.Node, part: Any) -> bool:
    """Whether a mapping key, as written, is the key pydantic names (``~`` is None, ``yes``
    may be True: YAML resolves keys as it does values)."""
    if not isinstance(key_node, yaml.ScalarNode):
        return False
    if part is None or isinstance(part, bool):
        return key_node.tag == (
            "tag:yaml.org,2002:null" if part is None else "tag:yaml.org,2002:bool"
        ) and (part is None or yaml.safe_load(key_node.value) is part)
    return bool(key_node.value == str(part))


def field_names(schema: dict[str, Any]) -> set[str]:
    """Every property name anywhere in a JSON Schema: the vocabulary of "did you mean"."""
    names: set[str] = set()
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                names.update(properties)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return names
