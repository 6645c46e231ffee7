"""The Anthropic and OpenAI adapters, through their official SDKs, against the fake server.

Every test runs a real SDK client over loopback HTTP: what the provider says (a status,
headers, a body, a slow or dropped connection) must come out of ``compare`` as the right
``ErrorDetail`` or verdict, after exactly one HTTP request, with no key anywhere in the error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.cj.prompts import SYSTEM_PROMPT
from engine.lps.batch_api import BatchProvider
from engine.lps.calls import ProviderVerdict
from engine.lps.errors import ProviderError
from engine.lps.providers.anthropic_provider import AnthropicProvider
from engine.lps.providers.openai_provider import OpenAIProvider
from engine.lps.providers.sdk_errors import REDACTED, SdkExceptions, redact, translate
from engine.lps.retry import retry_delay_s
from engine.randomness import Rng
from engine.settings import Settings
from tests.live import fake_provider_server as fake
from tests.live.adapters_under_test import (
    FAST_TIMEOUT_S,
    KEYS,
    MODELS,
    PROVIDERS,
    PinnedRuntime,
    a_call,
    assert_no_key,
    compare_once,
    make,
    run,
)
from tests.live.fake_provider_server import FakeProviderServer, Usage

# ---- verdicts --------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_verdict_comes_back_with_normalised_usage_and_the_request_id(provider, server):
    usage = Usage(input_tokens=150, output_tokens=42, cache_read_tokens=1000, cache_write_tokens=7)
    outcome = compare_once(provider, server, fake.verdict("Essay B", usage=usage, confidence=3))

    assert isinstance(outcome, ProviderVerdict)
    assert (outcome.winner, outcome.confidence) == ("Essay B", 3.0)
    assert outcome.model == MODELS[provider]
    assert outcome.usage.prompt_tokens == 150 + 1000 + 7  # cached tokens included, once
    assert outcome.usage.completion_tokens == 42
    assert (outcome.usage.cache_read_tokens, outcome.usage.cache_write_tokens) == (1000, 7)
    assert outcome.stop_reason == {"anthropic": "tool_use", "openai": "completed"}[provider]
    [request] = server.model_requests()
    assert outcome.provider_request_id == request.request_id
    assert request.headers["x-stainless-retry-count"] == "0"
    assert 0 <= outcome.response_time_ms < 5000


def test_anthropic_forces_the_judgement_tool_and_caches_only_the_rubric(server):
    outcome = compare_once("anthropic", server, fake.verdict())
    assert isinstance(outcome, ProviderVerdict)
    [request] = server.model_requests()
    body = request.body
    assert body["model"] == MODELS["anthropic"]
    assert body["max_tokens"] == 300
    assert "temperature" not in body  # refused by API version 2026-10-21
    assert "thinking" not in body  # refused with forced tool use
    [tool] = body["tools"]
    assert tool["name"] == "record_judgement"
    assert tool["strict"] is True
    assert tool["input_schema"]["properties"]["winner"]["enum"] == ["Essay A", "Essay B"]
    assert body["tool_choice"] == {
        "type": "tool",
        "name": "record_judgement",
        "disable_parallel_tool_use": True,
    }
    assert body["system"] == [{"type": "text", "text": SYSTEM_PROMPT}]
    context, essays, instruction = body["messages"][0]["content"]
    assert context["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert "Essay A (ID: essay-a-1)" in essays["text"]
    assert "cache_control" not in essays
    assert "cache_control" not in instruction  # behind the essays: caching it never pays
    assert request.headers["authorization"] == f"Bearer {KEYS['anthropic']}"


@pytest.mark.parametrize(
    ("effort", "verbosity", "sends_temperature"),
    [(None, None, True), ("none", "low", True), ("low", "low", False)],
)
def test_openai_asks_for_a_strict_json_schema(server, effort, verbosity, sends_temperature):
    server.script(fake.verdict())

    async def go() -> ProviderVerdict:
        async with make("openai", server) as adapter:
            return await adapter.compare(
                a_call(reasoning_effort=effort, output_verbosity=verbosity)
            )

    assert run(go).winner == "Essay A"
    [request] = server.model_requests()
    body = request.body
    text_format = body["text"]["format"]
    assert (text_format["type"], text_format["strict"]) == ("json_schema", True)
    assert text_format["schema"]["required"] == ["winner", "justification", "confidence"]
    assert body["text"].get("verbosity") == verbosity
    assert body.get("reasoning") == ({"effort": effort} if effort else None)
    assert ("temperature" in body) is sends_temperature
    assert body["max_output_tokens"] == 300
    assert body["instructions"] == SYSTEM_PROMPT
    assert body["store"] is False
    assert body["prompt_cache_key"].startswith("cjsim-")
    assert [part["type"] for part in body["input"][0]["content"]] == ["input_text"] * 3


def test_openai_routes_one_rubric_to_one_prompt_cache_key(server):
    server.script(fake.verdict(), fake.verdict())

    async def go() -> None:
        async with make("openai", server) as adapter:
            await adapter.compare(a_call(1))
            await adapter.compare(a_call(2))

    run(go)
    first, second = (request.body["prompt_cache_key"] for request in server.model_requests())
    assert first == second


# ---- HTTP errors -----------------------------------------------------------------------------

HTTP_ERRORS = [
    # answer, error_type, http_status (anthropic, openai), retryable, retry_after_s
    (fake.rate_limited(retry_after="7"), "rate_limit", (429, 429), True, 7.0),
    (fake.rate_limited(retry_after_ms="1500"), "rate_limit", (429, 429), True, 1.5),
    (
        fake.rate_limited(retry_after="7", retry_after_ms="250"),
        "rate_limit",
        (429, 429),
        True,
        0.25,
    ),
    (fake.rate_limited(), "rate_limit", (429, 429), True, None),
    (fake.quota_exhausted(), "quota_exhausted", (429, 429), False, None),
    (fake.overloaded(), "overloaded", (529, 503), True, None),
    (fake.overloaded(retry_after="3"), "overloaded", (529, 503), True, 3.0),
    (fake.server_error(500), "server_error", (500, 500), True, None),
    (fake.server_error(503), "server_error", (503, 503), True, None),
    (fake.server_error(504), "timeout", (504, 504), True, None),
    (fake.unauthorized(), "authentication", (401, 401), False, None),
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("answer", "error_type", "statuses", "retryable", "retry_after_s"),
    HTTP_ERRORS,
    ids=[f"{row[1]}-{i}" for i, row in enumerate(HTTP_ERRORS)],
)
def test_an_http_error_is_classified_from_what_the_provider_sent(
    provider, server, answer, error_type, statuses, retryable, retry_after_s
):
    outcome = compare_once(provider, server, answer)

    assert isinstance(outcome, ProviderError)
    details = outcome.detail.details
    assert outcome.error_type == error_type
    assert details["http_status"] == statuses[PROVIDERS.index(provider)]
    assert outcome.retryable is retryable
    assert details["retry_after_s"] == retry_after_s
    assert details["provider"] == provider
    assert outcome.detail.correlation_id == "corr-1"
    [request] = server.model_requests()  # the SDK did not retry: the engine owns retries
    assert details["provider_request_id"] == request.request_id
    assert_no_key(outcome, provider)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_key_echoed_by_the_provider_is_redacted(provider, server):
    outcome = compare_once(provider, server, fake.unauthorized())
    assert isinstance(outcome, ProviderError)
    assert REDACTED in outcome.detail.message
    assert_no_key(outcome, provider)


def test_the_provider_error_codes_survive_classification(server):
    outcome = compare_once("anthropic", server, fake.quota_exhausted())
    assert isinstance(outcome, ProviderError)
    assert outcome.detail.details["provider_error_code"] == "enforced_spend_limit_reached"
    assert outcome.detail.error_code == "QUOTA_EXCEEDED"


# ---- answers that are not verdicts -----------------------------------------------------------

ANSWER_PROBLEMS = [
    # provider, answer, error_type, stop_reason
    ("anthropic", fake.truncated(), "max_tokens", "max_tokens"),
    (
        "anthropic",
        fake.truncated(stop_reason="model_context_window_exceeded"),
        "max_tokens",
        "model_context_window_exceeded",
    ),
    ("anthropic", fake.missing_winner(), "invalid_response", "tool_use"),
    ("anthropic", fake.refusal(), "invalid_response", "refusal"),
    ("anthropic", fake.malformed_json(), "invalid_response", None),
    ("openai", fake.truncated(), "max_tokens", "max_output_tokens"),
    ("openai", fake.truncated(incomplete_reason=None), "max_tokens", "max_output_tokens"),
    ("openai", fake.truncated(incomplete_reason="content_filter"), "invalid_response", None),
    ("openai", fake.missing_winner(), "invalid_response", "completed"),
    ("openai", fake.refusal(), "invalid_response", "refusal"),
    ("openai", fake.malformed_json(), "invalid_response", None),
]


@pytest.mark.parametrize(
    ("provider", "answer", "error_type", "stop_reason"),
    ANSWER_PROBLEMS,
    ids=[f"{row[0]}-{row[1].kind}-{i}" for i, row in enumerate(ANSWER_PROBLEMS)],
)
def test_an_answer_that_is_not_a_verdict_is_refused_and_never_retried(
    provider, server, answer, error_type, stop_reason
):
    outcome = compare_once(provider, server, answer)

    assert isinstance(outcome, ProviderError)
    assert outcome.error_type == error_type
    assert outcome.retryable is False
    details = outcome.detail.details
    assert details["http_status"] == 200
    if stop_reason is not None:
        assert details["stop_reason"] == stop_reason
    [request] = server.model_requests()
    assert details["provider_request_id"] == request.request_id


# ---- below HTTP --------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_provider_times_out_after_the_client_timeout(provider, server):
    answer_delay_s = 4.0  # the fake's verdict comes this late (its wait ends when it stops)
    started = time.monotonic()
    outcome = compare_once(provider, server, fake.slow(answer_delay_s), timeout_s=FAST_TIMEOUT_S)
    elapsed_s = time.monotonic() - started

    assert isinstance(outcome, ProviderError)
    assert (outcome.error_type, outcome.retryable) == ("timeout", True)
    assert outcome.detail.details["http_status"] is None
    # The client gave up on its own 0.2 s timeout before the verdict could come: causal, and
    # 3.8 s of slack for a loaded machine (the bound was 1.5 s against a 2 s answer).
    assert elapsed_s < answer_delay_s
    assert len(server.model_requests()) == 1
    assert_no_key(outcome, provider)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_dropped_connection_is_a_connection_error(provider, server):
    outcome = compare_once(provider, server, fake.dropped())

    assert isinstance(outcome, ProviderError)
    assert (outcome.error_type, outcome.retryable) == ("connection", True)
    assert len(server.model_requests()) == 1
    assert_no_key(outcome, provider)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_connection_is_a_connection_error(provider):
    with FakeProviderServer() as closed:
        pass  # started and stopped: its port now refuses connections
    outcome = compare_once(provider, closed, timeout_s=FAST_TIMEOUT_S)
    assert isinstance(outcome, ProviderError)
    assert outcome.error_type == "connection"


# ---- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "key_variable", "url_variable"),
    [
        ("anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        ("openai", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ],
)
def test_the_key_and_base_url_come_from_the_environment(
    provider, key_variable, url_variable, server, monkeypatch
):
    monkeypatch.setenv(key_variable, KEYS[provider])
    monkeypatch.setenv(url_variable, server.url if provider == "anthropic" else server.openai_url)
    server.script(fake.verdict())
    kind = AnthropicProvider if provider == "anthropic" else OpenAIProvider

    async def go() -> ProviderVerdict:
        async with kind(runtime=PinnedRuntime(), model=MODELS[provider]) as adapter:
            return await adapter.compare(a_call())

    assert run(go).winner == "Essay A"
    [request] = server.model_requests()
    assert request.headers["authorization"] == f"Bearer {KEYS[provider]}"

    monkeypatch.delenv(key_variable)
    with pytest.raises(ValueError, match=key_variable):
        kind(runtime=PinnedRuntime(), model=MODELS[provider])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_call_without_a_model_fails_before_any_request(provider, server):
    outcome = compare_once(provider, server, fake.verdict(), model=None)
    assert isinstance(outcome, ProviderError)
    assert (outcome.error_type, outcome.retryable) == ("client_error", False)
    assert server.requests == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_both_adapters_are_batch_providers(provider, server):
    adapter = make(provider, server)
    assert isinstance(adapter, BatchProvider)
    assert adapter.name == provider
    run(adapter.aclose)


# ---- batches -----------------------------------------------------------------------------------


def _outcomes(
    provider: str, server: FakeProviderServer, drive: Callable[[str, list[str]], None], n: int = 4
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Submit ``n`` calls as a batch, poll once before ``drive(job_id, custom_ids)`` and once
    after; return both polls' ``(ended, results)`` and the job id."""

    async def go() -> tuple[dict[str, Any], dict[str, Any], str]:
        async with make(provider, server) as adapter:
            job_id = await adapter.submit_batch([a_call(i) for i in range(1, n + 1)])
            before = await adapter.poll_batch(job_id)
            drive(job_id, server.batch(job_id).custom_ids)
            after = await adapter.poll_batch(job_id)
        return (
            {"ended": before.ended, "results": dict(before.results)},
            {"ended": after.ended, "results": dict(after.results)},
            job_id,
        )

    return run(go)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_batch_returns_results_out_of_order_by_custom_id(provider, server):
    usage = Usage(input_tokens=10, output_tokens=20, cache_read_tokens=900)

    def drive(job_id: str, ids: list[str]) -> None:
        batch = server.batch(job_id)
        batch.publish(ids[2], fake.succeeded(fake.verdict("Essay B", usage=usage)))
        batch.publish(ids[0], fake.errored("invalid_request_error", 400))
        batch.publish(ids[3], fake.expired())
        batch.publish(ids[1], fake.errored("api_error", 500))
        batch.end("expired" if provider == "openai" else "completed")

    before, after, _ = _outcomes(provider, server, drive)

    assert before == {"ended": False, "results": {}}
    assert after["ended"] is True
    ids = [a_call(i).custom_id for i in range(1, 5)]
    results = after["results"]
    assert set(results) == set(ids)
    verdict = results[ids[2]]
    assert isinstance(verdict, ProviderVerdict)
    assert verdict.winner == "Essay B"
    assert (verdict.usage.prompt_tokens, verdict.usage.cache_read_tokens) == (910, 900)
    invalid, server_failure, gone = results[ids[0]], results[ids[1]], results[ids[3]]
    assert (invalid.error_type, invalid.retryable) == ("client_error", False)
    assert invalid.detail.correlation_id == "corr-1"
    assert invalid.detail.details["provider_request_id"]
    assert (server_failure.error_type, server_failure.retryable) == ("server_error", True)
    assert (gone.error_type, gone.retryable) == ("batch_expired", False)
    assert gone.detail.correlation_id == "corr-4"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_batch_reports_partial_results_and_leaves_the_missing_to_the_engine(provider, server):
    def drive(job_id: str, ids: list[str]) -> None:
        batch = server.batch(job_id)
        batch.results_before_end = True
        batch.publish(ids[1], fake.succeeded())
        batch.publish(ids[0], fake.canceled())

    _, partial, _ = _outcomes(provider, server, drive, n=3)

    assert partial["ended"] is False
    assert set(partial["results"]) == {a_call(1).custom_id, a_call(2).custom_id}
    assert partial["results"][a_call(1).custom_id].error_type == "batch_expired"
    assert isinstance(partial["results"][a_call(2).custom_id], ProviderVerdict)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_truncated_batch_answer_is_a_max_tokens_error(provider, server):
    def drive(job_id: str, ids: list[str]) -> None:
        server.batch(job_id).publish(ids[0], fake.succeeded(fake.truncated())).end()

    _, after, _ = _outcomes(provider, server, drive, n=1)
    assert after["results"][a_call(1).custom_id].error_type == "max_tokens"


