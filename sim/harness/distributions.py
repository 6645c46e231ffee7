"""What a scenario draws from, and the drawing: a ``Distribution`` declared in YAML (bounded
by what it describes: ``Quality`` in log-odds, ``Latency`` in ms, ``Tokens``) and ``draw``,
which samples one on a named stream."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from engine.randomness import Rng
from sim.harness.scenario_bounds import LATENCY_MS_MAX, QUALITY_MAX, TOKENS_MAX, ScenarioModel

__all__ = ["Distribution", "Latency", "Quality", "Tokens", "draw"]


class Distribution(ScenarioModel):
    """A distribution to draw from: ``normal`` (mean, sd), ``lognormal`` (median, sigma),
    ``uniform`` (low, high) or ``constant`` (value). Draws are clipped at ``min``. Each use
    (quality, latency, tokens) is a subclass with its own unit and bounds."""

    distribution: Literal["normal", "lognormal", "uniform", "constant"] = "normal"
    """The family: normal (mean, sd), lognormal (median, sigma), uniform (low, high) or
    constant (value)."""
    mean: float = 0.0
    sd: float = 1.0
    median: float = 1.0
    sigma: float = 0.25
    low: float = 0.0
    high: float = 1.0
    value: float = 0.0
    min: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Distribution:
        if self.distribution == "uniform" and self.high < self.low:
            raise ValueError(
                f"high: uniform needs low <= high, got low={self.low}, high={self.high}"
            )
        return self


class Quality(Distribution):
    """Students' latent quality, in log-odds (a difference of 1 means the better essay wins
    73% of its comparisons)."""

    mean: float = Field(0.0, ge=-QUALITY_MAX, le=QUALITY_MAX)
    """Mean of a normal draw, in log-odds."""
    sd: float = Field(1.0, ge=0, le=10)
    """Standard deviation of a normal draw, in log-odds."""
    median: float = Field(1.0, gt=0, le=10)
    """Median of a lognormal draw, in log-odds."""
    sigma: float = Field(0.25, ge=0, le=0.5)
    """Standard deviation of the logarithm of a lognormal draw (unitless)."""
    low: float = Field(0.0, ge=-QUALITY_MAX, le=QUALITY_MAX)
    """Lower end of a uniform draw, in log-odds."""
    high: float = Field(1.0, ge=-QUALITY_MAX, le=QUALITY_MAX)
    """Upper end of a uniform draw, in log-odds."""
    value: float = Field(0.0, ge=-QUALITY_MAX, le=QUALITY_MAX)
    """The value of a constant draw, in log-odds."""
    min: float | None = Field(None, ge=-QUALITY_MAX, le=QUALITY_MAX)
    """Draws below this are raised to it, in log-odds; none: no floor."""


class Latency(Distribution):
    """One simulated provider call's latency, in milliseconds (drawn latencies below 1 ms
    count as 1 ms)."""

    mean: float = Field(0.0, ge=0, le=LATENCY_MS_MAX)
    """Mean of a normal draw, in milliseconds."""
    sd: float = Field(1.0, ge=0, le=LATENCY_MS_MAX)
    """Standard deviation of a normal draw, in milliseconds."""
    median: float = Field(1.0, gt=0, le=LATENCY_MS_MAX)
    """Median of a lognormal draw, in milliseconds."""
    sigma: float = Field(0.25, ge=0, le=3)
    """Standard deviation of the logarithm of a lognormal draw (unitless)."""
    low: float = Field(0.0, ge=0, le=LATENCY_MS_MAX)
    """Lower end of a uniform draw, in milliseconds."""
    high: float = Field(1.0, ge=0, le=LATENCY_MS_MAX)
    """Upper end of a uniform draw, in milliseconds."""
    value: float = Field(0.0, ge=0, le=LATENCY_MS_MAX)
    """The value of a constant draw, in milliseconds."""
    min: float | None = Field(None, ge=0, le=LATENCY_MS_MAX)
    """Draws below this are raised to it, in milliseconds; none: no floor."""


class Tokens(Distribution):
    """Tokens of one simulated call's prompt or answer (rounded; at least 1)."""

    mean: float = Field(0.0, ge=0, le=TOKENS_MAX)
    """Mean of a normal draw, in tokens."""
    sd: float = Field(1.0, ge=0, le=TOKENS_MAX)
    """Standard deviation of a normal draw, in tokens."""
    median: float = Field(1.0, gt=0, le=TOKENS_MAX)
    """Median of a lognormal draw, in tokens."""
    sigma: float = Field(0.25, ge=0, le=3)
    """Standard deviation of the logarithm of a lognormal draw (unitless)."""
    low: float = Field(0.0, ge=0, le=TOKENS_MAX)
    """Lower end of a uniform draw, in tokens."""
    high: float = Field(1.0, ge=0, le=TOKENS_MAX)
    """Upper end of a uniform draw, in tokens."""
    value: float = Field(0.0, ge=0, le=TOKENS_MAX)
    """The value of a constant draw, in tokens."""
    min: float | None = Field(None, ge=0, le=TOKENS_MAX)
    """Draws below this are raised to it, in tokens; none: no floor."""


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
