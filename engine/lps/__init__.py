"""The LLM Provider Service side of the engine: queue, strategies, errors, retries, providers."""
