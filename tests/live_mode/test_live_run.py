"""``cjsim live`` end to end: a dry run, runs against the loopback fake provider with the real
SDKs, caps, Ctrl-C, the metrics endpoint, PostgreSQL, promotion to a replay, and no secret in
any file a run writes."""

from __future__ import annotations

import json
import os
import random
import signal
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.cj.models import ComparisonPair
from engine.live.cohort import load_cohort
from engine.live.config import LiveConfigError, load_live_config
from engine.live.progress import LiveProgress
from engine.live.session import LiveRun, run_live
from engine.store.errors import StoreUnavailable
from engine.traces import load_trace, summarize
from sim.commands.cli import main
from sim.commands.live_command import prepare_new_run
from sim.harness.runner import run_scenario
from sim.harness.scenario_file import load_scenario
from sim.reports.report import build_report
from tests.contracts.postgres import run_admin_sql
from tests.live.fake_provider_server import (
    FakeProviderServer,
    overloaded,
    rate_limited,
    truncated,
    verdict,
)
from tests.live_mode.live_example import example_config

SECRET = "sk-ant-api03-cjsimTESTSECRETdoNotLeak0123456789"


def _config(tmp_path: Path, **changes) -> Path:
    """The example, cut to 3 students and 2 anchors (10 pairs), with ``changes`` applied."""
    path = example_config(tmp_path, **{"budget": 10, "out": str(tmp_path / "out"), **changes})
    folder = path.parent
    for extra in ("student_04.txt", "student_05.txt", "student_06.txt"):
        (folder / "essays" / extra).unlink()
    (folder / "anchors.csv").write_text(
        "file,grade,ref\nanchors/anchor_a.txt,A,sample_a\nanchors/anchor_e.txt,E+,sample_eplus\n"
    )
    return path


def _run(path: Path, out: Path, *, dry_run: bool, **hooks) -> LiveRun:
    """One new run of the configuration at ``path`` into ``out``, as ``cjsim live`` starts it
    (without the preflight)."""
    config, base = load_live_config(path)
    plan = prepare_new_run(config, load_cohort(config, base), base, out, dry_run=dry_run)
    return run_live(config, plan, **hooks)


def _files_mention(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.fixture
def secret_key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET.replace("sk-ant-api03", "sk-proj"))
    return SECRET


