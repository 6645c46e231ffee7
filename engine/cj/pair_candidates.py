"""Which open pairs a coverage wave weighs (pure, over essay indices).

Theory of operation. A coverage wave matches essays over pairs never submitted. Weighing every
open pair costs ``n^2 / 2`` per wave, and a batch has about ``2m / n`` waves, so at 3,000
essays the planner alone would make each comparison cost thirty times what it costs at 100.
The matching only ever takes an essay's best few partners, and the weights say which they are:
partners close in score (the closeness term falls with the gap), leaning the other way or not
at all (the lean terms and tiers), and compared least (the count terms). So each essay offers
its nearest open partners by score in each lean class (leaning to A, even, leaning to B), and
each least-compared essay its nearest among the least-compared, ``WINDOW_PER_SIDE`` on each
side of it in score order (ties in score broken by position in the wave's essay list).
Compared partners are skipped, so an essay whose neighbours it has all met looks further out:
the search costs the essay's own comparisons, not ``n``.

When the open pairs are few (at most ``EVERY_OPEN_PAIR_PER_ESSAY`` per essay: every batch of up
to 65 essays, and the tail of any round robin), every open pair is a candidate: enumerating
them is then cheaper than the windows, and the matching is the exact one over all open pairs.
Either way the weights and the matching are the same functions; only the candidate set
differs. ``engine.cj.pairing`` widens it while a wave comes up short: the essays left unmatched
offer their windows among themselves (``window_pairs`` over a subset), and the last few weigh
every open pair of theirs (``open_pairs_of``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "EVERY_OPEN_PAIR_PER_ESSAY",
    "WINDOW_PER_SIDE",
    "Candidates",
    "ComparedPairs",
    "candidate_pairs",
    "every_open_pair",
    "open_pairs_of",
    "window_pairs",
]

# Every open pair is a candidate while there are at most this many per essay (n <= 65 always).
EVERY_OPEN_PAIR_PER_ESSAY = 32
# Open partners taken on each side of an essay, in score order, per class it looks into.
WINDOW_PER_SIDE = 3

IndexArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ComparedPairs:
    """The pairs of a batch already submitted, as sorted keys ``lo * n + hi`` (``lo < hi``)."""

    n: int
    keys: IndexArray

    @classmethod
    def of(cls, n: int, first: IndexArray, second: IndexArray) -> ComparedPairs:
        lo, hi = np.minimum(first, second), np.maximum(first, second)
        assert (lo < hi).all(), "an essay cannot be compared with itself"
        return cls(n, _distinct(lo * n + hi))

    @property
    def open_count(self) -> int:
        return self.n * (self.n - 1) // 2 - int(self.keys.size)

    def is_open(self, first: IndexArray, second: IndexArray) -> NDArray[np.bool_]:
        """Per pair of distinct essays: never submitted (either orientation)."""
        keys = np.minimum(first, second) * self.n + np.maximum(first, second)
        if self.keys.size == 0:
            return np.ones(keys.shape, dtype=bool)
        at = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        open_pair: NDArray[np.bool_] = self.keys[at] != keys
        return open_pair


@dataclass(frozen=True, slots=True)
class Candidates:
    """Candidate pairs ``rows[k] < cols[k]``, in order of ``rows * n + cols``; ``complete`` when
    they are every open pair."""

    rows: IndexArray
    cols: IndexArray
    complete: bool


def candidate_pairs(
    compared: ComparedPairs,
    *,
    scores: NDArray[np.floating[Any]],
    counts: NDArray[np.floating[Any]],
    skew: IndexArray,
) -> Candidates:
    """Every open pair when they are few, else each essay's windows (see the module doc)."""
    n = compared.n
    if compared.open_count <= EVERY_OPEN_PAIR_PER_ESSAY * n:
        return every_open_pair(compared)
    everyone = np.arange(n, dtype=np.int64)
    keys = window_pairs(compared, everyone, scores=scores, counts=counts, skew=skew)
    return Candidates(keys // n, keys % n, complete=False)


def every_open_pair(compared: ComparedPairs) -> Candidates:
    rows, cols = _every_pair(compared.n)
    open_pair = compared.is_open(rows, cols)
    return Candidates(rows[open_pair], cols[open_pair], complete=True)


@lru_cache(maxsize=16)
def _every_pair(n: int) -> tuple[IndexArray, IndexArray]:
    """Every pair ``i < j`` of ``n`` essays, built once per batch size (read-only: shared)."""
    rows, cols = np.triu_indices(n, 1)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def window_pairs(
    compared: ComparedPairs,
    essays: IndexArray,
    *,
    scores: NDArray[np.floating[Any]],
    counts: NDArray[np.floating[Any]],
    skew: IndexArray,
) -> IndexArray:
    """Keys (``lo * n + hi``, sorted, distinct) of the window pairs among ``essays``: each
    one's nearest open partners among them in each lean class, and among the least-compared
    of them for the least-compared."""
    n = compared.n
    # One total order: by score, ties by position in the wave's list.
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), scores))] = np.arange(n)
    lean = np.sign(skew[essays])
    least = essays[counts[essays] == counts[essays].min()]
    keys = [np.empty(0, dtype=np.int64)]
    for side in (-1, 0, 1):
        keys.append(_windows(compared, rank, essays, essays[lean == side]))
    if least.size < essays.size:
        for side in (-1, 0, 1):
            keys.append(_windows(compared, rank, least, least[np.sign(skew[least]) == side]))
    return _distinct(np.concatenate(keys))


