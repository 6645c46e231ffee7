"""What an answer costs and what it says about the limits, through the SDKs, from the fake server.

A billed failure (a truncation, a refusal, an answer without a winner) keeps the answer's usage
and model on its ``ProviderError``; every answer's rate-limit headers arrive as
``RateLimitHints``, on the verdict or on the error (a 429 above all), with resets measured on
the adapter's runtime calendar (pinned, like the server's, at ``NOW``).
"""

from __future__ import annotations

import pytest

from engine.lps.calls import ProviderVerdict, RateLimitHints, TokenUsage
from engine.lps.errors import ProviderError
from tests.live import fake_provider_server as fake
from tests.live.adapters_under_test import (
    FAST_TIMEOUT_S,
    MODELS,
    PROVIDERS,
    a_call,
    compare_once,
    make,
    run,
)
from tests.live.fake_provider_server import FakeProviderServer, Limits, Usage

USAGE = Usage(input_tokens=150, output_tokens=300, cache_read_tokens=1000, cache_write_tokens=7)
BILLED = TokenUsage(
    prompt_tokens=150 + 1000 + 7,
    completion_tokens=300,
    cache_read_tokens=1000,
    cache_write_tokens=7,
)
DEFAULT_HINTS = RateLimitHints(  # what the server's default Limits() say
    requests_remaining=49, tokens_remaining=39_000, requests_reset_s=1.2, tokens_reset_s=360.0
)


# ---- billed failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("answer", "error_type"),
    [
        (fake.truncated(usage=USAGE), "max_tokens"),
        (fake.Answer(kind="refusal", usage=USAGE), "invalid_response"),
        (fake.Answer(kind="missing_winner", usage=USAGE), "invalid_response"),
    ],
    ids=["max_tokens", "refusal", "missing_winner"],
)
def test_a_billed_failure_keeps_the_answers_usage_and_model(provider, server, answer, error_type):
    outcome = compare_once(provider, server, answer)

    assert isinstance(outcome, ProviderError)
    assert outcome.error_type == error_type
    assert outcome.usage == BILLED
    assert outcome.model == MODELS[provider]
    assert outcome.rate_limit == DEFAULT_HINTS


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unreadable_answer_claims_no_usage(provider, server):
    outcome = compare_once(provider, server, fake.malformed_json())

    assert isinstance(outcome, ProviderError)
    assert outcome.error_type == "invalid_response"
    assert (outcome.usage, outcome.model) == (None, None)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_http_error_was_not_billed(provider, server):
    outcome = compare_once(provider, server, fake.overloaded())
    assert isinstance(outcome, ProviderError)
    assert (outcome.usage, outcome.model) == (None, None)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_truncated_batch_item_keeps_its_usage(provider, server):
    async def go() -> object:
        async with make(provider, server) as adapter:
            job_id = await adapter.submit_batch([a_call(1)])
            batch = server.batch(job_id)
            batch.publish(batch.custom_ids[0], fake.succeeded(fake.truncated(usage=USAGE))).end()
            poll = await adapter.poll_batch(job_id)
        return poll.results[a_call(1).custom_id]

    outcome = run(go)
    assert isinstance(outcome, ProviderError)
    assert (outcome.error_type, outcome.usage, outcome.model) == (
        "max_tokens",
        BILLED,
        MODELS[provider],
    )
    assert outcome.rate_limit is None  # a batch item has no headers of its own


# ---- rate-limit hints --------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_verdict_carries_the_limits_its_headers_stated(provider, server):
    outcome = compare_once(provider, server, fake.verdict())
    assert isinstance(outcome, ProviderVerdict)
    assert outcome.rate_limit == DEFAULT_HINTS


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_hints_follow_what_the_provider_says(provider, server):
    server.limits = Limits(
        requests_remaining=3, requests_reset_s=0.25, tokens_remaining=0, tokens_reset_s=3723.5
    )
    outcome = compare_once(provider, server, fake.verdict())
    assert isinstance(outcome, ProviderVerdict)
    assert outcome.rate_limit == RateLimitHints(
        requests_remaining=3, tokens_remaining=0, requests_reset_s=0.25, tokens_reset_s=3723.5
    )


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("answer", "retry_after_s"),
    [
        (fake.rate_limited(retry_after="7"), 7.0),
        (fake.rate_limited(retry_after_ms="1500"), 1.5),
        (fake.rate_limited(), None),
    ],
)
def test_a_429_says_no_request_is_left_and_when_to_retry(provider, server, answer, retry_after_s):
    outcome = compare_once(provider, server, answer)

    assert isinstance(outcome, ProviderError)
    assert outcome.error_type == "rate_limit"
    assert outcome.rate_limit == RateLimitHints(
        requests_remaining=0,
        tokens_remaining=39_000,
        requests_reset_s=1.2,
        tokens_reset_s=360.0,
        retry_after_s=retry_after_s,
    )


@pytest.mark.parametrize(
    ("provider", "header"),
    [
        ("anthropic", "anthropic-ratelimit-requests-remaining"),
        ("openai", "x-ratelimit-remaining-requests"),
    ],
)
def test_an_unreadable_header_is_none_and_the_verdict_still_arrives(provider, header, server):
    answer = fake.Answer(kind="verdict", headers=((header, "plenty"),))
    outcome = compare_once(provider, server, answer)

    assert isinstance(outcome, ProviderVerdict)
    assert outcome.rate_limit is not None
    assert outcome.rate_limit.requests_remaining is None
    assert outcome.rate_limit.tokens_remaining == 39_000


@pytest.mark.parametrize("provider", PROVIDERS)
def test_no_answer_no_hints(provider):
    with FakeProviderServer() as closed:
        pass  # started and stopped: its port now refuses connections
    outcome = compare_once(provider, closed, timeout_s=FAST_TIMEOUT_S)
    assert isinstance(outcome, ProviderError)
    assert (outcome.error_type, outcome.rate_limit, outcome.usage) == ("connection", None, None)