def test_a_dry_run_records_a_trace_that_promotes_to_a_replaying_scenario(
    tmp_path, secret_key, capsys
):
    path = _config(tmp_path)
    assert main(["live", str(path), "--dry-run", "--progress", "none"]) == 0
    out = capsys.readouterr().out
    assert "batch 1: COMPLETED" in out
    assert "invariants: 11/11 hold" in out
    run_dir = tmp_path / "out"
    for name in ("events.jsonl", "report.json", "analysis.json", "outcomes.duckdb", "report.html"):
        assert (run_dir / name).is_file(), name
    assert f"page: {run_dir / 'report.html'}" in out
    report = json.loads((run_dir / "report.json").read_text())
    assert report["fingerprint"] in (run_dir / "report.html").read_text()
    assert report["scenario"] == "eng5_sample"  # the configuration's name, not its replay's
    assert report["live"]["config"] == str(path)
    log_lines = [json.loads(line) for line in (run_dir / "live.log.jsonl").read_text().splitlines()]
    assert log_lines[0]["event"] == "live.start"
    assert log_lines[-1]["event"] == "live.end"
    assert any(line["event"] == "cj.batch.finalized" for line in log_lines)
    trace = load_trace(run_dir / "trace")
    assert len(trace.results) == 10
    assert trace.summary == summarize(trace.scenario_id, trace.results)
    assert main(["trace", "summarize", str(run_dir / "trace"), "--check"]) == 0

    assert main(["promote", str(run_dir / "trace")]) == 0
    scenario_path = run_dir / "replay_eng5_sample.yaml"
    scenario = load_scenario(scenario_path)
    outcome = run_scenario(scenario, base_dir=scenario_path.parent)
    report = build_report(outcome)
    assert report["replayed_answers"] == report["provider_calls"] == 10
    assert report["batches"][0]["final_state"] == "COMPLETED"
    assert _files_mention(tmp_path, secret_key) == []


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_run_against_the_fake_provider_classifies_retries_and_records(
    tmp_path, secret_key, provider
):
    rng = random.Random(7)
    with FakeProviderServer() as server:
        server.script(
            rate_limited(retry_after="0.1"),
            overloaded(),
            truncated(),
            *(verdict(rng.choice(["Essay A", "Essay B"])) for _ in range(30)),
        )
        base_url = server.url if provider == "anthropic" else server.openai_url
        path = _config(
            tmp_path,
            provider={
                "name": provider,
                "model": "test-model",
                "base_url": base_url,
                "timeout_s": 10,
            },
        )
        run = _run(path, tmp_path / "out", dry_run=False)
        requests = server.model_requests()
    assert run.settled
    assert run.stopped is None
    presented = {r.headers.get("x-api-key") or r.headers.get("authorization") for r in requests}
    assert all(secret_key[-20:] in str(value) for value in presented)  # the key was used...
    assert main(["trace", "summarize", str(tmp_path / "out" / "trace"), "--check"]) == 0
    from sim.commands.live_command import write_live_results  # the files the CLI writes

    with open(os.devnull, "w") as sink:
        write_live_results(run, sink)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["errors_by_type"]) == {"rate_limit", "overloaded", "max_tokens"}
    assert report["queue"]["retries"] == 2  # the 429 and the 529; a truncation is not retried
    assert report["batches"][0]["failed"] == 1
    assert report["invariants"]["counters_match_store"]["ok"]
    assert len(requests) == report["provider_calls"]  # the SDK never retried on its own
    # The recording replays in the simulator: each recorded answer where its pair comes up.
    assert main(["promote", str(tmp_path / "out" / "trace")]) == 0
    scenario_path = tmp_path / "out" / "replay_eng5_sample.yaml"
    replay = build_report(run_scenario(load_scenario(scenario_path), base_dir=scenario_path.parent))
    assert replay["replayed_answers"] >= 7
    assert replay["batches"][0]["final_state"] == "COMPLETED"
    # ...and the key never reached a file.
    assert _files_mention(tmp_path, secret_key[-20:]) == []


def test_no_html_leaves_the_page_out_of_a_live_run(tmp_path, capsys):
    path = _config(tmp_path)
    assert main(["live", str(path), "--dry-run", "--progress", "none", "--no-html"]) == 0
    assert "page:" not in capsys.readouterr().out
    assert (tmp_path / "out" / "report.json").is_file()
    assert not (tmp_path / "out" / "report.html").exists()


