"""Bradley–Terry fits at their edges: answers known in closed form or from an independent dense
Newton solve, to 1e-10 rather than choix's 1e-6; the exact number of Newton iterations each fit
reports; every status of a fit without alpha with its minimal input; the alpha check at 0; the
starting point; the SE cap; the solver's two matrix products on either side of their switch
(the survivors of `nox -s mutants`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.cj import scoring
from engine.cj.scoring import ItemStatus, fit_bradley_terry

CLOSE = 1e-10  # the fit stops once every expected-wins gradient is below 1e-10

# Strengths 1 : 2 : 4 exactly: each pair's wins are in the ratio of its strengths, so the
# maximum-likelihood scores are log 2 * (-1, 0, 1).
CONSISTENT = [
    (1, 0),
    (1, 0),
    (0, 1),
    (2, 1),
    (2, 1),
    (1, 2),
    (2, 0),
    (2, 0),
    (2, 0),
    (2, 0),
    (0, 2),
]
SEVEN_THREE = [(0, 1)] * 7 + [(1, 0)] * 3
NINE_ONE = [(0, 1)] * 9 + [(1, 0)]  # far from the start: the first step is cut back
CHAIN = [(0, 1), (1, 2)]  # not strongly connected: only alpha places it
CYCLE = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0), (0, 2), (2, 0), (1, 3), (3, 1), (4, 1)]
SPARSE = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0), (0, 2), (1, 3), (4, 1)]
# Trees of heavy one-sided pairs, on which a full Newton step from 0 overshoots.
BACKTRACKS_THREE_TIMES = [(1, 3)] * 130 + [(2, 0)] * 362 + [(3, 2)] * 19 + [(4, 0)] * 11
BACKTRACKS_ONCE = [(0, 1)] * 164 + [(2, 0)] * 108 + [(3, 1)] * 122
# A line, strongly connected, each essay beating the next 50 to 1: scores stretch to +-5.9.
LOPSIDED_LINE = ([(0, 1)] * 50 + [(1, 0)]) + ([(1, 2)] * 50 + [(2, 1)]) + ([(2, 3)] * 50 + [(3, 2)])


def _reference(n: int, data: list[tuple[int, int]], alpha: float) -> np.ndarray:
    """The optimum of the same objective by plain dense Newton (no line search, no CG, no
    tolerance: 60 full steps), centred."""
    wins_matrix = np.zeros((n, n))
    for winner, loser in data:
        wins_matrix[winner, loser] += 1
    met = wins_matrix + wins_matrix.T
    wins = wins_matrix.sum(axis=1)
    theta = np.zeros(n)
    for _ in range(60):
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
        gradient = wins - (met * p).sum(axis=1) + alpha * n * (1.0 - np.exp(theta))
        hessian = -met * p * (1.0 - p)
        hessian[np.diag_indices(n)] = -hessian.sum(axis=1) + alpha * n * np.exp(theta)
        if alpha == 0:
            hessian += 1.0 / n
        theta = theta + np.linalg.solve(hessian, gradient)
    centred: np.ndarray = theta - theta.mean()
    return centred


# --- the estimates and the Newton iterations it took -----------------------------------------


@pytest.mark.parametrize(
    ("n", "data", "alpha", "iterations"),
    [
        (3, CONSISTENT, 0.0, 5),
        (2, SEVEN_THREE, 0.0, 5),
        (2, SEVEN_THREE, 0.1, 5),
        (2, NINE_ONE, 0.01, 6),
        (3, CHAIN, 0.01, 8),
        (5, CYCLE, 0.0, 5),
        (5, SPARSE, 0.5, 5),
    ],
)
def test_a_fit_reaches_the_optimum_in_a_known_number_of_newton_steps(n, data, alpha, iterations):
    fit = fit_bradley_terry(n, data, alpha=alpha)
    np.testing.assert_allclose(fit.scores, _reference(n, data, alpha), rtol=0, atol=CLOSE)
    assert (fit.iterations, fit.converged) == (iterations, True)
    assert fit.status == (ItemStatus.ESTIMATED,) * n
    assert abs(fit.scores.mean()) < 1e-15


def test_closed_form_answers():
    consistent = fit_bradley_terry(3, CONSISTENT, alpha=0.0)
    log2 = math.log(2)
    np.testing.assert_allclose(consistent.scores, [-log2, 0.0, log2], rtol=0, atol=CLOSE)
    seven_three = fit_bradley_terry(2, SEVEN_THREE, alpha=0.0)
    half = math.log(7 / 3) / 2
    np.testing.assert_allclose(seven_three.scores, [half, -half], rtol=0, atol=1e-15)


def test_a_fit_that_runs_out_of_newton_steps_says_so(monkeypatch):
    """With room for two Newton steps, the fit stops where two single steps, the second started
    from the first's answer, end (without alpha, a start is used as it is)."""
    converged = fit_bradley_terry(5, CYCLE, alpha=0.0)
    monkeypatch.setattr(scoring, "NEWTON_ITERATIONS_MAX", 1)
    one = fit_bradley_terry(5, CYCLE, alpha=0.0)
    two_by_one = fit_bradley_terry(5, CYCLE, alpha=0.0, initial=one.scores)
    assert (one.iterations, one.converged) == (1, False)
    monkeypatch.setattr(scoring, "NEWTON_ITERATIONS_MAX", 2)
    two = fit_bradley_terry(5, CYCLE, alpha=0.0)
    assert (two.iterations, two.converged) == (2, False)
    assert "converged=False iterations=2" in repr(two)
    np.testing.assert_allclose(two.scores, two_by_one.scores, rtol=0, atol=1e-15)
    assert np.abs(two.scores - one.scores).max() > 1e-4  # the second step moved it
    assert np.abs(two.scores - converged.scores).max() > 1e-6  # and it had further to go


