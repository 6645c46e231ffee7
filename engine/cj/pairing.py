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
  greedily by weight, then grow the matching along augmenting paths of length three
  (``engine.cj.pair_matching``: close to the maximum-cardinality matching it found, with the
  same preferences). Nor is every open pair weighed in a large batch: each essay offers its
  nearest open partners by score in each lean class, and the least-compared theirs among the
  least-compared (``engine.cj.pair_candidates``); essays left unmatched offer their windows
  among themselves until a round adds no pair, and those still unmatched in the last tier
  weigh every open pair of theirs. A batch with few open pairs (up to 65 essays, the tail of a
  round robin) weighs them all. The jitter is a hash of (a seed drawn from the wave's stream,
  the pair), so a pair weighs the same whichever pairs are candidates. A wave then costs about
  its essays' windows and comparisons, not ``n^2``: 3,000 essays in a fraction of a second.
  When coverage is a complete round robin, orientation is fixed ahead by a schedule
  (``engine.cj.tournament``) and the lean terms follow it instead: the bonus goes to pairs
  whose scheduled orientation evens out both essays, and the matching takes pairs in tiers,
  first those that push no essay past ``|A-B| = 1``, then none past 2; pairs that would push
  an essay further wait for a later wave unless nothing else is left (``_match_wave``).
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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.cj.models import ComparisonPair, GenerationMode
from engine.cj.pair_candidates import (
    Candidates,
    ComparedPairs,
    candidate_pairs,
    every_open_pair,
    open_pairs_of,
    window_pairs,
)
from engine.cj.pair_matching import Adjacency, Matching, augment, take_greedily
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
        # in_a + in_b, counted in C: the same counts, in the same order.
        appearances = Counter(in_a)
        appearances.update(seconds)
        # .get, not [], for absent keys: a Counter's __missing__ is a Python call.
        positions = {essay: (in_a.get(essay, 0), in_b.get(essay, 0)) for essay in appearances}
        oriented = Counter(keys)
        compared = frozenset(map(itemgetter(0), oriented))
        return cls(dict(appearances), compared, positions, _Orientations(oriented, compared))

    @classmethod
    def empty(cls) -> PairHistory:
        return cls({}, frozenset(), {}, {})