def test_an_anthropic_batch_carries_the_same_params_as_a_single_call(server):
    _outcomes("anthropic", server, lambda job_id, ids: None, n=2)
    create = next(r for r in server.requests if r.path == "/v1/messages/batches")
    first = create.body["requests"][0]
    assert first["custom_id"] == a_call(1).custom_id
    assert first["params"]["tool_choice"]["name"] == "record_judgement"
    assert first["params"]["messages"][0]["content"][0]["cache_control"]["ttl"] == "1h"


def test_an_openai_batch_uploads_responses_lines_and_a_24h_window(server):
    _outcomes("openai", server, lambda job_id, ids: None, n=2)
    upload = next(r for r in server.requests if r.path == "/v1/files")
    assert upload.body["purpose"] == "batch"
    lines = [json.loads(line) for line in upload.body["file"].splitlines()]
    assert [line["custom_id"] for line in lines] == [a_call(1).custom_id, a_call(2).custom_id]
    assert {(line["method"], line["url"]) for line in lines} == {("POST", "/v1/responses")}
    assert lines[0]["body"]["text"]["format"]["type"] == "json_schema"
    create = next(r for r in server.requests if r.path == "/v1/batches")
    assert create.body["endpoint"] == "/v1/responses"
    assert create.body["completion_window"] == "24h"