@pytest.mark.parametrize(
    ("n", "data", "alpha", "iterations"),
    [
        (2, [(0, 1)] * 99 + [(1, 0)], 1e-6, 12),
        (3, CHAIN, 1e-6, 16),
        (5, [(0, 1), (1, 2), (2, 3), (3, 4)], 1e-4, 11),
        (4, [(0, 1), (0, 2), (0, 3)] * 5, 0.01, 9),
        (2, [(0, 1)] * 20, 1.0, 7),
        (2, [(0, 1)] * 3 + [(1, 0)], 0.5, 5),  # alpha * n = 1
        (5, BACKTRACKS_THREE_TIMES, 0.01, 14),
        (5, BACKTRACKS_ONCE, 1e-4, 19),
        (4, LOPSIDED_LINE, 0.0, 8),
    ],
)
def test_a_fit_far_from_its_start_cuts_its_steps_back_and_still_arrives(n, data, alpha, iterations):
    """Scores up to 17 in log-strength: the first Newton steps are long, and some overshoot and
    are halved until they climb (the two trees, found by search: most data never needs it).
    The tiny alphas leave the optimum flat: 1e-6 is the reference's own reach."""
    fit = fit_bradley_terry(n, data, alpha=alpha)
    np.testing.assert_allclose(fit.scores, _reference(n, data, alpha), rtol=0, atol=1e-6)
    assert (fit.iterations, fit.converged) == (iterations, True)


def test_a_fit_on_many_comparisons_stops_when_its_steps_vanish():
    """11,000 comparisons in the ratio 1 : 2 : 4: the expected-wins gradient cannot get below
    1e-10 in floating point, so the fit stops on the step size instead."""
    fit = fit_bradley_terry(3, CONSISTENT * 1000, alpha=0.0)
    log2 = math.log(2)
    np.testing.assert_allclose(fit.scores, [-log2, 0.0, log2], rtol=0, atol=1e-15)
    assert (fit.iterations, fit.converged) == (5, True)


