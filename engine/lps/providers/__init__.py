"""Provider adapters behind the ``Provider`` port: the mock here; Anthropic and OpenAI through
their official SDKs (live only)."""
