"""Which provider a live run calls (Anthropic, OpenAI, or the engine's mock), and its preflight.

The SDK adapters read their keys (``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``) and, unless the
configuration names one, their base URLs (``ANTHROPIC_BASE_URL``, ``OPENAI_BASE_URL``) from the
environment, and their time from the run's runtime. ``--dry-run`` swaps in the mock whatever the
configuration says, so the whole flow can be rehearsed without a key or a network.

``preflight(provider)`` is the run's first call, before any comparison: one free model lookup
that checks the key, the model and the endpoint, raising ``PreflightFailed`` with one line for
the user. The adapter bounds each phase of the lookup; ``PREFLIGHT_DEADLINE_S`` bounds the whole
of it here, on the real clock, in case a peer trickles bytes forever.
"""

from __future__ import annotations

import asyncio

from engine.live.config import LiveConfig, LiveConfigError
from engine.live.runtime import AsyncioRuntime
from engine.lps.providers.anthropic_provider import AnthropicProvider
from engine.lps.providers.mock import MockProvider
from engine.lps.providers.openai_provider import OpenAIProvider
from engine.lps.providers.preflight import PreflightFailed
from engine.ports import Provider, Runtime, TaskCrashed
from engine.settings import Settings

__all__ = [
    "PREFLIGHT_DEADLINE_S",
    "PreflightFailed",
    "build_provider",
    "check_provider",
    "preflight",
]

PREFLIGHT_DEADLINE_S = 9.0  # above the adapter's own bounds (2 x 4 s), below 10 s


def build_provider(
    config: LiveConfig, settings: Settings, runtime: Runtime, *, dry_run: bool
) -> Provider:
    """The provider a live run calls; ``LiveConfigError`` when its API key is missing."""
    spec = config.provider
    if dry_run or spec.name == "mock":
        return MockProvider(runtime, settings)
    adapter: type[AnthropicProvider | OpenAIProvider] = (
        AnthropicProvider if spec.name == "anthropic" else OpenAIProvider
    )
    try:
        return adapter(
            runtime=runtime,
            model=spec.model,
            base_url=spec.base_url,
            timeout_s=spec.timeout_s,
            max_tokens=settings.LLM_MAX_TOKENS,
        )
    except ValueError as exc:  # no API key in the environment
        raise LiveConfigError(
            f"provider.name: {spec.name}: {exc} (or run with --dry-run)"
        ) from None


async def preflight(provider: Provider, *, deadline_s: float = PREFLIGHT_DEADLINE_S) -> None:
    """Check, with one free call, that ``provider`` can serve the run: its key, its model, its
    endpoint. ``PreflightFailed`` (one keyless line) if not; a provider with nothing to check
    (the mock) passes at once."""
    check = getattr(provider, "preflight", None)
    if check is None:
        return
    try:
        async with asyncio.timeout(deadline_s):
            await check()
    except TimeoutError:
        where = getattr(provider, "base_url", provider.name)
        raise PreflightFailed(
            f"cannot reach {where}: no answer within {deadline_s:g} s", problem="unreachable"
        ) from None


def check_provider(config: LiveConfig) -> None:
    """The preflight, on its own loop before anything is written: one free call that checks
    the key, the model and the endpoint. ``LiveConfigError`` (one line) if they cannot serve
    the run: a refused key, an unknown model, an endpoint that does not answer."""
    runtime = AsyncioRuntime()
    provider = build_provider(config, config.engine_settings(mock=False), runtime, dry_run=False)

    async def check() -> None:
        try:
            await preflight(provider)
        finally:
            aclose = getattr(provider, "aclose", None)
            if aclose is not None:
                await aclose()

    try:
        runtime.run(check())
    except TaskCrashed as crash:
        if isinstance(crash.__cause__, PreflightFailed):
            raise LiveConfigError(
                f"preflight: {crash.__cause__} (nothing was sent; --skip-preflight skips this)"
            ) from None
        raise
