"""Before and around a live run: the preflight, the assessment context on the wire, exit codes."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import yaml

from sim.commands.cli import main
from tests.live.fake_provider_server import Answer, FakeProviderServer, truncated
from tests.live_mode.live_example import EXAMPLE, example_config

KEY = "sk-ant-api03-cjsimSTARTtestKEYdoNotLeak0123456789"


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY.replace("sk-ant-api03", "sk-proj"))


def _config(tmp_path: Path, provider: dict, **changes) -> Path:
    return example_config(tmp_path, budget=10, provider=provider, **changes)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _live(path: Path, out: Path, *extra: str) -> int:
    return main(["live", str(path), "--out", str(out), "--progress", "none", *extra])


@pytest.mark.parametrize("name", ["anthropic", "openai"])
def test_a_closed_port_fails_the_preflight_at_once_and_writes_nothing(tmp_path, capsys, name):
    url = f"http://127.0.0.1:{_closed_port()}" + ("/v1" if name == "openai" else "")
    path = _config(tmp_path, {"name": name, "model": "m", "base_url": url, "timeout_s": 10})
    started = time.monotonic()
    assert _live(path, tmp_path / "out") == 2
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err.strip()
    assert err.startswith("preflight: cannot reach")
    assert len(err.splitlines()) == 1
    assert KEY not in err
    assert not (tmp_path / "out").exists()  # the folder is still free for the next try


@pytest.mark.parametrize(
    ("server_options", "model", "expected"),
    [
        ({"api_key": "sk-ant-api03-someoneELSEsKEYxxxxxxxxxxxxxxxx"}, "m", "(401)"),
        ({"models": ["known-model"]}, "unknown-model", "unknown model 'unknown-model'"),
    ],
)
def test_a_refused_key_or_an_unknown_model_exits_2_with_no_comparison_sent(
    tmp_path, capsys, server_options, model, expected
):
    with FakeProviderServer(**server_options) as server:
        path = _config(tmp_path, {"name": "anthropic", "model": model, "base_url": server.url})
        started = time.monotonic()
        assert _live(path, tmp_path / "out") == 2
        assert time.monotonic() - started < 30
        assert server.model_requests() == []
    err = capsys.readouterr().err
    assert expected in err
    assert "preflight:" in err
    assert KEY not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["anthropic", "openai"])
def test_the_assessment_context_reaches_every_request_as_the_cached_block(tmp_path, name):
    with FakeProviderServer(default=Answer(kind="verdict", winner="auto")) as server:
        url = server.url if name == "anthropic" else server.openai_url
        path = _config(tmp_path, {"name": name, "model": "m", "base_url": url})
        assert _live(path, tmp_path / "out") == 0
        requests = server.model_requests()
    assignment = (EXAMPLE / "assessment" / "assignment.md").read_text().split("\n")[0]
    assert len(requests) == 10
    for request in requests:
        body = request.body
        if name == "anthropic":
            blocks = body["messages"][0]["content"]
            cached = [b for b in blocks if "cache_control" in b]
            assert len(cached) == 1  # one breakpoint: on the context, before the essays
            assert assignment in cached[0]["text"]
            assert "Essay A (ID:" not in cached[0]["text"]
        else:
            assert body["prompt_cache_key"].startswith("cjsim-")
            assert assignment in request.user_text
    if name == "openai":
        assert len({r.body["prompt_cache_key"] for r in requests}) == 1  # one rubric, one key
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    # the fake bills 120 uncached input tokens an answer (tests/live/fake_answers.Usage)
    assert report["usage"]["input_tokens"] == 120 * len(requests)


def test_a_failed_batch_exits_100(tmp_path, capsys):
    with FakeProviderServer(default=truncated()) as server:
        path = _config(tmp_path, {"name": "anthropic", "model": "m", "base_url": server.url})
        assert _live(path, tmp_path / "out") == 100
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert "exit 100: the batch did not complete" in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["live"]["exit_code"] == 100
    # the truncated answers were billed, and counted: the fake's 40 output tokens each
    assert report["usage"]["output_tokens"] == 40 * len(server.model_requests())


def test_a_configuration_without_an_assignment_is_refused_where_it_says_so(tmp_path, capsys):
    path = _config(tmp_path, {"name": "mock", "model": "m"})
    config = yaml.safe_load(path.read_text())
    config["assessment"] = {"criteria": "Clarity."}
    path.write_text(yaml.safe_dump(config))
    assert _live(path, tmp_path / "out", "--dry-run") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}:")
    assert "assessment" in err
    assert "assignment is required" in err


def test_validate_checks_live_configurations_and_schema_prints_theirs(tmp_path, capsys):
    path = _config(tmp_path, {"name": "mock", "model": "m"})
    assert main(["validate", str(path)]) == 0
    assert "ok (live configuration eng5_sample, 10 essays)" in capsys.readouterr().out
    (path.parent / "essays" / "student_01.txt").write_text("   ")
    assert main(["validate", str(path)]) == 2
    assert "student_01.txt:1:1: the essay is empty" in capsys.readouterr().err
    assert main(["schema", "--live"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "assessment" in schema["required"]
    assert set(schema["$defs"]["Assessment"]["properties"]) >= {"assignment", "criteria_file"}


def test_retry_errors_compares_again_what_ended_in_error_within_the_budget(tmp_path, capsys):
    with FakeProviderServer(default=Answer(kind="verdict", winner="auto")) as server:
        server.script(truncated(), truncated())  # the first two answers are cut short
        path = _config(
            tmp_path,
            {"name": "anthropic", "model": "m", "base_url": server.url},
            caps={"max_requests": 4},
        )
        out = tmp_path / "out"
        assert _live(path, out) == 100  # the cap stops it with the batch open
        assert main(["live", str(path), "--retry-errors", "--progress", "none"]) == 2
        assert "--retry-errors: only with --resume" in capsys.readouterr().err
        resume = ["live", "--resume", str(out), "--progress", "none", "--skip-preflight"]
        assert main([*resume, "--retry-errors", "--max-requests", "40"]) == 0
        judged = [tuple(r.essay_ids) for r in server.model_requests()]
    out_text = capsys.readouterr().out
    assert "retried errors of batch 1: 2 of 2 compared again" in out_text
    report = json.loads((out / "report.json").read_text())
    batch = report["batches"][0]
    assert batch["final_state"] == "COMPLETED"
    assert (batch["submitted"], batch["failed"], batch["completed"]) == (10, 2, 8)
    assert judged[0] in judged[2:]  # the errored pairs, compared again
    assert judged[1] in judged[2:]
    assert all(r["ok"] for r in report["invariants"].values())
