"""``report.json``: what a run did, in numbers a person (and a snapshot test) can read.

Every figure comes from the run's event log or its final state. Floats are rounded so that a
report is byte-stable across platforms; ``wall_seconds`` is the only figure that depends on the
machine, and snapshot tests leave it out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.cj.position_report import balances_by_batch, position_balance
from engine.eventlog import LogRecord

if TYPE_CHECKING:  # the report reads a finished run; building one needs the whole harness
    from sim.harness.runner import RunOutcome

__all__ = [
    "MACHINE_FIELDS",
    "MOVING_FIELDS",
    "STEADY_AFTER_S",
    "baseline",
    "build_report",
    "concurrency_section",
    "figures",
    "flatten",
    "rounded",
    "usage_section",
]

DIGITS = 6
BASELINE_DIGITS = 4
# The controller's steady state is judged after its first minute: a provider's bucket starts
# full, so the first minute can run above any per-minute limit.
STEADY_AFTER_S = 60.0

# Figures that measure the machine, not the run: never part of a baseline.
MACHINE_FIELDS = ("wall_seconds", "virtual_per_wall")
# Figures of the run that move with almost any change to the engine, however unrelated (one more
# logged event, a transaction a millisecond longer): a snapshot holding them changes on every
# commit and teaches people to accept its diffs unread. The fault phase's end is a virtual time
# too (in every shipped scenario, the run's end). Sweeps keep them (``figures``); baselines do
# not (docs/decisions/0010-snapshot-policy.md).
MOVING_FIELDS = ("events", "virtual_seconds", "liveness.fault_phase_end_s")
HELD, BROKEN = "held", "broken"


def rounded(value: Any) -> Any:
    """Round every float in a JSON-like value."""
    if isinstance(value, float):
        return round(value, DIGITS)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    return value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON-like value as ``{dotted.path: leaf}``, with list items by index (``batches.0``),
    the same paths that scenario expectations use."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return {prefix.rstrip("."): value}
    flat: dict[str, Any] = {}
    for key, item in items:
        if isinstance(item, dict | list | tuple) and item:
            flat.update(flatten(item, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = item
    return flat


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """Every figure of a report that the seed decides, by its dotted path, floats to four
    places: the report without the machine's figures, the fingerprint (any event change moves
    it) and the concurrency limit's step by step history (its start, final, lowest and highest
    limits and its counts of changes are kept). A sweep's row holds these."""
    dropped = {*MACHINE_FIELDS, "fingerprint"}
    kept = {key: value for key, value in report.items() if key not in dropped}
    return {
        path: round(v, BASELINE_DIGITS) if isinstance(v, float) else v
        for path, v in sorted(flatten(kept).items())
        if not _is_history(path)
    }


def baseline(report: dict[str, Any]) -> dict[str, Any]:
    """What a snapshot pins of a report: the ``figures`` a user decides on, without those that
    move on any change (``MOVING_FIELDS``: the event count and virtual times). Each invariant is
    pinned as ``invariants.NAME: "held" | "broken"``; its prose (``detail``) and the place of
    its first breaking event in the log (``first_event``) move with wording and with every
    logged event, and ``cjsim run`` prints both when one breaks."""
    pinned: dict[str, Any] = {}
    for path, value in figures(report).items():
        parts = path.split(".")
        if path in MOVING_FIELDS or (parts[0] == "invariants" and len(parts) > 2):
            continue
        pinned[path] = value
    for name, result in report["invariants"].items():
        pinned[f"invariants.{name}"] = HELD if result["ok"] else BROKEN
    return dict(sorted(pinned.items()))


def _is_history(path: str) -> bool:
    parts = path.split(".")
    return parts[0] == "concurrency" and "history" in parts


