"""Which essays meet in the next wave (pure: values in, pairs out).

Theory of operation. Waves come in two modes, as in the original:

* **Coverage**: pairs never submitted before. Each essay appears at most once per wave. Every
  candidate edge is weighted as the original weighted it,
  ``1/(1+c_i) + 1/(1+c_j) + 0.5 * exp(-|score_i - score_j|) [if the gap < 2] + U(0, 0.001)``,
  so the least-compared essays and close current scores come first, and the small seeded jitter
  breaks ties. We add 0.3 when the two essays lean to opposite positions (one has been Essay A
  more often, the other Essay B), and take 0.3 per step of skew off pairs that lean the same
  way: orientation can then balance both essays at once instead of pushing one further.
  The original ran NetworkX's blossom matching, which is cubic and pure Python; we take edges
  greedily by weight, then grow the matching along augmenting paths of length three (close to
  the maximum-cardinality matching it found, with the same preferences), which makes a
  1,000-essay wave a matter of a fraction of a second.
  When coverage is a complete round robin, orientation is fixed ahead by a schedule
  (``engine.cj.tournament``) and the lean terms follow it instead: the bonus goes to pairs
  whose scheduled orientation evens out both essays, and the matching takes pairs in tiers,
  first those that push no essay past ``|A-B| = 1``, then none past 2; pairs that would push
  an essay further wait for a later wave unless nothing else is left (``_match_in_tiers``).
  The final counts are the schedule's in any order; the tiers keep them near even on the
  way, for a batch that stops early on a stable scale. Adaptive waves (a cap below every pair)
  use the same tiers, asking of each pair how far its better orientation must push an essay
  (two essays leaning the same way push the lesser one on): without them a storm's adaptive
  batch could leave an essay at 7 A / 4 B, above the skew limit.
* **Resampling**, once every pair has been seen: already-compared pairs again, least-seen
  essays first (seeded tie-break), each essay at most ``ceil(2k/n)`` times in a wave of ``k``.

Neither mode ever plans more than ``remaining`` pairs (the schedule cap minus what was
submitted), and duplicate prevention works on normalised (sorted) pair keys, so A/B and B/A are
the same pair to coverage. Orientation (who is Essay A) is decided afterwards by
``engine.cj.orientation``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.cj.models import ComparisonPair, GenerationMode
from engine.cj.tournament import BalancedTournament
from engine.randomness import Rng

__all__ = ["EssayNode", "PairHistory", "coverage_candidates", "plan_coverage", "plan_resampling"]

CLOSE_SCORE_GAP = 2.0
CLOSENESS_WEIGHT = 0.5
JITTER_MAX = 0.001
# Ours, not the original's: a small preference for pairing an essay that has sat in A more
# often with one that has sat in B more often, so orientation can even both out at once.
OPPOSITE_LEAN_WEIGHT = 0.3
SAME_LEAN_PENALTY = 0.3  # per step of the smaller skew, when both lean the same way
# Under a round-robin schedule (orientation fixed): match the pairs that push no essay past
# |A-B| = 1 first, then those that push none past 2; the rest wait (``_match_in_tiers``).
SCHEDULED_LEAN_TIERS = (1, 2)


@dataclass(frozen=True, slots=True)
class EssayNode:
    essay_id: str
    is_anchor: bool
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class PairHistory:
    """What has been submitted so far in a batch (error rows included, as in the original)."""

    appearances: Mapping[str, int]
    compared: frozenset[tuple[str, str]]
    positions: Mapping[str, tuple[int, int]]  # essay -> (times in A, times in B)
    orientations: Mapping[tuple[str, str], tuple[int, int]]  # key -> (lo first, hi first)

    @classmethod
    def from_pairs(cls, pairs: Iterable[ComparisonPair]) -> PairHistory:
        # Comprehensions and Counter (which counts in C): this runs once per wave over every
        # pair of the batch.
        submitted = [(pair.essay_a_id, pair.essay_b_id) for pair in pairs]
        firsts = [a for a, _ in submitted]
        seconds = [b for _, b in submitted]
        keys = [((a, b), True) if a <= b else ((b, a), False) for a, b in submitted]
        in_a, in_b = Counter(firsts), Counter(seconds)
        appearances = in_a + in_b
        # .get, not [], for absent keys: a Counter's __missing__ is a Python call.
        positions = {essay: (in_a.get(essay, 0), in_b.get(essay, 0)) for essay in appearances}
        oriented = Counter(keys)
        orientations = {
            key: (oriented.get((key, True), 0), oriented.get((key, False), 0))
            for key, _ in oriented
        }
        return cls(dict(appearances), frozenset(orientations), positions, orientations)

    @classmethod
    def empty(cls) -> PairHistory:
        return cls({}, frozenset(), {}, {})


@dataclass(frozen=True, slots=True)
class PlannedPair:
    """Two essays chosen to meet; ``first`` and ``second`` are not yet oriented."""

    first: str
    second: str
    mode: GenerationMode


def coverage_candidates(essays: Sequence[EssayNode], history: PairHistory) -> int:
    """How many distinct pairs have never been submitted."""
    n = len(essays)
    ids = {essay.essay_id for essay in essays}
    seen = sum(1 for a, b in history.compared if a in ids and b in ids)
    return n * (n - 1) // 2 - seen


def plan_coverage(
    essays: Sequence[EssayNode],
    history: PairHistory,
    *,
    remaining: int,
    rng: Rng,
    schedule: BalancedTournament | None = None,
    lean_tiers: bool = False,
) -> list[PlannedPair]:
    """A coverage wave: a greedy maximum-weight matching over never-compared pairs. With a
    ``schedule`` (a complete round robin), the lean preference follows its orientations and
    pairs are matched in tiers of how far they push an essay's lean; ``lean_tiers`` asks for
    the same tiers while orientation is free (adaptive waves)."""
    n = len(essays)
    if n < 2 or remaining <= 0:
        return []
    ids = [essay.essay_id for essay in essays]
    position = {essay_id: index for index, essay_id in enumerate(ids)}
    compared = np.zeros((n, n), dtype=bool)
    seen = [
        (position[a], position[b]) for a, b in history.compared if a in position and b in position
    ]
    if seen:
        first, second = np.array(seen, dtype=np.int64).T
        compared[first, second] = compared[second, first] = True
    rows, cols = _upper_triangle(n)
    open_edges = ~compared[rows, cols]
    rows, cols = rows[open_edges], cols[open_edges]
    if rows.size == 0:
        return []

    counts = np.array([history.appearances.get(essay_id, 0) for essay_id in ids], dtype=float)
    scores = np.array([essay.score for essay in essays], dtype=float)
    gap = np.abs(scores[rows] - scores[cols])
    jitter = np.random.Generator(np.random.PCG64(rng.getrandbits(64))).uniform(
        0.0, JITTER_MAX, rows.size
    )
    skew = np.array(
        [
            history.positions.get(essay_id, (0, 0))[0] - history.positions.get(essay_id, (0, 0))[1]
            for essay_id in ids
        ]
    )
    bonus: NDArray[np.floating[Any]]
    penalty: NDArray[np.floating[Any]]
    pushed_to: NDArray[np.int64] | None  # None: one greedy pass, no tiers (the legacy planner)
    if schedule is None:
        bonus, penalty = _lean_terms(skew[rows], skew[cols])
        pushed_to = _free_lean(skew[rows], skew[cols]) if lean_tiers else None
    else:
        pushed_to, evens_both = _scheduled_lean(skew, rows, cols, ids, schedule)
        bonus, penalty = OPPOSITE_LEAN_WEIGHT * evens_both, np.zeros(rows.size)
    weights = (  # summed in this order: the legacy weights stay bit-identical
        1.0 / (1.0 + counts[rows])
        + 1.0 / (1.0 + counts[cols])
        + np.where(gap < CLOSE_SCORE_GAP, CLOSENESS_WEIGHT * np.exp(-gap), 0.0)
        + bonus
        - penalty
        + jitter
    )
    order = np.argsort(-weights, kind="stable")

    limit = min(remaining, n // 2)
    if pushed_to is None:
        chosen = _match(rows[order], cols[order], ~compared, [-1] * n, [], limit)
    else:
        chosen = _match_in_tiers(rows[order], cols[order], pushed_to[order], compared, limit)
    return [PlannedPair(ids[a], ids[b], GenerationMode.COVERAGE) for a, b in chosen]


def _match(
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    open_edge: NDArray[np.bool_],
    mate: list[int],
    chosen: list[tuple[int, int]],
    limit: int,
) -> list[tuple[int, int]]:
    """Extend ``chosen`` greedily over the edges in the given order, then along augmenting
    paths over ``open_edge`` (an n x n matrix, consumed); ``mate`` is kept up to date."""
    for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
        if len(chosen) >= limit:
            break
        if mate[row] >= 0 or mate[col] >= 0:
            continue
        mate[row], mate[col] = col, row
        chosen.append((row, col))
    if len(chosen) < limit:
        mate_array = np.array(mate, dtype=np.int64)
        chosen = _augment(chosen, mate_array, open_edge, limit)
        mate[:] = mate_array.tolist()
    return chosen


def _match_in_tiers(
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    pushed_to: NDArray[np.int64],
    compared: NDArray[np.bool_],
    limit: int,
) -> list[tuple[int, int]]:
    """A coverage wave under a round-robin schedule, the edges in order of weight.

    First the pairs that push no essay past ``|A-B| = 1`` (their scheduled orientation moves
    each essay towards even, or off it by one), matched as fully as they allow; then those that
    push none past 2. Pairs that would push an essay further wait for a later wave, unless
    nothing else is left: an essay at ``|A-B| = 2`` always has a pair left that evens it (its
    schedule ends at 0 or 1), so waiting costs a short wave now and then, where filling every
    wave put an essay at 4 A / 7 B after 11 of its 13 comparisons. Weights and penalties alone
    could not keep this: a greedy pass leaves the leaning essay with nobody but partners that
    push it further.
    """
    n = compared.shape[0]
    mate = [-1] * n
    chosen: list[tuple[int, int]] = []
    for lean_max in SCHEDULED_LEAN_TIERS:
        allowed = pushed_to <= lean_max
        allowed_edge = np.zeros((n, n), dtype=bool)
        allowed_edge[rows[allowed], cols[allowed]] = True
        allowed_edge[cols[allowed], rows[allowed]] = True
        chosen = _match(rows[allowed], cols[allowed], allowed_edge, mate, chosen, limit)
    if not chosen:
        chosen = _match(rows, cols, ~compared, mate, chosen, limit)
    return chosen


def _lean_terms(
    skew_first: NDArray[np.int64], skew_second: NDArray[np.int64]
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]]]:
    """``(bonus, penalty)`` while orientation is free: opposite leans can both even out, and
    same leans push one essay further by the smaller lean."""
    same_lean = np.minimum(np.abs(skew_first), np.abs(skew_second)) * (skew_first * skew_second > 0)
    return (
        OPPOSITE_LEAN_WEIGHT * (skew_first * skew_second < 0),
        SAME_LEAN_PENALTY * same_lean,
    )


def _free_lean(skew_first: NDArray[np.int64], skew_second: NDArray[np.int64]) -> NDArray[np.int64]:
    """Per candidate pair while orientation is free: the largest ``|A-B|`` its better
    orientation pushes an essay to (0 when both move towards even). Opposite leans can both be
    oriented towards even; an even essay moves to 1; of two essays leaning the same way, the
    one leaning less is pushed one step further."""
    product = skew_first * skew_second
    smaller = np.minimum(np.abs(skew_first), np.abs(skew_second))
    # same lean: the smaller is pushed on; an even essay goes to 1; opposite leans both even out
    return np.where(product > 0, smaller + 1, np.where(product == 0, 1, 0))


def _scheduled_lean(
    skew: NDArray[np.int64],
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    ids: Sequence[str],
    schedule: BalancedTournament,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Per candidate pair under its scheduled orientation: the largest ``|A-B|`` it pushes an
    essay to (0 when it pushes neither further from even), and whether it evens out both."""
    rank = np.array([schedule.rank[essay_id] for essay_id in ids], dtype=np.int64)
    step = np.where(schedule.first_is_a(rank[rows], rank[cols]), 1, -1)  # the row's A - B
    after_row, after_col = skew[rows] + step, skew[cols] - step
    pushed_row = np.where(np.abs(after_row) > np.abs(skew[rows]), np.abs(after_row), 0)
    pushed_col = np.where(np.abs(after_col) > np.abs(skew[cols]), np.abs(after_col), 0)
    evens_both = (np.abs(after_row) < np.abs(skew[rows])) & (np.abs(after_col) < np.abs(skew[cols]))
    return np.maximum(pushed_row, pushed_col), evens_both


