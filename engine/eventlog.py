"""The event log: typed records, canonical JSON, and the run's fingerprint.

Each record is (sequence number, time, kind, ids, fields). Its canonical encoding is compact
JSON with sorted keys and no NaN or infinity, so the same run encodes to the same bytes in any
process. The fingerprint is the sha256 of those lines, each ending in a newline, and is updated
as records arrive, so it costs nothing at the end of a run.

Times are the runtime's ``now()``: virtual seconds in simulation. Wall-clock time never enters
the log.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import orjson

__all__ = [
    "LogRecord",
    "MemoryEventLog",
    "canonical_bytes",
    "canonical_json",
    "fingerprint_of",
    "read_jsonl",
]


# orjson encodes a record several times faster than the standard library's C encoder, and the
# log is the hot path of every run. Its passthrough options keep it as strict as ``json``:
# dataclasses, datetimes and subclasses are refused, not silently encoded.
_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)


def canonical_bytes(value: Any) -> bytes:
    """Compact, key-sorted UTF-8 JSON that refuses NaN and infinity (they have no canonical
    form). Raises ValueError for a non-finite number and TypeError for a non-JSON value."""
    encoded = orjson.dumps(value, option=_OPTIONS)
    # orjson writes NaN and infinity as null, so only a line with a null can hide one: walk the
    # values of those records only.
    if b"null" in encoded:
        _refuse_non_finite(value)
    return encoded


def canonical_json(value: Any) -> str:
    """``canonical_bytes`` as text."""
    return canonical_bytes(value).decode("utf-8")


def _refuse_non_finite(value: Any) -> None:
    # A loop over a stack, not recursion, with exact type checks first: this visits every value
    # of a record, and most are str, int or None.
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is int or item is None or kind is bool:
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{item!r} is not a finite JSON number")
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)


class LogRecord(NamedTuple):
    """One step of a run. (A named tuple: immutable, and the cheapest record to build on the
    log's hot path.)"""

    seq: int
    t: float
    kind: str
    ids: Mapping[str, str | int]
    fields: Mapping[str, Any]

    def to_json(self) -> str:
        return self.to_bytes().decode("utf-8")

    def to_bytes(self) -> bytes:
        return canonical_bytes(
            {
                "seq": self.seq,
                "t": self.t,
                "kind": self.kind,
                "ids": self.ids,
                "fields": self.fields,
            }
        )

    @classmethod
    def from_json(cls, line: str) -> LogRecord:
        raw = json.loads(line)
        return cls(
            seq=raw["seq"], t=raw["t"], kind=raw["kind"], ids=raw["ids"], fields=raw["fields"]
        )


Listener = Callable[[LogRecord], None]


class MemoryEventLog:
    """An in-memory event log fed by the runtime's clock.

    Listeners are called synchronously after each append, in registration order; invariant
    checkers use them to catch a broken rule at the first event that breaks it.
    """

    def __init__(
        self, clock: Callable[[], float], *, scrub: Callable[[str], str] | None = None
    ) -> None:
        self._clock = clock
        # A live run passes its secret scrubber: every stored line (and so the fingerprint,
        # the events file and the analysis) is scrubbed. Simulated runs hold no secrets.
        self._scrub = scrub
        self._records: list[LogRecord] = []
        self._lines: list[str] = []  # each record's canonical JSON, kept for export
        self._hasher = hashlib.sha256()
        self._listeners: list[Listener] = []

    def append(
        self, kind: str, /, *, ids: Mapping[str, str | int] | None = None, **fields: Any
    ) -> LogRecord:
        t = self._clock()
        if not math.isfinite(t):
            raise ValueError(f"event {kind!r}: the clock returned {t!r}")
        record = LogRecord(len(self._records), t, kind, dict(ids or {}), fields)
        try:
            encoded = record.to_bytes()
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"event {kind!r} has a field that is not a finite JSON value: {exc}"
            ) from exc
        line = encoded.decode("utf-8")
        if self._scrub is not None:
            line = self._scrub(line)
            encoded = line.encode("utf-8")
        self._hasher.update(encoded)
        self._hasher.update(b"\n")
        self._records.append(record)
        self._lines.append(line)
        for listener in self._listeners:
            listener(record)
        return record

    def extend_history(self, records: Sequence[LogRecord], lines: Sequence[str]) -> None:
        """Take on records an earlier process wrote (a resumed live run's earlier sessions),
        as they were written: same sequence numbers, times and lines. Listeners hear them."""
        assert len(records) == len(lines)
        for record, line in zip(records, lines, strict=True):
            assert record.seq == len(self._records), "history must continue the sequence"
            self._hasher.update(line.encode("utf-8"))
            self._hasher.update(b"\n")
            self._records.append(record)
            self._lines.append(line)
            for listener in self._listeners:
                listener(record)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def records(self) -> Sequence[LogRecord]:
        return self._records

    def lines(self) -> Sequence[str]:
        """Each record's canonical JSON line (the bytes the fingerprint covers)."""
        return self._lines

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[LogRecord]:
        return iter(self._records)

    def fingerprint(self) -> str:
        return self._hasher.hexdigest()

    def write_jsonl(self, out: TextIO) -> None:
        for line in self._lines:
            out.write(line)
            out.write("\n")


def fingerprint_of(records: Iterable[LogRecord]) -> str:
    """The fingerprint of records read back from disk (equal to the live log's)."""
    hasher = hashlib.sha256()
    for record in records:
        hasher.update(record.to_bytes())
        hasher.update(b"\n")
    return hasher.hexdigest()


def read_jsonl(path: Path) -> list[LogRecord]:
    """Records of an ``events.jsonl`` file; a bad line raises ``ValueError`` naming file:line."""
    records: list[LogRecord] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(LogRecord.from_json(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not an event record: {exc}") from exc
    return records
