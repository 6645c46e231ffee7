"""The dispatch order at its edges: a tie on priority broken by arrival and never by the id's
spelling, a retry returning to its first place, one priority step apart, ``peek`` over a
discarded head, ``discard`` and ``push_front`` each with their minimal input, whole pop orders
asserted (the survivors of `nox -s mutants`, docs/decisions/0009-mutation-testing.md)."""

from __future__ import annotations

from engine.lps.queue import DispatchIndex


def _index(*items: tuple[str, int]) -> DispatchIndex:
    index = DispatchIndex()
    for queue_id, priority in items:
        index.push(queue_id, priority)
    return index


def _drain(index: DispatchIndex) -> list[str | None]:
    order: list[str | None] = []
    while (queue_id := index.pop()) is not None:
        order.append(queue_id)
    return [*order, None]


def test_equal_priorities_leave_in_arrival_order_not_in_id_order():
    # Ids that sort against their arrival: an order by id would give a, b, c.
    assert _drain(_index(("c", 5), ("a", 5), ("b", 5))) == ["c", "a", "b", None]


def test_one_priority_step_outranks_any_earlier_arrival():
    assert _drain(_index(("low", 5), ("high", 6))) == ["high", "low", None]
    assert _drain(_index(("p0", 0), ("p10", 10), ("p9", 9), ("p1", 1))) == [
        "p10",
        "p9",
        "p1",
        "p0",
        None,
    ]


def test_a_retried_item_returns_before_everything_that_arrived_after_it():
    index = _index(("z", 5), ("y", 5))
    assert index.pop() == "z"
    index.push("x", 5)  # arrives while z is out
    index.push("z", 5)  # z retried: back at its first place, ahead of y and x
    assert _drain(index) == ["z", "y", "x", None]


def test_pushing_an_item_already_waiting_does_not_queue_it_twice():
    index = _index(("a", 5))
    index.push("a", 5)
    assert len(index) == 1
    assert _drain(index) == ["a", None]


def test_peek_on_an_empty_index_is_none():
    assert DispatchIndex().peek() is None


def test_peek_names_the_next_pop_and_leaves_it_in_place():
    index = _index(("b", 5), ("a", 9), ("c", 1))
    assert index.peek() == "a"
    assert index.peek() == "a"
    assert len(index) == 3
    assert _drain(index) == ["a", "b", "c", None]


def test_peek_skips_a_discarded_head():
    index = _index(("a", 9), ("b", 5))
    index.discard("a")
    assert index.peek() == "b"
    assert len(index) == 1
    assert _drain(index) == ["b", None]


def test_peek_over_only_discarded_items_is_none():
    index = _index(("a", 9))
    index.discard("a")
    assert index.peek() is None
    assert index.pop() is None


def test_a_discarded_item_is_never_popped():
    index = _index(("a", 5), ("b", 5))
    index.discard("a")
    assert len(index) == 1
    assert _drain(index) == ["b", None]


def test_discarding_an_unknown_id_changes_nothing():
    index = _index(("a", 5))
    index.discard("zz")
    assert len(index) == 1
    assert _drain(index) == ["a", None]


def test_push_front_returns_a_taken_item_to_its_own_place():
    index = _index(("a", 7), ("b", 7), ("c", 7))
    assert index.pop() == "a"
    index.push_front("a", 7)  # an incompatible bundle candidate, put back
    assert len(index) == 3
    assert _drain(index) == ["a", "b", "c", None]


def test_push_front_keeps_the_item_s_priority():
    index = _index(("high", 8), ("mid", 6), ("low", 4))
    assert index.pop() == "high"
    index.push_front("high", 8)
    assert index.peek() == "high"
    assert _drain(index) == ["high", "mid", "low", None]