def test_a_failed_openai_batch_fails_every_item(server):
    _, after, _ = _outcomes(
        "openai", server, lambda job_id, ids: server.batch(job_id).end("failed"), n=2
    )
    assert after["ended"] is True
    assert {outcome.error_type for outcome in after["results"].values()} == {"client_error"}
    assert len(after["results"]) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_poll_that_fails_transiently_is_an_empty_poll_and_a_lasting_failure_raises(
    provider, server
):
    async def go() -> tuple[Any, ProviderError]:
        async with make(provider, server) as adapter:
            job_id = await adapter.submit_batch([a_call(1)])
            server.interrupt(fake.overloaded())
            transient = await adapter.poll_batch(job_id)
            server.interrupt(fake.unauthorized())
            with pytest.raises(ProviderError) as lasting:
                await adapter.poll_batch(job_id)
        return transient, lasting.value

    transient, lasting = run(go)
    assert (transient.ended, dict(transient.results)) == (False, {})
    assert lasting.error_type == "authentication"
    assert_no_key(lasting, provider)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_batch_submission_raises_a_classified_error(provider, server):
    server.interrupt(fake.rate_limited(retry_after="30"))

    async def go() -> ProviderError:
        async with make(provider, server) as adapter:
            with pytest.raises(ProviderError) as refused:
                await adapter.submit_batch([a_call(1), a_call(2)])
        return refused.value

    refused = run(go)
    assert (refused.error_type, refused.detail.details["retry_after_s"]) == ("rate_limit", 30.0)


