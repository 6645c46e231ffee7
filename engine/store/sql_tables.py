"""Row types as SQL tables: each ``@table`` declaration and its type hints become a table.

``table_map(kind)`` builds (once) the SQLAlchemy ``Table`` of a row type and the codecs that
turn a row into column values and back. The value rules are those of ``engine.store.sql``'s
docstring: text in code-point order, timestamps aware and in UTC, enums by value, mappings and
pydantic models as JSON, ``X | None`` nullable.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable, ExecutableDDLElement

from engine.store.errors import StoreMisuse
from engine.store.rows import Row, TableSpec

__all__ = ["TableMap", "table_map"]


class _UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp with time zone that always comes back aware, in UTC. SQLite has no time
    zones, so there it is stored as naive UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_TEXT = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")
_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _same(value: Any) -> Any:
    return value


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise StoreMisuse(f"naive datetime {value.isoformat()}: store timezone-aware datetimes")
    return value


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _json_object(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) and not isinstance(value, dict) else value


def _model_json(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


@dataclasses.dataclass(frozen=True, slots=True)
class _Column:
    name: str
    type: sa.types.TypeEngine[Any]
    nullable: bool
    encode: Callable[[Any], Any]  # field value -> bound parameter
    decode: Callable[[Any], Any]  # result value -> field value
    json: bool


def _column(kind: type[Row], name: str, hint: Any) -> _Column:
    """The column a dataclass field becomes, from its resolved type hint."""
    nullable = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        nullable = len(members) < len(typing.get_args(hint))
        hint = members[0] if len(members) == 1 else hint
    origin = typing.get_origin(hint) or hint

    def column(
        sa_type: sa.types.TypeEngine[Any],
        encode: Callable[[Any], Any] = _same,
        decode: Callable[[Any], Any] = _same,
        json: bool = False,
    ) -> _Column:
        return _Column(name, sa_type, nullable, encode, decode, json)

    if origin is bool:  # before int: bool is an int
        return column(sa.Boolean())
    if origin is int:
        return column(sa.BigInteger())
    if origin is float:
        return column(sa.Double())
    if origin is str:
        return column(_TEXT)
    if origin is datetime:
        return column(_UtcDateTime(), encode=_aware)
    if origin is typing.Literal and all(isinstance(arg, str) for arg in typing.get_args(hint)):
        return column(_TEXT)
    if isinstance(origin, type) and issubclass(origin, enum.Enum):
        values = {type(member.value) for member in origin}
        if values <= {str}:
            return column(_TEXT, encode=_enum_value, decode=origin)
        if values <= {int}:
            return column(sa.BigInteger(), encode=_enum_value, decode=origin)
    if isinstance(origin, type) and issubclass(origin, BaseModel):
        return column(_JSON, encode=_model_json, decode=origin.model_validate, json=True)
    if origin in (dict, Mapping, typing.Mapping):
        return column(_JSON, encode=_json_object, json=True)
    raise TypeError(
        f"{kind.__name__}.{name}: cannot store a field of type {hint!r} (a SQL store takes str,"
        " int, float, bool, datetime, enums, mappings, pydantic models, and X | None of them)"
    )


class TableMap:
    """One row type's table, and the conversions between its rows and the table's rows."""

    __slots__ = ("by_name", "columns", "ddl", "key", "kind", "name", "selected", "spec", "table")

    def __init__(self, kind: type[Row]) -> None:
        spec = kind.__table__
        hints = typing.get_type_hints(kind)
        self.kind = kind
        self.spec = spec
        self.name = spec.name
        self.columns = tuple(_column(kind, name, hints[name]) for name in spec.columns)
        self.by_name = {column.name: column for column in self.columns}
        for name in (spec.key, *spec.indexes):
            if self.by_name[name].json:
                raise TypeError(f"{kind.__name__}.{name}: a key or index cannot be JSON")
        self.table = sa.Table(
            spec.name,
            sa.MetaData(),  # one each: two row types may share a name in different stores
            *(
                sa.Column(
                    column.name,
                    column.type,
                    primary_key=column.name == spec.key,
                    nullable=column.nullable and column.name != spec.key,
                )
                for column in self.columns
            ),
        )
        indexes = [sa.Index(f"ix_{spec.name}_{name}", self.table.c[name]) for name in spec.indexes]
        self.ddl: tuple[ExecutableDDLElement, ...] = (
            CreateTable(self.table, if_not_exists=True),
            *(CreateIndex(index, if_not_exists=True) for index in indexes),
        )
        self.key = self.table.c[spec.key]
        self.selected = tuple(self.table.c[column.name] for column in self.columns)

    def encode_row(self, row: Row) -> dict[str, Any]:
        values = {}
        for column in self.columns:
            value = getattr(row, column.name)
            if value is None and not column.nullable:
                raise StoreMisuse(f"{self.name}.{column.name} cannot be None")
            values[column.name] = None if value is None else column.encode(value)
        return values

    def encode_value(self, name: str, value: object) -> Any:
        return None if value is None else self.by_name[name].encode(value)

    def where(self, equals: Mapping[str, object]) -> list[sa.ColumnElement[bool]]:
        for name in equals:
            if name not in self.by_name:
                raise StoreMisuse(f"table {self.name!r} has no column {name!r}")
        return [
            self.table.c[name].is_(None)
            if value is None
            else self.table.c[name] == self.encode_value(name, value)
            for name, value in equals.items()
        ]

    def decode(self, values: Sequence[Any]) -> Row:
        # Rows are frozen: fill the new one in as ``evolve`` does, without running __init__.
        row = object.__new__(self.kind)
        setter = object.__setattr__
        for column, value in zip(self.columns, values, strict=True):
            setter(row, column.name, None if value is None else column.decode(value))
        return row


_MAPS: dict[type[Row], TableMap] = {}


def table_map(kind: type[Row]) -> TableMap:
    found = _MAPS.get(kind)
    if found is None:
        if not isinstance(getattr(kind, "__table__", None), TableSpec):
            raise StoreMisuse(f"{kind!r} is not a table (declare it with engine.store.rows.table)")
        found = _MAPS[kind] = TableMap(kind)
    return found