def test_a_request_cap_holds_the_calls_past_it_and_the_run_can_be_resumed(tmp_path, capsys):
    path = _config(tmp_path, caps={"max_requests": 4})
    assert main(["live", str(path), "--dry-run", "--progress", "none"]) == 100
    out = capsys.readouterr().out
    assert "stopped early: max_requests 4 reached" in out
    assert f"continue it: cjsim live --resume {tmp_path / 'out'}" in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["live"]["requests"] == 4
    assert report["live"]["exit_code"] == 100
    assert report["errors_by_type"] == {}  # held, not failed: the comparisons are still owed
    assert report["batches"][0]["final_state"] == "WAITING_CALLBACKS"
    trace = load_trace(tmp_path / "out" / "trace")
    assert sum(r.error_detail is None for r in trace.results) == 4
    # The cap counts the whole run: resumed under the same cap, nothing more is sent.
    assert main(["live", "--resume", str(tmp_path / "out"), "--progress", "none"]) == 100
    assert json.loads((tmp_path / "out" / "report.json").read_text())["live"]["requests"] == 4
    # Raised, the run finishes; the earlier answers are neither sent nor paid again.
    resumed = ["live", "--resume", str(tmp_path / "out"), "--max-requests", "40"]
    assert main([*resumed, "--progress", "none"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["batches"][0]["final_state"] == "COMPLETED"
    assert report["live"]["session"] == 3
    assert report["live"]["requests"] == report["provider_calls"] == 10
    assert all(r["ok"] for r in report["invariants"].values())
    trace = load_trace(tmp_path / "out" / "trace")
    assert trace.summary == summarize(trace.scenario_id, trace.results)
    assert trace.summary["success_count"] == 10


def test_ctrl_c_stops_sending_and_keeps_what_was_recorded(tmp_path):
    path = _config(tmp_path, settings={"MOCK_LATENCY_BASE_MS": 40})
    sent = []

    def progress(counts: LiveProgress) -> None:
        if counts.completed >= 2 and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    run = _run(path, tmp_path / "out", dry_run=True, progress=progress)
    assert run.stopped is not None
    assert "interrupted" in run.stopped
    trace = load_trace(tmp_path / "out" / "trace")
    assert trace.summary is not None
    assert trace.summary["total_events"] == len(trace.results) <= 10
    assert sum(r.error_detail is None for r in trace.results) < 10


def test_the_metrics_endpoint_serves_the_run_s_registry(tmp_path):
    path = _config(tmp_path, metrics_port=0)
    seen: dict[str, str] = {}

    def notice(message: str) -> None:
        if message.startswith("metrics: "):
            seen["url"] = message.removeprefix("metrics: ")

    def progress(counts: LiveProgress) -> None:
        if "url" in seen and counts.completed >= 3 and "body" not in seen:
            with urllib.request.urlopen(seen["url"], timeout=5) as response:
                seen["type"] = response.headers["Content-Type"]
                seen["body"] = response.read().decode()

    run = _run(path, tmp_path / "out", dry_run=True, progress=progress, notice=notice)
    assert run.metrics_url == seen["url"]
    assert seen["url"].startswith("http://127.0.0.1:")
    assert seen["type"].startswith("text/plain")
    body = seen["body"]
    assert "# TYPE llm_provider_requests_total counter" in body
    assert "llm_provider_requests_total{" in body
    assert "# TYPE cj_callbacks_processed_total counter" in body


def test_a_dry_run_on_postgresql(tmp_path, postgres_url):
    database = f"cjsim_live_{os.getpid()}"
    run_admin_sql(postgres_url, f"CREATE DATABASE {database}")
    try:
        url = sa.make_url(postgres_url).set(database=database).render_as_string(False)
        path = _config(tmp_path, database=url)
        run = _run(path, tmp_path / "out", dry_run=True)
    finally:
        run_admin_sql(postgres_url, f"DROP DATABASE {database} WITH (FORCE)")
    assert run.settled
    assert not (tmp_path / "out" / "cj.sqlite").exists()
    assert len(run.rows.snapshot(ComparisonPair)) == 10


def test_an_unreachable_database_is_one_line_with_the_password_masked(tmp_path, capsys):
    path = _config(tmp_path, database="postgresql://cjsim:hunter2secret@127.0.0.1:9/cjsim")
    assert main(["live", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]
    assert "127.0.0.1:9" in line
    assert "hunter2secret" not in err
    assert "Traceback" not in err
    with pytest.raises(StoreUnavailable):
        _run(path, tmp_path / "o2", dry_run=True)


def test_a_missing_api_key_is_bad_input_with_a_way_out(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    path = _config(tmp_path)
    assert main(["live", str(path)]) == 2
    err = capsys.readouterr().err
    assert "ANTHROPIC_API_KEY" in err
    assert "--dry-run" in err
    with pytest.raises(LiveConfigError):
        _run(path, tmp_path / "o2", dry_run=False)


def test_a_batch_the_engine_refuses_is_bad_input(tmp_path, capsys):
    path = _config(tmp_path)
    (path.parent / "essays" / "ANCHOR_sneaky.txt").write_text("An essay posing as an anchor.")
    assert main(["live", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "essays: student id 'ANCHOR_sneaky' must not start with 'ANCHOR_'" in err
    assert "Traceback" not in err


def test_the_wall_clock_cap_stops_a_slow_run(tmp_path):
    path = _config(tmp_path, caps={"max_wall_s": 0.6}, settings={"MOCK_LATENCY_BASE_MS": 150})
    run = _run(path, tmp_path / "out", dry_run=True)
    assert run.stopped == "max_wall_s 0.6 reached"
    assert run.elapsed_s < 10
    assert load_trace(tmp_path / "out" / "trace").summary is not None
