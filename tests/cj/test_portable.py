"""engine.cj.portable: sums in numpy's order, and the grid values leave the fit on."""

from __future__ import annotations

import math

import numpy as np

from engine.cj.portable import GRID_DECIMALS, dot, norm, quantise, quantise_value


def test_dot_and_norm_agree_with_exact_arithmetic():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=1001), rng.normal(size=1001)
    exact = math.fsum((a * b).tolist())
    assert abs(dot(a, b) - exact) <= 1e-12 * math.fsum(np.abs(a * b).tolist())
    assert norm(a) == math.sqrt(dot(a, a))


def test_dot_does_not_depend_on_how_the_array_is_split_across_calls():
    """The same array gives the same bits every time (no threading, no BLAS dispatch)."""
    a = np.random.default_rng(4).normal(size=50_000)
    assert len({dot(a, a) for _ in range(5)}) == 1


def test_quantise_puts_values_on_the_grid_and_keeps_infinities():
    values = np.array([0.1234567894, -0.1234567896, 2.0, np.inf, -np.inf, 0.0])
    on_grid = quantise(values)
    assert on_grid.tolist() == [0.123456789, -0.12345679, 2.0, math.inf, -math.inf, 0.0]
    assert quantise_value(0.1234567894) == on_grid[0]
    step = 10.0**-GRID_DECIMALS
    assert np.all(np.abs(quantise(values[:3]) - values[:3]) <= step / 2)


def test_values_a_rounding_apart_land_on_the_same_grid_point():
    """What the grid is for: two machines' last-bit differences disappear."""
    x = 0.7310585786300049
    assert quantise_value(x) == quantise_value(np.nextafter(x, 1.0))
    assert quantise_value(x) == quantise_value(np.nextafter(x, 0.0))
