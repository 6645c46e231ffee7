"""The performance goals, each a ratio of a subject against its reference (see conftest)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Goal:
    min_ratio: float
    description: str


GOALS = {
    "runtime_steps": Goal(
        0.6, "SimRuntime coroutine sleeps/s vs bare SimPy timeouts/s, same step count"
    ),
}


def ratio(benchmark, pair: str, role: str) -> None:
    """Mark a benchmark as the ``role`` ("reference" or "subject") of goal ``pair``."""
    assert pair in GOALS, f"unknown goal {pair!r}"
    assert role in ("reference", "subject"), role
    benchmark.group = pair
    benchmark.extra_info.update(pair=pair, role=role)
