"""A large matching with the heaviest pairs first (pure, over essay indices).

Theory of operation. The original ran NetworkX's blossom matching, cubic and pure Python. We
take edges greedily in order of weight, which is maximal but not maximum: an unmatched essay
``u`` may have an edge to a matched ``x`` whose partner ``y`` has an edge to another unmatched
``v``. Replacing ``(x, y)`` with ``(u, x)`` and ``(y, v)`` adds a pair, so after the greedy pass
we grow the matching along such augmenting paths of length three until none is left, which
comes close to the maximum cardinality the blossom found, with the same preferences.

Edges live in adjacency lists (``Adjacency``, compressed rows), so a pass costs the edges of the
unmatched essays and their partners, never an ``n x n`` scan. Which augmenting path is taken is
fixed: unmatched essays in index order, each one's matched partners in index order, and the
first unmatched neighbour of the partner's mate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["Adjacency", "Matching", "augment", "take_greedily"]

IndexArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Adjacency:
    """Each essay's neighbours, sorted: ``neighbours[start[u]:start[u + 1]]``."""

    start: IndexArray
    neighbours: IndexArray

    @classmethod
    def of(cls, n: int, rows: IndexArray, cols: IndexArray) -> Adjacency:
        """The graph of the distinct edges ``(rows[k], cols[k])``, both directions."""
        heads = np.concatenate([rows, cols])
        tails = np.concatenate([cols, rows])
        start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(heads, minlength=n), out=start[1:])
        return cls(start, np.sort(heads * n + tails) % n)

    def of_essay(self, essay: int) -> IndexArray:
        return self.neighbours[self.start[essay] : self.start[essay + 1]]


@dataclass(slots=True)
class Matching:
    """A matching under construction: ``mate[u]`` is ``u``'s partner or -1; ``chosen`` lists
    the pairs in the order they were taken (an augmentation rewrites one in place)."""

    mate: IndexArray
    chosen: list[tuple[int, int]] = field(default_factory=list)
    slot: dict[int, int] = field(default_factory=dict)  # essay -> its pair's index in chosen

    @classmethod
    def empty(cls, n: int) -> Matching:
        return cls(np.full(n, -1, dtype=np.int64))

    def unmatched(self) -> IndexArray:
        return np.flatnonzero(self.mate < 0)


def take_greedily(matching: Matching, rows: IndexArray, cols: IndexArray, limit: int) -> None:
    """Extend ``matching`` (in place) with each edge in the given order whose essays are both
    still unmatched, up to ``limit`` pairs in all."""
    # Edges with an end already matched would be skipped anyway: drop them in one pass.
    both_free = (matching.mate[rows] < 0) & (matching.mate[cols] < 0)
    rows, cols = rows[both_free], cols[both_free]
    mate = matching.mate.tolist()
    chosen, slot = matching.chosen, matching.slot
    taken = len(chosen)
    if taken >= limit:
        return
    for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
        if mate[row] >= 0 or mate[col] >= 0:
            continue
        mate[row], mate[col] = col, row
        slot[row] = slot[col] = taken
        chosen.append((row, col))
        taken += 1
        if taken >= limit:
            break
    matching.mate[:] = mate


def augment(matching: Matching, adjacency: Adjacency, limit: int) -> None:
    """Grow ``matching`` (in place) along augmenting paths of length three over
    ``adjacency`` until none is left or it holds ``limit`` pairs."""
    if len(matching.chosen) >= limit:
        return
    mate, chosen, slot = matching.mate, matching.chosen, matching.slot
    degree = np.diff(adjacency.start)
    # How many unmatched neighbours each essay has, kept current as essays are matched.
    free_neighbours = np.add.reduceat(
        np.append(mate[adjacency.neighbours] < 0, False).astype(np.int64), adjacency.start[:-1]
    ) * (degree > 0)
    beside_u = np.zeros(mate.size, dtype=bool)  # marks u's neighbours while u is tried
    improved = True
    while improved and len(chosen) < limit:
        improved = False
        candidates = np.flatnonzero((mate < 0) & (degree > 0))
        if candidates.size < 2:  # a path needs an unmatched essay at each end
            return
        for u in candidates.tolist():
            if mate[u] >= 0:
                continue
            around = adjacency.of_essay(u)
            matched = around[mate[around] >= 0]
            mates = mate[matched]
            # the mate must have an unmatched neighbour other than u (u is one if they meet)
            beside_u[around] = True
            spare = free_neighbours[mates] - beside_u[mates]
            beside_u[around] = False
            viable = np.flatnonzero(spare > 0)
            if viable.size == 0:
                continue
            x, y = int(matched[viable[0]]), int(mates[viable[0]])
            partners = adjacency.of_essay(y)
            partners = partners[(mate[partners] < 0) & (partners != u)]
            v = int(partners[0])
            k = slot[x]
            chosen[k] = (u, x)
            chosen.append((y, v))
            mate[u], mate[x], mate[y], mate[v] = x, u, v, y
            slot[u], slot[y], slot[v] = k, len(chosen) - 1, len(chosen) - 1
            free_neighbours[adjacency.of_essay(u)] -= 1
            free_neighbours[adjacency.of_essay(v)] -= 1
            improved = True
            if len(chosen) >= limit:
                return
