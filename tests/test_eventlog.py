"""The event log: canonical encoding, fingerprints, listeners, round trips."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from engine.eventlog import MemoryEventLog, canonical_json, fingerprint_of, read_jsonl


@dataclass
class Row:
    x: int


@pytest.fixture
def clock():
    """A hand-driven clock."""

    class Clock:
        t = 0.0

        def __call__(self):
            return self.t

    return Clock()


def test_records_carry_sequence_time_kind_ids_and_fields(clock):
    log = MemoryEventLog(clock)
    clock.t = 2.5
    record = log.append("cj.callback.applied", ids={"cj_batch_id": 7}, winner="Essay A")
    assert (record.seq, record.t, record.kind) == (0, 2.5, "cj.callback.applied")
    assert record.ids == {"cj_batch_id": 7}
    assert record.fields == {"winner": "Essay A"}
    assert log.records() == [record]


def test_canonical_json_sorts_keys_and_is_compact():
    assert canonical_json({"b": 1, "a": [1.5, None, "é"]}) == '{"a":[1.5,null,"é"],"b":1}'


def test_the_fingerprint_depends_on_every_field_and_on_order(clock):
    def fingerprint(*events):
        log = MemoryEventLog(clock)
        for kind, fields in events:
            log.append(kind, **fields)
        return log.fingerprint()

    base = fingerprint(("a", {"x": 1}), ("b", {"y": 2}))
    assert base == fingerprint(("a", {"x": 1}), ("b", {"y": 2}))
    assert base != fingerprint(("a", {"x": 1}), ("b", {"y": 3}))
    assert base != fingerprint(("b", {"y": 2}), ("a", {"x": 1}))
    assert len(base) == 64


@pytest.mark.parametrize(
    "bad",
    [
        float("nan"),
        float("inf"),
        {"nested": [1.0, None, float("-inf")]},
        {1, 2},
        object(),
        datetime(2026, 1, 1, tzinfo=UTC),  # times enter the log as numbers or ISO strings
        Row(1),  # a dataclass is not silently turned into an object
    ],
)
def test_a_field_that_is_not_a_finite_json_value_is_refused(clock, bad):
    log = MemoryEventLog(clock)
    with pytest.raises(ValueError, match="'kind'"):
        log.append("kind", value=bad)
    assert len(log) == 0


def test_listeners_see_each_record_as_it_is_appended(clock):
    log = MemoryEventLog(clock)
    seen = []
    log.add_listener(lambda record: seen.append(record.kind))
    log.append("one")
    log.append("two")
    assert seen == ["one", "two"]


def test_jsonl_round_trip_keeps_the_fingerprint(tmp_path, clock):
    log = MemoryEventLog(clock)
    log.append("a", ids={"q": "x"}, n=1, nested={"k": [1, 2]})
    clock.t = 1.25
    log.append("b", flag=True)
    path = tmp_path / "events.jsonl"
    buffer = io.StringIO()
    log.write_jsonl(buffer)
    path.write_text(buffer.getvalue())
    records = read_jsonl(path)
    assert fingerprint_of(records) == log.fingerprint()
    assert records == list(log.records())


def test_a_bad_jsonl_line_is_reported_with_its_location(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"seq":0,"t":0,"kind":"a","ids":{},"fields":{}}\nnot json\n')
    with pytest.raises(ValueError, match=r"events.jsonl:2:"):
        read_jsonl(path)
