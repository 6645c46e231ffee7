"""Hypothesis strategies that draw structure, not only sizes and seeds.

A strategy that draws ``n`` and a seed hands Hypothesis one opaque number: a failing case
shrinks to a smaller seed, which is no simpler. These draw the structure itself (which items
met and which won, which pairs were played in which orientation, which fault came at which
attempt, which callback came when), so a failure shrinks to the fewest comparisons, pairs,
faults or callbacks that still break the property, and prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from hypothesis import strategies as st

__all__ = ["callback_histories", "comparison_designs", "fault_scripts", "pair_histories"]

T = TypeVar("T")


@st.composite
def comparison_designs(
    draw: st.DrawFn,
    *,
    n_min: int = 2,
    n_max: int = 12,
    rows_max: int = 40,
    strongly_connected: bool = False,
) -> tuple[int, np.ndarray]:
    """``(n, rows)``: ``n`` items and ``(winner, loser)`` rows drawn one comparison at a time
    (which two items met, which of them won; repeats allowed, items may be left out).

    With ``strongly_connected`` the rows open with a drawn cycle through every item, each
    beating the next, so every item both wins and loses inside one component: the maximum
    likelihood estimate exists whatever else is drawn."""
    n = draw(st.integers(n_min, n_max))
    rows: list[tuple[int, int]] = []
    if strongly_connected:
        order = draw(st.permutations(range(n)))
        rows += [(order[i], order[(i + 1) % n]) for i in range(n)]
    # a distinct loser without a rejection: the winner plus a non-zero offset, modulo n
    meeting = st.tuples(st.integers(0, n - 1), st.integers(1, n - 1)).map(
        lambda drawn: (drawn[0], (drawn[0] + drawn[1]) % n)
    )
    rows += draw(st.lists(meeting, min_size=0 if rows else 1, max_size=rows_max))
    return n, np.array(rows, dtype=np.int64).reshape(-1, 2)


@st.composite
def pair_histories(
    draw: st.DrawFn, ids: Sequence[str], *, open_min: int = 0
) -> list[tuple[str, str]]:
    """Submitted ``(essay_a, essay_b)`` pairs over ``ids``, each pair at most once: which pairs
    were played and which essay of each sat in position A, leaving at least ``open_min`` pairs
    unplayed.

    Half the time the drawn pairs are the ones left *open* and every other pair was played,
    so nearly complete histories are as close to hand (and shrink as well) as nearly empty
    ones; otherwise the drawn pairs are the ones played, in the order drawn."""
    every_pair = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    if len(every_pair) <= open_min:
        return []
    left_open = draw(st.booleans())
    drawn = draw(
        st.lists(
            st.sampled_from(every_pair),
            unique=True,
            min_size=open_min if left_open else 0,
            max_size=None if left_open else len(every_pair) - open_min,
        )
    )
    played = [p for p in every_pair if p not in set(drawn)] if left_open else drawn
    flipped = draw(st.lists(st.booleans(), min_size=len(played), max_size=len(played)))
    return [(b, a) if flip else (a, b) for (a, b), flip in zip(played, flipped, strict=True)]


def fault_scripts(
    correlation_ids: Sequence[str], faults: st.SearchStrategy[T], *, attempts_max: int
) -> st.SearchStrategy[dict[str, list[T]]]:
    """For each request, what the provider does at each attempt, in order: which fault at
    which attempt (an empty script, or attempts past its end, answer normally)."""
    return st.fixed_dictionaries(
        {cid: st.lists(faults, max_size=attempts_max) for cid in correlation_ids}
    )


def callback_histories(
    pairs: int, *, waits_s: Sequence[float], steps_max: int = 12
) -> st.SearchStrategy[list[tuple[str, float]]]:
    """A sequence of callback deliveries for a wave of ``pairs`` held answers, as
    ``(kind, value)`` steps: ``("deliver", i)`` sends pair ``i``'s answer (a second send of the
    same ``i`` is a duplicate), ``("orphan", i)`` an answer for a pair the batch never made,
    ``("wait", s)`` lets ``s`` seconds (one of ``waits_s``) pass: past a deadline, a later
    delivery is superseded or late."""
    values = {
        "deliver": st.integers(0, pairs - 1),
        "orphan": st.integers(0, pairs - 1),
        "wait": st.sampled_from(list(waits_s)),
    }
    # deliveries three times as often as the others, so whole waves get answered too
    kinds = st.sampled_from(["deliver", "deliver", "deliver", "orphan", "wait"])
    step = kinds.flatmap(lambda kind: st.tuples(st.just(kind), values[kind]))
    return st.lists(step, max_size=steps_max)
