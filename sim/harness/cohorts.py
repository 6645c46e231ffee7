"""Who is compared: the built-in anchor sets, generated students, and their latent quality.

Quality is on the Bradley–Terry scale: the simulated judge picks essay A with probability
``sigmoid(quality_A - quality_B + position_bias)``. Anchors sit at
``anchor_quality_per_grade * (grade index - centre)``; students are drawn from the scenario's
distribution (stream ``cohort``). Texts are seeded filler of the requested length, enough for
token counts and prompt hashes to behave as real essays do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.cj.grade_scales import scale_named
from engine.cj.intake import ANCHOR_PREFIX, AnchorInput, BatchRequest, EssayInput, LLMChoice
from engine.randomness import Rng, Streams
from sim.harness.distributions import draw
from sim.harness.scenario import AnchorSpec, Scenario

__all__ = ["ENG5_ANCHORS", "ENG5_LOWER5", "Cohort", "build_cohort", "canonical_essay_key"]

ENG5_ANCHORS: tuple[AnchorSpec, ...] = tuple(
    AnchorSpec(ref=ref, grade=grade)
    for ref, grade in (
        ("eng5_fplus_1", "F+"),
        ("eng5_fplus_2", "F+"),
        ("eng5_eminus", "E-"),
        ("eng5_eplus", "E+"),
        ("eng5_dminus", "D-"),
        ("eng5_dplus", "D+"),
        ("eng5_cminus", "C-"),
        ("eng5_cplus", "C+"),
        ("eng5_b_1", "B"),
        ("eng5_b_2", "B"),
        ("eng5_a_1", "A"),
        ("eng5_a_2", "A"),
    )
)
ENG5_LOWER5 = tuple(a for a in ENG5_ANCHORS if a.grade in ("F+", "E-", "E+", "D-"))

VOCABULARY = (
    "role",
    "model",
    "because",
    "influence",
    "young",
    "people",
    "example",
    "believe",
    "society",
    "important",
    "however",
    "famous",
    "athlete",
    "teacher",
    "parent",
    "inspire",
    "behaviour",
    "responsibility",
    "media",
    "choose",
    "career",
    "success",
    "failure",
    "honest",
    "values",
    "argument",
    "therefore",
    "furthermore",
    "opinion",
    "experience",
    "community",
    "celebrity",
)


def canonical_essay_key(essay_id: str) -> str:
    """The stable name of an essay across runs: an anchor's ref (its engine id carries a
    per-run suffix, ``ANCHOR_<ref>_<hex>``), a student's own id."""
    if essay_id.startswith(ANCHOR_PREFIX):
        body = essay_id[len(ANCHOR_PREFIX) :]
        ref, _, suffix = body.rpartition("_")
        return ref if ref and len(suffix) == 8 else body
    return essay_id


@dataclass(frozen=True, slots=True)
class Cohort:
    anchors: tuple[AnchorSpec, ...]
    students: tuple[EssayInput, ...]
    anchor_texts: Mapping[str, str]
    quality: Mapping[str, float]  # canonical key -> latent quality

    def batch_request(self, scenario: Scenario, number: int) -> BatchRequest:
        provider = scenario.provider
        return BatchRequest(
            bos_batch_id=f"{scenario.name}-{number}",
            students=self.students,
            anchors=tuple(
                AnchorInput(anchor_ref_id=a.ref, grade=a.grade, text=self.anchor_texts[a.ref])
                for a in self.anchors
            ),
            grade_scale=scenario.cohort.grade_scale,
            max_comparisons_override=scenario.budget,
            llm=LLMChoice(
                provider=provider.name,
                model=provider.model,
                reasoning_effort=provider.reasoning_effort,
            ),
        )


def _text(rng: Rng, words: int) -> str:
    return " ".join(rng.choices(VOCABULARY, k=words))


def build_cohort(scenario: Scenario, streams: Streams) -> Cohort:
    spec = scenario.cohort
    anchors: tuple[AnchorSpec, ...]
    if spec.anchors == "eng5":
        anchors = ENG5_ANCHORS
    elif spec.anchors == "eng5_lower5":
        anchors = ENG5_LOWER5
    elif spec.anchors == "none":
        anchors = ()
    else:
        anchors = tuple(spec.anchors)
    scale = scale_named(spec.grade_scale)
    texts = streams.random("cohort.texts")
    quality: dict[str, float] = {}
    if anchors:
        centre = (len(scale.grades) - 1) / 2
        for anchor in anchors:
            quality[anchor.ref] = (
                anchor.quality
                if anchor.quality is not None
                else spec.anchor_quality_per_grade * (scale.index(anchor.grade) - centre)
            )
    anchor_texts = {anchor.ref: _text(texts, anchor.words) for anchor in anchors}
    draws = streams.random("cohort")
    students = []
    for essay_id in spec.students.names:
        quality[essay_id] = draw(spec.students.quality, draws)
        students.append(EssayInput(essay_id=essay_id, text=_text(texts, spec.students.words)))
    return Cohort(anchors, tuple(students), anchor_texts, quality)
