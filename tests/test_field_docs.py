"""Field descriptions read from docstrings when a schema is made say what pydantic's own
``use_attribute_docstrings`` would have said, field for field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from engine.field_docs import describe_fields


class _Eager(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    plain: int = 1
    """A plain field,
       over two lines."""
    explicit: int = Field(2, description="given in Field")
    """A docstring that the explicit description beats."""
    undocumented: int = 3
    after_blank: int = 4

    """Not a field's docstring: a statement came between."""


class _EagerChild(_Eager):
    plain: int = 5  # declared again without a docstring: pydantic leaves it undescribed
    child_only: str = "x"
    """The child's own field."""


class _Lazy(BaseModel):
    model_config = ConfigDict(json_schema_extra=describe_fields)

    plain: int = 1
    """A plain field,
       over two lines."""
    explicit: int = Field(2, description="given in Field")
    """A docstring that the explicit description beats."""
    undocumented: int = 3
    after_blank: int = 4

    """Not a field's docstring: a statement came between."""


class _LazyChild(_Lazy):
    plain: int = 5  # declared again without a docstring: pydantic leaves it undescribed
    child_only: str = "x"
    """The child's own field."""


def _properties(model: type[BaseModel]) -> dict[str, object]:
    return {
        name: body.get("description")
        for name, body in model.model_json_schema()["properties"].items()
    }


def test_a_lazy_model_describes_its_fields_as_pydantic_would():
    assert _properties(_Lazy) == _properties(_Eager)
    assert _properties(_Lazy)["plain"] == "A plain field,\nover two lines."


def test_a_subclass_describes_fields_where_they_are_declared():
    assert _properties(_LazyChild) == _properties(_EagerChild)
    assert _properties(_LazyChild)["plain"] is None
    assert _properties(_LazyChild)["child_only"] == "The child's own field."


def test_creating_a_lazy_model_reads_no_docstring():
    """The point of it: the description is made with the schema, not with the class."""
    assert _Lazy.model_fields["plain"].description is None
    assert _Eager.model_fields["plain"].description == "A plain field,\nover two lines."
