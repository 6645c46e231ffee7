"""The batch and upload state machines, walked pair by pair against tables written out here.

``tests/cj/test_states.py`` checks the functions against ``engine.cj.states``' own tables, so it
cannot notice a wrong row in them. These tables are the documented workflow, typed out again:
a row added to or dropped from the module's table makes exactly one case here fail.
"""

from __future__ import annotations

import itertools
import re

import pytest

from engine.cj.states import (
    BatchEvent,
    BatchStateEnum,
    IllegalTransition,
    UploadEvent,
    UploadStatus,
    next_batch_state,
    next_upload_status,
)

B, E = BatchStateEnum, BatchEvent
# Before any wave: start one, or finalize at once (nothing to compare), or stop.
# While working (generating a wave, waiting for its callbacks): move on, finalize, or stop.
# Scoring: only complete or fail; a batch being scored cannot be cancelled.
# COMPLETED, FAILED, CANCELLED: nothing leaves them.
EXPECTED_BATCH = {
    (B.INITIALIZING, E.START_WAVE): B.GENERATING_PAIRS,
    (B.INITIALIZING, E.FINALIZE): B.SCORING,
    (B.INITIALIZING, E.FAIL): B.FAILED,
    (B.INITIALIZING, E.CANCEL): B.CANCELLED,
    (B.GENERATING_PAIRS, E.AWAIT_CALLBACKS): B.WAITING_CALLBACKS,
    (B.GENERATING_PAIRS, E.FINALIZE): B.SCORING,
    (B.GENERATING_PAIRS, E.FAIL): B.FAILED,
    (B.GENERATING_PAIRS, E.CANCEL): B.CANCELLED,
    (B.WAITING_CALLBACKS, E.START_WAVE): B.GENERATING_PAIRS,
    (B.WAITING_CALLBACKS, E.FINALIZE): B.SCORING,
    (B.WAITING_CALLBACKS, E.FAIL): B.FAILED,
    (B.WAITING_CALLBACKS, E.CANCEL): B.CANCELLED,
    (B.SCORING, E.COMPLETE): B.COMPLETED,
    (B.SCORING, E.FAIL): B.FAILED,
}

U, V = UploadStatus, UploadEvent
# PENDING -> FETCHING_CONTENT -> PERFORMING_COMPARISONS -> one of the COMPLETE_* / ERROR_PROCESSING.
# Too few essays, or a bad essay, is found while fetching; a processing error can happen
# anywhere before the end. Every COMPLETE_* and ERROR_* status is final.
EXPECTED_UPLOAD = {
    (U.PENDING, V.FETCH_CONTENT): U.FETCHING_CONTENT,
    (U.PENDING, V.FAIL_PROCESSING): U.ERROR_PROCESSING,
    (U.FETCHING_CONTENT, V.START_COMPARISONS): U.PERFORMING_COMPARISONS,
    (U.FETCHING_CONTENT, V.INSUFFICIENT_ESSAYS): U.COMPLETE_INSUFFICIENT_ESSAYS,
    (U.FETCHING_CONTENT, V.FAIL_ESSAY_PROCESSING): U.ERROR_ESSAY_PROCESSING,
    (U.FETCHING_CONTENT, V.FAIL_PROCESSING): U.ERROR_PROCESSING,
    (U.PERFORMING_COMPARISONS, V.COMPLETE_STABLE): U.COMPLETE_STABLE,
    (U.PERFORMING_COMPARISONS, V.COMPLETE_MAX_COMPARISONS): U.COMPLETE_MAX_COMPARISONS,
    (U.PERFORMING_COMPARISONS, V.COMPLETE_FORCED_RECOVERY): U.COMPLETE_FORCED_RECOVERY,
    (U.PERFORMING_COMPARISONS, V.FAIL_PROCESSING): U.ERROR_PROCESSING,
}

BATCH_PAIRS = list(itertools.product(BatchStateEnum, BatchEvent))
UPLOAD_PAIRS = list(itertools.product(UploadStatus, UploadEvent))


def _names(pair: tuple[object, object]) -> str:
    state, event = pair
    return f"{state.value}-{event.value}"  # type: ignore[attr-defined]


def test_the_enums_are_the_ones_these_tables_were_written_for():
    # A new state or event must be added to the expectations above, not silently skipped.
    assert [s.value for s in BatchStateEnum] == [
        "INITIALIZING",
        "GENERATING_PAIRS",
        "WAITING_CALLBACKS",
        "SCORING",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
    ]
    assert [e.value for e in BatchEvent] == [
        "start_wave",
        "await_callbacks",
        "finalize",
        "complete",
        "fail",
        "cancel",
    ]
    assert len(BATCH_PAIRS) == 42
    assert [s.value for s in UploadStatus] == [
        "PENDING",
        "FETCHING_CONTENT",
        "PERFORMING_COMPARISONS",
        "COMPLETE_STABLE",
        "COMPLETE_MAX_COMPARISONS",
        "COMPLETE_FORCED_RECOVERY",
        "COMPLETE_INSUFFICIENT_ESSAYS",
        "ERROR_PROCESSING",
        "ERROR_ESSAY_PROCESSING",
    ]
    assert [e.value for e in UploadEvent] == [
        "fetch_content",
        "start_comparisons",
        "complete_stable",
        "complete_max_comparisons",
        "complete_forced_recovery",
        "insufficient_essays",
        "fail_processing",
        "fail_essay_processing",
    ]
    assert len(UPLOAD_PAIRS) == 72


@pytest.mark.parametrize(("state", "event"), BATCH_PAIRS, ids=map(_names, BATCH_PAIRS))
def test_every_batch_state_and_event(state, event):
    if (state, event) in EXPECTED_BATCH:
        assert next_batch_state(state, event) is EXPECTED_BATCH[(state, event)]
        return
    with pytest.raises(IllegalTransition) as refused:
        next_batch_state(state, event)
    message = str(refused.value)
    assert re.search(rf"\b{state.value}\b", message), message
    assert re.search(rf"\b{event.value}\b", message), message


@pytest.mark.parametrize(("status", "event"), UPLOAD_PAIRS, ids=map(_names, UPLOAD_PAIRS))
def test_every_upload_status_and_event(status, event):
    if (status, event) in EXPECTED_UPLOAD:
        assert next_upload_status(status, event) is EXPECTED_UPLOAD[(status, event)]
        return
    with pytest.raises(IllegalTransition) as refused:
        next_upload_status(status, event)
    message = str(refused.value)
    assert re.search(rf"\b{status.value}\b", message), message
    assert re.search(rf"\b{event.value}\b", message), message


@pytest.mark.parametrize(
    ("table", "terminal"),
    [(EXPECTED_BATCH, [B.COMPLETED, B.FAILED, B.CANCELLED]), (EXPECTED_UPLOAD, None)],
    ids=["batch", "upload"],
)
def test_the_terminal_property_marks_exactly_the_states_with_no_way_out(table, terminal):
    states = {state for state, _ in table}
    kind = type(next(iter(states)))
    final = terminal or [s for s in kind if s.value.startswith(("COMPLETE", "ERROR"))]
    assert {s for s in kind if s.terminal} == set(final)
    assert states == set(kind) - set(final)
