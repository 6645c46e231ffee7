"""The mock provider: the original's modes, reproducible in any process."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engine.lps.calls import ProviderCall
from engine.lps.errors import ProviderError
from engine.lps.providers.mock import MockProvider, mock_winner
from engine.settings import Settings
from sim.adapters.runtime import SimRuntime

REPO = Path(__file__).resolve().parents[2]


def _call(i: int, words: int = 40) -> ProviderCall:
    prompt = f"compare pair {i} " + "word " * words
    return ProviderCall(
        correlation_id=f"corr-{i}",
        provider="openai",
        model="gpt-5.1",
        system_prompt="judge",
        user_prompt=prompt,
        prompt_sha256=hashlib.sha256(prompt.encode()).hexdigest(),
    )


def _answers(mode: str, count: int = 200, **settings):
    runtime = SimRuntime()
    provider = MockProvider(runtime, Settings.for_simulation(MOCK_MODE=mode, **settings))
    answers = []

    async def main():
        for i in range(count):
            started = runtime.now()
            try:
                verdict = await provider.compare(_call(i))
            except ProviderError as exc:
                answers.append(exc)
                continue
            answers.append((verdict, runtime.now() - started))

    runtime.run(main())
    return answers


def _value(i):
    return int(hashlib.sha256(_call(i).user_prompt.encode()).hexdigest()[:8], 16)


@pytest.mark.parametrize(
    ("mode", "rule"),
    [
        ("cj_generic_batch", lambda v: True),
        ("eng5_lower5_gpt51_low", lambda v: v % 10 < 4),
        ("eng5_anchor_gpt51_low", lambda v: v % 66 < 35),
        ("default", lambda v: v % 2 == 0),
    ],
)
def test_winners_follow_the_original_rules(mode, rule):
    for i, (verdict, _) in enumerate(_answers(mode, 100)):
        assert (verdict.winner == "Essay A") is rule(_value(i))
        assert mock_winner(mode, _call(i).user_prompt) == verdict.winner


@pytest.mark.parametrize(
    ("mode", "prompt_floor", "completion_floor", "latency_s"),
    [
        ("cj_generic_batch", 5, 17, (0.0, 0.0)),
        ("eng5_lower5_gpt51_low", 1000, 30, (1.0, 2.0)),
        ("eng5_anchor_gpt51_low", 1100, 40, (1.2, 2.0)),
    ],
)
def test_token_floors_confidence_and_latency(mode, prompt_floor, completion_floor, latency_s):
    for verdict, elapsed in _answers(mode, 100):
        assert verdict.usage.prompt_tokens >= prompt_floor
        assert verdict.usage.completion_tokens >= completion_floor
        assert 4.36 <= verdict.confidence <= 4.84
        assert latency_s[0] <= elapsed <= latency_s[1]
        assert verdict.response_time_ms == round(elapsed * 1000)
        assert verdict.model == "mock-model-v1"


def test_the_default_mode_fails_at_its_error_rate_and_named_modes_never_fail():
    failures = [
        a for a in _answers("default", 400, MOCK_ERROR_RATE=0.25) if isinstance(a, ProviderError)
    ]
    # 117 of the seeded 400 at a rate of 0.25 (100 expected), of the two kinds the mode raises
    assert Counter(f.error_type for f in failures) == {"server_error": 77, "rate_limit": 40}
    named = _answers("eng5_anchor_gpt51_low", 100, MOCK_ERROR_RATE=1.0)
    assert not any(isinstance(a, ProviderError) for a in named)


def test_answers_are_identical_in_two_processes():
    code = (
        "from tests.lps.test_mock_provider import _answers\n"
        "print([(v.winner, v.confidence, v.usage.prompt_tokens, round(t, 6))"
        " for v, t in _answers('eng5_anchor_gpt51_low', 30)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            check=True,
            text=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "999")
    }
    assert len(outputs) == 1
