"""The adapters under test: built against the fake server, with one call and one runner.

``make`` builds an adapter whose SDK client points at a ``FakeProviderServer`` and whose runtime
is ``PinnedRuntime`` (the server's ``utcnow`` is pinned at the same ``NOW`` by the ``server``
fixture in ``conftest``); ``a_call`` is a realistic comparison with a cacheable rubric;
``compare_once`` scripts answers and returns what one ``compare`` produced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from engine.cj.prompts import SYSTEM_PROMPT, AssessmentContext, comparison_blocks, render
from engine.live.runtime import AsyncioRuntime
from engine.lps.calls import ProviderCall, ProviderVerdict
from engine.lps.errors import ProviderError
from engine.lps.providers.anthropic_provider import AnthropicProvider
from engine.lps.providers.openai_provider import OpenAIProvider
from tests.live import fake_provider_server as fake
from tests.live.fake_provider_server import FakeProviderServer

T = TypeVar("T")
Adapter = AnthropicProvider | OpenAIProvider

PROVIDERS = ("anthropic", "openai")
KEYS = {
    "anthropic": "sk-ant-api03-TESTKEY0123456789abcdefXYZ",
    "openai": "sk-proj-TESTKEY0123456789abcdefXYZ",
}
MODELS = {"anthropic": "claude-fake-5", "openai": "gpt-fake-5.1"}
FAST_TIMEOUT_S = 0.2
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # the calendar of both the server and the adapters


class PinnedRuntime(AsyncioRuntime):
    """The live runtime with its calendar pinned at ``NOW``: resets measured from it are exact
    (its ``now()`` still runs, so calls are still timed)."""

    def utcnow(self) -> datetime:
        return NOW


def make(provider: str, server: FakeProviderServer, **kwargs: Any) -> Adapter:
    options: dict[str, Any] = {
        "runtime": PinnedRuntime(),
        "model": MODELS[provider],
        "api_key": KEYS[provider],
        "timeout_s": 5.0,
    }
    options.update(kwargs)
    if provider == "anthropic":
        return AnthropicProvider(base_url=server.url, **options)
    return OpenAIProvider(base_url=server.openai_url, **options)


def a_call(number: int = 1, **overrides: Any) -> ProviderCall:
    context = AssessmentContext(
        student_prompt="Write about a journey.",
        assessment_criteria="Structure, evidence, style.",
        judge_instructions="Be decisive.",
    )
    blocks = comparison_blocks(
        context,
        (f"essay-a-{number}", "We went north by train."),
        (f"essay-b-{number}", "The road was long and dusty."),
        cache_ttl="1h",
    )
    fields: dict[str, Any] = {
        "correlation_id": f"corr-{number}",
        "provider": "p",
        "model": "",
        "system_prompt": SYSTEM_PROMPT,
        "user_prompt": render(blocks),
        "prompt_sha256": "0" * 64,
        "temperature": 0.1,
        "max_tokens": 300,
        "prompt_blocks": blocks,
        "custom_id": f"00000000-0000-4000-8000-{number:012d}",
    }
    fields.update(overrides)
    return ProviderCall(**fields)


def run(make_coro: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await make_coro()

    return asyncio.run(main())


def compare_once(
    provider: str, server: FakeProviderServer, *answers: fake.Answer, **kwargs: Any
) -> ProviderVerdict | ProviderError:
    """Script ``answers``, make one ``compare`` call, and return what came out of it."""
    server.script(*answers)

    async def go() -> ProviderVerdict | ProviderError:
        async with make(provider, server, **kwargs) as adapter:
            try:
                return await adapter.compare(a_call())
            except ProviderError as exc:
                return exc

    return run(go)


def assert_no_key(error: ProviderError, provider: str) -> None:
    key = KEYS[provider]
    texts = (str(error), error.detail.model_dump_json(), repr(error.detail.details))
    for text in texts:
        assert key not in text
        assert key[-10:] not in text  # not even its tail
    assert error.__cause__ is None  # the SDK exception (and its request) is not chained
    assert error.__suppress_context__
