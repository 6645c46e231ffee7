"""Arithmetic whose result is the same on every machine: no BLAS, and a grid for the rest.

A seed must reproduce a run on any machine (DESIGN.md, "Numerics and determinism across
machines"). BLAS and LAPACK do not promise that: ``np.dot``, ``np.linalg.norm``, ``solve`` and
``inv`` sum in an order that depends on the thread count and on the CPU kernel OpenBLAS picks
(AVX2 with FMA, AVX without, AVX-512), and one last-bit difference in a score changed the
whole run (issue 15: three fingerprints for one seed at 100 essays). So the decision path
(the Bradley–Terry fit) uses only operations with one defined order:

* elementwise arithmetic and ``np.bincount`` (IEEE, one pass in index order);
* sums by ``np.add.reduce``, numpy's own pairwise summation: its order is fixed by numpy's
  source, whatever the CPU or thread count (``dot`` and ``norm`` below are built on it);
* scipy's CSR matrix-vector product (a plain loop per row, no BLAS).

What remains machine-dependent is below the last bit of a transcendental function: numpy picks
an AVX-512 ``exp``/``log`` where the CPU has it, and libm versions differ. ``quantise`` puts
every value that leaves the fit (scores, standard errors) on a grid of 1e-9, far below any
figure's meaning and far above those differences (measured: at most 2e-15 apart), so they
reach the event log and the decisions as the same numbers. Quantising also makes essays with
the same record tie exactly, so their order is the id tie-break's, not rounding noise's.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["GRID_DECIMALS", "dot", "norm", "quantise", "quantise_value", "sigmoid"]

FloatArray = NDArray[np.float64]

#: Scores and standard errors are kept to this many decimals (a grid of 1e-9 log-strength).
GRID_DECIMALS = 9
#: exp(709.78) is the largest double: past this, ``sigmoid`` has long been exactly 0 or 1.
EXP_ARGUMENT_MAX = 700.0


def dot(a: FloatArray, b: FloatArray) -> float:
    """``sum(a * b)`` in numpy's pairwise order (``np.dot`` would go through BLAS)."""
    return float(np.add.reduce(a * b))


def norm(a: FloatArray) -> float:
    """The Euclidean norm, by ``dot``."""
    return math.sqrt(dot(a, a))


def sigmoid(x: FloatArray) -> FloatArray:
    """``1 / (1 + exp(-x))``, the chance that a log-strength lead of ``x`` wins. Clipped where
    ``exp`` would overflow (``p`` is then 0 or 1 to double precision anyway); scipy's ``expit``
    would do, but importing scipy.special costs a small run a tenth of a second."""
    p: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(x, -EXP_ARGUMENT_MAX, EXP_ARGUMENT_MAX)))
    return p


def quantise(values: FloatArray) -> FloatArray:
    """``values`` on the grid of ``10**-GRID_DECIMALS`` (round half to even; inf stays inf).

    Two machines still disagree when their values straddle a half-step: with values at most
    2e-15 apart (LAPACK's standard errors across kernels, measured), about 4 in a million
    values. That residue is the price of not writing our own ``exp``; the fit's scores, which
    go through no BLAS, do not pay it on one CPU (docs/decisions/0006).
    """
    rounded: FloatArray = np.round(values, GRID_DECIMALS)
    return rounded


def quantise_value(value: float) -> float:
    """One number on the same grid as ``quantise``'s."""
    return float(np.round(value, GRID_DECIMALS))
