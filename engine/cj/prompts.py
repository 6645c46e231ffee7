"""The comparison prompt, in the original's blocks.

1. A cacheable context block: the student assignment, the assessment criteria and the judge
   instructions (shared by every comparison of a batch, so it is worth caching).
2. The two essays, "Essay A (ID: ...)" and "Essay B (ID: ...)".
3. A cacheable answer instruction: JSON with ``winner``, ``justification`` and ``confidence``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from engine.contracts import PromptBlock

__all__ = ["SYSTEM_PROMPT", "AssessmentContext", "comparison_blocks", "render"]

SYSTEM_PROMPT = (
    "You are an impartial comparative judgement assessor. Compare the two essays on their "
    "merits against the assessment criteria, ignoring their order, and justify your "
    "judgement in at most 50 words."
)

ANSWER_INSTRUCTION = (
    "Using the Student Assignment, Assessment Criteria, and Judge Instructions above, "
    "determine which essay better fulfills the requirements. Respond with JSON indicating the "
    "`winner` ('Essay A' or 'Essay B'), a brief `justification`, and a `confidence` rating from "
    "1-5 (5 = very confident). Provide a decisive judgment."
)


@dataclass(frozen=True, slots=True)
class AssessmentContext:
    student_prompt: str = ""
    assessment_criteria: str = ""
    judge_instructions: str = ""


CacheTTL = Literal["5m", "1h"]


@lru_cache(maxsize=256)
def _shared_block(content: str, ttl: CacheTTL) -> PromptBlock:
    """A cacheable block is the same for every pair of a batch: hash it once."""
    return _block(content, cacheable=True, ttl=ttl)


def _block(content: str, *, cacheable: bool, ttl: CacheTTL | None) -> PromptBlock:
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    # Validated, not model_construct: pydantic-core's validation is the faster of the two.
    return PromptBlock(
        content=content, cacheable=cacheable, ttl=ttl if cacheable else None, content_hash=digest
    )


def comparison_blocks(
    context: AssessmentContext,
    essay_a: tuple[str, str],
    essay_b: tuple[str, str],
    *,
    cache_ttl: CacheTTL,
) -> tuple[PromptBlock, ...]:
    """``essay_a``/``essay_b`` are ``(essay_id, text)``."""
    parts = [
        (label, text)
        for label, text in (
            ("Student Assignment", context.student_prompt),
            ("Assessment Criteria", context.assessment_criteria),
            ("Judge Instructions", context.judge_instructions),
        )
        if text
    ]
    blocks = []
    if parts:
        blocks.append(
            _shared_block("\n\n".join(f"**{label}:**\n{text}" for label, text in parts), cache_ttl)
        )
    essays = (
        f"**Essay A (ID: {essay_a[0]}):**\n{essay_a[1]}\n\n"
        f"**Essay B (ID: {essay_b[0]}):**\n{essay_b[1]}"
    )
    blocks.append(_block(essays, cacheable=False, ttl=None))
    blocks.append(_shared_block(ANSWER_INSTRUCTION, cache_ttl))
    return tuple(blocks)


def render(blocks: tuple[PromptBlock, ...]) -> str:
    """The user prompt as one string: the blocks in order, blank-line separated."""
    return "\n\n".join(block.content for block in blocks)
