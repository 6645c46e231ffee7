"""Which provider a live run calls: Anthropic, OpenAI, or the engine's mock.

The SDK adapters read their keys (``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``) and, unless the
configuration names one, their base URLs (``ANTHROPIC_BASE_URL``, ``OPENAI_BASE_URL``) from the
environment. ``--dry-run`` swaps in the mock whatever the configuration says, so the whole flow
can be rehearsed without a key or a network.
"""

from __future__ import annotations

from engine.live.config import LiveConfig, LiveConfigError
from engine.lps.providers.anthropic_provider import AnthropicProvider
from engine.lps.providers.mock import MockProvider
from engine.lps.providers.openai_provider import OpenAIProvider
from engine.ports import Provider, Runtime
from engine.settings import Settings

__all__ = ["build_provider"]


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
            model=spec.model,
            base_url=spec.base_url,
            timeout_s=spec.timeout_s,
            max_tokens=settings.LLM_MAX_TOKENS,
        )
    except ValueError as exc:  # no API key in the environment
        raise LiveConfigError(
            f"provider.name: {spec.name}: {exc} (or run with --dry-run)"
        ) from None
