"""The LPS queue's status machine, walked over every (current, target) pair.

Transitions here are by target status, not by event, so the refusal must name both statuses.
The table is written out from the queue's documented life, not read from ``engine.lps.queue``:

- queued -> processing (a worker took it) or expired (its TTL ran out while waiting);
- processing -> queued (retried), completed, failed, or expired;
- completed, failed and expired are final: a finished request never moves again.
"""

from __future__ import annotations

import itertools
import re

import pytest

from engine.lps.queue import IllegalQueueTransition, QueueStatus, next_status

Q = QueueStatus
EXPECTED = {
    Q.QUEUED: {Q.PROCESSING, Q.EXPIRED},
    Q.PROCESSING: {Q.QUEUED, Q.COMPLETED, Q.FAILED, Q.EXPIRED},
    Q.COMPLETED: set(),
    Q.FAILED: set(),
    Q.EXPIRED: set(),
}
PAIRS = list(itertools.product(QueueStatus, QueueStatus))


def test_the_statuses_are_the_ones_this_table_was_written_for():
    assert [s.value for s in QueueStatus] == [
        "queued",
        "processing",
        "completed",
        "failed",
        "expired",
    ]
    assert set(EXPECTED) == set(QueueStatus)
    assert len(PAIRS) == 25


@pytest.mark.parametrize(
    ("current", "target"), PAIRS, ids=[f"{a.value}-{b.value}" for a, b in PAIRS]
)
def test_every_current_and_target_status(current, target):
    if target in EXPECTED[current]:
        assert next_status(current, target) is target
        return
    with pytest.raises(IllegalQueueTransition) as refused:
        next_status(current, target)
    message = str(refused.value)
    # "queued" must be found as a word, not inside another status's name.
    assert re.search(rf"\b{current.value}\b", message), message
    assert re.search(rf"\b{target.value}\b", message), message
    assert message.index(current.value) < message.rindex(target.value), message


def test_terminal_means_no_way_out():
    assert {s for s in QueueStatus if s.terminal} == {s for s, out in EXPECTED.items() if not out}
