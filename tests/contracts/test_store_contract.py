"""The Store port's contract: read-committed isolation, row locks, deadlock detection.

Run against every store implementation: the simulated store in virtual time, and the SQL store
on SQLite and on PostgreSQL (``tests/contracts/conftest.py`` says what each one can show).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from engine.cj.models import (
    BatchState,
    BatchUpload,
    ComparisonPair,
    Essay,
    GenerationMode,
    PairOutcome,
)
from engine.cj.states import BatchStateEnum, UploadStatus
from engine.contracts import LLMComparisonRequest, LLMConfigOverrides, PromptBlock
from engine.lps.queue import QueueItem, QueueStatus
from engine.ports import TaskCrashed
from engine.store.errors import (
    DeadlockDetected,
    DuplicateKey,
    RowNotFound,
    StoreMisuse,
    WriteConflict,
)
from engine.store.rows import evolve, key_of
from tests.contracts.rows import Counter, Numbered, Pair

CONCURRENT_INCREMENTS = 32
CONCURRENT_CALLBACKS = 64
CONCURRENT_ALLOCATIONS = 32
AT = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)


async def seed(store, *rows):
    async with store.transaction() as tx:
        for row in rows:
            await tx.insert(row)


def test_committed_rows_are_visible_to_later_transactions(store_impl):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=1))
        async with store.transaction() as tx:
            return await tx.get(Counter, "c"), await tx.get(Counter, "missing")

    assert store_impl.run(main) == (Counter(name="c", value=1), None)


def test_uncommitted_writes_are_invisible_to_others_and_visible_to_self(store_impl):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=1))
        seen = {}
        writer_wrote = runtime.event()
        reader_read = runtime.event()

        async def writer():
            async with store.transaction() as tx:
                await tx.update(Counter(name="c", value=2))
                seen["writer_own"] = await tx.get(Counter, "c")
                writer_wrote.set()
                await reader_read.wait()

        async def reader():
            await writer_wrote.wait()
            async with store.transaction() as tx:
                seen["reader_before_commit"] = await tx.get(Counter, "c")
            reader_read.set()

        tasks = [runtime.spawn(writer(), name="writer"), runtime.spawn(reader(), name="reader")]
        for task in tasks:
            await task.join()
        async with store.transaction() as tx:
            seen["after_commit"] = await tx.get(Counter, "c")
        return seen

    seen = store_impl.run(main)
    assert seen["writer_own"].value == 2
    assert seen["reader_before_commit"].value == 1
    assert seen["after_commit"].value == 2


def test_an_exception_rolls_the_transaction_back(store_impl):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=1))

        async def failing_write():
            async with store.transaction() as tx:
                await tx.update(Counter(name="c", value=99))
                await tx.insert(Counter(name="d", value=0))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await failing_write()
        async with store.transaction() as tx:
            return await tx.get(Counter, "c"), await tx.get(Counter, "d")

    assert store_impl.run(main) == (Counter(name="c", value=1), None)


def test_explicit_rollback_discards_writes(store_impl):
    async def main(runtime, store):
        async with store.transaction() as tx:
            await tx.insert(Counter(name="c", value=1))
            await tx.rollback()
        async with store.transaction() as tx:
            return await tx.get(Counter, "c")

    assert store_impl.run(main) is None


def test_insert_of_an_existing_key_is_a_duplicate(store_impl):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=1))
        async with store.transaction() as tx:
            await tx.insert(Counter(name="c", value=2))

    with pytest.raises(TaskCrashed) as caught:
        store_impl.run(main)
    assert isinstance(caught.value.__cause__, DuplicateKey)
    assert "c" in str(caught.value)


@pytest.mark.parametrize("operation", ["update", "delete"])
def test_update_or_delete_of_a_missing_key_is_row_not_found(store_impl, operation):
    async def main(runtime, store):
        async with store.transaction() as tx:
            if operation == "update":
                await tx.update(Counter(name="ghost", value=1))
            else:
                await tx.delete(Counter, "ghost")

    with pytest.raises(TaskCrashed) as caught:
        store_impl.run(main)
    assert isinstance(caught.value.__cause__, RowNotFound)
    assert "ghost" in str(caught.value)


def test_select_filters_by_equality_and_orders_by_key(store_impl):
    async def main(runtime, store):
        await seed(
            store, *(Pair(correlation_id=f"p{i:02d}", batch_id=i % 2) for i in (5, 1, 4, 2, 3))
        )
        async with store.transaction() as tx:
            await tx.insert(Pair(correlation_id="p00", batch_id=1))  # own write, uncommitted
            await tx.update(Pair(correlation_id="p03", batch_id=1, winner="essay_a"))
            await tx.delete(Pair, "p05")
            odd = await tx.select(Pair, batch_id=1)
            decided = await tx.select(Pair, batch_id=1, winner="essay_a")
            everything = await tx.count(Pair)
        return [p.correlation_id for p in odd], decided, everything

    odd, decided, everything = store_impl.run(main)
    assert odd == ["p00", "p01", "p03"]
    assert decided == [Pair(correlation_id="p03", batch_id=1, winner="essay_a")]
    assert everything == 5


def test_select_on_an_unknown_column_is_misuse(store_impl):
    async def main(runtime, store):
        async with store.transaction() as tx:
            await tx.select(Pair, colour="blue")

    with pytest.raises(TaskCrashed) as caught:
        store_impl.run(main)
    assert isinstance(caught.value.__cause__, StoreMisuse)
    assert "colour" in str(caught.value)


def test_a_closed_transaction_refuses_statements(store_impl):
    async def main(runtime, store):
        async with store.transaction() as tx:
            await tx.commit()
            await tx.get(Counter, "c")

    with pytest.raises(TaskCrashed) as caught:
        store_impl.run(main)
    assert isinstance(caught.value.__cause__, StoreMisuse)


def test_for_update_blocks_a_second_locker_until_commit_and_then_reads_the_new_row(store_impl):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=0))
        trace = []
        first_locked = runtime.event()

        async def first():
            async with store.transaction() as tx:
                row = await tx.get(Counter, "c", for_update=True)
                first_locked.set()
                await runtime.sleep(1)
                await tx.update(replace(row, value=row.value + 10))
                trace.append("first commits")

        async def second():
            await first_locked.wait()
            async with store.transaction() as tx:
                row = await tx.get(Counter, "c", for_update=True)
                trace.append(f"second read {row.value}")

        tasks = [runtime.spawn(first(), name="first"), runtime.spawn(second(), name="second")]
        for task in tasks:
            await task.join()
        return trace

    assert store_impl.run(main) == ["first commits", "second read 10"]


def _increment_concurrently(store_impl, *, for_update):
    async def main(runtime, store):
        await seed(store, Counter(name="c", value=0))

        async def increment():
            async with store.transaction() as tx:
                row = await tx.get(Counter, "c", for_update=for_update)
                await tx.update(replace(row, value=row.value + 1))

        tasks = [runtime.spawn(increment(), name=f"inc-{i}") for i in range(CONCURRENT_INCREMENTS)]
        for task in tasks:
            await task.join()
        async with store.transaction() as tx:
            return (await tx.get(Counter, "c")).value

    return store_impl.run(main)


def test_concurrent_read_increment_write_without_for_update_loses_updates(store_impl):
    if not store_impl.loses_unlocked_updates:
        pytest.skip(f"{store_impl.kind} does not lose unlocked updates (see the test below)")
    assert _increment_concurrently(store_impl, for_update=False) < CONCURRENT_INCREMENTS


def test_concurrent_read_increment_write_with_for_update_loses_nothing(store_impl):
    assert _increment_concurrently(store_impl, for_update=True) == CONCURRENT_INCREMENTS


def test_a_lock_cycle_is_detected_and_the_survivor_proceeds(store_impl):
    if store_impl.no_lock_cycles:
        pytest.skip(f"{store_impl.kind} cannot form a lock cycle: {store_impl.no_lock_cycles}")

    async def main(runtime, store):
        await seed(store, Counter(name="a", value=0), Counter(name="b", value=0))
        both_locked_one = runtime.event()
        locked = []
        outcome = {}

        async def locker(first, second, name):
            try:
                async with store.transaction() as tx:
                    await tx.get(Counter, first, for_update=True)
                    locked.append(name)
                    if len(locked) == 2:
                        both_locked_one.set()
                    await both_locked_one.wait()
                    await tx.get(Counter, second, for_update=True)
                    await tx.update(Counter(name=second, value=1))
                outcome[name] = "committed"
            except DeadlockDetected as exc:
                outcome[name] = str(exc)

        tasks = [
            runtime.spawn(locker("a", "b", "t1"), name="t1"),
            runtime.spawn(locker("b", "a", "t2"), name="t2"),
        ]
        for task in tasks:
            await task.join()
        return outcome

    outcome = store_impl.run(main, until_s=60)
    assert sorted(outcome.values()).count("committed") == 1
    victim = next(message for message in outcome.values() if message != "committed")
    assert "deadlock" in victim.lower()


def test_without_for_update_a_store_that_keeps_every_update_fails_the_late_writers(store_impl):
    if store_impl.loses_unlocked_updates:
        pytest.skip(f"{store_impl.kind} loses unlocked updates (see the test above)")

    async def main(runtime, store):
        await seed(store, Counter(name="c", value=0))
        all_read = runtime.event()
        outcomes = []

        async def increment():
            try:
                async with store.transaction() as tx:
                    row = await tx.get(Counter, "c")
                    outcomes.append("read")
                    if outcomes.count("read") == CONCURRENT_INCREMENTS:
                        all_read.set()
                    await all_read.wait()  # every transaction has read 0 before any writes
                    await tx.update(replace(row, value=row.value + 1))
                outcomes.append("committed")
            except WriteConflict:
                outcomes.append("failed")

        tasks = [runtime.spawn(increment(), name=f"inc-{i}") for i in range(CONCURRENT_INCREMENTS)]
        for task in tasks:
            await task.join()
        async with store.transaction() as tx:
            return (await tx.get(Counter, "c")).value, outcomes

    value, outcomes = store_impl.run(main)
    assert value == outcomes.count("committed") == 1
    assert outcomes.count("failed") == CONCURRENT_INCREMENTS - 1


def test_64_concurrent_callbacks_on_one_batch_keep_exact_counters(store_impl):
    """The CJ callback pattern: lock the pair, lock the batch state, record, count."""

    async def main(runtime, store):
        await seed(
            store,
            BatchState(
                cj_batch_id=7,
                state=BatchStateEnum.WAITING_CALLBACKS,
                submitted_comparisons=CONCURRENT_CALLBACKS,
            ),
            *(
                ComparisonPair(
                    correlation_id=f"pair-{i:02d}",
                    cj_batch_id=7,
                    essay_a_id=f"s{i}",
                    essay_b_id=f"s{i + 1}",
                    iteration=1,
                    generation_mode=GenerationMode.COVERAGE,
                    submitted_at=AT,
                )
                for i in range(CONCURRENT_CALLBACKS)
            ),
        )

        async def callback(i):
            failed = i % 8 == 0
            async with store.transaction() as tx:
                pair = await tx.get(ComparisonPair, f"pair-{i:02d}", for_update=True)
                state = await tx.get(BatchState, 7, for_update=True)
                outcome = PairOutcome.ERROR if failed else PairOutcome.ESSAY_A
                await tx.update(evolve(pair, outcome=outcome, completed_at=AT))
                await tx.update(
                    evolve(
                        state,
                        completed_comparisons=state.completed_comparisons + (not failed),
                        failed_comparisons=state.failed_comparisons + failed,
                        last_activity_at=AT,
                    )
                )

        tasks = [
            runtime.spawn(callback(i), name=f"callback-{i}") for i in range(CONCURRENT_CALLBACKS)
        ]
        for task in tasks:
            await task.join()
        async with store.transaction() as tx:
            return (
                await tx.get(BatchState, 7),
                await tx.count(ComparisonPair, outcome=PairOutcome.ERROR),
                await tx.count(ComparisonPair, cj_batch_id=7, outcome=None),
            )

    state, errors, pending = store_impl.run(main)
    assert (state.completed_comparisons, state.failed_comparisons) == (56, 8)
    assert state.callbacks_received == CONCURRENT_CALLBACKS
    assert (errors, pending) == (8, 0)


def engine_rows():
    """One or two rows of every stored engine row type, covering every kind of field: str, int,
    float, bool, tz-aware datetimes, enums, JSON mappings, the pydantic request, and None."""
    request = LLMComparisonRequest(
        user_prompt="Which essay answers the prompt better?",
        prompt_blocks=(
            PromptBlock(
                target="system",
                content="You judge essays.",
                cacheable=True,
                ttl="1h",
                content_hash="c0ffee",
            ),
        ),
        callback_topic="cj.llm_callbacks",
        llm_config_overrides=LLMConfigOverrides(
            provider_override="anthropic",
            model_override="claude-x",
            temperature_override=0.2,
            max_tokens_override=800,
            reasoning_effort="low",
        ),
        correlation_id="corr-1",
        metadata={"essay_a_id": "s1", "nested": {"list": [1, 2.5, None, "x"], "flag": True}},
    )
    return [
        BatchUpload(
            cj_batch_id=7,
            bos_batch_id="bos-7",
            status=UploadStatus.PERFORMING_COMPARISONS,
            grade_scale="eng5_np_legacy_9_step",
            expected_essay_count=24,
            student_count=12,
            anchor_count=12,
            created_at=AT,
            processing_metadata={"budget": 288, "weights": [0.5, 1.5], "note": None, "å": "✓"},
        ),
        BatchUpload(
            cj_batch_id=8,
            bos_batch_id="bos-8",
            status=UploadStatus.COMPLETE_STABLE,
            grade_scale="eng5_np_legacy_9_step",
            expected_essay_count=2,
            student_count=2,
            anchor_count=0,
            created_at=AT,
            completed_at=AT + timedelta(hours=1, microseconds=1),
        ),
        BatchState(
            cj_batch_id=7,
            state=BatchStateEnum.WAITING_CALLBACKS,
            total_budget=288,
            total_comparisons=96,
            submitted_comparisons=96,
            completed_comparisons=90,
            failed_comparisons=2,
            current_iteration=3,
            last_activity_at=AT,
            partial_scoring_triggered=True,
            essay_count=24,
            processing_metadata={"waves": [{"size": 32, "pairs": ["s1|a1"]}]},
        ),
        BatchState(cj_batch_id=8, state=BatchStateEnum.INITIALIZING),
        Essay(
            essay_key="7:s1",
            cj_batch_id=7,
            essay_id="s1",
            is_anchor=False,
            text="An essay, with unicode: naïve café — ✓",
            bt_score=-0.7310000000000001,
            bt_se=0.42,
            rank=3,
            grade="B",
            confidence_label="high",
        ),
        Essay(
            essay_key="7:a1",
            cj_batch_id=7,
            essay_id="a1",
            is_anchor=True,
            text="An anchor essay.",
            known_grade="A",
            anchor_ref_id="anchor-1",
        ),
        ComparisonPair(
            correlation_id="corr-1",
            cj_batch_id=7,
            essay_a_id="s1",
            essay_b_id="a1",
            iteration=1,
            generation_mode=GenerationMode.COVERAGE,
            submitted_at=AT,
            outcome=PairOutcome.ESSAY_B,
            confidence=4.5,
            justification="B argues better.",
            attempts=1,
            completed_at=AT + timedelta(seconds=2),
            provider="anthropic",
            model="claude-x",
            response_time_ms=1234,
            prompt_tokens=900,
            completion_tokens=120,
        ),
        ComparisonPair(
            correlation_id="corr-2",
            cj_batch_id=7,
            essay_a_id="a1",
            essay_b_id="s1",
            iteration=2,
            generation_mode=GenerationMode.RESAMPLING,
            submitted_at=AT,
        ),
        QueueItem(
            queue_id="q-1",
            correlation_id="corr-1",
            callback_topic="cj.llm_callbacks",
            provider="anthropic",
            request=request,
            queued_at=AT,
            ttl_s=3600.0,
            priority=7,
            status=QueueStatus.PROCESSING,
            retry_count=2,
            size_bytes=2048,
            processing_started_at=AT,
            bundle_id="bundle-1",
            last_error_type="rate_limit",
            callback_published=True,
            cj_batch_id="7",
        ),
        QueueItem(
            queue_id="q-2",
            correlation_id="corr-2",
            callback_topic="cj.llm_callbacks",
            provider="anthropic",
            request=request.model_copy(update={"correlation_id": "corr-2"}),
            queued_at=AT,
            ttl_s=0.5,
        ),
    ]


def test_every_engine_row_type_round_trips_with_every_kind_of_field(store_impl):
    rows = engine_rows()

    async def main(runtime, store):
        await seed(store, *rows)
        async with store.transaction() as tx:
            read = [await tx.get(type(row), key_of(row)) for row in rows]
            selected = {
                "processing": await tx.select(QueueItem, status=QueueStatus.PROCESSING),
                "pending": await tx.select(ComparisonPair, cj_batch_id=7, outcome=None),
                "anchors": await tx.select(Essay, cj_batch_id=7, is_anchor=True),
                "completed_at": await tx.select(
                    BatchUpload, completed_at=AT + timedelta(hours=1, microseconds=1)
                ),
                "states": await tx.select(BatchState),
            }
        async with store.transaction() as tx:
            upload = await tx.get(BatchUpload, 7, for_update=True)
            await tx.update(
                evolve(
                    upload,
                    status=UploadStatus.COMPLETE_MAX_COMPARISONS,
                    completed_at=AT + timedelta(days=1),
                    processing_metadata={**upload.processing_metadata, "final": {"ok": True}},
                )
            )
        async with store.transaction() as tx:
            updated = await tx.get(BatchUpload, 7)
        return read, selected, updated

    read, selected, updated = store_impl.run(main)
    assert read == rows
    for got, row in zip(read, rows, strict=True):
        for name in row.__table__.columns:
            value, expected = getattr(got, name), getattr(row, name)
            assert type(value) is type(expected), name
            if isinstance(value, datetime):
                assert value.utcoffset() == timedelta(0), name
    assert read[-2].request.prompt_blocks[0].ttl == "1h"
    assert [item.queue_id for item in selected["processing"]] == ["q-1"]
    assert [pair.correlation_id for pair in selected["pending"]] == ["corr-2"]
    assert [essay.essay_id for essay in selected["anchors"]] == ["a1"]
    assert [upload.cj_batch_id for upload in selected["completed_at"]] == [8]
    assert [state.cj_batch_id for state in selected["states"]] == [7, 8]
    assert updated.status is UploadStatus.COMPLETE_MAX_COMPARISONS
    assert updated.completed_at == AT + timedelta(days=1)
    assert updated.processing_metadata["final"] == {"ok": True}


# --------------------------------------------------------------------------------------------
# Allocated keys
# --------------------------------------------------------------------------------------------


async def allocate_and_insert(store, label=""):
    async with store.transaction() as tx:
        number = await tx.allocate_key(Numbered)
        await tx.insert(Numbered(number=number, label=label))
    return number


def test_allocated_keys_start_at_one_and_follow_in_order_per_table(store_impl):
    async def main(runtime, store):
        numbers = [await allocate_and_insert(store) for _ in range(3)]
        async with store.transaction() as tx:
            other_table = await tx.allocate_key(BatchUpload)  # a counter of its own
        return numbers, other_table, [row.number for row in await _snapshot(store, Numbered)]

    assert store_impl.run(main) == ([1, 2, 3], 1, [1, 2, 3])


def test_allocation_starts_above_the_largest_key_the_table_already_holds(store_impl):
    """A database written before its keys were allocated (by the largest key plus one) goes on
    from where it was."""

    async def main(runtime, store):
        await seed(store, Numbered(number=5), Numbered(number=2))
        return [await allocate_and_insert(store) for _ in range(2)]

    assert store_impl.run(main) == [6, 7]


def test_concurrent_allocations_are_distinct_and_every_transaction_commits(store_impl):
    """The issue-13 pattern: many transactions each allocate a key and insert under it."""

    async def main(runtime, store):
        async def one(i):
            async with store.transaction() as tx:
                await runtime.sleep(0.001 * (i % 3))  # interleave the transactions' statements
                number = await tx.allocate_key(Numbered)
                await runtime.sleep(0.001 * (i % 2))
                await tx.insert(Numbered(number=number, label=f"t{i}"))
            return number

        tasks = [runtime.spawn(one(i), name=f"tx-{i}") for i in range(CONCURRENT_ALLOCATIONS)]
        numbers = [await task.join() for task in tasks]
        return numbers, await _snapshot(store, Numbered)

    numbers, rows = store_impl.run(main)
    assert sorted(numbers) == list(range(1, CONCURRENT_ALLOCATIONS + 1))
    assert sorted(row.label for row in rows) == sorted(
        f"t{i}" for i in range(CONCURRENT_ALLOCATIONS)
    )


def test_allocation_takes_no_lock_so_open_transactions_all_get_keys(store_impl):
    if store_impl.one_writer_at_a_time:
        reason = store_impl.one_writer_at_a_time
        pytest.skip(f"{store_impl.kind} allocates under its write lock: {reason}")

    async def main(runtime, store):
        allocated = []
        all_allocated = runtime.event()

        async def one(i):
            async with store.transaction() as tx:
                allocated.append(await tx.allocate_key(Numbered))
                if len(allocated) == CONCURRENT_ALLOCATIONS:
                    all_allocated.set()
                await all_allocated.wait()  # no transaction commits before all have allocated

        tasks = [runtime.spawn(one(i), name=f"tx-{i}") for i in range(CONCURRENT_ALLOCATIONS)]
        for task in tasks:
            await task.join()
        return allocated

    allocated = store_impl.run(main, until_s=60)
    assert sorted(allocated) == list(range(1, CONCURRENT_ALLOCATIONS + 1))


def test_a_rolled_back_allocation_never_gives_a_committed_key_twice(store_impl):
    async def main(runtime, store):
        async with store.transaction() as tx:
            discarded = await tx.allocate_key(Numbered)
            await tx.rollback()
        return discarded, [await allocate_and_insert(store) for _ in range(2)]

    discarded, committed = store_impl.run(main)
    assert discarded == 1
    assert committed == ([1, 2] if store_impl.reuses_rolled_back_keys else [2, 3])


def test_allocating_a_key_for_a_table_whose_key_is_not_an_int_is_misuse(store_impl):
    async def main(runtime, store):
        async with store.transaction() as tx:
            await tx.allocate_key(Counter)

    with pytest.raises(TaskCrashed) as caught:
        store_impl.run(main)
    assert isinstance(caught.value.__cause__, StoreMisuse)
    assert "'contract_counters'" in str(caught.value)
    assert "not an int" in str(caught.value)


async def _snapshot(store, kind):
    async with store.transaction() as tx:
        return await tx.select(kind)