def test_the_default_alpha_is_choix_default_of_the_original():
    assert fit_bradley_terry(2, SEVEN_THREE).alpha == 0.01
    np.testing.assert_allclose(
        fit_bradley_terry(2, SEVEN_THREE).scores, _reference(2, SEVEN_THREE, 0.01), atol=CLOSE
    )


@pytest.mark.parametrize(
    ("n", "alpha", "iterations"),
    [(1, 0.0, 0), (3, 0.0, 0), (1, 0.01, 0), (3, 0.01, 1), (2, 0.5, 1)],
)
def test_without_comparisons_every_score_is_zero(n, alpha, iterations):
    """One item, or no data without a penalty: nothing to do. With a penalty the zero start is
    already the optimum, found at the first gradient."""
    fit = fit_bradley_terry(n, [], alpha=alpha)
    assert fit.scores.tolist() == [0.0] * n
    assert (fit.iterations, fit.converged) == (iterations, True)


# --- alpha ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("alpha", "stored"), [(0, 0.0), (0.0, 0.0), (1e-300, 1e-300), (1, 1.0)])
def test_any_finite_alpha_from_zero_up_is_accepted_and_kept_as_a_float(alpha, stored):
    fit = fit_bradley_terry(2, SEVEN_THREE, alpha=alpha)
    assert fit.alpha == stored
    assert type(fit.alpha) is float


@pytest.mark.parametrize(
    ("alpha", "shown"),
    [(-1e-300, "-1e-300"), (-0.1, "-0.1"), (math.inf, "inf"), (math.nan, "nan"), ("0.1", "'0.1'")],
)
def test_an_impossible_alpha_is_named(alpha, shown):
    with pytest.raises(ValueError, match=r"^alpha must be") as refused:
        fit_bradley_terry(2, SEVEN_THREE, alpha=alpha)
    assert str(refused.value) == f"alpha must be a finite number >= 0, got {shown}"


# --- the starting point ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "data", "alpha"), [(3, CONSISTENT, 0.0), (2, NINE_ONE, 0.01), (3, CHAIN, 0.01)]
)
def test_starting_at_the_last_answer_takes_one_step(n, data, alpha):
    fit = fit_bradley_terry(n, data, alpha=alpha)
    again = fit_bradley_terry(n, data, alpha=alpha, initial=fit.scores)
    assert again.iterations == 1
    np.testing.assert_allclose(again.scores, fit.scores, rtol=0, atol=1e-15)
    # A centred start is moved onto sum(exp(theta)) = n first, so a shifted one is as good.
    shifted = fit_bradley_terry(n, data, alpha=alpha, initial=(fit.scores + 3.0).tolist())
    assert shifted.iterations == 1
    np.testing.assert_allclose(shifted.scores, fit.scores, rtol=0, atol=1e-15)


def test_an_unusable_starting_point_is_ignored():
    plain = fit_bradley_terry(3, CHAIN, alpha=0.01)
    for initial in (
        [0.5, 0.1],
        [0.5, 0.1, 0.2, 0.3],
        [[0.5, 0.1, 0.2]],
        [0.5, math.nan, 0.1],
        [0.5, math.inf, 0.1],
    ):
        started = fit_bradley_terry(3, CHAIN, alpha=0.01, initial=initial)
        assert started.scores.tolist() == plain.scores.tolist()
        assert started.iterations == plain.iterations == 8


def test_a_usable_starting_point_is_used_without_alpha_too():
    plain = fit_bradley_terry(5, CYCLE, alpha=0.0)
    started = fit_bradley_terry(5, CYCLE, alpha=0.0, initial=[0, -0.4, -0.1, -0.1, 0.6])
    assert started.iterations == 4
    np.testing.assert_allclose(started.scores, plain.scores, rtol=0, atol=CLOSE)


# --- without alpha: the core and the unbounded ------------------------------------------------


