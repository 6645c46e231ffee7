"""Field descriptions from attribute docstrings, read only when a JSON Schema is made.

Each field of a model of a user's input (engine settings, scenarios, live configurations) is
described by the string literal under it. pydantic's ``use_attribute_docstrings`` reads those
strings while the class is being created, by finding and re-parsing the class's source: about
0.15 s per module of models, paid by every command that imports them, though only a JSON Schema
(``cjsim schema``, and editors through the shipped ``schemas/``) ever shows a description.

Models take ``json_schema_extra=describe_fields`` instead: when pydantic writes a model's
schema, ``describe_fields`` adds each field's docstring as its ``description``, with the rule
``use_attribute_docstrings`` follows (an explicit ``Field(description=...)`` wins; a field is
described where it is declared, so a subclass that declares it again without a docstring leaves
it undescribed). Each module's source is parsed once, on the first schema that needs it.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
from typing import Any

from pydantic import BaseModel

__all__ = ["attribute_docstrings", "describe_fields"]


def describe_fields(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """pydantic's ``json_schema_extra`` hook: ``model``'s field docstrings become the
    descriptions of ``schema``'s properties (in place)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for name, field in model.model_fields.items():
        # The models describe no field by alias: the schema's property is the field's name.
        assert field.alias is None, f"{model.__name__}.{name}: an alias needs its own lookup"
        if field.description is not None or name not in properties:
            continue
        description = _declared_docstring(model, name)
        if description is not None:
            properties[name] = {**properties[name], "description": description}


def _declared_docstring(model: type[BaseModel], name: str) -> str | None:
    """The docstring under ``name`` in the nearest class of ``model``'s lineage that declares
    it (the class whose declaration made the field)."""
    for klass in model.__mro__:
        if name in vars(klass).get("__annotations__", {}):
            return attribute_docstrings(klass).get(name)
    return None


@functools.cache
def attribute_docstrings(klass: type) -> dict[str, str]:
    """Attribute name -> its docstring (cleaned as ``inspect.cleandoc`` does), for the
    attributes annotated in ``klass``'s own body; {} when its source cannot be read."""
    node = _class_node(klass)
    if node is None:
        return {}
    visitor = _DocstringVisitor()
    visitor.visit(node)
    return visitor.docstrings


def _class_node(klass: type) -> ast.ClassDef | None:
    module = sys.modules.get(klass.__module__)
    file = getattr(module, "__file__", None)
    if file is None:
        return None
    tree = _module_tree(file)
    if tree is None:
        return None
    scope: ast.AST = tree
    for part in klass.__qualname__.split("."):
        found = [
            child
            for child in ast.iter_child_nodes(scope)
            if isinstance(child, ast.ClassDef) and child.name == part
        ]
        if len(found) != 1:  # defined in a function, or twice: no reliable source
            return None
        scope = found[0]
    assert isinstance(scope, ast.ClassDef)
    return scope


@functools.cache
def _module_tree(file: str) -> ast.Module | None:
    try:
        with open(file, encoding="utf-8") as handle:
            return ast.parse(handle.read(), filename=file)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None


class _DocstringVisitor(ast.NodeVisitor):
    """An annotated assignment followed at once by a string: that string documents it. The
    same walk as pydantic's own extraction, so the texts are the same."""

    def __init__(self) -> None:
        super().__init__()
        self.docstrings: dict[str, str] = {}
        self._target: str | None = None
        self._previous: type[ast.AST] | None = None

    def visit(self, node: ast.AST) -> Any:
        result = super().visit(node)
        self._previous = type(node)
        return result

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name):
            self._target = node.target.id

    def visit_Expr(self, node: ast.Expr) -> None:
        value = node.value
        if (
            isinstance(value, ast.Constant)
            and isinstance(value.value, str)
            and self._previous is ast.AnnAssign
        ):
            if self._target:
                self.docstrings[self._target] = inspect.cleandoc(value.value)
            self._target = None