def build_report(outcome: RunOutcome, *, wall_seconds: float | None = None) -> dict[str, Any]:
    # Here, not at the top: what reads run folders (compare, the pages) needs no queue model.
    from engine.lps.queue import QueueStatus

    records = outcome.log.records()
    kinds = Counter(record.kind for record in records)
    applied = [r for r in records if r.kind == "cj.callback.applied"]
    finalized = {int(r.ids["cj_batch_id"]): r for r in records if r.kind == "cj.batch.finalized"}
    resubmissions = Counter(
        int(r.ids["cj_batch_id"]) for r in records if r.kind == "cj.pair.resubmitted"
    )
    pairs = outcome.pairs()
    essays = outcome.essays()

    batches = []
    uploads = {u.cj_batch_id: u for u in outcome.uploads()}
    for state in outcome.states():
        batch = state.cj_batch_id
        batch_pairs = [p for p in pairs if p.cj_batch_id == batch]
        batch_applied = [r for r in applied if int(r.ids["cj_batch_id"]) == batch]
        final = finalized.get(batch)
        batches.append(
            {
                "cj_batch_id": batch,
                "bos_batch_id": uploads[batch].bos_batch_id,
                "final_state": state.state.value,
                "upload_status": uploads[batch].status.value,
                "total_budget": state.total_budget,
                "submitted": state.submitted_comparisons,
                "completed": state.completed_comparisons,
                "failed": state.failed_comparisons,
                "iterations": state.current_iteration,
                "max_completion_pct": max(
                    (r.fields["completion_pct"] for r in batch_applied), default=0.0
                ),
                "db_completed": sum(
                    p.outcome is not None and p.outcome.value != "error" for p in batch_pairs
                ),
                "db_failed": sum(
                    p.outcome is not None and p.outcome.value == "error" for p in batch_pairs
                ),
                "callbacks_after_finalization": sum(
                    bool(r.fields.get("after_finalization")) for r in batch_applied
                ),
                "resubmissions": resubmissions[batch],
                "final_reason": final.fields.get("reason") if final else None,
                "ssr": final.fields.get("ssr") if final else None,
                "kendall_tau": final.fields.get("kendall_tau") if final else None,
                "inversions": final.fields.get("inversions") if final else None,
                "zero_win_anchors": final.fields.get("zero_win_anchors") if final else None,
            }
        )

    provider_errors = Counter(
        r.fields["error_type"]
        for r in records
        if r.kind == "lps.provider.call" and r.fields["outcome"] == "error"
    )
    final_errors = Counter(
        r.fields["error_type"]
        for r in records
        if r.kind == "lps.callback.published" and r.fields["error_type"]
    )
    items = outcome.queue_items()
    statuses = Counter(item.status for item in items)
    expiries = Counter(r.fields["reason"] for r in records if r.kind == "lps.item.expired")
    balance = position_balance(
        ((p.essay_a_id, p.essay_b_id) for p in pairs), {e.essay_id: e.is_anchor for e in essays}
    )
    faults = Counter(r.fields["kind"] for r in records if r.kind == "fault.fired")
    virtual = outcome.virtual_seconds
    report: dict[str, Any] = {
        "scenario": outcome.scenario.name,
        "seed": outcome.seed,
        "legacy": outcome.legacy,
        "fingerprint": outcome.fingerprint,
        "events": len(records),
        "invariants": {name: result.as_dict() for name, result in outcome.invariants.items()},
        "liveness": {"ok": outcome.liveness_ok, "fault_phase_end_s": outcome.fault_phase_end_s},
        "batches": batches,
        "errors_by_type": dict(sorted(provider_errors.items())),
        "final_errors_by_type": dict(sorted(final_errors.items())),
        "provider_calls": kinds["lps.provider.call"],
        "replayed_answers": kinds["sim.replay.hit"],
        "callbacks": {
            "applied": kinds["cj.callback.applied"],
            "duplicate": kinds["cj.callback.duplicate"],
            "orphan": kinds["cj.callback.orphan"],
            "late": kinds["cj.callback.late"],
            "invalid": kinds["cj.callback.invalid"],
            "published_by_lps": kinds["lps.callback.published"],
            "consumer_failures": kinds["bus.handler.failed"],
        },
        "queue": {
            "items": len(items),
            "completed": statuses[QueueStatus.COMPLETED],
            "failed": statuses[QueueStatus.FAILED],
            "expired": statuses[QueueStatus.EXPIRED],
            "processing_timeouts": expiries["processing_timeout"],
            "call_deadlines": kinds["lps.call.deadline"],
            "expiries_by_reason": dict(sorted(expiries.items())),
            "retries": kinds["lps.retry.scheduled"],
            "zombie_results": kinds["lps.zombie.discarded"],
            "worker_crashes": kinds["lps.worker.crashed"],
            "max_depth": outcome.lps.ledger.max_depth,
        },
        "position_balance": {
            "anchors": {
                "a": balance.anchors.a_count,
                "b": balance.anchors.b_count,
                "a_share": balance.anchors.a_share,
            },
            "students": {
                "a": balance.students.a_count,
                "b": balance.students.b_count,
                "a_share": balance.students.a_share,
            },
            "max_abs_skew": max(
                (b.max_abs_skew for b in balances_by_batch(pairs, essays).values()), default=0.0
            ),
        },
        "usage": usage_section(records),
        "concurrency": concurrency_section(
            records, adaptive=outcome.settings.LPS_ADAPTIVE_CONCURRENCY
        ),
        "faults_fired": dict(sorted(faults.items())),
        "virtual_seconds": virtual,
        "wall_seconds": wall_seconds,
        "virtual_per_wall": (virtual / wall_seconds) if wall_seconds else None,
    }
    result: dict[str, Any] = rounded(report)
    return result


