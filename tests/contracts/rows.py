"""Row types used only by the store contract suite."""

from __future__ import annotations

from dataclasses import dataclass

from engine.store.rows import Row, table


@table("contract_counters", key="name")
@dataclass(frozen=True, slots=True, kw_only=True)
class Counter(Row):
    name: str
    value: int


@table("contract_pairs", key="correlation_id", indexes=("batch_id",))
@dataclass(frozen=True, slots=True, kw_only=True)
class Pair(Row):
    correlation_id: str
    batch_id: int
    winner: str | None = None


@table("contract_numbered", key="number")
@dataclass(frozen=True, slots=True, kw_only=True)
class Numbered(Row):
    """A row whose integer key the store allocates."""

    number: int
    label: str = ""
