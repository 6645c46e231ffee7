"""Bradley–Terry scores from pairwise comparisons: choix's estimates, by Newton's method.

Theory of operation. The original system scored with ``choix.ilsr_pairwise(n, data, alpha)``.
I-LSR's fixed point is the stationary distribution ``pi`` (normalised to sum ``n``) of a Markov
chain whose rate from loser to winner is ``alpha + sum 1/(pi_w + pi_l)``. Writing out global
balance at that fixed point gives, with ``theta = log pi``,

    wins_i - expected_wins_i(theta) = alpha * n * (exp(theta_i) - 1)

which is exactly the stationarity condition of the strictly concave objective

    G(theta) = loglik(theta) + alpha * n * sum_i (theta_i - exp(theta_i)).

(Summing the condition over items forces ``sum exp(theta) = n``, choix's normalisation.) So
instead of iterating dense n x n spectral solves over a Python loop of comparisons, we maximise G
by damped Newton on the unique pairs, each step by Jacobi-preconditioned conjugate gradients on
the sparse weighted Laplacian, with no BLAS on the way (``engine.cj.portable``: the same bits
on every machine and thread count). Centred, the result equals
choix's to within its own convergence tolerance, for every ``alpha > 0`` on any data, and for
``alpha == 0`` (plain maximum likelihood) wherever the win graph is strongly connected.

With ``alpha == 0`` on a graph that is not strongly connected the estimate does not exist. We fit
the largest strongly connected component and report every other item as unbounded: ``+inf``
when it sits above the core (it beat its way there and was never beaten back), ``-inf`` below,
and ``0.0`` with an infinite standard error when the data cannot place it at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.cj.bt_uncertainty import QualityReport, quality_report, standard_errors
from engine.cj.comparison_graph import ComparisonGraph, InvalidComparisons
from engine.cj.portable import dot, norm, sigmoid

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = [
    "BradleyTerryFit",
    "InvalidComparisons",
    "ItemStatus",
    "fit_bradley_terry",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

NEWTON_ITERATIONS_MAX = 100
STEP_TOLERANCE = 1e-11
GRADIENT_TOLERANCE = 1e-10  # in expected-wins units: far below any real data's resolution
#: From this many items a Newton step multiplies by scipy's CSR matrix (``_RowProduct``).
SCIPY_PRODUCT_MIN_ITEMS = 200
TRUSTED_STEP = 0.5  # a Newton step no longer than this (log-strength) skips the line search
SE_CAP = 2.0  # the original system capped standard errors here


class ItemStatus(StrEnum):
    ESTIMATED = "estimated"
    ABOVE = "unbounded_above"  # alpha=0 only: beats the core, never beaten back
    BELOW = "unbounded_below"  # alpha=0 only: beaten by the core, never beats back
    UNDETERMINED = "undetermined"  # alpha=0 only: no path to or from the core


@dataclass(frozen=True)
class _Solution:
    theta: FloatArray
    iterations: int
    converged: bool


class BradleyTerryFit:
    """A fitted scale. Scores are log-strengths centred to mean 0 over the estimated items."""

    def __init__(
        self,
        graph: ComparisonGraph,
        scores: FloatArray,
        status: tuple[ItemStatus, ...],
        *,
        alpha: float,
        iterations: int,
        converged: bool,
    ) -> None:
        self.graph = graph
        self.scores = scores
        self.status = status
        self.alpha = alpha
        self.iterations = iterations
        self.converged = converged

    @property
    def n_items(self) -> int:
        return self.graph.n_items

    @property
    def n_comparisons(self) -> int:
        return self.graph.n_comparisons

    @property
    def strongly_connected(self) -> bool:
        return self.graph.strongly_connected

    @cached_property
    def estimated(self) -> NDArray[np.bool_]:
        return np.array([s is ItemStatus.ESTIMATED for s in self.status], dtype=np.bool_)

    @property
    def unbounded(self) -> NDArray[np.bool_]:
        """Items without a finite maximum-likelihood score (only ever set when alpha == 0)."""
        return ~self.estimated

    @property
    def weakly_identified(self) -> NDArray[np.bool_]:
        """Items outside the core strongly connected component (fitted only thanks to alpha)."""
        return ~self.graph.core

    @property
    def isolated(self) -> NDArray[np.bool_]:
        isolated: NDArray[np.bool_] = np.equal(self.graph.comparisons_per_item, 0)
        return isolated

    @cached_property
    def se_uncapped(self) -> FloatArray:
        """Standard errors from the Fisher information, sum-to-zero gauge, not capped."""
        return standard_errors(self.graph, self.scores, self.estimated)

    @cached_property
    def se(self) -> FloatArray:
        """Standard errors capped at 2.0, as the original reported them."""
        return np.minimum(self.se_uncapped, SE_CAP)

    def standard_errors(self, *, reference: int | None = None, cap: float = SE_CAP) -> FloatArray:
        """Standard errors in the sum-to-zero gauge, or relative to a ``reference`` item (whose
        SE is then 0: the original used the last anchor), capped at ``cap``."""
        raw = standard_errors(self.graph, self.scores, self.estimated, reference=reference)
        return np.minimum(raw, cap)

    @cached_property
    def quality(self) -> QualityReport:
        return quality_report(self.graph, self.scores, self.estimated, self.se, self.se_uncapped)

    @property
    def ssr(self) -> float | None:
        """Scale separation reliability (None when the scale has no spread to measure)."""
        return self.quality.ssr

    def __repr__(self) -> str:
        return (
            f"<BradleyTerryFit n_items={self.n_items} n_comparisons={self.n_comparisons} "
            f"alpha={self.alpha} converged={self.converged} iterations={self.iterations}>"
        )


def fit_bradley_terry(
    n_items: int,
    comparisons: ArrayLike,
    *,
    alpha: float = 0.01,
    initial: ArrayLike | None = None,
) -> BradleyTerryFit:
    """Fit Bradley–Terry log-strengths to ``(winner, loser)`` index pairs.

    Returns the estimates ``choix.ilsr_pairwise(n_items, comparisons, alpha=alpha)`` returns
    (centred), without looping over comparisons in Python. Raises ``InvalidComparisons`` for
    data that is not a tournament (self-comparisons, indices out of range) and ``ValueError``
    for a negative or non-finite ``alpha``. ``initial`` (log-strengths, e.g. the previous
    wave's fit) only shortens the path: the optimum is unique, and the answer is the same.
    """
    if not (isinstance(alpha, int | float) and math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    graph = ComparisonGraph.from_pairs(n_items, comparisons)
    n = graph.n_items
    if alpha > 0 or graph.strongly_connected:
        lo, hi, met, lo_won = graph.edges
        start = _initial(initial, n, alpha)
        solution = _maximise(
            n, lo, hi, met, lo_won, graph.wins, penalty=float(alpha) * n, start=start
        )
        scores = solution.theta - solution.theta.mean()
        status = (ItemStatus.ESTIMATED,) * n
        return BradleyTerryFit(
            graph,
            scores,
            status,
            alpha=float(alpha),
            iterations=solution.iterations,
            converged=solution.converged,
        )
    return _fit_core_only(graph)


def _fit_core_only(graph: ComparisonGraph) -> BradleyTerryFit:
    """Maximum likelihood on the core strongly connected component; the rest unbounded."""
    core = graph.core
    members = np.flatnonzero(core)
    scores = np.zeros(graph.n_items)
    iterations, converged = 0, True
    if members.size > 1:
        position = np.full(graph.n_items, -1, dtype=np.int64)
        position[members] = np.arange(members.size)
        inside = core[graph.winners] & core[graph.losers]
        sub = ComparisonGraph.from_pairs(
            int(members.size),
            np.column_stack([position[graph.winners[inside]], position[graph.losers[inside]]]),
        )
        lo, hi, met, lo_won = sub.edges
        solution = _maximise(sub.n_items, lo, hi, met, lo_won, sub.wins, penalty=0.0)
        scores[members] = solution.theta - solution.theta.mean()
        iterations, converged = solution.iterations, solution.converged
    above = graph.reachable_from(core, along="losses") & ~core
    below = graph.reachable_from(core, along="wins") & ~core
    status = []
    for item in range(graph.n_items):
        if core[item]:
            status.append(ItemStatus.ESTIMATED)
        elif above[item]:
            status.append(ItemStatus.ABOVE)
            scores[item] = np.inf
        elif below[item]:
            status.append(ItemStatus.BELOW)
            scores[item] = -np.inf
        else:
            status.append(ItemStatus.UNDETERMINED)
    return BradleyTerryFit(
        graph, scores, tuple(status), alpha=0.0, iterations=iterations, converged=converged
    )


def _objective(
    theta: FloatArray,
    lo: IntArray,
    hi: IntArray,
    met: FloatArray,
    lo_won: FloatArray,
    penalty: float,
) -> float:
    d = theta[lo] - theta[hi]
    value = dot(lo_won, d) - dot(met, np.logaddexp(0.0, d))
    if penalty:
        value += penalty * float(np.sum(theta - np.exp(theta)))
    return value


def _initial(initial: ArrayLike | None, n: int, alpha: float) -> FloatArray | None:
    """A usable starting point, or None. With a penalty the optimum satisfies
    ``sum(exp(theta)) = n``, so a centred start is shifted onto that surface."""
    if initial is None:
        return None
    start = np.asarray(initial, dtype=np.float64)
    if start.shape != (n,) or not np.all(np.isfinite(start)):
        return None
    if alpha > 0:
        start = start - np.log(np.mean(np.exp(start)))
    return start


def _maximise(
    n: int,
    lo: IntArray,
    hi: IntArray,
    met: FloatArray,
    lo_won: FloatArray,
    wins: FloatArray,
    *,
    penalty: float,
    start: FloatArray | None = None,
) -> _Solution:
    """Damped Newton ascent on G. With ``penalty == 0`` the Hessian is singular along the
    all-ones direction; adding ``J/n`` pins the step to sum zero without changing it otherwise."""
    theta = np.zeros(n) if start is None else start.copy()
    if n == 1 or (lo.size == 0 and penalty == 0):
        return _Solution(np.zeros(n), 0, True)
    system = _NewtonSystem(n, lo, hi, gauge=penalty == 0.0)
    value: float | None = None
    for iteration in range(1, NEWTON_ITERATIONS_MAX + 1):
        p = sigmoid(theta[lo] - theta[hi])  # P(lo beats hi)
        q = 1.0 - p
        weights = met * p * q
        expected = np.bincount(lo, met * p, n) + np.bincount(hi, met * q, n)
        gradient: FloatArray = wins - expected
        diagonal = (np.bincount(lo, weights, n) + np.bincount(hi, weights, n)).astype(np.float64)
        if penalty:
            strength = np.exp(theta)
            gradient += penalty * (1.0 - strength)
            diagonal += penalty * strength
        if float(np.abs(gradient).max()) < GRADIENT_TOLERANCE:
            return _Solution(theta, iteration, True)
        # Inexact Newton: loose solves far from the optimum, exact ones near it.
        rtol = min(1e-2, max(1e-13, dot(gradient, gradient)))
        step = system.solve(weights, diagonal, gradient, rtol=rtol)
        if float(np.abs(step).max()) > TRUSTED_STEP:
            # Far from the optimum the quadratic model may overshoot: backtrack (Armijo). G is
            # strictly concave, so a short enough step along the Newton direction always climbs.
            if value is None:
                value = _objective(theta, lo, hi, met, lo_won, penalty)
            slope = dot(gradient, step)
            scale = 1.0
            while True:
                candidate = theta + scale * step
                candidate_value = _objective(candidate, lo, hi, met, lo_won, penalty)
                if candidate_value >= value + 1e-4 * scale * slope or scale < 1e-10:
                    break
                scale *= 0.5
            step = scale * step
            value = candidate_value
        else:
            value = None
        theta = theta + step
        if float(np.abs(step).max()) < STEP_TOLERANCE:
            return _Solution(theta, iteration, True)
    return _Solution(theta, NEWTON_ITERATIONS_MAX, False)


class _NewtonSystem:
    """Solves ``(weighted Laplacian + diag [+ J/n]) x = b`` by Jacobi-preconditioned conjugate
    gradients, on a matrix whose sparsity pattern is built once per fit.

    Never a dense LAPACK solve, whatever the size: its rounding depends on the BLAS thread
    count and CPU kernel, and CG's products and sums here have one order on every machine
    (``engine.cj.portable``). It is also faster from about 100 items up (a 300-item fit took
    20 ms dense against 3 ms by CG)."""

    def __init__(self, n: int, lo: IntArray, hi: IntArray, *, gauge: bool) -> None:
        self.n, self.gauge = n, gauge
        self.product = _laplacian_product(n, lo, hi)

    def solve(
        self, weights: FloatArray, diagonal: FloatArray, b: FloatArray, *, rtol: float
    ) -> FloatArray:
        shift = 1.0 / self.n if self.gauge else 0.0
        multiply = self.product.with_values(np.concatenate([-weights, -weights, diagonal]))

        def apply(v: FloatArray) -> FloatArray:
            out = multiply(v)
            if shift:
                out += shift * float(np.add.reduce(v))
            return out

        return _conjugate_gradients(apply, b, 1.0 / (diagonal + shift), rtol=rtol)


class _RowProduct:
    """``M @ v`` for a sparse matrix given as (edge, edge, diagonal) entries of a fixed pattern,
    summed row by row in column order. scipy's CSR product from ``SCIPY_PRODUCT_MIN_ITEMS``
    items up, where it is two to three times faster; below, numpy's segment sums, so that a
    small run never imports scipy.sparse (0.1-0.3 s of its start). Both are loops without BLAS,
    and which one runs depends on the size alone."""

    def __init__(self, n: int, rows: IntArray, cols: IntArray) -> None:
        self.order = np.lexsort((cols, rows))
        self.cols = cols[self.order]
        # Where each row's entries begin and end in ``order`` (CSR's row pointer).
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
        self.starts = indptr[:-1]
        self.matrix: csr_matrix | None = None
        if n >= SCIPY_PRODUCT_MIN_ITEMS:
            from scipy.sparse import csr_matrix

            self.matrix = csr_matrix((np.zeros(rows.size), self.cols, indptr), shape=(n, n))

    def with_values(self, values: FloatArray) -> Callable[[FloatArray], FloatArray]:
        data = values[self.order]
        matrix = self.matrix
        if matrix is not None:
            matrix.data = data

            def by_scipy(v: FloatArray) -> FloatArray:
                out: FloatArray = matrix @ v
                return out

            return by_scipy
        cols, starts = self.cols, self.starts

        def by_segments(v: FloatArray) -> FloatArray:
            out: FloatArray = np.add.reduceat(data * v[cols], starts)
            return out

        return by_segments


def _laplacian_product(n: int, lo: IntArray, hi: IntArray) -> _RowProduct:
    diagonal = np.arange(n)
    return _RowProduct(n, np.concatenate([lo, hi, diagonal]), np.concatenate([hi, lo, diagonal]))


def _conjugate_gradients(
    apply: Callable[[FloatArray], FloatArray],
    b: FloatArray,
    inverse_diagonal: FloatArray,
    *,
    rtol: float,
    iterations_max: int = 5000,
) -> FloatArray:
    """Jacobi-preconditioned CG for a symmetric positive definite operator."""
    x = np.zeros_like(b)
    residual = b.copy()
    z = inverse_diagonal * residual
    direction = z.copy()
    rz = dot(residual, z)
    threshold = rtol * norm(b)
    for _ in range(iterations_max):
        if norm(residual) <= threshold:
            break
        applied = apply(direction)
        step = rz / dot(direction, applied)
        x += step * direction
        residual -= step * applied
        z = inverse_diagonal * residual
        rz_next = dot(residual, z)
        direction = z + (rz_next / rz) * direction
        rz = rz_next
    return x
