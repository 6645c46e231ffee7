"""Bradley–Terry fitting against choix.ilsr_pairwise, the original system's estimator.

Both sides compute the same estimates (alpha = 0.01, the original's setting) on the same data;
standard errors are left out of both, as choix computes none.
"""

from __future__ import annotations

import choix
import numpy as np
import pytest

from engine.cj.scoring import fit_bradley_terry
from tests.benchmarks.goals import ratio
from tests.cj.designs import random_pairs, simulate

SIZES = {"bt_fit_1000x20000": (1000, 20_000), "bt_fit_24x288": (24, 288)}


def _data(n: int, m: int) -> np.ndarray:
    rng = np.random.default_rng(20251201)
    return simulate(rng, rng.normal(0, 1.5, n), random_pairs(rng, n, m))


@pytest.mark.parametrize("pair", sorted(SIZES))
def test_choix_ilsr_pairwise(benchmark, pair):
    ratio(benchmark, pair, "reference")
    n, m = SIZES[pair]
    data = [tuple(row) for row in _data(n, m).tolist()]
    params = benchmark.pedantic(
        choix.ilsr_pairwise, args=(n, data), kwargs={"alpha": 0.01}, rounds=5, warmup_rounds=1
    )
    assert params.shape == (n,)


@pytest.mark.parametrize("pair", sorted(SIZES))
def test_fit_bradley_terry(benchmark, pair):
    ratio(benchmark, pair, "subject")
    n, m = SIZES[pair]
    data = _data(n, m)

    def fit():
        return fit_bradley_terry(n, data, alpha=0.01).scores

    scores = benchmark.pedantic(fit, rounds=20, warmup_rounds=2)
    reference = choix.ilsr_pairwise(n, [tuple(r) for r in data.tolist()], alpha=0.01)
    np.testing.assert_allclose(scores, reference - reference.mean(), atol=1e-6)
