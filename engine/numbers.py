"""Booleans are not numbers.

pydantic, in its lax mode, takes ``true`` for 1 wherever a number is expected, and YAML reads
``yes``, ``on`` and ``true`` as booleans: ``budget: yes`` would be a budget of one comparison.
Every model of a user's input (scenarios, live configurations, engine settings) refuses a
boolean where its field wants a number by taking ``NumbersAreNotBooleans`` as a base: a
before-validator on every field. Strict mode would do it too, but would also refuse what YAML
can only give as text (enum values, timestamps).
"""

from __future__ import annotations

import functools
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationInfo, field_validator

__all__ = ["NumbersAreNotBooleans", "refuse_booleans_for_numbers", "wants_a_number"]


@functools.cache
def wants_a_number(annotation: Any) -> bool:
    """Whether a field of this type takes numbers and not booleans (``int``, ``float | None``,
    ``Annotated[float, ...]``; not ``bool`` nor ``int | bool``)."""
    kinds = _kinds(annotation)
    return bool(kinds & {int, float}) and bool not in kinds


def _kinds(annotation: Any) -> frozenset[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return frozenset().union(*(_kinds(arg) for arg in get_args(annotation)))
    return frozenset({annotation})


def refuse_booleans_for_numbers(value: Any, annotation: Any) -> Any:
    """``value``, unless it is a boolean given to a numeric field (``ValueError``)."""
    if isinstance(value, bool) and wants_a_number(annotation):
        raise ValueError("a number was expected, not true or false")
    return value


class NumbersAreNotBooleans(BaseModel):
    """A model base whose numeric fields refuse ``true``/``false`` (``budget: yes``)."""

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        assert info.field_name is not None
        return refuse_booleans_for_numbers(value, cls.model_fields[info.field_name].annotation)
