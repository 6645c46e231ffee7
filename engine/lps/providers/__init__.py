"""Provider adapters behind the ``Provider`` port: the mock here; Anthropic and OpenAI through
their official SDKs (live only).

``mock`` the reproducible mock; ``sdk_provider`` what both SDK adapters share, and
``anthropic_provider`` / ``openai_provider`` their wire formats; ``sdk_errors`` SDK exceptions
translated into the engine's taxonomy; ``rate_limits`` response headers read into
``RateLimitHints``; ``preflight`` the live run's first, free call and its ``PreflightFailed``.
"""
