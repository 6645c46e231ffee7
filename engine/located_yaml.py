"""YAML files validated by pydantic, with every problem located: ``file:line:col: path: message``.

``read_yaml`` parses a document and keeps its node tree; ``locate`` turns a pydantic error into
one line pointing at the deepest YAML node its location reaches. Scenarios and live run
configurations both load this way, so a user sees the same kind of error from either.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

__all__ = ["LocatedYamlError", "locate", "most_specific", "read_yaml"]


class LocatedYamlError(ValueError):
    """A document that is not valid YAML; ``str()`` is one located line."""


def read_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The document's data and its node tree (for locating later errors)."""
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        raise LocatedYamlError(f"{source}:{line}:{col}: yaml: {problem}") from None
    except yaml.YAMLError as exc:
        raise LocatedYamlError(f"{source}:1:1: yaml: {exc}") from None


def most_specific(errors: list[Any]) -> Any:
    """With a union, pydantic reports each branch; the deepest location is the useful one."""
    return max(errors, key=lambda error: len(error["loc"]))


def locate(error: Any, prefix: tuple[Any, ...], root: yaml.Node | None, source: str) -> str:
    loc = prefix + tuple(error["loc"])
    # pydantic puts union branches (e.g. "list[AnchorSpec]") in loc; they are not YAML keys.
    loc = tuple(
        part
        for part in loc
        if isinstance(part, int)
        or not ("[" in str(part) or str(part).startswith(("literal", "function")))
    )
    line, col = position(root, loc)
    path = ".".join(str(part) for part in loc) or "(top level)"
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
    return f"{source}:{line}:{col}: {path}: {message}"


def position(node: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[int, int]:
    """Line and column (1-based) of the deepest YAML node the location reaches."""
    if node is None:
        return 1, 1
    best = node.start_mark
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
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
