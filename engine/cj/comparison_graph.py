"""Pairwise comparison data as a graph: validated, aggregated, and checked for identifiability.

Comparisons arrive as ``(winner, loser)`` index pairs. Fitting works on the *unique unordered
pairs* instead (``lo < hi``, how often they met, how often ``lo`` won), so the cost of a fit
iteration grows with distinct pairs, not with repeated judgements.

The maximum-likelihood Bradley–Terry estimate exists only when the directed win graph is
strongly connected (Zermelo 1929; Ford 1957; Hunter 2004): an essay that never lost, or a group
never beaten from outside, drifts to infinity. ``ComparisonGraph`` finds the strongly connected
components so a fit can say which items are unbounded instead of returning huge numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ComparisonGraph", "InvalidComparisons"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


UNION_FIND_EDGES_MAX = 5000
# Below this many items a graph's pair keys (lo * n + hi) are counted over the whole key space
# instead of sorted with np.unique, and a well-connected graph's components come from a few
# dense matrix products instead of a Python union-find: batch-sized graphs are refitted every wave.
SMALL_GRAPH_ITEMS_MAX = 64


class InvalidComparisons(ValueError):
    """The comparison data cannot describe a tournament (bad shape, index, or self-comparison)."""


@dataclass(frozen=True, eq=False)
class ComparisonGraph:
    """Validated comparisons over items ``0..n_items-1``."""

    n_items: int
    winners: IntArray
    losers: IntArray

    @classmethod
    def from_pairs(cls, n_items: int, comparisons: ArrayLike) -> ComparisonGraph:
        if isinstance(n_items, bool) or not isinstance(n_items, int | np.integer):
            raise InvalidComparisons(f"n_items must be an int, got {n_items!r}")
        if n_items < 1:
            raise InvalidComparisons(f"n_items must be >= 1, got {n_items}")
        data = np.asarray(comparisons)
        if data.size == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(int(n_items), empty, empty)
        if data.ndim != 2 or data.shape[1] != 2:
            raise InvalidComparisons(
                f"comparisons must be (winner, loser) pairs, got an array of shape {data.shape}"
            )
        whole = np.issubdtype(data.dtype, np.integer) or (
            np.all(np.isfinite(data)) and np.all(data == np.round(data))
        )
        if not whole:
            raise InvalidComparisons("comparisons must hold integer item indices")
        pairs = data.astype(np.int64)
        out_of_range = (pairs < 0) | (pairs >= n_items)
        if out_of_range.any():
            row = int(np.argwhere(out_of_range.any(axis=1))[0, 0])
            raise InvalidComparisons(
                f"comparison {row} {tuple(pairs[row].tolist())} names an item outside "
                f"0..{n_items - 1}"
            )
        selfish = pairs[:, 0] == pairs[:, 1]
        if selfish.any():
            row = int(np.argmax(selfish))
            raise InvalidComparisons(
                f"comparison {row} compares item {int(pairs[row, 0])} with itself"
            )
        return cls(int(n_items), pairs[:, 0].copy(), pairs[:, 1].copy())

    @property
    def n_comparisons(self) -> int:
        return int(self.winners.size)

    @cached_property
    def wins(self) -> FloatArray:
        return np.bincount(self.winners, minlength=self.n_items).astype(np.float64)

    @cached_property
    def losses(self) -> FloatArray:
        return np.bincount(self.losers, minlength=self.n_items).astype(np.float64)

    @property
    def comparisons_per_item(self) -> FloatArray:
        return self.wins + self.losses

    @cached_property
    def edges(self) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """Unique unordered pairs: ``(lo, hi, times met, times lo won)``, sorted by (lo, hi)."""
        n = self.n_items
        lo = np.minimum(self.winners, self.losers)
        hi = np.maximum(self.winners, self.losers)
        codes = lo * n + hi
        lo_won_each = (self.winners == lo).astype(np.float64)
        if n <= SMALL_GRAPH_ITEMS_MAX:
            met_by_code = np.bincount(codes, minlength=n * n)
            keys = np.flatnonzero(met_by_code)
            met = met_by_code[keys].astype(np.float64)
            lo_won = np.bincount(codes, weights=lo_won_each, minlength=n * n)[keys]
        else:
            keys, inverse = np.unique(codes, return_inverse=True)
            met = np.bincount(inverse).astype(np.float64)
            lo_won = np.bincount(inverse, weights=lo_won_each)
        edge_lo: IntArray = (keys // n).astype(np.int64)
        edge_hi: IntArray = (keys % n).astype(np.int64)
        return edge_lo, edge_hi, met, lo_won.astype(np.float64)

    @cached_property
    def strong_components(self) -> IntArray:
        """Label of each item's strongly connected component of the win graph."""
        return self._components("strong")

    @cached_property
    def weak_components(self) -> IntArray:
        """Label of each item's connected component of the (undirected) comparison graph."""
        lo, hi, _, _ = self.edges
        if lo.size > UNION_FIND_EDGES_MAX:
            return self._components("weak")
        if self.n_items <= SMALL_GRAPH_ITEMS_MAX and lo.size >= self.n_items:
            return _weak_components_dense(self.n_items, lo, hi)
        # Union-find in plain Python: for batch-sized graphs it beats building a sparse matrix.
        parent = list(range(self.n_items))

        def root(item: int) -> int:
            while parent[item] != item:
                parent[item] = parent[parent[item]]
                item = parent[item]
            return item

        for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        labels: IntArray = np.array([root(item) for item in range(self.n_items)], dtype=np.int64)
        return labels

    def _components(self, connection: str) -> IntArray:
        # scipy here only: a batch-sized graph never asks (see weak_components), and importing
        # scipy.sparse costs a small run 0.1-0.3 s of its start.
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n = self.n_items
        adjacency = coo_matrix(
            (np.ones(self.n_comparisons), (self.losers, self.winners)), shape=(n, n)
        ).tocsr()
        _, labels = connected_components(adjacency, directed=True, connection=connection)
        result: IntArray = np.asarray(labels, dtype=np.int64)
        return result

    @property
    def strongly_connected(self) -> bool:
        return self.n_items == 1 or bool(np.all(self.strong_components == 0))

    @cached_property
    def core(self) -> NDArray[np.bool_]:
        """Members of the largest strongly connected component (ties: the one with item 0 first).

        On this core the maximum-likelihood estimate exists; every other item is unbounded
        relative to it.
        """
        labels = self.strong_components
        sizes = np.bincount(labels)
        candidates = np.flatnonzero(sizes == sizes.max()).tolist()
        largest = min(candidates, key=lambda label: int(np.argmax(labels == label)))
        mask: NDArray[np.bool_] = labels == largest
        return mask

    def reachable_from(self, sources: NDArray[np.bool_], *, along: str) -> NDArray[np.bool_]:
        """Items reachable from ``sources`` following ``along="wins"`` (winner -> loser edges)
        or ``along="losses"`` (loser -> winner)."""
        from scipy.sparse import coo_matrix  # only for alpha == 0 on a broken graph

        n = self.n_items
        if along == "wins":
            rows, cols = self.winners, self.losers
        else:
            rows, cols = self.losers, self.winners
        adjacency = coo_matrix((np.ones(self.n_comparisons), (rows, cols)), shape=(n, n)).tocsr()
        reached = sources.copy()
        frontier = sources.copy()
        while frontier.any():
            step = adjacency.T @ frontier.astype(np.float64) > 0
            frontier = step & ~reached
            reached |= frontier
        return reached


def _weak_components_dense(n: int, lo: IntArray, hi: IntArray) -> IntArray:
    """Component labels by squaring the reachability matrix until it stops growing: a few
    products for a well-connected graph. Each item's label is the lowest item it reaches, the
    root the union-find would choose."""
    reach = np.eye(n)
    reach[lo, hi] = 1.0
    reach[hi, lo] = 1.0
    reached = np.count_nonzero(reach)
    while True:
        reach = np.minimum(reach @ reach, 1.0)  # entries stay 0 or 1: exact in floating point
        now_reached = np.count_nonzero(reach)
        if now_reached == reached:
            labels: IntArray = np.argmax(reach > 0, axis=1).astype(np.int64)
            return labels
        reached = now_reached
