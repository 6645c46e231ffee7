"""YAML files validated by pydantic, with every problem located: ``file:line:col: path: message``.

``read_yaml`` parses a document and keeps its node tree; ``locate`` turns a pydantic error into
one line pointing at the deepest YAML node its location reaches. Scenarios and live run
configurations both load this way, so a user sees the same kind of error from either.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

import yaml

__all__ = [
    "SCHEMA_KEY",
    "LocatedYamlError",
    "describe",
    "did_you_mean",
    "field_names",
    "locate",
    "locate_all",
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


def read_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The document's data and its node tree (for locating later errors). A key given twice
    in one mapping is an error (YAML loaders keep the last one silently); a top-level
    ``$schema`` key is dropped."""
    try:
        data, root = yaml.safe_load(text), yaml.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        raise LocatedYamlError(f"{source}:{line}:{col}: yaml: {problem}") from None
    except yaml.YAMLError as exc:
        raise LocatedYamlError(f"{source}:1:1: yaml: {exc}") from None
    _refuse_duplicate_keys(root, source)
    if isinstance(data, dict) and isinstance(data.get(SCHEMA_KEY), str):
        del data[SCHEMA_KEY]
    return data, root


def _refuse_duplicate_keys(node: yaml.Node | None, source: str) -> None:
    pending = [] if node is None else [node]
    while pending:
        current = pending.pop()
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, yaml.Mark] = {}
            for key_node, value_node in current.value:
                key = str(key_node.value)
                if isinstance(key_node, yaml.ScalarNode) and key in seen:
                    mark = key_node.start_mark
                    raise LocatedYamlError(
                        f"{source}:{mark.line + 1}:{mark.column + 1}: {key}: duplicate key "
                        f"(first at line {seen[key].line + 1})"
                    )
                seen[key] = key_node.start_mark
                pending.append(value_node)
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)


def read_text(path: Any, error: type[ValueError]) -> str:
    """A text file, UTF-8 with or without a byte-order mark; ``error`` (one located line) for
    a file that cannot be read or is not text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}:1:1: cannot read the file: {exc.strerror}") from None
    if b"\x00" in data[:8192]:  # no text file holds a NUL, though it may decode as UTF-8
        raise error(f"{path}:1:1: a binary file (byte {data.index(0)} is NUL), not text")
    try:
        return str(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise error(f"{path}:1:1: not UTF-8 text (byte {exc.start} cannot be decoded)") from None


def locate_all(
    errors: list[Any],
    prefix: tuple[Any, ...],
    root: yaml.Node | None,
    source: str,
    *,
    vocabulary: Iterable[str] = (),
) -> str:
    """Every problem of a document, one located line each, in file order.

    A value that fits none of a union's branches is reported once per branch; a branch whose
    location another error goes deeper into is the noise of that union and is left out. An
    unknown key gets a "did you mean" when ``vocabulary`` (the known field names) holds a near
    one."""
    known = sorted(set(vocabulary))
    errors = [_key_as_written(error) for error in errors]
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
    lines = []
    for error in kept or errors[:1]:
        line = locate(error, prefix, root, source) + did_you_mean(error, known)
        where = position(root, yaml_path(prefix + tuple(error["loc"])))
        lines.append((where, line))
    unique = dict.fromkeys(line for _, line in sorted(lines, key=lambda item: item[0]))
    return "\n".join(unique)


def did_you_mean(error: Any, vocabulary: Iterable[str]) -> str:
    """For an unknown key near a known name, `` (did you mean 'name'?)``; else nothing."""
    if error["type"] != "extra_forbidden" or not error["loc"]:
        return ""
    near = difflib.get_close_matches(str(error["loc"][-1]), list(vocabulary), n=1, cutoff=0.75)
    return f" (did you mean {near[0]!r}?)" if near else ""


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
    error = _key_as_written(error)
    line, col = position(root, yaml_path(prefix + tuple(error["loc"])))
    path, message = describe(error, prefix)
    return f"{source}:{line}:{col}: {path}: {message}"


def describe(error: Any, prefix: tuple[Any, ...] = ()) -> tuple[str, str]:
    """A pydantic error as the dotted field it concerns and a plain message."""
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


def _key_as_written(error: Any) -> Any:
    """pydantic names a key that is not a string by a rendering of it (``'None'``, ``1`` for
    True); the key itself, kept in ``input``, is what the file holds."""
    if error["type"] != "invalid_key" or not error["loc"]:
        return error
    return {**error, "loc": (*error["loc"][:-1], error.get("input"))}


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
