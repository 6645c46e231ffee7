"""Row types: frozen dataclasses declared as tables.

A row type names its table, its primary-key field and the fields worth an equality index::

    @table("batch_states", key="cj_batch_id")
    @dataclass(frozen=True, slots=True, kw_only=True)
    class BatchState(Row):
        cj_batch_id: int
        ...

Every store (simulated, SQL) works from this one declaration, so the tables cannot drift
between them. Rows are immutable: change one with ``dataclasses.replace`` and ``tx.update``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from engine.store.errors import StoreMisuse

__all__ = ["Row", "TableSpec", "evolve", "key_of", "require_int_key", "table"]


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    key: str
    indexes: tuple[str, ...]
    columns: tuple[str, ...]
    column_set: frozenset[str] = frozenset()


class Row:
    """Base of every stored row type; the ``table`` decorator fills in ``__table__``."""

    __slots__ = ()
    __table__: ClassVar[TableSpec]


RowT = TypeVar("RowT", bound=type[Row])


def table(name: str, *, key: str, indexes: Sequence[str] = ()) -> Callable[[RowT], RowT]:
    """Declare a frozen dataclass ``Row`` subclass as the table ``name``."""

    def declare(cls: RowT) -> RowT:
        if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):
            raise TypeError(f"{cls.__name__} must be a frozen dataclass to be a table")
        columns = tuple(field.name for field in dataclasses.fields(cls))
        for column in (key, *indexes):
            if column not in columns:
                raise TypeError(f"table {name!r}: {cls.__name__} has no field {column!r}")
        cls.__table__ = TableSpec(
            name=name,
            key=key,
            indexes=tuple(indexes),
            columns=columns,
            column_set=frozenset(columns),
        )
        return cls

    return declare


def key_of(row: Row) -> Any:
    return getattr(row, row.__table__.key)


_INT_KEYED: dict[type[Row], bool] = {}


def require_int_key(kind: type[Row]) -> TableSpec:
    """``kind``'s table, whose key must be declared ``int`` for a store to allocate keys for it;
    ``StoreMisuse`` otherwise. (Hints are resolved on first use, not at declaration, when names
    they mention may not be defined yet.)"""
    spec = getattr(kind, "__table__", None)
    if not isinstance(spec, TableSpec):
        raise StoreMisuse(f"{kind!r} is not a table (declare it with engine.store.rows.table)")
    int_keyed = _INT_KEYED.get(kind)
    if int_keyed is None:
        int_keyed = _INT_KEYED[kind] = typing.get_type_hints(kind)[spec.key] is int
    if not int_keyed:
        raise StoreMisuse(
            f"cannot allocate keys for table {spec.name!r}: its key {spec.key!r} is not an int"
        )
    return spec


RowValue = TypeVar("RowValue", bound=Row)


def evolve(row: RowValue, **changes: Any) -> RowValue:
    """``dataclasses.replace`` for rows, without re-running ``__init__``: a copy with some
    fields changed. Rows are frozen, so the copy is filled in through ``object.__setattr__``;
    about three times faster on the store's hot paths."""
    spec = row.__table__
    new = object.__new__(type(row))
    setter = object.__setattr__
    for name in spec.columns:
        setter(new, name, getattr(row, name))
    for name, value in changes.items():
        if name not in spec.column_set:
            raise TypeError(f"{type(row).__name__} has no field {name!r}")
        setter(new, name, value)
    return new
