"""The mock provider, with the original's modes, made reproducible.

Each request's answer is a pure function of the mode, the seed and the request:

* **winner**: from ``v = int(sha256(user_prompt)[:8], 16)``: ``cj_generic_batch`` always
  "Essay A"; ``eng5_lower5_gpt51_low`` A when ``v % 10 < 4``; ``eng5_anchor_gpt51_low`` A when
  ``v % 66 < 35``; ``default`` A when ``v`` is even;
* **justification**: one of five templates per winner, by ``sha[8:12] % 5``;
* **tokens**: prompt ``ceil(words * 0.75)`` over the two essays' text, completion the
  justification's estimate plus 10, with each mode's floors (generic 5/17, LOWER5 1000/30,
  anchor 1100/40);
* **confidence**: ``4 * c + 1`` with ``c = (4.5 +/- 0.3) / 5``, about 4.4 to 4.8;
* **latency**: anchor 1200 + U(0, 800) ms, LOWER5 1000 + U(0, 1000) ms, otherwise the configured
  base and jitter (0 by default), slept on the runtime clock.

The original drew its per-request randomness from ``random.Random(hash((seed, correlation_id)))``;
Python salts ``hash()`` per process, so its "seeded" answers differed between runs. We seed with
blake2b. Named modes never fail; ``default`` fails at ``MOCK_ERROR_RATE`` with one of
``MOCK_ERROR_CODES``, classified like any HTTP error.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from engine.lps.calls import ProviderCall, ProviderVerdict, TokenUsage
from engine.lps.errors import ProviderError, classify_http
from engine.ports import Runtime
from engine.randomness import Rng, stable_hash64
from engine.settings import Settings

__all__ = ["MOCK_MODEL", "MockProvider"]

MOCK_MODEL = "mock-model-v1"

JUSTIFICATIONS = {
    "Essay A": (
        "Essay A demonstrates stronger argumentation and clearer structure.",
        "Essay A provides more compelling evidence and better analysis.",
        "Essay A has superior organization and more persuasive language.",
        "Essay A shows better understanding of the topic with more detailed examples.",
        "Essay A maintains better coherence and has stronger conclusions.",
    ),
    "Essay B": (
        "Essay B presents a more convincing argument with better supporting evidence.",
        "Essay B demonstrates superior writing quality and clearer expression.",
        "Essay B shows more sophisticated analysis and deeper understanding.",
        "Essay B has better paragraph structure and more effective transitions.",
        "Essay B provides more relevant examples and stronger justification.",
    ),
}


@dataclass(frozen=True, slots=True)
class ModeProfile:
    latency_base_ms: float | None  # None: use the settings' base and jitter
    latency_jitter_ms: float
    prompt_floor: int
    completion_floor: int


PROFILES = {
    "default": ModeProfile(None, 0.0, 0, 0),
    "cj_generic_batch": ModeProfile(None, 0.0, 5, 17),
    "eng5_anchor_gpt51_low": ModeProfile(1200.0, 800.0, 1100, 40),
    "eng5_lower5_gpt51_low": ModeProfile(1000.0, 1000.0, 1000, 30),
}


def _essay_text(call: ProviderCall) -> str:
    """What the mock counts tokens of: the essays (the request's one non-cacheable block), or
    the whole user prompt when it came without blocks."""
    essays = [block.content for block in call.prompt_blocks if not block.cacheable]
    return "\n\n".join(essays) if essays else call.user_prompt


def mock_winner(mode: str, user_prompt: str) -> str:
    value = int(hashlib.sha256(user_prompt.encode("utf-8")).hexdigest()[:8], 16)
    if mode == "cj_generic_batch":
        return "Essay A"
    if mode == "eng5_lower5_gpt51_low":
        return "Essay A" if value % 10 < 4 else "Essay B"
    if mode == "eng5_anchor_gpt51_low":
        return "Essay A" if value % 66 < 35 else "Essay B"
    return "Essay A" if value % 2 == 0 else "Essay B"


class MockProvider:
    """The ``Provider`` port's mock. ``name`` is what the callback reports as the provider."""

    def __init__(self, runtime: Runtime, settings: Settings, *, name: str = "mock") -> None:
        self._runtime = runtime
        self._settings = settings
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def preflight(self) -> None:
        """Nothing to check: the mock has no key, no model list and no endpoint."""

    async def compare(self, call: ProviderCall) -> ProviderVerdict:
        settings = self._settings
        mode = settings.MOCK_MODE
        profile = PROFILES[mode]
        rng = Rng(stable_hash64("mock", settings.MOCK_SEED, call.correlation_id))
        base, jitter = (
            (settings.MOCK_LATENCY_BASE_MS, settings.MOCK_LATENCY_JITTER_MS)
            if profile.latency_base_ms is None
            else (profile.latency_base_ms, profile.latency_jitter_ms)
        )
        latency_ms = base + rng.uniform(0.0, jitter) if jitter else base
        if latency_ms:
            await self._runtime.sleep(latency_ms / 1000.0)
        if mode == "default" and rng.random() < settings.MOCK_ERROR_RATE:
            status = settings.MOCK_ERROR_CODES[rng.randrange(len(settings.MOCK_ERROR_CODES))]
            raise ProviderError(
                classify_http(
                    status,
                    headers={},
                    body={"error": {"message": "mock provider simulated error"}},
                    provider=self._name,
                    correlation_id=call.correlation_id,
                    timestamp=self._runtime.utcnow(),
                )
            )
        digest = hashlib.sha256(call.user_prompt.encode("utf-8")).hexdigest()
        winner = mock_winner(mode, call.user_prompt)
        justification = JUSTIFICATIONS[winner][int(digest[8:12], 16) % 5]
        words = len(_essay_text(call).split())
        prompt_tokens = max(profile.prompt_floor, math.ceil(words * settings.MOCK_TOKENS_PER_WORD))
        completion_tokens = max(
            profile.completion_floor,
            math.ceil(len(justification.split()) * settings.MOCK_TOKENS_PER_WORD) + 10,
        )
        jitter_c = settings.MOCK_CONFIDENCE_JITTER
        internal = (settings.MOCK_CONFIDENCE_BASE + rng.uniform(-jitter_c, jitter_c)) / 5.0
        return ProviderVerdict(
            winner=winner,  # type: ignore[arg-type]
            justification=justification,
            confidence=round(min(5.0, max(1.0, 4.0 * internal + 1.0)), 3),
            model=MOCK_MODEL,
            usage=TokenUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            response_time_ms=round(latency_ms),
            provider_request_id=f"mock-{digest[:16]}",
            stop_reason="end_turn",
        )