def open_pairs_of(compared: ComparedPairs, essays: IndexArray) -> IndexArray:
    """Keys (sorted, distinct) of every open pair that involves one of ``essays``. Costs
    ``len(essays) * n``: for the few essays a wave leaves unmatched."""
    n = compared.n
    first = np.repeat(essays, n)
    second = np.tile(np.arange(n, dtype=np.int64), essays.size)
    distinct = first != second
    first, second = first[distinct], second[distinct]
    keep = compared.is_open(first, second)
    first, second = first[keep], second[keep]
    return _distinct(np.minimum(first, second) * n + np.maximum(first, second))


def _windows(
    compared: ComparedPairs, rank: IndexArray, essays: IndexArray, members: IndexArray
) -> IndexArray:
    """Keys of the pairs between each of ``essays`` and its ``WINDOW_PER_SIDE`` nearest open
    ``members`` on each side in ``rank`` order."""
    if members.size == 0 or essays.size == 0:
        return np.empty(0, dtype=np.int64)
    members = members[np.argsort(rank[members])]
    at = np.searchsorted(rank[members], rank[essays])  # first member at or after the essay
    found = [
        _nearest_open(compared, essays, members, at - 1, -1),
        _nearest_open(compared, essays, members, at, 1),
    ]
    return np.concatenate(found)


def _nearest_open(
    compared: ComparedPairs,
    essays: IndexArray,
    members: IndexArray,
    start: IndexArray,
    step: int,
) -> IndexArray:
    """Walk from ``members[start[k]]`` in direction ``step`` until ``WINDOW_PER_SIDE`` open
    partners of ``essays[k]`` are found or the members run out. The walk's stride doubles each
    round, so an essay that has met all its near neighbours costs a few rounds, not ``n``."""
    n = compared.n
    found: list[IndexArray] = [np.empty(0, dtype=np.int64)]
    wanted = np.full(essays.size, WINDOW_PER_SIDE, dtype=np.int64)
    cursor = start.copy()
    active = np.arange(essays.size)
    stride = WINDOW_PER_SIDE
    while active.size:
        offsets = cursor[active, None] + step * np.arange(stride)
        inside = (offsets >= 0) & (offsets < members.size)
        partner = members[np.clip(offsets, 0, members.size - 1)]
        essay = np.broadcast_to(essays[active, None], partner.shape)
        usable = inside & (partner != essay)
        usable[usable] = compared.is_open(essay[usable], partner[usable])
        # the nearest ones first: keep those within the number still wanted
        take = usable & (np.cumsum(usable, axis=1) <= wanted[active, None])
        first, second = essay[take], partner[take]
        found.append(np.minimum(first, second) * n + np.maximum(first, second))
        wanted[active] -= take.sum(axis=1)
        cursor[active] += step * stride
        active = active[(wanted[active] > 0) & inside.all(axis=1)]
        stride *= 2
    return np.concatenate(found)


def _distinct(keys: IndexArray) -> IndexArray:
    """The distinct keys, sorted (a sort and a diff: cheaper than ``np.unique`` here)."""
    keys = np.sort(keys)
    keep = np.ones(keys.size, dtype=bool)
    keep[1:] = keys[1:] != keys[:-1]
    return keys[keep]
