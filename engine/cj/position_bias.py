"""Does the judge favour the essay shown first? A Bradley–Terry fit with a position term.

Model: ``P(essay in position A beats essay in position B) = sigmoid(theta_A - theta_B + eta)``.
``eta > 0`` means the first slot helps (the "home advantage" of Hunter 2004; for LLM judges,
position bias). ``eta`` is estimated jointly with the strengths from the A/B orientation of each
comparison, so it stays honest when better essays happen to sit in A more often. The strengths
carry the same ``alpha`` penalty as ``fit_bradley_terry`` so the fit exists on any data; ``eta``
itself is unpenalised, and when every judgement went to the same slot it is reported as
unbounded (``+inf`` or ``-inf``) rather than as a huge number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.cj.portable import sigmoid

__all__ = ["PositionBiasFit", "fit_position_bias"]

FloatArray = NDArray[np.float64]
NEWTON_ITERATIONS_MAX = 200
STEP_TOLERANCE = 1e-10


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionBiasFit:
    eta: float  # log-odds advantage of position A
    eta_se: float
    scores: FloatArray  # strengths net of position, centred
    first_position_win_rate: float | None  # raw share won by position A (None: no data)
    n_comparisons: int
    converged: bool

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.eta)


def fit_position_bias(n_items: int, oriented: ArrayLike, *, alpha: float = 0.01) -> PositionBiasFit:
    """Fit strengths and a first-position advantage.

    ``oriented`` rows are ``(essay_a, essay_b, a_won)``: the item shown first, the item shown
    second, and 1 if the first won (0 if the second did).
    """
    data = np.asarray(oriented, dtype=np.float64)
    if data.size == 0:
        return PositionBiasFit(
            eta=0.0,
            eta_se=math.inf,
            scores=np.zeros(n_items),
            first_position_win_rate=None,
            n_comparisons=0,
            converged=True,
        )
    if data.ndim != 2 or data.shape[1] != 3:
        raise ValueError(f"oriented comparisons must be (a, b, a_won) rows, got shape {data.shape}")
    a, b, a_won = data[:, 0].astype(np.int64), data[:, 1].astype(np.int64), data[:, 2]
    if np.any((a < 0) | (a >= n_items) | (b < 0) | (b >= n_items)):
        raise ValueError(f"an oriented comparison names an item outside 0..{n_items - 1}")
    if np.any(a == b):
        raise ValueError("an oriented comparison compares an item with itself")
    if not np.all((a_won == 0) | (a_won == 1)):
        raise ValueError("a_won must be 0 or 1")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0 for the position fit, got {alpha}")
    win_rate = float(a_won.mean())
    if win_rate in (0.0, 1.0):
        eta = math.inf if win_rate == 1.0 else -math.inf
        return PositionBiasFit(
            eta=eta,
            eta_se=math.inf,
            scores=np.zeros(n_items),
            first_position_win_rate=win_rate,
            n_comparisons=int(a.size),
            converged=True,
        )

    n = n_items
    penalty = alpha * n
    # Parameters: theta (n) then eta. Dense Newton: this is a diagnostic on batch-sized nets.
    params = np.zeros(n + 1)
    converged = False
    for _ in range(NEWTON_ITERATIONS_MAX):
        theta, eta = params[:n], params[n]
        p = sigmoid(theta[a] - theta[b] + eta)
        residual = a_won - p
        weights = p * (1.0 - p)
        gradient = np.zeros(n + 1)
        gradient[:n] = np.bincount(a, residual, n) - np.bincount(b, residual, n)
        gradient[:n] += penalty * (1.0 - np.exp(theta))
        gradient[n] = residual.sum()
        hessian = _information(n, a, b, weights)
        hessian[np.arange(n), np.arange(n)] += penalty * np.exp(theta)
        step = np.linalg.solve(hessian, gradient)
        if float(np.max(np.abs(step))) > 1.0:
            step = step / float(np.max(np.abs(step)))  # damped far from the optimum
        params = params + step
        if float(np.max(np.abs(step))) < STEP_TOLERANCE:
            converged = True
            break
    theta, eta = params[:n], float(params[n])
    p = sigmoid(theta[a] - theta[b] + eta)
    information = _information(n, a, b, p * (1.0 - p))
    covariance = np.linalg.pinv(information, hermitian=True)
    return PositionBiasFit(
        eta=eta,
        eta_se=float(math.sqrt(max(covariance[n, n], 0.0))),
        scores=theta - theta.mean(),
        first_position_win_rate=win_rate,
        n_comparisons=int(a.size),
        converged=converged,
    )


def _information(
    n: int, a: NDArray[np.int64], b: NDArray[np.int64], weights: FloatArray
) -> FloatArray:
    """Fisher information of the likelihood in (theta, eta): sum w x x^T, x = e_a - e_b + e_eta."""
    information = np.zeros((n + 1, n + 1))
    np.add.at(information, (a, b), -weights)
    np.add.at(information, (b, a), -weights)
    strengths = np.bincount(a, weights, n) + np.bincount(b, weights, n)
    information[np.arange(n), np.arange(n)] += strengths
    cross = np.bincount(a, weights, n) - np.bincount(b, weights, n)
    information[:n, n] = cross
    information[n, :n] = cross
    information[n, n] = weights.sum()
    return information