def test_each_status_without_alpha_with_its_minimal_input():
    """0 and 1 beat each other (the core, 2:1); 2 beat 0 and 6 beat 2 (above); 1 beat 3 and 3
    beat 7 (below); 4 and 5 met nobody (undetermined)."""
    data = [(0, 1), (0, 1), (1, 0), (2, 0), (1, 3), (6, 2), (3, 7)]
    fit = fit_bradley_terry(8, data, alpha=0.0)
    half = math.log(2) / 2
    assert fit.status == (
        ItemStatus.ESTIMATED,
        ItemStatus.ESTIMATED,
        ItemStatus.ABOVE,
        ItemStatus.BELOW,
        ItemStatus.UNDETERMINED,
        ItemStatus.UNDETERMINED,
        ItemStatus.ABOVE,
        ItemStatus.BELOW,
    )
    assert fit.scores[:2] == pytest.approx([half, -half], abs=1e-15)
    assert fit.scores[2:].tolist() == [math.inf, -math.inf, 0.0, 0.0, math.inf, -math.inf]
    assert (fit.alpha, fit.iterations, fit.converged) == (0.0, 5, True)
    assert fit.estimated.tolist() == [True, True] + [False] * 6
    assert fit.unbounded.tolist() == [False, False] + [True] * 6
    assert fit.isolated.tolist() == [False] * 4 + [True, True] + [False] * 2
    assert not fit.strongly_connected
    assert fit.se.tolist() == pytest.approx([math.sqrt(3 / 8)] * 2 + [2.0] * 6, abs=1e-15)
    assert repr(fit) == (
        "<BradleyTerryFit n_items=8 n_comparisons=7 alpha=0.0 converged=True iterations=5>"
    )


def test_a_core_of_one_item_is_not_fitted():
    """0 beat 1 and 1 beat 2: every component is one item; the core is item 0's."""
    fit = fit_bradley_terry(3, CHAIN, alpha=0.0)
    assert fit.status == (ItemStatus.ESTIMATED, ItemStatus.BELOW, ItemStatus.BELOW)
    assert fit.scores.tolist() == [0.0, -math.inf, -math.inf]
    assert (fit.iterations, fit.converged) == (0, True)


@pytest.mark.parametrize(
    ("data", "ratio", "iterations"),
    [(SEVEN_THREE, 7 / 3, 5), ([(0, 1)] * 99 + [(1, 0)], 99, 9)],  # 99:1 cuts its first steps
)
def test_a_two_item_core_is_fitted_by_maximum_likelihood(data, ratio, iterations):
    fit = fit_bradley_terry(3, [*data, (2, 0)], alpha=0.0)
    half = math.log(ratio) / 2
    assert fit.scores.tolist()[2] == math.inf
    np.testing.assert_allclose(fit.scores[:2], [half, -half], rtol=0, atol=1e-12)
    assert (fit.iterations, fit.converged) == (iterations, True)


def test_the_statuses_are_named_as_the_outputs_name_them():
    assert [status.value for status in ItemStatus] == [
        "estimated",
        "unbounded_above",
        "unbounded_below",
        "undetermined",
    ]


# --- the fit's figures ----------------------------------------------------------------------


def test_a_fit_with_alpha_reports_its_graph():
    fit = fit_bradley_terry(4, [*CHAIN, (1, 0)], alpha=0.01)
    assert (fit.n_items, fit.n_comparisons, fit.strongly_connected) == (4, 3, False)
    assert fit.weakly_identified.tolist() == [False, False, True, True]
    assert fit.isolated.tolist() == [False, False, False, True]
    assert fit.estimated.tolist() == [True] * 4
    assert fit.unbounded.tolist() == [False] * 4
    assert fit.ssr == fit.quality.ssr
    connected = fit_bradley_terry(2, SEVEN_THREE, alpha=0.01)
    assert connected.strongly_connected
    assert connected.weakly_identified.tolist() == [False, False]


