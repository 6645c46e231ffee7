"""The preflight: one free model lookup before a live run, failing in one keyless sentence.

Each way a live run can be doomed from the start (a dead endpoint, a refused key, an unknown
model, a provider in trouble) is one ``PreflightFailed`` with the message the user reads, after
exactly one request, within its bound.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import anthropic
import httpx2
import pytest

from engine.live.providers import PREFLIGHT_DEADLINE_S, preflight
from engine.lps.providers.anthropic_provider import SDK as ANTHROPIC_SDK
from engine.lps.providers.anthropic_provider import AnthropicProvider
from engine.lps.providers.mock import MockProvider
from engine.lps.providers.openai_provider import OpenAIProvider
from engine.lps.providers.preflight import (
    PREFLIGHT_TIMEOUT_S,
    PreflightFailed,
    preflight_failure,
)
from engine.settings import Settings
from tests.live import fake_provider_server as fake
from tests.live.adapters_under_test import KEYS, MODELS, PROVIDERS, PinnedRuntime, make, run
from tests.live.fake_provider_server import FakeProviderServer

KEY_VARIABLES = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


def endpoint(provider: str, server: FakeProviderServer) -> str:
    return server.url if provider == "anthropic" else server.openai_url


def preflight_of(provider: str, server: FakeProviderServer, **kwargs: object) -> Exception | None:
    """Run the adapter's preflight once; the exception it raised, or None."""

    async def go() -> Exception | None:
        async with make(provider, server, **kwargs) as adapter:
            try:
                await preflight(adapter)
            except PreflightFailed as exc:
                return exc
        return None

    return run(go)


def assert_keyless(failure: Exception, provider: str) -> None:
    assert KEYS[provider] not in str(failure)
    assert KEYS[provider][-10:] not in str(failure)
    assert "\n" not in str(failure)
    assert failure.__cause__ is None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_known_model_with_a_good_key_passes_after_one_lookup(provider):
    with FakeProviderServer(models=[MODELS[provider]], api_key=KEYS[provider]) as server:
        assert preflight_of(provider, server) is None
        [request] = server.requests
    assert (request.method, request.path) == ("GET", f"/v1/models/{MODELS[provider]}")
    assert request.headers["x-stainless-retry-count"] == "0"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unknown_model_is_named_with_the_endpoint(provider):
    with FakeProviderServer(models=["another-model"]) as server:
        failure = preflight_of(provider, server)
        assert len(server.requests) == 1
    assert isinstance(failure, PreflightFailed)
    assert (failure.problem, failure.status) == ("unknown_model", 404)
    assert str(failure) == f"unknown model {MODELS[provider]!r} at {endpoint(provider, server)}"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_key_names_the_variable_and_never_the_key(provider):
    with FakeProviderServer(api_key="sk-the-right-key-0123456789") as server:
        failure = preflight_of(provider, server)
        assert len(server.requests) == 1
    assert isinstance(failure, PreflightFailed)
    assert (failure.problem, failure.status) == ("key_refused", 401)
    assert str(failure) == f"the API key was refused (401) — check {KEY_VARIABLES[provider]}"
    assert_keyless(failure, provider)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("answer", "status", "said"),
    [
        (
            fake.server_error(500),
            500,
            {"anthropic": "Internal server error", "openai": "The server had an error."},
        ),
        (
            fake.rate_limited(retry_after="30"),
            429,
            {
                "anthropic": "Number of request tokens has exceeded your rate limit.",
                "openai": "Rate limit reached for requests.",
            },
        ),
    ],
    ids=["500", "429"],
)
def test_any_other_status_is_refused_with_what_the_provider_said(
    provider, server, answer, status, said
):
    server.interrupt(answer)
    failure = preflight_of(provider, server)
    assert len(server.requests) == 1  # no SDK retry, not even of a 429 or a 500
    assert isinstance(failure, PreflightFailed)
    assert (failure.problem, failure.status) == ("refused", status)
    assert str(failure) == (
        f"{endpoint(provider, server)} answered {status} to the model lookup: {said[provider]}"
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_closed_port_cannot_be_reached(provider):
    with FakeProviderServer() as closed:
        pass  # started and stopped: its port now refuses connections
    failure = preflight_of(provider, closed)
    assert isinstance(failure, PreflightFailed)
    assert failure.problem == "unreachable"
    assert str(failure) == f"cannot reach {endpoint(provider, closed)}: connection refused"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers a byte."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_host_that_never_answers_fails_within_the_timeout(provider, silent_port):
    url = f"http://127.0.0.1:{silent_port}" + ("/v1" if provider == "openai" else "")

    async def go() -> PreflightFailed:
        kind = AnthropicProvider if provider == "anthropic" else OpenAIProvider
        adapter = kind(
            runtime=PinnedRuntime(), model=MODELS[provider], api_key=KEYS[provider], base_url=url
        )
        async with adapter:
            with pytest.raises(PreflightFailed) as failed:
                await adapter.preflight(timeout_s=0.3)
        return failed.value

    started = time.monotonic()
    failure = run(go)
    assert time.monotonic() - started < 2.0
    assert failure.problem == "unreachable"
    assert str(failure) == f"cannot reach {url}: no answer within 0.3 s"


def test_the_bounds_fail_a_dead_endpoint_well_within_30_seconds():
    # The adapter's timeout bounds the connection and, again, the answer; the live wrapper's
    # deadline bounds the whole lookup above both, and below 30 s.
    assert 2 * PREFLIGHT_TIMEOUT_S < PREFLIGHT_DEADLINE_S < 30


def test_the_live_deadline_stops_a_lookup_that_trickles_forever():
    class Trickling:
        name = "trickling"
        base_url = "https://api.example.test"

        async def preflight(self) -> None:
            await asyncio.sleep(60)

    async def go() -> PreflightFailed:
        with pytest.raises(PreflightFailed) as failed:
            await preflight(Trickling(), deadline_s=0.05)  # type: ignore[arg-type]
        return failed.value

    failure = asyncio.run(go())
    assert failure.problem == "unreachable"
    assert str(failure) == "cannot reach https://api.example.test: no answer within 0.05 s"


def test_the_mock_has_nothing_to_check():
    mock = MockProvider(PinnedRuntime(), Settings.for_simulation())
    assert asyncio.run(mock.preflight()) is None
    assert asyncio.run(preflight(mock)) is None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_adapter_without_a_model_has_nothing_to_ask_about(provider, server):
    failure = preflight_of(provider, server, model=None)
    assert isinstance(failure, PreflightFailed)
    assert failure.problem == "refused"
    assert "names none" in str(failure)
    assert server.requests == []


# ---- the translation alone ---------------------------------------------------------------------


def _connection_error(cause: BaseException) -> anthropic.APIConnectionError:
    error = anthropic.APIConnectionError(request=httpx2.Request("GET", "https://x.test"))
    error.__cause__ = httpx2.ConnectError(str(cause))
    error.__cause__.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (socket.gaierror(-2, "Name or service not known"), "host not found"),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (OSError(101, "Network is unreachable"), "no route to host"),
        (ConnectionResetError(104, "Connection reset by peer"), "the connection was dropped"),
        (OSError("something else"), "connection failed"),
    ],
)
def test_a_connection_failure_says_why_in_a_few_words(cause, reason):
    failure = preflight_failure(
        _connection_error(cause),
        ANTHROPIC_SDK,
        endpoint="https://api.anthropic.com",
        model="m",
        key_variable="ANTHROPIC_API_KEY",
        secrets=(),
        timeout_s=10,
    )
    assert failure is not None
    assert str(failure) == f"cannot reach https://api.anthropic.com: {reason}"


