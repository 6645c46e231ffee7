"""The prompt a provider receives, and its fingerprint."""

from __future__ import annotations

import hashlib

from engine.contracts import LLMComparisonRequest

__all__ = ["DEFAULT_SYSTEM_PROMPT", "rendered_prompt"]

#: Used when a request carries no system prompt of its own.
DEFAULT_SYSTEM_PROMPT = (
    "You are an impartial judge. Compare the two essays and answer with the required JSON."
)


def rendered_prompt(request: LLMComparisonRequest) -> tuple[str, str, str]:
    """``(system prompt, user prompt, prompt_sha256)``; the hash covers both, as sent."""
    system = request.llm_config_overrides.system_prompt_override or DEFAULT_SYSTEM_PROMPT
    user = request.user_prompt
    # Hashed in pieces: no copy of a prompt of several kilobytes just to hash it.
    hasher = hashlib.sha256(system.encode())
    hasher.update(b"\n\n")
    hasher.update(user.encode())
    digest = hasher.hexdigest()
    return system, user, digest