class _Orientations(Mapping[tuple[str, str], tuple[int, int]]):
    """``PairHistory.orientations`` read on demand from the counts of ``(key, lo first)``:
    only resampling's orientation asks, of a few pairs, and building the whole mapping was
    most of ``from_pairs``'s time at every wave (issue 15). Iterates in the order pairs were
    first submitted, as the dict it replaces did."""

    __slots__ = ("_counts", "_keys")

    def __init__(
        self, counts: Mapping[tuple[tuple[str, str], bool], int], keys: frozenset[tuple[str, str]]
    ) -> None:
        self._counts = counts
        self._keys = keys

    def __getitem__(self, key: tuple[str, str]) -> tuple[int, int]:
        if key not in self._keys:
            raise KeyError(key)
        return self._counts.get((key, True), 0), self._counts.get((key, False), 0)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(dict.fromkeys(map(itemgetter(0), self._counts)))

    def __len__(self) -> int:
        return len(self._keys)


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
    # One flat list, then one array: this runs once per wave over every pair of the batch.
    flat = map(position.get, chain.from_iterable(history.compared), repeat(-1))
    seen = np.fromiter(flat, dtype=np.int64, count=2 * len(history.compared)).reshape(-1, 2)
    seen = seen[(seen >= 0).all(axis=1)]  # pairs with an essay outside the wave's list
    compared = ComparedPairs.of(n, seen[:, 0], seen[:, 1])
    if compared.open_count == 0:
        return []
    counts = np.array([history.appearances.get(essay_id, 0) for essay_id in ids], dtype=float)
    skew = np.array(
        [
            history.positions.get(essay_id, (0, 0))[0] - history.positions.get(essay_id, (0, 0))[1]
            for essay_id in ids
        ],
        dtype=np.int64,
    )
    wave = _CoverageWave(
        scores=np.array([essay.score for essay in essays], dtype=float),
        counts=counts,
        skew=skew,
        jitter_seed=rng.getrandbits(64),
        tiered=schedule is not None or lean_tiers,
        schedule_rank=(
            None
            if schedule is None
            else np.array([schedule.rank[essay_id] for essay_id in ids], dtype=np.int64)
        ),
        schedule=schedule,
    )
    limit = min(remaining, n // 2)
    candidates = candidate_pairs(compared, scores=wave.scores, counts=counts, skew=skew)
    matching = _match_wave(wave, compared, candidates, limit)
    if wave.tiered and not matching.chosen and not candidates.complete:
        # The windows held no pair within the tiers: weigh every open pair before the last
        # resort, as a small batch would (rare: only near the end of a large round robin).
        matching = _match_wave(wave, compared, every_open_pair(compared), limit)
    return [PlannedPair(ids[a], ids[b], GenerationMode.COVERAGE) for a, b in matching.chosen]


@dataclass(frozen=True, slots=True, kw_only=True)
class _CoverageWave:
    """The per-essay figures of one coverage wave, and how a candidate pair weighs."""

    scores: NDArray[np.floating[Any]]
    counts: NDArray[np.floating[Any]]
    skew: NDArray[np.int64]
    jitter_seed: int
    tiered: bool  # False: one greedy pass, no tiers (the legacy planner)
    schedule: BalancedTournament | None
    schedule_rank: NDArray[np.int64] | None

    def weigh(
        self, rows: NDArray[np.int64], cols: NDArray[np.int64]
    ) -> tuple[NDArray[np.floating[Any]], NDArray[np.int64]]:
        """Each pair's weight, and how far it pushes an essay's lean (0 when untiered)."""
        skew, counts = self.skew, self.counts
        gap = np.abs(self.scores[rows] - self.scores[cols])
        bonus: NDArray[np.floating[Any]]
        penalty: NDArray[np.floating[Any]]
        pushed_to = np.zeros(rows.size, dtype=np.int64)
        if self.schedule is None or self.schedule_rank is None:
            bonus, penalty = _lean_terms(skew[rows], skew[cols])
            if self.tiered:
                pushed_to = _free_lean(skew[rows], skew[cols])
        else:
            pushed_to, evens_both = _scheduled_lean(
                skew, rows, cols, self.schedule_rank, self.schedule
            )
            bonus, penalty = OPPOSITE_LEAN_WEIGHT * evens_both, np.zeros(rows.size)
        weights = (  # summed in this order: the legacy weights stay bit-identical
            1.0 / (1.0 + counts[rows])
            + 1.0 / (1.0 + counts[cols])
            + np.where(gap < CLOSE_SCORE_GAP, CLOSENESS_WEIGHT * np.exp(-gap), 0.0)
            + bonus
            - penalty
            + _jitter(self.jitter_seed, rows, cols)
        )
        return weights, pushed_to


class _CandidatePool:
    """The candidate pairs weighed so far, heaviest first: each batch added is sorted by
    (weight, key) and merged in after any pair of equal weight already held."""

    def __init__(self, wave: _CoverageWave, n: int) -> None:
        self.wave, self.n = wave, n
        self.keys = np.empty(0, dtype=np.int64)  # sorted, for membership
        self.rows = self.cols = self.pushed_to = np.empty(0, dtype=np.int64)
        self.weights = np.empty(0, dtype=float)

    def add(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> bool:
        """Weigh the pairs not yet in the pool and merge them in; whether any were new."""
        keys = rows * self.n + cols
        if self.keys.size:
            at = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
            new = self.keys[at] != keys
            rows, cols, keys = rows[new], cols[new], keys[new]
        if keys.size == 0:
            return False
        weights, pushed_to = self.wave.weigh(rows, cols)
        order = np.lexsort((keys, -weights))
        self.keys = np.sort(np.concatenate([self.keys, keys]))
        if self.rows.size == 0:
            self.rows, self.cols = rows[order], cols[order]
            self.weights, self.pushed_to = weights[order], pushed_to[order]
            return True
        at = np.searchsorted(-self.weights, -weights[order], side="right")
        self.rows = np.insert(self.rows, at, rows[order])
        self.cols = np.insert(self.cols, at, cols[order])
        self.weights = np.insert(self.weights, at, weights[order])
        self.pushed_to = np.insert(self.pushed_to, at, pushed_to[order])
        return True

    def allowed(self, lean_max: int | None) -> NDArray[np.bool_]:
        """Which pairs push no lean past ``lean_max`` (all, for ``None``)."""
        if lean_max is None:
            return np.ones(self.rows.size, dtype=bool)
        allowed: NDArray[np.bool_] = self.pushed_to <= lean_max
        return allowed

    def take_greedily(self, matching: Matching, lean_max: int | None, limit: int) -> None:
        """Take the allowed pairs between unmatched essays, heaviest first."""
        allowed = self.allowed(lean_max)
        take_greedily(matching, self.rows[allowed], self.cols[allowed], limit)

    def augment(self, matching: Matching, lean_max: int | None, limit: int) -> None:
        """Grow ``matching`` along augmenting paths over the allowed pairs."""
        if len(matching.chosen) >= limit or int((matching.mate < 0).sum()) < 2:
            return  # a path needs an unmatched essay at each end
        allowed = self.allowed(lean_max)
        rows, cols = self.rows[allowed], self.cols[allowed]
        augment(matching, Adjacency.of(self.n, rows, cols), limit)


def _match_wave(
    wave: _CoverageWave, compared: ComparedPairs, candidates: Candidates, limit: int
) -> Matching:
    """The matching over ``candidates``, in lean tiers when the wave is tiered.

    Tiers: first the pairs that push no essay past ``|A-B| = 1`` (their orientation moves
    each essay towards even, or off it by one), matched as fully as they allow; then those
    that push none past 2. Pairs that would push an essay further wait for a later wave, unless
    nothing else is left: under a schedule, an essay at ``|A-B| = 2`` always has a pair left
    that evens it (its schedule ends at 0 or 1), so waiting costs a short wave now and then,
    where filling every wave put an essay at 4 A / 7 B after 11 of its 13 comparisons. Weights
    and penalties alone could not keep this: a greedy pass leaves the leaning essay with nobody
    but partners that push it further.

    In each tier the pairs are taken greedily by weight; windowed candidates are then widened
    while the wave is short (the essays left unmatched offer their windows among themselves,
    and the greedy goes on over those, until a round adds no pair); last, augmenting paths.
    """
    n = wave.scores.size
    pool = _CandidatePool(wave, n)
    pool.add(candidates.rows, candidates.cols)
    matching = Matching.empty(n)
    tiers: tuple[int | None, ...] = SCHEDULED_LEAN_TIERS if wave.tiered else (None,)
    for lean_max in tiers:
        pool.take_greedily(matching, lean_max, limit)
        while not candidates.complete and len(matching.chosen) < limit:
            unmatched = matching.unmatched()
            before = len(matching.chosen)
            if unmatched.size < 2:
                break
            keys = window_pairs(
                compared, unmatched, scores=wave.scores, counts=wave.counts, skew=wave.skew
            )
            if not pool.add(keys // n, keys % n):
                break
            pool.take_greedily(matching, lean_max, limit)
            if len(matching.chosen) == before:
                break
        unmatched = matching.unmatched()
        if (
            lean_max == tiers[-1]
            and not candidates.complete
            and len(matching.chosen) < limit
            and unmatched.size >= 2
        ):
            # Still short in the last tier: the essays left over weigh every open pair of
            # theirs, so no augmenting path that all open pairs offer them is missed.
            keys = open_pairs_of(compared, unmatched)
            if pool.add(keys // n, keys % n):
                pool.take_greedily(matching, lean_max, limit)
        pool.augment(matching, lean_max, limit)
    if wave.tiered and not matching.chosen and candidates.complete:
        pool.take_greedily(matching, None, limit)
        pool.augment(matching, None, limit)
    return matching


def _jitter(seed: int, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.float64]:
    """``U(0, JITTER_MAX)`` per pair, a pure function of (seed, pair): splitmix64 over the pair's
    key, so a pair weighs the same whichever other pairs are candidates, and only candidates
    are drawn for. (uint64 arithmetic wraps, as the hash wants.)"""
    key = (rows.astype(np.uint64) << np.uint64(32)) | cols.astype(np.uint64)
    z = np.uint64(seed) + (key + np.uint64(1)) * _GOLDEN_GAMMA
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (JITTER_MAX / 2.0**53)


_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


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
    rank: NDArray[np.int64],
    schedule: BalancedTournament,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Per candidate pair under its scheduled orientation: the largest ``|A-B|`` it pushes an
    essay to (0 when it pushes neither further from even), and whether it evens out both.
    ``rank`` is each essay's rank in the schedule."""
    step = np.where(schedule.first_is_a(rank[rows], rank[cols]), 1, -1)  # the row's A - B
    after_row, after_col = skew[rows] + step, skew[cols] - step
    pushed_row = np.where(np.abs(after_row) > np.abs(skew[rows]), np.abs(after_row), 0)
    pushed_col = np.where(np.abs(after_col) > np.abs(skew[cols]), np.abs(after_col), 0)
    evens_both = (np.abs(after_row) < np.abs(skew[rows])) & (np.abs(after_col) < np.abs(skew[cols]))
    return np.maximum(pushed_row, pushed_col), evens_both


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