def test_a_timeout_names_the_bound():
    timeout = anthropic.APITimeoutError(request=httpx2.Request("GET", "https://x.test"))
    failure = preflight_failure(
        timeout,
        ANTHROPIC_SDK,
        endpoint="https://api.anthropic.com",
        model="m",
        key_variable="ANTHROPIC_API_KEY",
        secrets=(),
        timeout_s=10,
    )
    assert str(failure) == "cannot reach https://api.anthropic.com: no answer within 10 s"


def test_a_key_in_the_endpoint_or_the_provider_message_is_redacted():
    secret = "sk-ant-api03-SECRETSECRET0123"
    response = httpx2.Response(
        500,
        json={"type": "error", "error": {"type": "api_error", "message": f"bad key {secret}"}},
        request=httpx2.Request("GET", "https://x.test"),
    )
    error = anthropic.InternalServerError("boom", response=response, body=response.json())
    failure = preflight_failure(
        error,
        ANTHROPIC_SDK,
        endpoint=f"https://proxy.test/{secret}",
        model="m",
        key_variable="ANTHROPIC_API_KEY",
        secrets=(secret,),
        timeout_s=10,
    )
    assert failure is not None
    assert secret not in str(failure)
    assert "SECRET" not in str(failure)


def test_anything_that_is_not_an_sdk_failure_is_left_alone():
    assert (
        preflight_failure(
            RuntimeError("a bug"),
            ANTHROPIC_SDK,
            endpoint="https://api.anthropic.com",
            model="m",
            key_variable="ANTHROPIC_API_KEY",
            secrets=(),
            timeout_s=10,
        )
        is None
    )