# ---- the engine's retry path -------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("answer", "delay_s"),
    [
        (fake.rate_limited(retry_after="7"), 7.0),
        (fake.rate_limited(retry_after_ms="1500"), 1.5),
        (fake.rate_limited(retry_after="600"), 120.0),  # bounded by RETRY_AFTER_MAX_S
        (fake.quota_exhausted(), None),  # never retried
    ],
)
def test_the_engine_waits_what_the_provider_asked(provider, server, answer, delay_s):
    outcome = compare_once(provider, server, answer)
    assert isinstance(outcome, ProviderError)
    settings = Settings.for_simulation()
    assert retry_delay_s(outcome.detail, 0, settings, Rng(1)) == delay_s


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_engine_backs_off_when_no_retry_after_was_sent(provider, server):
    outcome = compare_once(provider, server, fake.overloaded())
    assert isinstance(outcome, ProviderError)
    settings = Settings.for_simulation()
    delay = retry_delay_s(outcome.detail, 1, settings, Rng(1))
    assert delay is not None
    assert 0.75 * 2 * settings.RETRY_BACKOFF_BASE_S < delay <= 2 * settings.RETRY_BACKOFF_BASE_S


# ---- the translation itself --------------------------------------------------------------------


def test_redact_removes_known_secrets_and_key_shapes():
    text = (
        "key sk-ant-api03-abcdefgh12, sk-proj-****wxyz, Authorization: Bearer tok_12345678, "
        "x-api-key: 'abcdefgh99', custom s3cr3t-value-123"
    )
    clean = redact(text, ["s3cr3t-value-123", "short"])
    for secret in ("abcdefgh12", "wxyz", "tok_12345678", "abcdefgh99", "s3cr3t-value-123"):
        assert secret not in clean
    assert "custom" in clean
    assert clean.startswith("key ")


def test_translate_leaves_anything_that_is_not_an_sdk_failure_alone():
    sdk = SdkExceptions(
        base=LookupError,
        status=KeyError,
        connection=OSError,
        timeout=TimeoutError,
        validation=IndexError,
    )
    assert (
        translate(
            RuntimeError("a bug"),
            sdk,
            provider="p",
            correlation_id="c",
            timestamp=datetime(2026, 1, 1, tzinfo=UTC),
            secrets=(),
        )
        is None
    )
