"""How sure a Bradley–Terry scale is: standard errors, quality flags, reliability.

The Fisher information of the log-likelihood is the weighted Laplacian of the comparison graph,
``I = sum_k p_k (1 - p_k) (e_w - e_l)(e_w - e_l)^T``. It is singular along every component's
all-ones direction (only differences are identified), so standard errors need a gauge:

* sum-to-zero (the default): the Moore–Penrose pseudo-inverse. Per connected component ``C``,
  ``I_C^+ = (I_C + J/|C|)^-1 - J/|C|``, which avoids an SVD;
* reference item (the original system's choice, the last anchor): drop that item's row and
  column and invert the rest; the reference's own SE is 0.

Contrasts ``Var(theta_i - theta_j)`` are the same in both gauges.

Scale separation reliability (Rasch separation reliability; eRm's ``SepRel``),
``SSR = (var(theta) - mean(se^2)) / var(theta)``, is the share of observed score variance that
is not measurement error. The original system reported none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.cj.comparison_graph import ComparisonGraph
from engine.cj.portable import sigmoid

__all__ = [
    "QualityReport",
    "coverage_flags",
    "fisher_information",
    "quality_report",
    "standard_errors",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

# The original's quality thresholds (diagnostic only: they never block a batch).
SE_MEAN_INFLATED = 0.4
SE_MAX_INFLATED = 0.8
SPARSE_COMPARISONS_PER_ITEM = 1.0
#: From this many items, standard errors come from a Cholesky inverse (``_inverse_diagonal``).
CHOLESKY_MIN_ITEMS = 400


def fisher_information(
    graph: ComparisonGraph, scores: FloatArray, included: BoolArray
) -> FloatArray:
    """Dense Fisher information over all items, from comparisons between ``included`` items."""
    n = graph.n_items
    lo, hi, met, _ = graph.edges
    keep = included[lo] & included[hi]
    lo, hi, met = lo[keep], hi[keep], met[keep]
    p = sigmoid(scores[lo] - scores[hi])
    weights = met * p * (1.0 - p)
    information = np.zeros((n, n))
    information[lo, hi] = -weights
    information[hi, lo] = -weights
    information[np.diag_indices(n)] = np.bincount(lo, weights, n) + np.bincount(hi, weights, n)
    return information


def standard_errors(
    graph: ComparisonGraph, scores: FloatArray, included: BoolArray, *, reference: int | None = None
) -> FloatArray:
    """Uncapped SEs: ``inf`` for items with no information (isolated or not estimated)."""
    n = graph.n_items
    if reference is not None and not 0 <= reference < n:
        raise ValueError(f"reference item {reference} is outside 0..{n - 1}")
    information = fisher_information(graph, scores, included)
    se = np.full(n, np.inf)
    for members in _informed_components(graph, included):
        # One component of every item (the usual batch) is the whole matrix: no copy to take.
        block = information if members.size == n else information[np.ix_(members, members)]
        if reference is not None and reference in members:
            keep = members != reference
            reduced = block[np.ix_(keep, keep)]
            variances = np.zeros(members.size)
            variances[keep] = np.diag(np.linalg.pinv(reduced, hermitian=True))
        else:
            size = members.size
            variances = _inverse_diagonal(block + 1.0 / size) - 1.0 / size
        se[members] = np.sqrt(np.maximum(variances, 0.0))
    return se


def _inverse_diagonal(matrix: FloatArray) -> FloatArray:
    """The diagonal of a symmetric positive definite matrix's inverse. From
    ``CHOLESKY_MIN_ITEMS`` items up by Cholesky (LAPACK's ``potrf`` then ``potri``): half of
    ``np.linalg.inv``'s cost (1.2 s against 2.9 s at 3,000 items, one thread). Below, ``inv``
    itself: a few milliseconds, where importing scipy.linalg for LAPACK costs 0.1 s. Still
    cubic, which is why a batch computes standard errors once, when it is scored for good, and
    not at every wave. Either way the result goes through LAPACK, so its last bits depend on
    the machine: ``engine.cj.batch_scoring`` quantises it."""
    if matrix.shape[0] >= CHOLESKY_MIN_ITEMS:
        from scipy.linalg.lapack import dpotrf, dpotri

        factor, info = dpotrf(matrix, lower=True, clean=False)
        if info == 0:
            inverse, info = dpotri(factor, lower=True)
            if info == 0:
                return np.asarray(np.diag(inverse)).copy()
    # Small, or not positive definite after all (rounding at the edge): the general way.
    return np.asarray(np.diag(np.linalg.inv(matrix)))


def _informed_components(graph: ComparisonGraph, included: BoolArray) -> list[NDArray[np.int64]]:
    """Connected components of the comparisons between included items (sorted member indices),
    leaving out items that take part in none: they carry no information at all."""
    n = graph.n_items
    informed = graph.comparisons_per_item > 0
    if included.all():
        labels = graph.weak_components  # cached on the graph: no second graph search
        if informed.all() and not labels.any():  # connected, every label is item 0's
            return [np.arange(n)]
    else:  # items left out (alpha == 0 on a broken graph): rare, and the only use of scipy
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        lo, hi, _, _ = graph.edges
        keep = included[lo] & included[hi]
        lo, hi = lo[keep], hi[keep]
        adjacency = coo_matrix((np.ones(lo.size), (lo, hi)), shape=(n, n))
        _, labels = connected_components(adjacency, directed=False)
        informed = np.zeros(n, dtype=bool)
        informed[lo] = True
        informed[hi] = True
    return [np.flatnonzero((labels == label) & informed) for label in np.unique(labels[informed])]


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityReport:
    """The original's ``bt_se_summary`` and ``bt_quality_flags``, plus SSR."""

    mean_se: float
    max_se: float
    min_se: float
    item_count: int
    comparison_count: int
    items_at_cap: int
    isolated_items: int
    mean_comparisons_per_item: float
    min_comparisons_per_item: float
    max_comparisons_per_item: float
    bt_se_inflated: bool
    comparison_coverage_sparse: bool
    has_isolated_items: bool
    ssr: float | None
    separation: float | None

    def se_summary(self) -> dict[str, float | int]:
        return {
            "mean_se": self.mean_se,
            "max_se": self.max_se,
            "min_se": self.min_se,
            "item_count": self.item_count,
            "comparison_count": self.comparison_count,
            "items_at_cap": self.items_at_cap,
            "isolated_items": self.isolated_items,
            "mean_comparisons_per_item": self.mean_comparisons_per_item,
            "min_comparisons_per_item": self.min_comparisons_per_item,
            "max_comparisons_per_item": self.max_comparisons_per_item,
        }

    def flags(self) -> dict[str, bool]:
        return {
            "bt_se_inflated": self.bt_se_inflated,
            "comparison_coverage_sparse": self.comparison_coverage_sparse,
            "has_isolated_items": self.has_isolated_items,
        }


def quality_report(
    graph: ComparisonGraph,
    scores: FloatArray,
    estimated: BoolArray,
    se_capped: FloatArray,
    se_uncapped: FloatArray,
    *,
    se_cap: float = 2.0,
) -> QualityReport:
    per_item = graph.comparisons_per_item
    isolated = per_item == 0
    mean_se = float(se_capped.mean())
    max_se = float(se_capped.max())
    mean_per_item = float(per_item.mean())
    ssr, separation = scale_separation_reliability(scores, se_uncapped, estimated & ~isolated)
    return QualityReport(
        mean_se=mean_se,
        max_se=max_se,
        min_se=float(se_capped.min()),
        item_count=graph.n_items,
        comparison_count=graph.n_comparisons,
        items_at_cap=int(np.count_nonzero(se_capped >= se_cap)),
        isolated_items=int(np.count_nonzero(isolated)),
        mean_comparisons_per_item=mean_per_item,
        min_comparisons_per_item=float(per_item.min()),
        max_comparisons_per_item=float(per_item.max()),
        bt_se_inflated=mean_se > SE_MEAN_INFLATED or max_se > SE_MAX_INFLATED,
        **coverage_flags(graph),
        ssr=ssr,
        separation=separation,
    )


def coverage_flags(graph: ComparisonGraph) -> dict[str, bool]:
    """The quality flags that need no standard errors: what a wave's continuation records
    (standard errors cost a cubic inverse, so only the final scoring computes them)."""
    per_item = graph.comparisons_per_item
    return {
        "comparison_coverage_sparse": float(per_item.mean()) < SPARSE_COMPARISONS_PER_ITEM,
        "has_isolated_items": bool((per_item == 0).any()),
    }


def scale_separation_reliability(
    scores: FloatArray, se: FloatArray, included: BoolArray
) -> tuple[float | None, float | None]:
    """``(SSR, separation G)`` over the included items; ``(None, None)`` without spread.

    SSR can be negative when error exceeds the observed spread; it is reported as it is.
    """
    chosen = included & np.isfinite(scores) & np.isfinite(se)
    if int(chosen.sum()) < 2:
        return None, None
    observed = float(np.var(scores[chosen], ddof=1))
    if observed <= 0:
        return None, None
    ssr = (observed - float(np.mean(se[chosen] ** 2))) / observed
    separation = float(np.sqrt(ssr / (1.0 - ssr))) if 0 <= ssr < 1 else None
    return ssr, separation
