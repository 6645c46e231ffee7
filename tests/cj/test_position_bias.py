"""The position-bias fit recovers a first-slot advantage and reports none where there is none."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.cj.position_bias import fit_position_bias


def _oriented(seed: int, n: int, m: int, eta: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    strengths = rng.normal(0, 1, n)
    a = rng.integers(0, n, m)
    b = rng.integers(0, n - 1, m)
    b = b + (b >= a)
    p_a = 1 / (1 + np.exp(-(strengths[a] - strengths[b] + eta)))
    return np.column_stack([a, b, rng.random(m) < p_a]).astype(float), strengths


@pytest.mark.parametrize("eta", [0.0, 0.4, -0.8])
def test_the_fitted_advantage_is_within_three_standard_errors_of_the_truth(eta):
    data, strengths = _oriented(seed=1, n=24, m=3000, eta=eta)
    fit = fit_position_bias(24, data, alpha=0.001)
    assert fit.converged
    assert abs(fit.eta - eta) < 3 * fit.eta_se
    assert fit.eta_se < 0.1
    assert np.corrcoef(fit.scores, strengths)[0, 1] > 0.95


def test_position_a_winning_everything_is_an_unbounded_advantage():
    data = np.array([[0, 1, 1], [1, 2, 1], [2, 0, 1]], dtype=float)
    fit = fit_position_bias(3, data)
    assert fit.eta == math.inf
    assert not fit.bounded
    assert fit.first_position_win_rate == 1.0


def test_no_comparisons_no_advantage():
    fit = fit_position_bias(4, np.zeros((0, 3)))
    assert fit.eta == 0.0
    assert fit.eta_se == math.inf
    assert fit.first_position_win_rate is None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[0, 0, 1]], "itself"),
        ([[0, 5, 1]], "outside"),
        ([[0, 1, 2]], "0 or 1"),
        ([[0, 1]], "shape"),
    ],
)
def test_bad_rows_are_rejected(rows, message):
    with pytest.raises(ValueError, match=message):
        fit_position_bias(3, np.array(rows, dtype=float))
