"""Bradley–Terry fits: choix's estimates, honest about what the data cannot identify."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from engine.cj.bt_uncertainty import fisher_information
from engine.cj.scoring import InvalidComparisons, ItemStatus, fit_bradley_terry
from tests.cj.designs import choix_scores, design, random_pairs, simulate
from tests.strategies import comparison_designs

TOLERANCE = 1e-6

designs = st.tuples(
    st.sampled_from(["random", "sparse", "dense", "disconnected", "one_sided"]),
    st.integers(min_value=2, max_value=25),
    st.integers(min_value=0, max_value=2**32 - 1),
)


def _size(kind: str, n: int) -> int:
    return {"sparse": n // 2, "dense": 8 * n * n}.get(kind, 3 * n)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(design_args=designs, alpha=st.sampled_from([1e-3, 0.01, 0.1, 1.0]))
def test_estimates_equal_choix_for_every_positive_alpha(design_args, alpha):
    kind, n, seed = design_args
    data = design(kind, n, _size(kind, n), seed)
    fit = fit_bradley_terry(n, data, alpha=alpha)
    assert fit.converged
    assert np.all(np.isfinite(fit.scores))
    np.testing.assert_allclose(fit.scores, choix_scores(n, data, alpha), atol=TOLERANCE, rtol=0)


@settings(max_examples=80, deadline=None)
@given(n=st.integers(min_value=2, max_value=25), seed=st.integers(0, 2**32 - 1))
def test_maximum_likelihood_equals_choix_on_strongly_connected_data(n, seed):
    data = design("dense", n, 6 * n * n, seed)
    fit = fit_bradley_terry(n, data, alpha=0.0)
    assume(fit.strongly_connected)  # rare at this density; the MLE does not exist otherwise
    assert fit.unbounded.sum() == 0
    np.testing.assert_allclose(fit.scores, choix_scores(n, data, 0.0), atol=TOLERANCE, rtol=0)


@settings(max_examples=60, deadline=None)
@given(design_drawn=comparison_designs(rows_max=30), alpha=st.sampled_from([0.01, 0.1, 1.0]))
def test_estimates_equal_choix_on_any_drawn_design(design_drawn, alpha):
    """Designs drawn comparison by comparison: isolated items, repeats, one-sided and split
    graphs arise from the drawing and shrink to the fewest comparisons that break the fit."""
    n, data = design_drawn
    note(f"fit_bradley_terry({n}, np.array({data.tolist()}), alpha={alpha})")
    fit = fit_bradley_terry(n, data, alpha=alpha)
    assert fit.converged
    np.testing.assert_allclose(fit.scores, choix_scores(n, data, alpha), atol=TOLERANCE, rtol=0)


@settings(max_examples=40, deadline=None)
@given(design_drawn=comparison_designs(rows_max=20, strongly_connected=True))
def test_any_strongly_connected_design_has_a_finite_maximum_likelihood_estimate(design_drawn):
    n, data = design_drawn
    note(f"fit_bradley_terry({n}, np.array({data.tolist()}), alpha=0.0)")
    fit = fit_bradley_terry(n, data, alpha=0.0)
    assert fit.strongly_connected
    assert all(s is ItemStatus.ESTIMATED for s in fit.status)
    assert np.all(np.isfinite(fit.scores))
    np.testing.assert_allclose(fit.scores, choix_scores(n, data, 0.0), atol=TOLERANCE, rtol=0)


def _core_plus_dominant_item(seed: int) -> np.ndarray:
    """Items 1..11 meet often with close strengths (strongly connected); item 0 beats five of
    them and never loses."""
    rng = np.random.default_rng(seed)
    core = simulate(rng, rng.normal(0, 0.3, 11), random_pairs(rng, 11, 400)) + 1
    assert fit_bradley_terry(11, core - 1, alpha=0.0).strongly_connected
    dominant = np.array([(0, loser) for loser in range(1, 6)])
    return np.vstack([core, dominant])


def test_a_never_beaten_essay_is_unbounded_above_not_a_huge_number():
    data = _core_plus_dominant_item(seed=3)
    fit = fit_bradley_terry(12, data, alpha=0.0)
    assert not fit.strongly_connected
    assert fit.status[0] is ItemStatus.ABOVE
    assert fit.scores[0] == np.inf
    assert fit.se[0] == 2.0  # no information: capped
    rest = fit.scores[1:]
    assert np.all(np.isfinite(rest))
    assert abs(rest.mean()) < 1e-9
    # The core itself is fitted by maximum likelihood, exactly as choix fits it alone.
    core = data[(data[:, 0] != 0) & (data[:, 1] != 0)] - 1
    np.testing.assert_allclose(rest, choix_scores(11, core, 0.0), atol=TOLERANCE)


def test_a_never_winning_essay_is_unbounded_below():
    data = _core_plus_dominant_item(seed=5)[:, ::-1].copy()  # item 0 now loses everything
    fit = fit_bradley_terry(12, data, alpha=0.0)
    assert fit.status[0] is ItemStatus.BELOW
    assert fit.scores[0] == -np.inf
    assert sum(s is ItemStatus.ESTIMATED for s in fit.status) == 11


def test_separate_components_leave_the_smaller_one_undetermined():
    data = design("disconnected", 10, 300, seed=11)  # items 0-4 and 5-9 never meet
    fit = fit_bradley_terry(10, data, alpha=0.0)
    undetermined = [s is ItemStatus.UNDETERMINED for s in fit.status]
    assert sum(undetermined) == 5
    assert not np.isnan(fit.scores).any()
    assert np.all(fit.se[undetermined] == 2.0)


def test_with_alpha_a_weak_graph_is_fitted_and_flagged():
    data = _core_plus_dominant_item(seed=3)
    fit = fit_bradley_terry(12, data, alpha=0.01)
    assert np.all(np.isfinite(fit.scores))
    assert not fit.strongly_connected
    assert fit.weakly_identified[0]
    assert fit.scores[0] == fit.scores.max()


@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_degenerate_inputs_give_finite_answers(alpha):
    none = fit_bradley_terry(5, [], alpha=alpha)
    assert np.all(none.scores == 0)
    assert none.quality.has_isolated_items
    assert none.quality.comparison_coverage_sparse
    one = fit_bradley_terry(1, [], alpha=alpha)
    assert one.scores.tolist() == [0.0]
    repeated_pairs = np.array([(0, 1)] * 7 + [(1, 0)] * 3)
    repeated = fit_bradley_terry(2, repeated_pairs, alpha=alpha)
    np.testing.assert_allclose(repeated.scores, choix_scores(2, repeated_pairs, alpha), atol=1e-9)
    if alpha == 0:
        assert repeated.scores[0] - repeated.scores[1] == pytest.approx(np.log(7 / 3))
    for fit in (none, one, repeated):
        assert not np.isnan(fit.scores).any()
        assert not np.isnan(fit.se).any()


@pytest.mark.parametrize(
    ("n", "data", "message"),
    [
        (3, [(1, 1)], "compares item 1 with itself"),
        (3, [(0, 3)], "outside 0..2"),
        (3, [(0, -1)], "outside 0..2"),
        (3, [(0, 1, 2)], "shape"),
        (0, [], "n_items must be >= 1"),
        (3, [(0.5, 1)], "integer"),
    ],
)
def test_bad_data_is_rejected_with_a_clear_error(n, data, message):
    with pytest.raises(InvalidComparisons, match=message):
        fit_bradley_terry(n, data)


@pytest.mark.parametrize("alpha", [-0.1, float("nan"), float("inf")])
def test_an_impossible_alpha_is_rejected(alpha):
    with pytest.raises(ValueError, match="alpha"):
        fit_bradley_terry(3, [(0, 1)], alpha=alpha)


def _log_likelihood(theta, data):
    d = theta[data[:, 0]] - theta[data[:, 1]]
    return -np.sum(np.logaddexp(0.0, -d))


def _finite_difference_hessian(theta, data, h=1e-4):
    n = theta.size
    hessian = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            shifted = []
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                t = theta.copy()
                t[i] += si * h
                t[j] += sj * h
                shifted.append(_log_likelihood(t, data))
            hessian[i, j] = (shifted[0] - shifted[1] - shifted[2] + shifted[3]) / (4 * h * h)
    return hessian


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 10), seed=st.integers(0, 2**32 - 1), alpha=st.sampled_from([0.01, 0.1]))
def test_standard_errors_match_a_finite_difference_hessian(n, seed, alpha):
    data = design("random", n, 12 * n, seed)
    fit = fit_bradley_terry(n, data, alpha=alpha)
    hessian = _finite_difference_hessian(fit.scores, data)
    covariance = np.linalg.pinv(-hessian, rtol=1e-6, hermitian=True)  # drop the null direction
    expected = np.sqrt(np.clip(np.diag(covariance), 0, None))
    informed = fit.graph.comparisons_per_item > 0
    np.testing.assert_allclose(fit.se_uncapped[informed], expected[informed], rtol=1e-3)


def test_a_reference_item_has_zero_se_and_gauges_agree_on_contrasts():
    rng = np.random.default_rng(2)
    data = simulate(rng, rng.normal(0, 1, 8), random_pairs(rng, 8, 200))
    fit = fit_bradley_terry(8, data)
    reference = 7
    relative = fit.standard_errors(reference=reference, cap=np.inf)
    assert relative[reference] == 0
    covariance = np.linalg.pinv(fisher_information(fit.graph, fit.scores, fit.estimated))
    for item in range(7):
        contrast = covariance[item, item] + covariance[7, 7] - 2 * covariance[item, 7]
        assert relative[item] == pytest.approx(np.sqrt(contrast), rel=1e-8)


def test_standard_errors_are_capped_at_two_as_the_original_did():
    fit = fit_bradley_terry(3, [(0, 1), (1, 2)], alpha=0.01)
    # a chain of two comparisons pins nobody down: every uncapped SE is over two, all capped
    assert fit.se_uncapped.min() > 2.0
    assert fit.se.tolist() == [2.0, 2.0, 2.0]
    assert fit.quality.items_at_cap == 3
    assert fit.quality.bt_se_inflated


def test_reliability_is_high_for_a_well_measured_spread_and_low_for_coin_tosses():
    rng = np.random.default_rng(4)
    n = 30
    pairs = random_pairs(rng, n, 40 * n)
    separated = fit_bradley_terry(n, simulate(rng, np.linspace(-3, 3, n), pairs))
    coin = fit_bradley_terry(n, simulate(rng, np.zeros(n), pairs))
    assert separated.ssr > 0.9
    assert coin.ssr < 0.3
    assert separated.quality.separation > 3


def test_se_summary_and_flags_have_the_original_fields():
    fit = fit_bradley_terry(4, [(0, 1), (1, 2), (2, 0), (0, 1)])
    assert set(fit.quality.se_summary()) == {
        "mean_se",
        "max_se",
        "min_se",
        "item_count",
        "comparison_count",
        "items_at_cap",
        "isolated_items",
        "mean_comparisons_per_item",
        "min_comparisons_per_item",
        "max_comparisons_per_item",
    }
    assert fit.quality.flags() == {
        "bt_se_inflated": True,
        "comparison_coverage_sparse": False,
        "has_isolated_items": True,
    }


def test_large_nets_still_match_choix():
    data = design("random", 400, 6000, seed=8)
    fit = fit_bradley_terry(400, data, alpha=0.01)
    np.testing.assert_allclose(fit.scores, choix_scores(400, data, 0.01), atol=TOLERANCE)


@pytest.mark.parametrize(("n", "m", "seed"), [(24, 288, 1), (300, 4000, 3), (500, 6000, 2)])
def test_standard_errors_equal_the_dense_inverse(n, m, seed):
    """Standard errors (by Cholesky from 400 items up) are the general inverse's, to 1e-9."""
    rng = np.random.default_rng(seed)
    data = simulate(rng, rng.normal(0, 1.5, n), random_pairs(rng, n, m))
    fit = fit_bradley_terry(n, data, alpha=0.01)
    information = fisher_information(fit.graph, fit.scores, fit.estimated)
    variances = np.diag(np.linalg.inv(information + 1.0 / n)) - 1.0 / n
    np.testing.assert_allclose(fit.se_uncapped, np.sqrt(variances), rtol=0, atol=1e-9)


def test_a_small_fit_matches_choix_without_any_dense_solve(monkeypatch):
    """Every Newton step is by conjugate gradients: no LAPACK solve, whatever the size."""

    def refuse(*args, **kwargs):
        raise AssertionError("a dense LAPACK solve on the fit's path")

    monkeypatch.setattr(np.linalg, "solve", refuse)
    monkeypatch.setattr(np.linalg, "inv", refuse)
    data = design("random", 24, 288, seed=4)
    fit = fit_bradley_terry(24, data, alpha=0.01)
    np.testing.assert_allclose(fit.scores, choix_scores(24, data, 0.01), atol=TOLERANCE)
