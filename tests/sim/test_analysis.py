"""DuckDB analysis of a run: the outcome tables and the report queries agree with the run."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sim.harness.runner import run_scenario
from sim.harness.scenario_file import load_scenario
from sim.reports.analysis import ANALYSIS, OUTCOMES_FILE, analyse, write_outcomes
from sim.reports.report import build_report

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TABLES = {
    "events",
    "comparisons",
    "callbacks",
    "queue_items",
    "queue_history",
    "provider_calls",
    "concurrency",
    "batch_state",
    "scores",
    "metrics",
}


def _run(name: str, *overrides: str, legacy: bool = False):
    path = SCENARIOS / f"{name}.yaml"
    return run_scenario(
        load_scenario(path, overrides=list(overrides)), legacy=legacy, base_dir=path.parent
    )


@pytest.fixture(scope="module")
def regular():
    outcome = _run("eng5_regular_24")
    return outcome, build_report(outcome), analyse(outcome)


def test_every_report_query_answers(regular):
    _, _, analysis = regular
    assert set(analysis) == set(ANALYSIS)
    empty = [name for name, rows in analysis.items() if not rows]
    assert empty == []


def test_provider_calls_and_errors_agree_with_the_report(regular):
    _, report, analysis = regular
    calls = analysis["errors_by_provider_and_type"]
    assert sum(row["calls"] for row in calls) == report["provider_calls"]
    by_type = {row["error_type"]: row["calls"] for row in calls if row["error_type"] != "none"}
    assert by_type == report["errors_by_type"]
    rate = analysis["error_rate_by_provider"][0]
    assert rate["errors"] == sum(by_type.values())


def test_positions_completion_callbacks_and_alignment_agree_with_the_report(regular):
    _, report, analysis = regular
    positions = {
        (r["role"], r["position"]): r["comparisons"] for r in analysis["positions_by_role"]
    }
    balance = report["position_balance"]
    assert positions[("anchor", "A")] == balance["anchors"]["a"]
    assert positions[("student", "B")] == balance["students"]["b"]
    (completion,) = analysis["completion_vs_store"]
    batch = report["batches"][0]
    assert completion["counters_match"] is True
    assert (completion["completed"], completion["failed"]) == (batch["completed"], batch["failed"])
    assert completion["max_completion_pct"] == batch["max_completion_pct"]
    callbacks = {r["disposition"]: r["callbacks"] for r in analysis["callbacks_by_disposition"]}
    assert callbacks.get("duplicate", 0) == report["callbacks"]["duplicate"]
    (alignment,) = analysis["alignment"]
    assert alignment["inversions"] == batch["inversions"]
    assert alignment["ssr"] == pytest.approx(batch["ssr"], abs=1e-3)
    ranked = analysis["scores_and_grades"]
    assert [row["rank"] for row in ranked] == list(range(1, 25))


def test_the_queue_tables_see_the_stuck_item_expire(regular):
    outcome = _run("batch34_orphan_and_stuck")  # its stuck item is expired by the sweep
    report, analysis = build_report(outcome), analyse(outcome)
    expired = [r for r in analysis["queue_status"] if r["expiry_reason"] == "processing_timeout"]
    assert sum(r["items"] for r in expired) == report["queue"]["processing_timeouts"] == 1
    _, _, analysis = regular
    waits = analysis["queue_wait_percentiles"][0]
    assert waits == {  # the seeded run's queue waits, on the log's microsecond grid
        "items": 288,
        "p50_s": 10.439589,
        "p95_s": 88.971737,
        "p99_s": 313.592687,
        "max_s": 318.264589,
    }


def test_the_analysis_is_the_same_every_time(regular):
    outcome, _, analysis = regular
    assert analyse(outcome) == analysis
    assert analyse(_run("eng5_regular_24")) == analysis


def test_the_analysis_sees_lost_updates_under_the_legacy_toggle():
    outcome = _run("concurrent_callbacks", "LEGACY_COUNTERS_WITHOUT_LOCK=true")
    (completion,) = analyse(outcome)["completion_vs_store"]
    assert completion["counters_match"] is False
    # 64 results in the rows, and the counter kept one of them (as test_workflow finds)
    assert (completion["completed"], completion["db_completed"]) == (1, 64)


def test_the_analysis_sees_anchors_stuck_in_position_a_under_the_legacy_toggle():
    outcome = _run("eng5_regular_24", "ENABLE_COMPARISON_POSITION_BALANCING=false")
    rows = analyse(outcome)["positions_by_role"]
    positions = {(r["role"], r["position"]): r["comparisons"] for r in rows}
    assert (positions[("anchor", "A")], positions[("anchor", "B")]) == (217, 71)


def test_write_outcomes_leaves_a_database_with_the_outcome_tables(regular, tmp_path):
    outcome, report, analysis = regular
    assert write_outcomes(outcome, tmp_path) == analysis
    with duckdb.connect(str(tmp_path / OUTCOMES_FILE), read_only=True) as con:
        names = {
            row[0]
            for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        assert names >= TABLES
        events = con.execute("SELECT count(*) FROM events").fetchone()
        assert events == (report["events"],)
        applied = con.execute(
            "SELECT count(*) FROM callbacks WHERE disposition = 'applied'"
        ).fetchone()
        assert applied == (report["callbacks"]["applied"],)
    # Writing again replaces the file rather than appending to it.
    assert write_outcomes(outcome, tmp_path) == analysis


def test_provider_calls_carry_model_tokens_and_cost_and_agree_with_the_report_usage(tmp_path):
    # batch33's provider truncates and garbles answers now and then: billed failures.
    outcome = _run(
        "batch33_serial_bundle_errors", "PRICE_INPUT_PER_MTOK=1.25", "PRICE_OUTPUT_PER_MTOK=10"
    )
    report, analysis = build_report(outcome), analyse(outcome)
    (row,) = analysis["usage_by_model"]
    usage = report["usage"]
    assert (row["provider"], row["model"]) == ("anthropic", "claude-haiku-4-5-20251001")
    assert row["billed_calls"] == usage["billed_calls"]
    assert row["input_tokens"] == usage["input_tokens"] > 0
    assert row["output_tokens"] == usage["output_tokens"] > 0
    assert row["cache_write_tokens"] == usage["cache_write_tokens"] == 0
    assert row["cost_usd"] == usage["cost_usd"]
    expected = (usage["input_tokens"] * 1.25 + usage["output_tokens"] * 10) / 1e6
    assert usage["cost_usd"] == pytest.approx(expected, abs=1e-6)
    write_outcomes(outcome, tmp_path)
    with duckdb.connect(str(tmp_path / OUTCOMES_FILE), read_only=True) as con:
        columns = {row[0] for row in con.execute("DESCRIBE provider_calls").fetchall()}
        assert columns >= {
            "model",
            "prompt_tokens",
            "completion_tokens",
            "cache_write_tokens",
            "cache_read_tokens",
            "cost_usd",
            "billed",
        }
        billed_errors, billed_cost = con.execute(
            "SELECT count(*), min(cost_usd) FROM provider_calls WHERE outcome = 'error' AND billed"
        ).fetchone()
    errors = report["errors_by_type"]
    garbled = errors.get("max_tokens", 0) + errors.get("invalid_response", 0)
    assert billed_errors == garbled == 3  # one truncated answer, two garbled
    assert billed_cost > 0
    assert usage["billed_calls"] == report["batches"][0]["completed"] + garbled


def test_the_concurrency_history_agrees_with_the_report(regular):
    _, report, analysis = regular
    (gate,) = report["concurrency"]["gates"]
    rows = analysis["concurrency_history"]
    assert [(r["t"], r["old"], r["new"], r["reason"]) for r in rows] == [
        (c["t"], c["old"], c["new"], c["reason"]) for c in gate["history"]
    ]
    assert rows[0]["reason"] == "start"
    assert any(r["reason"] == "rate_limited" for r in rows)  # its 429 window cut the limit
