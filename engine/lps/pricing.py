"""What a provider call cost, in USD (pure).

Prices are USD per million tokens, as providers publish them. ``TokenUsage.prompt_tokens``
counts every input token, cached ones included (the adapters normalise Anthropic's separate
``cache_read_input_tokens`` / ``cache_creation_input_tokens`` into it), so the uncached input is
what is left after the cache reads and writes:

    cost = (uncached_input * input + cache_write * cache_write_price
            + cache_read * cache_read_price + completion * output) / 1e6

A cache price that is not given is the input price: a provider without prompt caching bills
cached tokens as ordinary input. Billed failures (a ``max_tokens`` truncation, an answer that does
not parse) cost the same as a success with the same usage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.lps.calls import TokenUsage
from engine.settings import Settings

__all__ = ["COST_DIGITS", "Pricing"]

MTOK = 1_000_000
COST_DIGITS = 10  # a call's cost is rounded to 1e-10 USD where it is recorded


@dataclass(frozen=True, slots=True, kw_only=True)
class Pricing:
    """USD per million tokens. ``cache_write`` and ``cache_read`` default to ``input``."""

    input: float = 0.0
    output: float = 0.0
    cache_write: float | None = None
    cache_read: float | None = None

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_write", "cache_read"):
            price = getattr(self, name)
            if price is not None and not (math.isfinite(price) and price >= 0):
                raise ValueError(f"Pricing.{name} must be a finite price >= 0, got {price!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> Pricing:
        return cls(
            input=settings.PRICE_INPUT_PER_MTOK,
            output=settings.PRICE_OUTPUT_PER_MTOK,
            cache_write=settings.PRICE_CACHE_WRITE_PER_MTOK,
            cache_read=settings.PRICE_CACHE_READ_PER_MTOK,
        )

    def cost_usd(self, usage: TokenUsage) -> float:
        """The cost of one call's ``usage``, rounded to ``COST_DIGITS`` places."""
        cache_write = self.input if self.cache_write is None else self.cache_write
        cache_read = self.input if self.cache_read is None else self.cache_read
        uncached = max(0, usage.prompt_tokens - usage.cache_read_tokens - usage.cache_write_tokens)
        micro = (
            uncached * self.input
            + usage.cache_write_tokens * cache_write
            + usage.cache_read_tokens * cache_read
            + usage.completion_tokens * self.output
        )
        return round(micro / MTOK, COST_DIGITS)
