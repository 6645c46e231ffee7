"""Prompt caching on the wire: what the official SDKs really sent, as the fake server received it.

The assessment context (student assignment, criteria, judge instructions) leads every
comparison of a batch and is worth caching; the essays are not. Anthropic: one
``cache_control`` breakpoint on the last block of the leading cacheable run, wherever that run
lands (the system prompt or the user turn). OpenAI: a top-level ``prompt_cache_key`` derived
from that run alone, so one rubric is one key.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.cj.prompts import AssessmentContext, comparison_blocks, render
from engine.contracts import PromptBlock
from engine.lps.calls import ProviderCall
from tests.live import fake_provider_server as fake
from tests.live.adapters_under_test import a_call, make, run
from tests.live.fake_provider_server import FakeProviderServer

RUBRIC = AssessmentContext(
    student_prompt="Write about a journey.",
    assessment_criteria="Structure, evidence, style.",
    judge_instructions="Be decisive.",
)


def sent(provider: str, server: FakeProviderServer, *calls: ProviderCall) -> list[dict[str, Any]]:
    """Compare each call through the real SDK; the bodies the server received, in order."""
    server.script(*(fake.verdict() for _ in calls))

    async def go() -> None:
        async with make(provider, server) as adapter:
            for call in calls:
                await adapter.compare(call)

    run(go)
    return [request.body for request in server.model_requests()]


def call_with(blocks: tuple[PromptBlock, ...], number: int = 1) -> ProviderCall:
    return a_call(number, prompt_blocks=blocks, user_prompt=render(blocks))


def blocks_for(context: AssessmentContext, number: int = 1) -> tuple[PromptBlock, ...]:
    essays = (f"essay-a-{number}", "North by train."), (f"essay-b-{number}", "A dusty road.")
    return comparison_blocks(context, *essays, cache_ttl="5m")


def cached_blocks(body: dict[str, Any]) -> list[tuple[str, int]]:
    """Where ``cache_control`` sits: ``("system", i)`` or ``("user", i)``."""
    places = [("system", i) for i, block in enumerate(body.get("system", []))
              if "cache_control" in block]  # fmt: skip
    content = body["messages"][0]["content"]
    return places + [("user", i) for i, block in enumerate(content) if "cache_control" in block]


# ---- Anthropic ---------------------------------------------------------------------------------


def test_anthropic_caches_the_rubric_in_the_user_turn_with_its_ttl(server):
    [body] = sent("anthropic", server, call_with(blocks_for(RUBRIC)))
    assert cached_blocks(body) == [("user", 0)]
    rubric = body["messages"][0]["content"][0]
    assert rubric["cache_control"] == {"type": "ephemeral", "ttl": "5m"}
    assert rubric["text"].startswith("**Student Assignment:**")


def test_anthropic_caches_a_rubric_moved_into_the_system_prompt_there(server):
    rubric, essays, instruction = blocks_for(RUBRIC)
    moved = (rubric.model_copy(update={"target": "system"}), essays, instruction)
    [body] = sent("anthropic", server, call_with(moved))
    assert cached_blocks(body) == [("system", 1)]  # after the system prompt, before the essays
    assert body["system"][1]["text"] == rubric.content
    assert [block["text"] for block in body["messages"][0]["content"]] == [
        essays.content,
        instruction.content,
    ]


def test_anthropic_places_no_breakpoint_without_a_leading_cacheable_block(server):
    _, essays, instruction = blocks_for(RUBRIC)
    [body] = sent("anthropic", server, call_with((essays, instruction)))
    assert cached_blocks(body) == []  # the instruction follows the essays: never cached


# ---- OpenAI ------------------------------------------------------------------------------------


def test_openai_sends_one_cache_key_per_rubric_at_the_top_of_the_body(server):
    other = AssessmentContext(student_prompt="Write about a home.")
    bodies = sent(
        "openai",
        server,
        call_with(blocks_for(RUBRIC, 1)),
        call_with(blocks_for(RUBRIC, 2)),
        call_with(blocks_for(other, 3)),
    )
    keys = [body["prompt_cache_key"] for body in bodies]
    assert keys[0] == keys[1] != keys[2]  # the essays do not change it; the rubric does
    assert all(key.startswith("cjsim-") and len(key) == len("cjsim-") + 32 for key in keys)
    first_user_part = bodies[0]["input"][0]["content"][0]
    assert first_user_part == {"type": "input_text", "text": blocks_for(RUBRIC)[0].content}


@pytest.mark.parametrize("leading", ["none", "essays_first"])
def test_openai_sends_no_cache_key_without_a_leading_cacheable_block(server, leading):
    rubric, essays, instruction = blocks_for(RUBRIC)
    blocks = (essays, instruction) if leading == "none" else (essays, rubric, instruction)
    [body] = sent("openai", server, call_with(blocks))
    assert "prompt_cache_key" not in body
