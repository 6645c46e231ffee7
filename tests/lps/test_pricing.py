"""What a call costs: input, output and cache tokens at per-million prices."""

from __future__ import annotations

import pytest

from engine.lps.calls import TokenUsage
from engine.lps.pricing import Pricing
from engine.settings import Settings


def test_input_and_output_are_priced_per_million_tokens():
    pricing = Pricing(input=3.0, output=15.0)
    usage = TokenUsage(prompt_tokens=1_000_000, completion_tokens=200_000)
    assert pricing.cost_usd(usage) == pytest.approx(3.0 + 3.0)


def test_cached_tokens_are_part_of_the_prompt_and_priced_apart():
    pricing = Pricing(input=3.0, output=15.0, cache_write=3.75, cache_read=0.3)
    usage = TokenUsage(
        prompt_tokens=1000, completion_tokens=100, cache_write_tokens=200, cache_read_tokens=700
    )
    # 100 uncached input, 200 written, 700 read, 100 out.
    expected = (100 * 3.0 + 200 * 3.75 + 700 * 0.3 + 100 * 15.0) / 1e6
    assert pricing.cost_usd(usage) == pytest.approx(expected)


def test_cache_prices_default_to_the_input_price():
    usage = TokenUsage(prompt_tokens=1000, cache_write_tokens=200, cache_read_tokens=700)
    assert Pricing(input=2.0).cost_usd(usage) == pytest.approx(1000 * 2.0 / 1e6)


def test_nothing_is_free_of_charge_but_a_zero_price_and_nothing_costs_less_than_zero():
    assert Pricing().cost_usd(TokenUsage(prompt_tokens=5000, completion_tokens=50)) == 0.0
    odd = TokenUsage(prompt_tokens=10, cache_read_tokens=50)  # more cached than sent
    assert Pricing(input=1.0, cache_read=0.1).cost_usd(odd) == pytest.approx(50 * 0.1 / 1e6)


def test_prices_come_from_the_settings():
    settings = Settings.for_simulation(
        PRICE_INPUT_PER_MTOK=1.0, PRICE_OUTPUT_PER_MTOK=5.0, PRICE_CACHE_READ_PER_MTOK=0.1
    )
    assert Pricing.from_settings(settings) == Pricing(
        input=1.0, output=5.0, cache_write=None, cache_read=0.1
    )


@pytest.mark.parametrize("price", [-0.01, float("inf"), float("nan")])
def test_a_price_must_be_finite_and_not_negative(price):
    with pytest.raises(ValueError, match=r"Pricing\.output"):
        Pricing(output=price)
