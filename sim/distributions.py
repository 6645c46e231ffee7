"""Draws from a scenario's declared distributions, on a named stream."""

from __future__ import annotations

import math

from engine.randomness import Rng
from sim.scenario import Distribution

__all__ = ["draw"]


def draw(spec: Distribution, rng: Rng) -> float:
    if spec.distribution == "normal":
        value = rng.gauss(spec.mean, spec.sd)
    elif spec.distribution == "lognormal":
        value = spec.median * math.exp(rng.gauss(0.0, spec.sigma))
    elif spec.distribution == "uniform":
        value = rng.uniform(spec.low, spec.high)
    else:
        value = spec.value
    return value if spec.min is None else max(spec.min, value)