@lru_cache(maxsize=16)
def _upper_triangle(n: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Every pair ``i < j`` of ``n`` essays, built once per batch size (read-only: shared)."""
    rows, cols = np.triu_indices(n, 1)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def _augment(
    chosen: list[tuple[int, int]], mate: np.ndarray, open_edge: np.ndarray, limit: int
) -> list[tuple[int, int]]:
    """Grow a greedy matching along augmenting paths of length three.

    Greedy is maximal, not maximum: an unmatched essay ``u`` may have an open edge to a matched
    ``x`` whose partner ``y`` has an open edge to another unmatched ``v``. Replacing ``(x, y)``
    with ``(u, x)`` and ``(y, v)`` adds a pair to the wave, as the original's maximum-cardinality
    blossom matching would. Repeats until no such path is left.
    """
    np.fill_diagonal(open_edge, False)
    slot = {a: k for k, pair in enumerate(chosen) for a in pair}
    improved = True
    while improved and len(chosen) < limit:
        improved = False
        free = mate < 0
        for u in np.flatnonzero(free & open_edge.any(axis=1)).tolist():
            if mate[u] >= 0:
                continue
            for x in np.flatnonzero(open_edge[u] & (mate >= 0)).tolist():
                y = int(mate[x])
                partners = np.flatnonzero(open_edge[y] & (mate < 0))
                partners = partners[partners != u]
                if partners.size == 0:
                    continue
                v = int(partners[0])
                k = slot[x]
                chosen[k] = (u, x)
                chosen.append((y, v))
                mate[u], mate[x], mate[y], mate[v] = x, u, v, y
                slot[u], slot[y], slot[v] = k, len(chosen) - 1, len(chosen) - 1
                improved = True
                break
            if len(chosen) >= limit:
                break
    return chosen


def plan_resampling(
    essays: Sequence[EssayNode], history: PairHistory, *, remaining: int, rng: Rng
) -> list[PlannedPair]:
    """A resampling wave over already-compared pairs, least-seen essays first."""
    ids = {essay.essay_id for essay in essays}
    candidates = sorted(key for key in history.compared if key[0] in ids and key[1] in ids)
    if not candidates or remaining <= 0:
        return []
    size = min(len(candidates), remaining)
    per_essay_cap = math.ceil(2 * size / len(ids))
    tie_breaks = [rng.random() for _ in candidates]
    ranked = sorted(
        zip(candidates, tie_breaks, strict=True),
        key=lambda item: (
            history.appearances.get(item[0][0], 0) + history.appearances.get(item[0][1], 0),
            item[1],
        ),
    )
    used: dict[str, int] = {}
    wave: list[PlannedPair] = []
    for (a, b), _ in ranked:
        if used.get(a, 0) >= per_essay_cap or used.get(b, 0) >= per_essay_cap:
            continue
        used[a] = used.get(a, 0) + 1
        used[b] = used.get(b, 0) + 1
        wave.append(PlannedPair(a, b, GenerationMode.RESAMPLING))
        if len(wave) == size:
            break
    return wave
