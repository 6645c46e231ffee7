"""Who is Essay A: position balancing (PR 2) and the original's bias, side by side.

LLM judges favour one slot (MT-Bench; Wang et al. 2024), so an essay that always sits in A is
measured with the bias baked in. With balancing on (the default):

* the batch's essays are shuffled deterministically (seeded by batch id and iteration) before
  a wave is planned, so no essay is first in line by accident of its id;
* each pair is oriented by the original's "fair complement" rule: an essay that has been A more
  often than B goes to B (and vice versa); when both lean the same way, the orientation that
  leaves the smaller total skew wins; a true tie is a seeded coin flip (the original fell back
  to id order, which put ``ANCHOR_*`` ids first);
* a resampled pair seen only as AB is sent as BA, and vice versa, before the skew rule applies.

With balancing off (``ENABLE_COMPARISON_POSITION_BALANCING=false``), the original's behaviour:
anchors first in the essay list and every pair keeps list order, so anchors sit in A.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.cj.models import GenerationMode
from engine.cj.pairing import EssayNode, PairHistory, PlannedPair
from engine.randomness import Rng

__all__ = ["OrientedPair", "essay_order", "orient_wave"]


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


def orient_wave(
    planned: Sequence[PlannedPair],
    order: Sequence[EssayNode],
    history: PairHistory,
    *,
    balance: bool,
    rng: Rng,
) -> list[OrientedPair]:
    if not balance:
        rank = {essay.essay_id: index for index, essay in enumerate(order)}
        return [
            OrientedPair(p.first, p.second, p.mode)
            if rank[p.first] < rank[p.second]
            else OrientedPair(p.second, p.first, p.mode)
            for p in planned
        ]
    positions = dict(history.positions)
    oriented = []
    for pair in planned:
        a, b = _choose(pair, positions, history, rng)
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
    rng: Rng,
) -> tuple[str, str]:
    x, y = pair.first, pair.second
    if pair.mode is GenerationMode.RESAMPLING:
        key = (x, y) if x <= y else (y, x)
        lo_first, hi_first = history.orientations.get(key, (0, 0))
        if lo_first and not hi_first:
            return key[1], key[0]
        if hi_first and not lo_first:
            return key[0], key[1]
    skew_x = positions.get(x, (0, 0))[0] - positions.get(x, (0, 0))[1]
    skew_y = positions.get(y, (0, 0))[0] - positions.get(y, (0, 0))[1]
    if skew_x > 0 > skew_y:
        return y, x
    if skew_x < 0 < skew_y:
        return x, y
    x_first = abs(skew_x + 1) + abs(skew_y - 1)
    y_first = abs(skew_x - 1) + abs(skew_y + 1)
    if x_first != y_first:
        return (x, y) if x_first < y_first else (y, x)
    return (x, y) if rng.random() < 0.5 else (y, x)
