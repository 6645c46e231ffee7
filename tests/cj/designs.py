"""Comparison designs for scoring tests, and choix as the reference estimator."""

from __future__ import annotations

import warnings

import choix
import numpy as np


def simulate(rng: np.random.Generator, strengths: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(winner, loser) rows for the given (i, j) pairs under Bradley–Terry strengths."""
    if pairs.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    i, j = pairs[:, 0], pairs[:, 1]
    p_i = 1.0 / (1.0 + np.exp(-(strengths[i] - strengths[j])))
    i_won = rng.random(len(pairs)) < p_i
    return np.column_stack([np.where(i_won, i, j), np.where(i_won, j, i)])


def random_pairs(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    i = rng.integers(0, n, m)
    j = rng.integers(0, n - 1, m)
    return np.column_stack([i, j + (j >= i)])


def design(kind: str, n: int, m: int, seed: int) -> np.ndarray:
    """A comparison design of one of the shapes that trouble estimators."""
    rng = np.random.default_rng(seed)
    strengths = rng.normal(0.0, 1.5, n)
    if kind == "disconnected" and n >= 4:
        half = n // 2
        left = random_pairs(rng, half, m // 2)
        right = random_pairs(rng, n - half, m - m // 2) + half
        return simulate(rng, strengths, np.vstack([left, right]))
    data = simulate(rng, strengths, random_pairs(rng, n, m))
    if kind == "one_sided" and len(data):
        # Item 0 wins every comparison it takes part in: its MLE is +infinity.
        involved = (data[:, 0] == 0) | (data[:, 1] == 0)
        other = np.where(data[involved, 0] == 0, data[involved, 1], data[involved, 0])
        data[involved] = np.column_stack([np.zeros_like(other), other])
    return data


def choix_scores(n: int, data: np.ndarray, alpha: float) -> np.ndarray:
    """choix.ilsr_pairwise, centred; given more iterations if its default 100 do not converge
    (the fixed point is the same, it only takes longer to reach)."""
    pairs = [tuple(row) for row in data.tolist()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            params = choix.ilsr_pairwise(n, pairs, alpha=alpha)
        except RuntimeError:
            params = choix.ilsr_pairwise(n, pairs, alpha=alpha, max_iter=100_000)
    return params - params.mean()
