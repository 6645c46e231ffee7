"""Bradley–Terry fitting against choix.ilsr_pairwise, the original system's estimator.

Both sides compute the same estimates (alpha = 0.01, the original's setting) on the same data;
standard errors are left out of both, as choix computes none.
"""

from __future__ import annotations

import choix
import numpy as np
import pytest

from engine.cj.scoring import fit_bradley_terry
from tests.benchmarks.goals import judge_times
from tests.benchmarks.interleave import interleave
from tests.cj.designs import random_pairs, simulate

SIZES = {"bt_fit_1000x20000": (1000, 20_000), "bt_fit_24x288": (24, 288)}
# (rounds, iterations): one choix fit at 1,000 items takes about a second; at 24 items, tens of
# milliseconds, so each side runs ten times a round there (see interleave's ``iterations``).
ROUNDS = {"bt_fit_1000x20000": (7, 1), "bt_fit_24x288": (15, 10)}


def _data(n: int, m: int) -> np.ndarray:
    rng = np.random.default_rng(20251201)
    return simulate(rng, rng.normal(0, 1.5, n), random_pairs(rng, n, m))


@pytest.mark.parametrize("goal", sorted(SIZES))
def test_fit_bradley_terry_against_choix_ilsr_pairwise(benchmark, goal):
    n, m = SIZES[goal]
    data = _data(n, m)
    data_as_tuples = [tuple(row) for row in data.tolist()]
    sides = {
        "choix": lambda: choix.ilsr_pairwise(n, data_as_tuples, alpha=0.01),
        "fit_bradley_terry": lambda: fit_bradley_terry(n, data, alpha=0.01).scores,
    }
    rounds_count, iterations = ROUNDS[goal]
    rounds = interleave(
        benchmark, sides, rounds=rounds_count, warmup_rounds=1, iterations=iterations
    )
    reference, scores = rounds[-1].results["choix"], rounds[-1].results["fit_bradley_terry"]
    np.testing.assert_allclose(scores, reference - reference.mean(), atol=1e-6)
    judge_times(benchmark, goal, rounds, reference="choix", subject="fit_bradley_terry")