def usage_section(records: Sequence[LogRecord]) -> dict[str, Any]:
    """Tokens and cost over every provider call, billed failures included. The cost is summed
    exactly (``math.fsum``), so it does not depend on the order of the calls."""

    calls = [r.fields for r in records if r.kind == "lps.provider.call"]
    return {
        "billed_calls": sum(f["outcome"] == "success" or bool(f.get("billed")) for f in calls),
        "input_tokens": sum(f.get("prompt_tokens") or 0 for f in calls),
        "output_tokens": sum(f.get("completion_tokens") or 0 for f in calls),
        "cache_write_tokens": sum(f.get("cache_write_tokens") or 0 for f in calls),
        "cache_read_tokens": sum(f.get("cache_read_tokens") or 0 for f in calls),
        "cost_usd": math.fsum(f.get("cost_usd") or 0.0 for f in calls),
    }


def concurrency_section(records: Sequence[LogRecord], *, adaptive: bool) -> dict[str, Any]:
    """The controller's limit per (provider, model), with its history of changes, and how the
    provider calls went after the first minute: answers per minute and the share of calls
    refused with a rate limit (429 ``rate_limit``)."""
    gates: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if record.kind not in ("lps.concurrency.changed", "lps.concurrency.paused"):
            continue
        fields = record.fields
        key = (str(fields["provider"]), str(fields["model"]))
        gate = gates.setdefault(
            key,
            {"provider": key[0], "model": key[1], "history": [], "pauses": 0},
        )
        if record.kind == "lps.concurrency.paused":
            gate["pauses"] += 1
            continue
        gate["history"].append(
            {"t": record.t, "old": fields["old"], "new": fields["new"], "reason": fields["reason"]}
        )
    summaries = []
    for key in sorted(gates):
        gate = gates[key]
        history = gate["history"]
        limits = [change["new"] for change in history]
        summaries.append(
            {
                "provider": gate["provider"],
                "model": gate["model"],
                "start": limits[0] if limits else None,
                "final": limits[-1] if limits else None,
                "lowest": min(limits, default=None),
                "highest": max(limits, default=None),
                "decreases": sum(c["old"] is not None and c["new"] < c["old"] for c in history),
                "increases": sum(c["old"] is not None and c["new"] > c["old"] for c in history),
                "pauses": gate["pauses"],
                "history": history,
            }
        )
    calls = [r for r in records if r.kind == "lps.provider.call"]
    rate_limited = [r for r in calls if r.fields.get("error_type") == "rate_limit"]
    end_s = max((r.t for r in calls), default=0.0)
    steady = [r for r in calls if r.t >= STEADY_AFTER_S]
    span_s = end_s - STEADY_AFTER_S
    return {
        "adaptive": adaptive,
        "gates": summaries,
        "rate_limited_calls": len(rate_limited),
        "after_first_minute": {
            "calls": len(steady),
            "answers_per_minute": (
                60.0 * sum(r.fields["outcome"] == "success" for r in steady) / span_s
                if span_s > 0
                else None
            ),
            "rate_limited_share": (
                sum(r.fields.get("error_type") == "rate_limit" for r in steady) / len(steady)
                if steady
                else None
            ),
        },
    }
