"""A provider's own rate limit, modelled as providers enforce it, and the engine living within it.

The must-show: a provider limited to 60 requests a minute, served by 32 workers. After the first
minute the adaptive controller keeps the answers at 90% of the limit or more with at most 5% of
the calls refused; the same run without it is refused far more and loses comparisons.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.eventlog import MemoryEventLog
from engine.lps.calls import ProviderCall, TokenUsage
from engine.lps.errors import ProviderError
from engine.randomness import Streams
from sim.adapters.faults import FaultPlan
from sim.adapters.provider import AccountLimits, SimulatedProvider
from sim.adapters.runtime import SimRuntime
from sim.harness.runner import run_scenario
from sim.harness.scenario import ProviderRateLimit, ProviderSpec
from sim.harness.scenario_file import load_scenario
from sim.reports.report import STEADY_AFTER_S, build_report

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "rate_limited_provider.yaml"
LIMIT_PER_MINUTE = 60.0


def _figures(outcome) -> tuple[float, float]:
    """(answers after the first minute as a fraction of the limit, share of those calls
    refused with a rate limit), counted from the event log itself."""
    calls = [r for r in outcome.log.records() if r.kind == "lps.provider.call"]
    steady = [r for r in calls if r.t >= STEADY_AFTER_S]
    span_min = (max(r.t for r in calls) - STEADY_AFTER_S) / 60.0
    answers = sum(r.fields["outcome"] == "success" for r in steady)
    refused = sum(r.fields.get("error_type") == "rate_limit" for r in steady)
    return answers / span_min / LIMIT_PER_MINUTE, refused / len(steady)


@pytest.fixture(scope="module")
def runs():
    scenario = load_scenario(SCENARIO)
    assert scenario.engine_settings().LPS_WORKERS == 32
    assert scenario.provider.rate_limit.requests_per_minute == LIMIT_PER_MINUTE
    with_controller = run_scenario(scenario)
    without = run_scenario(load_scenario(SCENARIO, overrides=["LPS_ADAPTIVE_CONCURRENCY=false"]))
    return with_controller, without


def test_with_the_controller_a_60_rpm_provider_runs_at_its_limit_with_few_429s(runs):
    outcome, _ = runs
    throughput, refused = _figures(outcome)
    assert throughput >= 0.9
    assert refused <= 0.05
    report = build_report(outcome)
    steady = report["concurrency"]["after_first_minute"]
    assert steady["answers_per_minute"] / LIMIT_PER_MINUTE == pytest.approx(throughput, abs=1e-5)
    assert steady["rate_limited_share"] == pytest.approx(refused, abs=1e-5)
    assert report["batches"][0]["final_state"] == "COMPLETED"
    assert report["batches"][0]["failed"] == 0
    assert all(result.ok for result in outcome.invariants.values())


def test_without_the_controller_the_same_run_is_refused_and_loses_comparisons(runs):
    with_controller, without = runs
    _, refused_with = _figures(with_controller)
    _, refused_without = _figures(without)
    assert refused_without > 0.5 > 0.05 >= refused_with
    fixed, hammered = build_report(with_controller), build_report(without)
    assert (hammered["batches"][0]["failed"], fixed["batches"][0]["failed"]) == (369, 0)
    assert hammered["concurrency"]["gates"] == []  # no controller, no limit history
    assert fixed["concurrency"]["gates"][0]["start"] == 4


def test_the_limit_history_is_in_the_report_and_every_change_is_an_event(runs):
    outcome, _ = runs
    report = build_report(outcome)
    (gate,) = report["concurrency"]["gates"]
    changes = [r for r in outcome.log.records() if r.kind == "lps.concurrency.changed"]
    assert len(gate["history"]) == len(changes)
    first = {"t": round(changes[0].t, 6), "old": None, "new": 4, "reason": "start"}
    assert gate["history"][0] == first
    assert gate["final"] == changes[-1].fields["new"]
    assert gate["pauses"] == 9  # the provider said no requests remained, and the engine waited


def test_the_run_costs_what_its_tokens_cost_at_the_scenario_prices(runs):
    outcome, _ = runs
    usage = build_report(outcome)["usage"]
    assert usage["billed_calls"] == 600
    expected = (usage["input_tokens"] * 1.0 + usage["output_tokens"] * 5.0) / 1e6
    assert usage["cost_usd"] == pytest.approx(expected, abs=1e-6)


def test_a_rate_limited_run_is_reproducible(runs):
    outcome, _ = runs
    assert run_scenario(load_scenario(SCENARIO)).fingerprint == outcome.fingerprint


# -- the provider's limit itself -------------------------------------------------------------


def test_the_account_lets_a_minute_in_then_one_request_a_second():
    limits = AccountLimits.from_spec(ProviderRateLimit(requests_per_minute=60), now_s=0.0)
    assert [limits.arrive(0.0) for _ in range(60)] == [None] * 60
    assert limits.arrive(0.0) == pytest.approx(1.0)
    assert limits.arrive(0.5) == pytest.approx(0.5)
    assert limits.arrive(1.0) is None
    hints = limits.hints(1.0)
    assert (hints.requests_remaining, hints.requests_reset_s) == (0, 60.0)
    assert hints.tokens_remaining is None


def test_the_account_charges_tokens_when_the_answer_is_written():
    limits = AccountLimits.from_spec(ProviderRateLimit(tokens_per_minute=6000), now_s=0.0)
    assert limits.arrive(0.0) is None
    limits.charge(_usage(5000, 1500), 0.0)
    assert limits.arrive(0.0) == pytest.approx(5.01)  # 500 tokens in debt, then one more
    assert limits.hints(0.0).tokens_remaining == 0


def _usage(prompt: int, completion: int) -> TokenUsage:
    return TokenUsage(prompt_tokens=prompt, completion_tokens=completion)


def test_a_refused_request_is_a_429_with_retry_after_and_the_headers_hints():
    runtime = SimRuntime()
    log = MemoryEventLog(runtime.now)
    streams = Streams(1)
    spec = ProviderSpec(name="anthropic", rate_limit=ProviderRateLimit(requests_per_minute=2))
    provider = SimulatedProvider(
        runtime, spec, {}, FaultPlan([], streams.random("f"), log), streams
    )
    call = ProviderCall(
        correlation_id="c1",
        provider="anthropic",
        model="m",
        system_prompt="",
        user_prompt="",
        prompt_sha256="",
        metadata={"essay_a_id": "a", "essay_b_id": "b"},
    )
    outcomes: list = []

    async def main():
        for _ in range(3):
            try:
                outcomes.append(await provider.compare(call))
            except ProviderError as exc:
                outcomes.append(exc)

    runtime.run(main())
    first, second, refused = outcomes
    assert first.rate_limit.requests_remaining == 1
    assert second.rate_limit.requests_remaining == 0
    assert isinstance(refused, ProviderError)
    assert (refused.error_type, refused.detail.details["http_status"]) == ("rate_limit", 429)
    # Two answers took their latency; the third came within the 30 s a request takes to refill.
    # 30 s to refill, less the 1.328 s + 1.689 s the two answers took, in whole seconds up
    assert refused.detail.details["retry_after_s"] == 27
    assert refused.rate_limit.requests_remaining == 0
    assert refused.rate_limit.retry_after_s == refused.detail.details["retry_after_s"]
    assert refused.usage is None  # a refusal is not billed


def test_a_provider_rate_limit_needs_a_limit_and_the_simulated_provider():
    with pytest.raises(ValidationError, match="requests_per_minute, tokens_per_minute"):
        ProviderRateLimit()
    with pytest.raises(ValidationError, match="greater than 0"):
        ProviderRateLimit(requests_per_minute=0)
    with pytest.raises(ValidationError, match="not by mock_mode"):
        ProviderSpec(mock_mode="default", rate_limit=ProviderRateLimit(requests_per_minute=5))
