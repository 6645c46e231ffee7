"""Every run, in DuckDB: outcome tables and the fixed report queries over them.

Theory of operation. ``load_outcomes`` puts a run into DuckDB in bulk: each table is a dict of
numpy arrays handed over in one call (DuckDB scans them in place), never row by row. The event
log goes in as its canonical JSON lines, and the tables that are views of it (callbacks,
provider calls, batch-state changes, queue history) are derived from it in SQL. ``ANALYSIS``
is the report: a fixed set of named queries, each ordered fully and rounding its floats, run on a
single thread so that sums do not depend on how work was split. ``write_outcomes`` saves the
tables as ``outcomes.duckdb`` and the report as ``analysis.json`` next to ``report.json``.

Tables: ``events``, ``comparisons``, ``callbacks``, ``queue_items``, ``queue_history``,
``provider_calls`` (with each call's model, input/output/cache-write/cache-read tokens and
``cost_usd``), ``concurrency`` (the controller's limit changes and pauses), ``batch_state``,
``scores``, ``metrics``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from engine.metrics_export import samples
from sim.reports.run_folder import ANALYSIS_FILE, OUTCOMES_FILE

if TYPE_CHECKING:  # a page reads the tables without loading the simulation
    from sim.harness.runner import RunOutcome

__all__ = ["ANALYSIS", "analyse", "load_outcomes", "run_analysis", "write_outcomes"]


def _strings(values: Sequence[Any]) -> np.ndarray:
    """A text column; DuckDB reads each ``None`` in an object array as NULL."""
    return np.array(values, dtype=object)


def _seconds(value: datetime | None, epoch: datetime) -> float:
    return float("nan") if value is None else (value - epoch).total_seconds()


def _frames(outcome: RunOutcome) -> dict[str, dict[str, np.ndarray]]:
    """The tables that come from the final state (the rest are derived from events in SQL)."""
    epoch = outcome.scenario.epoch
    log = outcome.log
    records = log.records()
    essays = outcome.essays()
    anchor = {e.essay_id for e in essays if e.is_anchor}
    pairs = outcome.pairs()
    items = outcome.queue_items()
    metric_samples = samples(outcome.registry)

    return {
        "raw_events": {
            "seq": np.array([r.seq for r in records], dtype=np.int64),
            "t": np.array([r.t for r in records], dtype=np.float64),
            "kind": _strings([r.kind for r in records]),
            "line": _strings(list(log.lines())),
        },
        "raw_comparisons": {
            "cj_batch_id": np.array([p.cj_batch_id for p in pairs], dtype=np.int64),
            "correlation_id": _strings([p.correlation_id for p in pairs]),
            "iteration": np.array([p.iteration for p in pairs], dtype=np.int64),
            "mode": _strings([p.generation_mode.value for p in pairs]),
            "essay_a": _strings([p.essay_a_id for p in pairs]),
            "essay_b": _strings([p.essay_b_id for p in pairs]),
            "a_is_anchor": np.array([p.essay_a_id in anchor for p in pairs], dtype=bool),
            "b_is_anchor": np.array([p.essay_b_id in anchor for p in pairs], dtype=bool),
            "outcome": _strings([p.outcome.value if p.outcome else None for p in pairs]),
            "error_type": _strings([p.error_type for p in pairs]),
            "attempts": np.array([p.attempts for p in pairs], dtype=np.int64),
            "response_time_ms": np.array([p.response_time_ms or 0 for p in pairs], dtype=np.int64),
            "prompt_tokens": np.array([p.prompt_tokens or 0 for p in pairs], dtype=np.int64),
            "completion_tokens": np.array(
                [p.completion_tokens or 0 for p in pairs], dtype=np.int64
            ),
        },
        "raw_queue_items": {
            "queue_id": _strings([i.queue_id for i in items]),
            "correlation_id": _strings([i.correlation_id for i in items]),
            "provider": _strings([i.provider for i in items]),
            "status": _strings([i.status.value for i in items]),
            "retry_count": np.array([i.retry_count for i in items], dtype=np.int64),
            "expiry_reason": _strings([i.expiry_reason for i in items]),
            "bundle_id": _strings([i.bundle_id for i in items]),
            "last_error_type": _strings([i.last_error_type for i in items]),
            "cj_batch_id": _strings([i.cj_batch_id for i in items]),
            "queued_at_s": np.array([_seconds(i.queued_at, epoch) for i in items]),
            "completed_at_s": np.array([_seconds(i.completed_at, epoch) for i in items]),
            "size_bytes": np.array([i.size_bytes for i in items], dtype=np.int64),
        },
        "raw_scores": {
            "cj_batch_id": np.array([e.cj_batch_id for e in essays], dtype=np.int64),
            "essay_id": _strings([e.essay_id for e in essays]),
            "is_anchor": np.array([e.is_anchor for e in essays], dtype=bool),
            "known_grade": _strings([e.known_grade for e in essays]),
            "bt_score": np.array([np.nan if e.bt_score is None else e.bt_score for e in essays]),
            "bt_se": np.array([np.nan if e.bt_se is None else e.bt_se for e in essays]),
            "rank": np.array([e.rank or 0 for e in essays], dtype=np.int64),
            "grade": _strings([e.grade for e in essays]),
            "confidence_label": _strings([e.confidence_label for e in essays]),
        },
        "raw_metrics": {
            "name": _strings([s.name for s in metric_samples]),
            "labels": _strings(
                [json.dumps(dict(s.labels), sort_keys=True) for s in metric_samples]
            ),
            "value": np.array([s.value for s in metric_samples], dtype=np.float64),
        },
    }


# The typed view of an event record that the derived tables read. The log is parsed once, here,
# into a struct; a field that an event kind does not carry is NULL.
_RECORD_SHAPE = json.dumps(
    {
        "ids": {"correlation_id": "VARCHAR", "queue_id": "VARCHAR", "cj_batch_id": "BIGINT"},
        "fields": {
            "provider": "VARCHAR",
            "model": "VARCHAR",
            "attempt": "BIGINT",
            "outcome": "VARCHAR",
            "error_type": "VARCHAR",
            "http_status": "BIGINT",
            "retry_after_s": "DOUBLE",
            "latency_ms": "BIGINT",
            "prompt_tokens": "BIGINT",
            "completion_tokens": "BIGINT",
            "cache_write_tokens": "BIGINT",
            "cache_read_tokens": "BIGINT",
            "cost_usd": "DOUBLE",
            "billed": "BOOLEAN",
            "old": "BIGINT",
            "new": "BIGINT",
            "reason": "VARCHAR",
            "pause_s": "DOUBLE",
            "completed": "BIGINT",
            "failed": "BIGINT",
            "submitted": "BIGINT",
            "completion_pct": "DOUBLE",
            "denominator": "BIGINT",
            "status": "VARCHAR",
            "size": "BIGINT",
            "kendall_tau": "DOUBLE",
            "inversions": "BIGINT",
            "zero_win_anchors": "BIGINT",
            "ssr": "DOUBLE",
        },
    }
)

# Each table, built from a registered frame (``*_frame``). NaN from numpy becomes NULL here.
TABLES = {
    "events": f"""SELECT seq, t, kind, line,
        json_transform(line, '{_RECORD_SHAPE}') AS record FROM raw_events_frame""",
    "comparisons": "SELECT * FROM raw_comparisons_frame",
    "queue_items": """SELECT * REPLACE (
        CASE WHEN isnan(completed_at_s) THEN NULL ELSE completed_at_s END AS completed_at_s)
        FROM raw_queue_items_frame""",
    "scores": """SELECT * REPLACE (
        CASE WHEN isnan(bt_score) THEN NULL ELSE bt_score END AS bt_score,
        CASE WHEN isnan(bt_se) THEN NULL ELSE bt_se END AS bt_se) FROM raw_scores_frame""",
    "metrics": "SELECT name, labels::JSON AS labels, value FROM raw_metrics_frame",
}

# The views of the event log. Views, not copies: each is a projection of ``events``, and
# materialising them would cost more than every report query that reads them.
VIEWS = {
    "callbacks": """SELECT seq, t, replace(kind, 'cj.callback.', '') AS disposition,
        record.ids.correlation_id, record.ids.cj_batch_id,
        record.fields.outcome, record.fields.error_type
        FROM events WHERE kind LIKE 'cj.callback.%'""",
    "provider_calls": """SELECT seq, t, record.ids.queue_id, record.ids.correlation_id,
        record.fields.provider, record.fields.model, record.fields.attempt,
        record.fields.outcome, record.fields.error_type, record.fields.http_status,
        record.fields.retry_after_s, record.fields.latency_ms, record.fields.prompt_tokens,
        record.fields.completion_tokens, record.fields.cache_write_tokens,
        record.fields.cache_read_tokens, record.fields.cost_usd,
        coalesce(record.fields.billed, record.fields.outcome = 'success') AS billed
        FROM events WHERE kind = 'lps.provider.call'""",
    "concurrency": """SELECT seq, t, kind, record.fields.provider, record.fields.model,
        record.fields.old, record.fields.new, record.fields.reason, record.fields.pause_s
        FROM events WHERE kind IN ('lps.concurrency.changed', 'lps.concurrency.paused')""",
    "batch_state": """SELECT seq, t, kind, record.ids.cj_batch_id, record.fields.completed,
        record.fields.failed, record.fields.submitted, record.fields.completion_pct,
        record.fields.denominator, record.fields.status
        FROM events
        WHERE kind IN ('cj.batch.created', 'cj.wave.submitted', 'cj.callback.applied',
                       'cj.continuation', 'cj.batch.finalized')""",
    "queue_history": """SELECT seq, t, record.ids.queue_id,
        replace(replace(kind, 'lps.', ''), '.', '_') AS change,
        json_extract(line, '$.fields') AS detail
        FROM events WHERE record.ids.queue_id IS NOT NULL""",
}

# The report: fixed, named queries. Each orders fully and rounds its floats.
ANALYSIS: dict[str, str] = {
    "errors_by_provider_and_type": """
        SELECT provider, coalesce(error_type, 'none') AS error_type,
               coalesce(http_status, 0) AS http_status, count(*) AS calls
        FROM provider_calls GROUP BY ALL ORDER BY ALL""",
    "error_rate_by_provider": """
        SELECT provider, count(*) AS calls, count(*) FILTER (outcome = 'error') AS errors,
               round(count(*) FILTER (outcome = 'error') / count(*), 6) AS error_rate
        FROM provider_calls GROUP BY ALL ORDER BY ALL""",
    "positions_by_role": """
        SELECT role, position, count(*) AS comparisons FROM (
            SELECT CASE WHEN a_is_anchor THEN 'anchor' ELSE 'student' END AS role,
                   'A' AS position FROM comparisons
            UNION ALL
            SELECT CASE WHEN b_is_anchor THEN 'anchor' ELSE 'student' END, 'B' FROM comparisons
        ) GROUP BY ALL ORDER BY ALL""",
    "completion_vs_store": """
        WITH last AS (
            SELECT cj_batch_id, arg_max(completed, seq) AS completed,
                   arg_max(failed, seq) AS failed, max(completion_pct) AS max_completion_pct
            FROM batch_state WHERE kind = 'cj.callback.applied' GROUP BY cj_batch_id),
        stored AS (
            SELECT cj_batch_id,
                   count(*) FILTER (outcome IN ('essay_a', 'essay_b')) AS db_completed,
                   count(*) FILTER (outcome = 'error') AS db_failed,
                   count(*) AS submitted
            FROM comparisons GROUP BY cj_batch_id)
        SELECT stored.cj_batch_id, stored.submitted, last.completed, last.failed,
               stored.db_completed, stored.db_failed,
               round(last.max_completion_pct, 6) AS max_completion_pct,
               last.completed = stored.db_completed AND last.failed = stored.db_failed
                   AS counters_match
        FROM stored LEFT JOIN last USING (cj_batch_id) ORDER BY ALL""",
    "callbacks_by_disposition": """
        SELECT disposition, count(*) AS callbacks FROM callbacks GROUP BY ALL ORDER BY ALL""",
    "queue_status": """
        SELECT status, coalesce(expiry_reason, '') AS expiry_reason, count(*) AS items,
               sum(retry_count) AS retries
        FROM queue_items GROUP BY ALL ORDER BY ALL""",
    "bundle_sizes": """
        SELECT record.fields.size, count(*) AS bundles
        FROM events WHERE kind = 'lps.bundle.started' GROUP BY ALL ORDER BY ALL""",
    "queue_wait_percentiles": """
        WITH waits AS (
            SELECT e.queue_id, max(d.t) - min(e.t) AS wait_s
            FROM (SELECT queue_id, t FROM queue_history WHERE change = 'queue_enqueued') e
            JOIN (SELECT queue_id, t FROM queue_history WHERE change = 'item_dispatched') d
              USING (queue_id)
            GROUP BY e.queue_id)
        SELECT count(*) AS items, round(quantile_cont(wait_s, 0.5), 6) AS p50_s,
               round(quantile_cont(wait_s, 0.95), 6) AS p95_s,
               round(quantile_cont(wait_s, 0.99), 6) AS p99_s, round(max(wait_s), 6) AS max_s
        FROM waits""",
    "provider_latency_percentiles": """
        SELECT provider, count(*) AS answers,
               round(quantile_cont(latency_ms, 0.5), 3) AS p50_ms,
               round(quantile_cont(latency_ms, 0.95), 3) AS p95_ms,
               round(avg(latency_ms), 3) AS mean_ms
        FROM provider_calls WHERE outcome = 'success' GROUP BY ALL ORDER BY ALL""",
    # Costs are summed as whole 1e-10 USD (the precision they are recorded at), exactly.
    "usage_by_model": """
        SELECT provider, model, count(*) FILTER (billed) AS billed_calls,
               sum(prompt_tokens) AS input_tokens, sum(completion_tokens) AS output_tokens,
               sum(cache_write_tokens) AS cache_write_tokens,
               sum(cache_read_tokens) AS cache_read_tokens,
               round(sum(CAST(round(cost_usd * 1e10) AS HUGEINT)) / 1e10, 6) AS cost_usd
        FROM provider_calls GROUP BY ALL ORDER BY ALL""",
    "concurrency_history": """
        SELECT seq, round(t, 6) AS t, provider, model, old, new, reason
        FROM concurrency WHERE kind = 'lps.concurrency.changed' ORDER BY seq""",
    "scores_and_grades": """
        SELECT cj_batch_id, rank, essay_id, is_anchor, known_grade, grade, confidence_label,
               round(bt_score, 6) AS bt_score, round(bt_se, 6) AS bt_se
        FROM scores WHERE rank > 0 ORDER BY cj_batch_id, rank, essay_id""",
    "alignment": """
        SELECT record.ids.cj_batch_id, record.fields.status,
               round(record.fields.kendall_tau, 6) AS kendall_tau, record.fields.inversions,
               record.fields.zero_win_anchors, round(record.fields.ssr, 6) AS ssr
        FROM events WHERE kind = 'cj.batch.finalized' ORDER BY ALL""",
}


def load_outcomes(con: duckdb.DuckDBPyConnection, outcome: RunOutcome) -> None:
    """Create the outcome tables of ``outcome`` in the current schema of ``con``."""
    frames = _frames(outcome)
    for name, columns in frames.items():
        con.register(f"{name}_frame", columns)
    for name, query in TABLES.items():
        con.execute(f"CREATE TABLE {name} AS {query}")
    for name, query in VIEWS.items():
        con.execute(f"CREATE VIEW {name} AS {query}")
    for name in frames:
        con.unregister(f"{name}_frame")


def run_analysis(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """Run every ``ANALYSIS`` query over the outcome tables in the current schema of ``con``."""
    report: dict[str, list[dict[str, Any]]] = {}
    for name, query in ANALYSIS.items():
        cursor = con.execute(query)
        columns = [column[0] for column in cursor.description]
        report[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return report


# Starting a DuckDB instance costs more than analysing a small run, so one in-process instance
# serves every analysis; each gets a connection of its own and a schema or file of its own.
_database: duckdb.DuckDBPyConnection | None = None
_workspaces = itertools.count(1)


def _connection() -> duckdb.DuckDBPyConnection:
    global _database
    if _database is None:
        # One thread: float sums must not depend on how the work was split.
        _database = duckdb.connect(config={"threads": 1})
    return _database.cursor()


def analyse(outcome: RunOutcome) -> dict[str, list[dict[str, Any]]]:
    """The analysis report of a run, computed in memory and then discarded."""
    schema = f"run_{next(_workspaces)}"
    with _connection() as con:
        con.execute(f"CREATE SCHEMA memory.{schema}")
        con.execute(f"USE memory.{schema}")
        try:
            load_outcomes(con, outcome)
            return run_analysis(con)
        finally:
            con.execute("USE memory.main")
            con.execute(f"DROP SCHEMA memory.{schema} CASCADE")


def write_outcomes(outcome: RunOutcome, folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Write ``outcomes.duckdb`` and ``analysis.json`` into ``folder``; return the report."""
    target = folder / OUTCOMES_FILE
    target.unlink(missing_ok=True)
    alias = f"outcomes_{next(_workspaces)}"
    quoted = str(target).replace("'", "''")
    with _connection() as con:
        con.execute(f"ATTACH '{quoted}' AS {alias}")
        con.execute(f"USE {alias}")
        try:
            # One transaction, not one per table and view: a commit to a file costs more than
            # creating a small run's table (-15% of the whole for a 24-essay run).
            con.execute("BEGIN TRANSACTION")
            try:
                load_outcomes(con, outcome)
                report = run_analysis(con)
            except BaseException:
                con.execute("ROLLBACK")  # DETACH refuses a database in an open transaction
                raise
            con.execute("COMMIT")
        finally:
            con.execute("USE memory.main")
            con.execute(f"DETACH {alias}")
    (folder / ANALYSIS_FILE).write_text(
        json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8"
    )
    return report
