"""Every pair of (state, event) is either in the transition table or refused by name."""

from __future__ import annotations

import itertools

import pytest

from engine.cj.states import (
    BATCH_TRANSITIONS,
    UPLOAD_TRANSITIONS,
    BatchEvent,
    BatchStateEnum,
    IllegalTransition,
    UploadEvent,
    UploadStatus,
    next_batch_state,
    next_upload_status,
)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(BatchStateEnum, BatchEvent)))
def test_batch_transitions_follow_the_table(state, event):
    if (state, event) in BATCH_TRANSITIONS:
        assert next_batch_state(state, event) is BATCH_TRANSITIONS[(state, event)]
    else:
        with pytest.raises(IllegalTransition, match=f"{state.value} does not allow {event.value}"):
            next_batch_state(state, event)


@pytest.mark.parametrize(("status", "event"), list(itertools.product(UploadStatus, UploadEvent)))
def test_upload_transitions_follow_the_table(status, event):
    if (status, event) in UPLOAD_TRANSITIONS:
        assert next_upload_status(status, event) is UPLOAD_TRANSITIONS[(status, event)]
    else:
        with pytest.raises(IllegalTransition, match=status.value):
            next_upload_status(status, event)


def test_terminal_states_have_no_way_out():
    for (state, _), _target in BATCH_TRANSITIONS.items():
        assert not state.terminal
    for (status, _), _target in UPLOAD_TRANSITIONS.items():
        assert not status.terminal
