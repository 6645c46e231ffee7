"""A new CJ batch: students plus the anchors of a grade scale, a budget, and the first state."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.cj.completion import normalise_budget
from engine.cj.context import CJContext
from engine.cj.grade_scales import UnknownGrade, scale_named
from engine.cj.models import BatchState, BatchUpload, Essay
from engine.cj.prompts import AssessmentContext
from engine.cj.repository import next_batch_id, transition_upload
from engine.cj.states import BatchStateEnum, UploadEvent, UploadStatus
from engine.ports import Tx

__all__ = [
    "ANCHOR_PREFIX",
    "AnchorInput",
    "BatchRequest",
    "EssayInput",
    "InsertedBatch",
    "InvalidBatch",
    "LLMChoice",
    "create_batch",
    "insert_batch",
    "log_created",
]

ANCHOR_PREFIX = "ANCHOR_"


class InvalidBatch(ValueError):
    """The batch request cannot be processed as given."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EssayInput:
    essay_id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AnchorInput:
    anchor_ref_id: str
    grade: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LLMChoice:
    provider: str
    model: str
    reasoning_effort: str | None = None
    output_verbosity: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRequest:
    bos_batch_id: str
    students: tuple[EssayInput, ...]
    anchors: tuple[AnchorInput, ...] = ()
    grade_scale: str = "eng5_np_legacy_9_step"
    max_comparisons_override: int | None = None
    llm: LLMChoice | None = None
    context: AssessmentContext = field(default_factory=AssessmentContext)


def _validate(request: BatchRequest) -> None:
    seen: set[str] = set()
    for student in request.students:
        if student.essay_id.startswith(ANCHOR_PREFIX):
            raise InvalidBatch(
                f"student id {student.essay_id!r} must not start with {ANCHOR_PREFIX!r}"
            )
        if student.essay_id in seen:
            raise InvalidBatch(f"essay id {student.essay_id!r} appears twice")
        seen.add(student.essay_id)
    try:
        scale = scale_named(request.grade_scale)
        for anchor in request.anchors:
            scale.index(anchor.grade)
    except UnknownGrade as exc:
        raise InvalidBatch(str(exc)) from None
    if len({a.anchor_ref_id for a in request.anchors}) != len(request.anchors):
        raise InvalidBatch("anchor_ref_id values must be unique")


@dataclass(frozen=True, slots=True)
class InsertedBatch:
    """A batch's rows, written inside a transaction that has not committed yet."""

    cj_batch_id: int
    budget: int
    budget_source: str


async def create_batch(ctx: CJContext, request: BatchRequest) -> int:
    """Store the batch (upload FETCHING_CONTENT, state INITIALIZING) in a transaction of its own
    and return its id. The first wave comes later, in another transaction: the original's way,
    kept for ``LEGACY_NON_ATOMIC_BATCH_CREATION`` (``engine.cj.submission`` does both at once)."""
    async with ctx.store.transaction() as tx:
        inserted = await insert_batch(ctx, tx, request)
    log_created(ctx, inserted, request)
    return inserted.cj_batch_id


async def insert_batch(ctx: CJContext, tx: Tx, request: BatchRequest) -> InsertedBatch:
    """Write the batch's upload, state and essays inside ``tx`` (nothing is logged: the batch
    exists only once ``tx`` commits; call ``log_created`` then)."""
    _validate(request)
    settings = ctx.settings
    budget, source = normalise_budget(settings, request.max_comparisons_override)
    llm = request.llm or LLMChoice(
        provider=settings.DEFAULT_LLM_PROVIDER, model=settings.DEFAULT_LLM_MODEL
    )
    anchor_ids = ctx.streams.ids("cj.anchors")
    now = ctx.runtime.utcnow()
    cj_batch_id = await next_batch_id(tx)
    essays = [
        Essay(
            essay_key=Essay.key(cj_batch_id, s.essay_id),
            cj_batch_id=cj_batch_id,
            essay_id=s.essay_id,
            is_anchor=False,
            text=s.text,
        )
        for s in request.students
    ]
    for anchor in request.anchors:
        essay_id = f"{ANCHOR_PREFIX}{anchor.anchor_ref_id}_{anchor_ids.next()[:8]}"
        essays.append(
            Essay(
                essay_key=Essay.key(cj_batch_id, essay_id),
                cj_batch_id=cj_batch_id,
                essay_id=essay_id,
                is_anchor=True,
                text=anchor.text,
                known_grade=anchor.grade,
                anchor_ref_id=anchor.anchor_ref_id,
            )
        )
    upload = BatchUpload(
        cj_batch_id=cj_batch_id,
        bos_batch_id=request.bos_batch_id,
        status=UploadStatus.PENDING,
        grade_scale=request.grade_scale,
        expected_essay_count=len(essays),
        student_count=len(request.students),
        anchor_count=len(request.anchors),
        created_at=now,
        processing_metadata={
            "comparison_budget": {"max_pairs_requested": budget, "source": source},
            "llm": {
                "provider": llm.provider,
                "model": llm.model,
                "reasoning_effort": llm.reasoning_effort,
                "output_verbosity": llm.output_verbosity,
            },
            "assessment_context": {
                "student_prompt": request.context.student_prompt,
                "assessment_criteria": request.context.assessment_criteria,
                "judge_instructions": request.context.judge_instructions,
            },
        },
    )
    await tx.insert(upload)
    await transition_upload(tx, upload, UploadEvent.FETCH_CONTENT)
    await tx.insert(
        BatchState(
            cj_batch_id=cj_batch_id,
            state=BatchStateEnum.INITIALIZING,
            completion_threshold_pct=settings.COMPLETION_THRESHOLD_PCT,
            essay_count=len(essays),
            last_activity_at=now,
        )
    )
    for essay in essays:
        await tx.insert(essay)
    return InsertedBatch(cj_batch_id, budget, source)


def log_created(ctx: CJContext, inserted: InsertedBatch, request: BatchRequest) -> None:
    """Record a batch whose rows have committed."""
    ctx.track_state(inserted.cj_batch_id, BatchStateEnum.INITIALIZING.value)
    ctx.log.append(
        "cj.batch.created",
        ids={"cj_batch_id": inserted.cj_batch_id},
        bos_batch_id=request.bos_batch_id,
        students=len(request.students),
        anchors=len(request.anchors),
        budget=inserted.budget,
        budget_source=inserted.budget_source,
        grade_scale=request.grade_scale,
    )
