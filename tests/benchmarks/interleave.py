"""Interleaved measurement: every side of a goal is timed in every round, so that the load of a
shared machine falls on each side alike.

Theory of operation. Timing a reference for a minute and then its subject for a minute lets a
neighbour's job land on one of them only, and the ratio of the two medians moves with it (the
same goal measured 47x and 14x in two runs on a busy 2-core machine). Here one round runs each
side once, back to back, and the order reverses from one round to the next (AB BA AB ...), so a
load that grows or fades during a round favours neither side over the rounds. A goal is judged
by the median of its per-round ratios (``tests.benchmarks.goals.judge``): a round spoiled by a
burst of load is one outlier among several, not a shift of a whole side.

pytest-benchmark stays the runner: it times whole rounds (every side together), which is what
its table shows; the per-side times of each round go in ``benchmark.extra_info["rounds"]``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Round:
    """One round: each side's wall time per call and what its (last) call returned."""

    seconds: dict[str, float]
    results: dict[str, object]


def _timed(side: Callable[[], object], iterations: int) -> tuple[float, object]:
    # The previous call's garbage is collected here, outside the timer: a million-object world
    # dropped by one side would otherwise be collected in the middle of the next side's call.
    gc.collect()
    start = time.perf_counter()
    for _ in range(iterations):
        result = side()
    return (time.perf_counter() - start) / iterations, result


def interleave(
    benchmark,
    sides: dict[str, Callable[[], object]],
    *,
    rounds: int,
    warmup_rounds: int,
    iterations: int | dict[str, int] = 1,
) -> list[Round]:
    """Time each of ``sides`` once per round for ``rounds`` rounds, reversing the order every
    round, after ``warmup_rounds`` untimed rounds (imports, caches, first allocations).

    A short side is called ``iterations`` times in a row (a number for every side, or one per
    side) and timed as their mean: one scheduler time slice lost to a neighbour is a few
    milliseconds, the whole of a short call but a small part of a long one; and a short side
    beside a long one then sees the load of a window nearer the long one's.

    A side may use what an earlier side returned in the same or the previous round (the
    analysis benchmarks analyse the latest simulated world): the first round runs the sides in
    the order given, and the warm-up rounds run before it in that order too.
    """
    assert sides, "nothing to measure"
    assert rounds >= 1, rounds
    assert warmup_rounds >= 0, warmup_rounds
    calls = iterations if isinstance(iterations, dict) else dict.fromkeys(sides, iterations)
    assert calls.keys() == sides.keys(), f"iterations {calls} for sides {list(sides)}"
    assert all(n >= 1 for n in calls.values()), calls
    order = list(sides)
    for _ in range(warmup_rounds):
        for name in order:
            sides[name]()
    measured: list[Round] = []

    def one_round() -> None:
        names = order if len(measured) % 2 == 0 else order[::-1]
        seconds: dict[str, float] = {}
        results: dict[str, object] = {}
        for name in names:
            seconds[name], results[name] = _timed(sides[name], calls[name])
        measured.append(Round(seconds=seconds, results=results))

    benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=0)
    # Under --benchmark-disable pytest-benchmark calls one_round once, whatever ``rounds`` says.
    assert measured, "pytest-benchmark ran no round"
    benchmark.extra_info["rounds"] = [
        {name: round(r.seconds[name], 6) for name in order} for r in measured
    ]
    return measured