def test_standard_errors_are_capped_at_exactly_two():
    """Chain 0 > 1 > 2 with alpha 0.01: uncapped SEs 3.52, 2.44 and 4.18."""
    fit = fit_bradley_terry(3, CHAIN, alpha=0.01)
    assert fit.se_uncapped.tolist() == pytest.approx([3.5214719048, 2.4449934883, 4.1820092554])
    assert fit.se.tolist() == [2.0, 2.0, 2.0]
    assert fit.standard_errors().tolist() == [2.0, 2.0, 2.0]
    assert fit.standard_errors(cap=3.0).tolist() == [3.0, pytest.approx(2.4449934883), 3.0]
    relative = fit.standard_errors(reference=2, cap=math.inf)
    assert relative.tolist() == pytest.approx([7.3349804648, 5.8765316951, 0.0])
    below_cap = fit_bradley_terry(2, SEVEN_THREE, alpha=0.0)
    assert below_cap.se.tolist() == below_cap.se_uncapped.tolist()
    assert below_cap.se.tolist() == pytest.approx(
        [math.sqrt(1 / 8.4)] * 2, abs=1e-15
    )  # 1 / (4 * 10 * 0.7 * 0.3)


# --- the solver -----------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "uses_scipy"), [(199, False), (200, True)])
def test_the_matrix_product_switches_to_scipy_at_200_items_and_agrees(n, uses_scipy):
    rng = np.random.default_rng(n)
    lo = rng.integers(0, n - 1, 3 * n)
    hi = lo + 1 + rng.integers(0, n - 1 - lo)
    product = scoring._laplacian_product(n, lo, hi)
    assert (product.matrix is not None) is uses_scipy
    assert product.with_values(np.ones(2 * lo.size + n)).__name__ == (
        "by_scipy" if uses_scipy else "by_segments"
    )
    values = rng.normal(size=2 * lo.size + n)
    dense = np.zeros((n, n))
    np.add.at(
        dense,
        (np.concatenate([lo, hi, np.arange(n)]), np.concatenate([hi, lo, np.arange(n)])),
        values,
    )
    v = rng.normal(size=n)
    np.testing.assert_allclose(product.with_values(values)(v), dense @ v, rtol=0, atol=1e-12)


def test_a_fit_of_200_items_is_the_same_by_either_product(monkeypatch):
    rng = np.random.default_rng(7)
    i = rng.integers(0, 200, 2000)
    j = (i + 1 + rng.integers(0, 199, 2000)) % 200
    data = np.column_stack([i, j])
    by_scipy = fit_bradley_terry(200, data, alpha=0.01)
    monkeypatch.setattr(scoring, "SCIPY_PRODUCT_MIN_ITEMS", 201)
    by_segments = fit_bradley_terry(200, data, alpha=0.01)
    np.testing.assert_allclose(by_scipy.scores, by_segments.scores, rtol=0, atol=1e-12)


SPD = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])


def _cg(b, *, rtol, iterations_max=5000):
    return scoring._conjugate_gradients(
        lambda v: SPD @ v,
        np.asarray(b, dtype=float),
        1.0 / np.diag(SPD),
        rtol=rtol,
        iterations_max=iterations_max,
    )


def test_conjugate_gradients_solve_exactly_when_asked():
    b = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(_cg(b, rtol=1e-14), np.linalg.solve(SPD, b), rtol=0, atol=1e-14)


def test_conjugate_gradients_stop_at_once_when_the_start_is_good_enough():
    assert _cg([0.0, 0.0, 0.0], rtol=1e-14).tolist() == [0.0, 0.0, 0.0]  # no 0/0 on the way
    assert _cg([1.0, 2.0, 3.0], rtol=1.0).tolist() == [0.0, 0.0, 0.0]  # |r| = |b| is enough


def test_conjugate_gradients_take_at_most_their_bound_of_steps():
    """One step: x = (r.z / d.Ad) d with d = z = D^-1 b."""
    b = np.array([1.0, 2.0, 3.0])
    z = b / np.diag(SPD)
    expected = (b @ z) / (z @ SPD @ z) * z
    np.testing.assert_allclose(_cg(b, rtol=1e-14, iterations_max=1), expected, rtol=1e-15)
