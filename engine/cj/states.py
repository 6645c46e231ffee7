"""The two CJ state machines, each as one table of allowed transitions.

``BatchState.state`` follows the workflow (a wave is generated, its callbacks awaited, the
scale scored); ``BatchUpload.status`` is the outcome a caller sees. Every change goes through
``next_batch_state`` / ``next_upload_status``; anything not in the tables raises
``IllegalTransition`` naming the state and the event, so a bug cannot quietly move a finished
batch back to work.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "BATCH_TRANSITIONS",
    "UPLOAD_TRANSITIONS",
    "BatchEvent",
    "BatchStateEnum",
    "IllegalTransition",
    "UploadEvent",
    "UploadStatus",
    "next_batch_state",
    "next_upload_status",
]


class IllegalTransition(RuntimeError):
    """A state change the table does not allow (a bug in the caller)."""


class BatchStateEnum(StrEnum):
    INITIALIZING = "INITIALIZING"
    GENERATING_PAIRS = "GENERATING_PAIRS"
    WAITING_CALLBACKS = "WAITING_CALLBACKS"
    SCORING = "SCORING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in (BatchStateEnum.COMPLETED, BatchStateEnum.FAILED, BatchStateEnum.CANCELLED)


class BatchEvent(StrEnum):
    START_WAVE = "start_wave"  # generate (and submit) the next wave, or evaluate the last
    AWAIT_CALLBACKS = "await_callbacks"
    FINALIZE = "finalize"
    COMPLETE = "complete"
    FAIL = "fail"
    CANCEL = "cancel"


_S, _E = BatchStateEnum, BatchEvent
BATCH_TRANSITIONS: dict[tuple[BatchStateEnum, BatchEvent], BatchStateEnum] = {
    (_S.INITIALIZING, _E.START_WAVE): _S.GENERATING_PAIRS,
    (_S.INITIALIZING, _E.FINALIZE): _S.SCORING,
    (_S.INITIALIZING, _E.FAIL): _S.FAILED,
    (_S.INITIALIZING, _E.CANCEL): _S.CANCELLED,
    (_S.GENERATING_PAIRS, _E.AWAIT_CALLBACKS): _S.WAITING_CALLBACKS,
    (_S.GENERATING_PAIRS, _E.FINALIZE): _S.SCORING,
    (_S.GENERATING_PAIRS, _E.FAIL): _S.FAILED,
    (_S.GENERATING_PAIRS, _E.CANCEL): _S.CANCELLED,
    (_S.WAITING_CALLBACKS, _E.START_WAVE): _S.GENERATING_PAIRS,
    (_S.WAITING_CALLBACKS, _E.FINALIZE): _S.SCORING,
    (_S.WAITING_CALLBACKS, _E.FAIL): _S.FAILED,
    (_S.WAITING_CALLBACKS, _E.CANCEL): _S.CANCELLED,
    (_S.SCORING, _E.COMPLETE): _S.COMPLETED,
    (_S.SCORING, _E.FAIL): _S.FAILED,
}


def next_batch_state(state: BatchStateEnum, event: BatchEvent) -> BatchStateEnum:
    try:
        return BATCH_TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"batch state {state.value} does not allow {event.value}") from None


class UploadStatus(StrEnum):
    PENDING = "PENDING"
    FETCHING_CONTENT = "FETCHING_CONTENT"
    PERFORMING_COMPARISONS = "PERFORMING_COMPARISONS"
    COMPLETE_STABLE = "COMPLETE_STABLE"
    COMPLETE_MAX_COMPARISONS = "COMPLETE_MAX_COMPARISONS"
    COMPLETE_FORCED_RECOVERY = "COMPLETE_FORCED_RECOVERY"
    COMPLETE_INSUFFICIENT_ESSAYS = "COMPLETE_INSUFFICIENT_ESSAYS"
    ERROR_PROCESSING = "ERROR_PROCESSING"
    ERROR_ESSAY_PROCESSING = "ERROR_ESSAY_PROCESSING"

    @property
    def terminal(self) -> bool:
        return self.value.startswith(("COMPLETE", "ERROR"))


class UploadEvent(StrEnum):
    FETCH_CONTENT = "fetch_content"
    START_COMPARISONS = "start_comparisons"
    COMPLETE_STABLE = "complete_stable"
    COMPLETE_MAX_COMPARISONS = "complete_max_comparisons"
    COMPLETE_FORCED_RECOVERY = "complete_forced_recovery"
    INSUFFICIENT_ESSAYS = "insufficient_essays"
    FAIL_PROCESSING = "fail_processing"
    FAIL_ESSAY_PROCESSING = "fail_essay_processing"


_U, _V = UploadStatus, UploadEvent
_FINISHING = {
    _V.COMPLETE_STABLE: _U.COMPLETE_STABLE,
    _V.COMPLETE_MAX_COMPARISONS: _U.COMPLETE_MAX_COMPARISONS,
    _V.COMPLETE_FORCED_RECOVERY: _U.COMPLETE_FORCED_RECOVERY,
    _V.FAIL_PROCESSING: _U.ERROR_PROCESSING,
}
UPLOAD_TRANSITIONS: dict[tuple[UploadStatus, UploadEvent], UploadStatus] = {
    (_U.PENDING, _V.FETCH_CONTENT): _U.FETCHING_CONTENT,
    (_U.PENDING, _V.FAIL_PROCESSING): _U.ERROR_PROCESSING,
    (_U.FETCHING_CONTENT, _V.START_COMPARISONS): _U.PERFORMING_COMPARISONS,
    (_U.FETCHING_CONTENT, _V.INSUFFICIENT_ESSAYS): _U.COMPLETE_INSUFFICIENT_ESSAYS,
    (_U.FETCHING_CONTENT, _V.FAIL_ESSAY_PROCESSING): _U.ERROR_ESSAY_PROCESSING,
    (_U.FETCHING_CONTENT, _V.FAIL_PROCESSING): _U.ERROR_PROCESSING,
    **{(_U.PERFORMING_COMPARISONS, event): status for event, status in _FINISHING.items()},
}


def next_upload_status(status: UploadStatus, event: UploadEvent) -> UploadStatus:
    try:
        return UPLOAD_TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(
            f"upload status {status.value} does not allow {event.value}"
        ) from None
