"""What a sweep says: per arm, each figure's mean with a 95% bootstrap interval; per pair of
arms, the paired difference over their common seeds, with its interval and how many seeds went
each way.

Theory of operation. A seed is a draw of everything the seed decides (the cohort's qualities,
the judge's answers, the faults' timing); comparing two arms seed by seed takes those out of
the difference, which is why the pairs are matched on seed and compared within a scenario.
Intervals are percentile bootstraps (``RESAMPLES`` resamples of the seeds), each from its own
generator seeded by a digest of the sweep, scenario, arms and figure: the same rows give the
same table in any process. Values are rounded (``DIGITS``) before they are shown, so a last-bit
difference in a sum cannot change a printed figure. Only runs whose figure is a number count:
a crashed run, or a figure a run does not report, is left out, and ``n`` says how many counted.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ArmFigure", "PairedFigure", "arm_figures", "paired_figures", "summary_lines"]

RESAMPLES = 2_000
CONFIDENCE = 0.95
DIGITS = 6


@dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    mean: float
    low: float
    high: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ArmFigure:
    scenario: str
    arm: str
    figure: str
    n: int
    interval: Interval | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PairedFigure:
    """``second - first`` over the seeds both arms ran, with how many seeds went each way."""

    scenario: str
    first: str
    second: str
    figure: str
    n: int
    interval: Interval | None
    higher: int
    lower: int
    equal: int


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _generator(*names: str) -> np.random.Generator:
    digest = hashlib.blake2b("\x1f".join(names).encode(), digest_size=8).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "big")))


def bootstrap(values: Sequence[float], *names: str) -> Interval | None:
    """The mean and its percentile bootstrap interval; none for no values."""
    if not values:
        return None
    data = np.asarray(values, dtype=np.float64)
    mean = float(np.mean(data))
    if len(data) == 1:
        return Interval(mean=round(mean, DIGITS), low=round(mean, DIGITS), high=round(mean, DIGITS))
    rng = _generator(*names)
    picks = rng.integers(0, len(data), size=(RESAMPLES, len(data)))
    means = np.sort(data[picks].mean(axis=1))
    tail = (1 - CONFIDENCE) / 2
    low = float(np.quantile(means, tail))
    high = float(np.quantile(means, 1 - tail))
    return Interval(mean=round(mean, DIGITS), low=round(low, DIGITS), high=round(high, DIGITS))


def _by_arm(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[int, dict[str, Any]]]:
    """Rows by (scenario file, arm), then by seed. A crashed run has no scenario name, so
    arms are keyed by the scenario's file, which every row has."""
    grouped: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["scenario_file"], row["arm"]), {})[row["seed"]] = row
    return grouped


def arm_figures(
    rows: Sequence[dict[str, Any]], figures: Sequence[str], sweep: str
) -> list[ArmFigure]:
    result = []
    for (scenario, arm), by_seed in sorted(_by_arm(rows).items()):
        for figure in figures:
            values = [
                number
                for seed in sorted(by_seed)
                if (number := _number(by_seed[seed].get(figure))) is not None
            ]
            result.append(
                ArmFigure(
                    scenario=scenario,
                    arm=arm,
                    figure=figure,
                    n=len(values),
                    interval=bootstrap(values, sweep, scenario, arm, figure),
                )
            )
    return result


def paired_figures(
    rows: Sequence[dict[str, Any]],
    figures: Sequence[str],
    sweep: str,
    *,
    compare: str | None,
) -> list[PairedFigure]:
    """For every pair of arms of a scenario (with ``compare``, only pairs that differ in that
    axis alone), each figure's paired difference over the seeds where both have it."""
    grouped = _by_arm(rows)
    axes = {
        (row["scenario_file"], row["arm"]): {k: v for k, v in row.items() if k.startswith("axis.")}
        for row in rows
    }
    result = []
    for (scenario, first), (other, second) in itertools.combinations(sorted(grouped), 2):
        if other != scenario or not _compared(
            axes[(scenario, first)], axes[(other, second)], compare
        ):
            continue
        a, b = grouped[(scenario, first)], grouped[(scenario, second)]
        for figure in figures:
            differences = []
            for seed in sorted(a.keys() & b.keys()):
                x, y = _number(a[seed].get(figure)), _number(b[seed].get(figure))
                if x is not None and y is not None:
                    differences.append(y - x)
            result.append(
                PairedFigure(
                    scenario=scenario,
                    first=first,
                    second=second,
                    figure=figure,
                    n=len(differences),
                    interval=bootstrap(differences, sweep, scenario, first, second, figure),
                    higher=sum(d > 0 for d in differences),
                    lower=sum(d < 0 for d in differences),
                    equal=sum(d == 0 for d in differences),
                )
            )
    return result


def _compared(first: dict[str, Any], second: dict[str, Any], compare: str | None) -> bool:
    if compare is None:
        return True
    axis = f"axis.{compare}"
    differing = {k for k in first.keys() | second.keys() if first.get(k) != second.get(k)}
    return differing == {axis}


def _shown(interval: Interval | None) -> str:
    if interval is None:
        return "n/a"
    return f"{interval.mean:.4g} [{interval.low:.4g}, {interval.high:.4g}]"


def summary_lines(arms: Sequence[ArmFigure], pairs: Sequence[PairedFigure]) -> list[str]:
    """The printed table: figure by figure, each arm's mean [95% CI], then each pair's paired
    difference [95% CI] and how many seeds went up, down or stayed."""
    lines: list[str] = []
    figures = list(dict.fromkeys(item.figure for item in arms))
    for figure in figures:
        lines.append(f"{figure}")
        rows = [("  scenario", "arm", "n", "mean [95% CI]")]
        rows += [
            (f"  {item.scenario}", item.arm, str(item.n), _shown(item.interval))
            for item in arms
            if item.figure == figure
        ]
        rows += [
            (
                f"  {item.scenario}",
                f"{item.second} - {item.first}",
                str(item.n),
                f"{_shown(item.interval)}  up {item.higher}, down {item.lower}, same {item.equal}",
            )
            for item in pairs
            if item.figure == figure
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
        lines.append("")
    return lines
