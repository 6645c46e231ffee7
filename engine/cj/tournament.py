"""A balanced orientation of the complete round robin (pure): who is Essay A when all pairs meet.

Theory of operation. When a batch's schedule cap covers all ``C(n, 2)`` pairs, coverage is a
complete round robin: which comparisons the batch will have is known ahead, only their order is
not. Who is Essay A in each is then a fixed problem with an exact answer, where orienting pair
by pair as waves arrive can only hope (the greedy ended anchors at 7 A / 4 B of 11).

The answer is a *rotational tournament*. The essays stand on a circle in a seeded order; with
``m = n`` for odd ``n`` (``n - 1`` for even), the essay at position ``p`` is Essay A against the
``(m - 1) / 2`` positions that follow it round the circle and Essay B against the ``(m - 1) / 2``
that precede it. For odd ``n`` every essay is A in exactly ``(n - 1) / 2`` of its ``n - 1``
comparisons. For even ``n`` the last essay of the order stands off the circle and is Essay A
against the odd positions, Essay B against the even: every essay, it included, ends with
``|A - B| = 1``, the least an odd number of comparisons allows.

The order is the essay ids sorted, then shuffled by the batch's own stream, so no essay id
decides its positions. A tournament is a pure function of (essay ids, stream): the caller
recomputes it at every wave from a fresh stream instead of storing it, and gets the same one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from engine.randomness import Rng

__all__ = ["BalancedTournament", "balanced_tournament", "covers_every_pair"]


def covers_every_pair(n_essays: int, schedule_cap: int) -> bool:
    """Whether coverage will be a complete round robin: the cap leaves room for every pair."""
    return schedule_cap >= n_essays * (n_essays - 1) // 2


@dataclass(frozen=True, slots=True, kw_only=True)
class BalancedTournament:
    order: tuple[str, ...]  # the seeded circle; for even n the last essay stands off it
    rank: Mapping[str, int]  # essay -> its index in ``order``

    def first_is_a(self, first: NDArray[np.int64], second: NDArray[np.int64]) -> NDArray[np.bool_]:
        """For pairs given as ranks (``first[k] != second[k]``): is ``first[k]`` Essay A?"""
        n = len(self.order)
        circle = n if n % 2 else n - 1
        steps = (second - first) % circle
        on_circle = (steps >= 1) & (steps <= (circle - 1) // 2)
        # Even n: the essay off the circle (rank n - 1) is A against odd ranks, B against even.
        first_off = first == n - 1 if n % 2 == 0 else np.zeros(first.shape, dtype=bool)
        second_off = second == n - 1 if n % 2 == 0 else np.zeros(second.shape, dtype=bool)
        return np.where(first_off, second % 2 == 1, np.where(second_off, first % 2 == 0, on_circle))

    def orient(self, x: str, y: str) -> tuple[str, str]:
        """``(essay_a, essay_b)`` for the pair ``{x, y}``."""
        first = np.array([self.rank[x]], dtype=np.int64)
        second = np.array([self.rank[y]], dtype=np.int64)
        return (x, y) if bool(self.first_is_a(first, second)[0]) else (y, x)


def balanced_tournament(essay_ids: Iterable[str], rng: Rng) -> BalancedTournament:
    """The rotational tournament over the ids in a seeded order (``rng`` is consumed)."""
    order = sorted(essay_ids)
    duplicates = sorted({a for a, b in pairwise(order) if a == b})
    if duplicates:
        raise ValueError(f"essay ids must be distinct; repeated: {', '.join(duplicates)}")
    rng.shuffle(order)
    return BalancedTournament(
        order=tuple(order), rank={essay: index for index, essay in enumerate(order)}
    )
