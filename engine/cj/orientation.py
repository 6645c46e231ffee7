"""Who is Essay A: position balancing (PR 2) and the original's bias, side by side.

LLM judges favour one slot (MT-Bench; Wang et al. 2024), so an essay that always sits in A is
measured with the bias baked in. Theory of operation, with balancing on (the default):

* the batch's essays are shuffled deterministically (seeded by batch id and iteration) before
  a wave is planned, so no essay is first in line by accident of its id;
* **a complete round robin is oriented as a whole.** When the schedule cap covers every pair,
  the comparisons are known ahead and only their order is adaptive, so ``round_robin_schedule``
  fixes every pair's orientation at once: a rotational tournament over a seeded order
  (``engine.cj.tournament``), which ends every essay at ``|A-B| = 0`` for odd ``n`` and ``1``
  for even ``n``, the best any orientation allows. The wave planner still chooses which pairs
  meet, and among them those whose scheduled orientation keeps both essays within
  ``|A-B| <= 2`` on the way (``engine.cj.pairing``), in case a stable scale ends the batch
  early; each coverage pair is sent as the schedule says. The schedule is a pure function of
  (essays, the batch's ``orientation.schedule`` stream), recomputed at every wave and never
  stored. Pair-by-pair greedy orientation (below) cannot promise this: a pair's best choice
  now can leave an essay with only same-side comparisons at the end, and an anchor of the
  12-anchor round robin ended at 7 A / 4 B (0.27) in 38 of 1,000 seeds;
* otherwise (adaptive waves, and resampling) each pair is oriented by the original's "fair
  complement" rule over the running counts: an essay that has been A more often than B goes
  to B (and vice versa); when both lean the same way, the orientation that leaves the smaller
  total skew wins, then the one with the smaller worst skew, then the smaller skew for the
  essay with fewer comparisons left; a true tie is a seeded coin flip (the original fell back
  to id order, which put ``ANCHOR_*`` ids first). Within a coverage wave each essay meets one
  other, so this per-pair choice is the best choice for the wave as a whole; and where the cap
  stops coverage short of every pair, enough pairs stay open for the matching's opposite-lean
  preference to work: over 14 to 100 essays (40 seeds each) it kept every essay within
  ``|A-B| <= 2`` after each wave, 3 only in a few runs that came within a few pairs of all
  435 of 30 essays, and never above 0.2 of an essay's comparisons, so it stays;
* a resampled pair seen only as AB is sent as BA, and vice versa, unless that would leave an
  essay leaning harder than the other orientation.

``LEGACY_GREEDY_ORIENTATION=true`` orients round robins greedily too, as before the schedule.
With balancing off (``ENABLE_COMPARISON_POSITION_BALANCING=false``), the original's behaviour:
anchors first in the essay list and every pair keeps list order, so anchors sit in A.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

from engine.cj.models import GenerationMode
from engine.cj.pairing import EssayNode, PairHistory, PlannedPair
from engine.cj.tournament import BalancedTournament, balanced_tournament, covers_every_pair
from engine.randomness import Rng

__all__ = ["OrientedPair", "essay_order", "orient_wave", "round_robin_schedule"]


@dataclass(frozen=True, slots=True)
class OrientedPair:
    essay_a: str
    essay_b: str
    mode: GenerationMode


def essay_order(essays: Sequence[EssayNode], *, balance: bool, rng: Rng) -> list[EssayNode]:
    """The list a wave is planned over: seeded shuffle, or (legacy) anchors first."""
    if not balance:
        return sorted(essays, key=lambda e: (not e.is_anchor, e.essay_id))
    shuffled = sorted(essays, key=lambda e: e.essay_id)
    rng.shuffle(shuffled)
    return shuffled


def round_robin_schedule(
    essays: Sequence[EssayNode],
    *,
    schedule_cap: int,
    balance: bool,
    legacy_greedy: bool,
    rng: Rng,
) -> BalancedTournament | None:
    """The orientation of the whole round robin when coverage will be one, else ``None``
    (adaptive waves, balancing off, or the legacy greedy). ``rng`` must be a fresh stream for
    the batch, the same at every wave, so that every wave sees the same schedule."""
    if not balance or legacy_greedy:
        return None
    if not covers_every_pair(len(essays), schedule_cap):
        return None
    return balanced_tournament((essay.essay_id for essay in essays), rng)


def orient_wave(
    planned: Sequence[PlannedPair],
    order: Sequence[EssayNode],
    history: PairHistory,
    *,
    balance: bool,
    schedule: BalancedTournament | None,
    rng: Rng,
) -> list[OrientedPair]:
    """Orient a planned wave. ``schedule`` (from ``round_robin_schedule``) decides every
    coverage pair; the rest are oriented greedily over the running counts."""
    if not balance:
        rank = {essay.essay_id: index for index, essay in enumerate(order)}
        return [
            OrientedPair(p.first, p.second, p.mode)
            if rank[p.first] < rank[p.second]
            else OrientedPair(p.second, p.first, p.mode)
            for p in planned
        ]
    positions = dict(history.positions)
    # How many more coverage comparisons each essay will get: on a tie, the essay with fewer
    # chances left to even out takes the balancing slot.
    partners = Counter(chain.from_iterable(history.compared))  # counted in C
    chances = {e.essay_id: len(order) - 2 - partners[e.essay_id] for e in order}
    oriented = []
    for pair in planned:
        if schedule is not None and pair.mode is GenerationMode.COVERAGE:
            a, b = schedule.orient(pair.first, pair.second)
        else:
            a, b = _choose(pair, positions, history, chances, rng)
        a_first, a_second = positions.get(a, (0, 0))
        positions[a] = (a_first + 1, a_second)
        b_first, b_second = positions.get(b, (0, 0))
        positions[b] = (b_first, b_second + 1)
        oriented.append(OrientedPair(a, b, pair.mode))
    return oriented


def _choose(
    pair: PlannedPair,
    positions: dict[str, tuple[int, int]],
    history: PairHistory,
    chances: dict[str, int],
    rng: Rng,
) -> tuple[str, str]:
    x, y = pair.first, pair.second
    skew_x = positions.get(x, (0, 0))[0] - positions.get(x, (0, 0))[1]
    skew_y = positions.get(y, (0, 0))[0] - positions.get(y, (0, 0))[1]
    # Smallest total skew first, then the smallest worst skew (when both essays lean the same
    # way, the one leaning harder takes the other slot), then the smallest skew for the essay
    # with fewer comparisons left to recover. The original flipped a coin at the first tie,
    # and essays drifted to |A-B|/(A+B) of 0.3 over a dozen comparisons.
    scarce = (
        x
        if chances.get(x, 0) < chances.get(y, 0)
        else (y if chances.get(y, 0) < chances.get(x, 0) else None)
    )

    def cost(skew_x_after: int, skew_y_after: int) -> tuple[int, int, int]:
        scarce_skew = abs(skew_x_after) if scarce == x else abs(skew_y_after) if scarce == y else 0
        return (
            abs(skew_x_after) + abs(skew_y_after),
            max(abs(skew_x_after), abs(skew_y_after)),
            scarce_skew,
        )

    x_first = cost(skew_x + 1, skew_y - 1)
    y_first = cost(skew_x - 1, skew_y + 1)
    if pair.mode is GenerationMode.RESAMPLING:
        # Complete the pair's missing orientation (AB seen, so BA now), unless that leaves an
        # essay leaning harder than the other orientation would.
        key = (x, y) if x <= y else (y, x)
        lo_first, hi_first = history.orientations.get(key, (0, 0))
        complement = (
            (key[1], key[0])
            if lo_first and not hi_first
            else (key[0], key[1])
            if hi_first and not lo_first
            else None
        )
        if complement is not None:
            chosen = x_first if complement == (x, y) else y_first
            other = y_first if complement == (x, y) else x_first
            if chosen[1] <= other[1]:
                return complement
    if x_first != y_first:
        return (x, y) if x_first < y_first else (y, x)
    return (x, y) if rng.random() < 0.5 else (y, x)
