"""A live run's folder is never destroyed, and a run killed at any instant resumes.

The kill is real: ``cjsim live`` runs as its own process against the fake provider (another
process, logging every request it is asked to judge), and gets ``SIGKILL`` at a point drawn
from a seeded stream. Then the killed run is promoted, resumed, and audited against the
server's log: no comparison judged twice, except those in flight at the kill.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from engine.live.cohort import load_cohort
from engine.live.config import load_live_config
from engine.traces import load_trace, summarize
from sim.commands.cli import main
from sim.commands.live_command import prepare_new_run
from tests.live_mode.live_example import example_config

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-ant-api03-cjsimRESUMEtestKEYdoNotLeak0123456789"


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_second_run_into_the_same_folder_leaves_the_first_untouched(tmp_path, capsys):
    path = example_config(tmp_path, budget=10)
    out = tmp_path / "out"
    assert main(["live", str(path), "--dry-run", "--out", str(out), "--progress", "none"]) == 0
    before = _digests(out)
    for argv in (
        ["live", str(path), "--dry-run", "--out", str(out)],  # the README's order: dry run...
        ["live", str(path), "--out", str(out), "--skip-preflight"],  # ...then the real run
    ):
        capsys.readouterr()
        assert main([*argv, "--progress", "none"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert f"--resume {out}" in err
        assert "--out DIR" in err
        assert _digests(out) == before  # byte for byte, nothing added


def test_the_default_folders_of_a_dry_run_and_a_real_run_differ(tmp_path, monkeypatch):
    path = example_config(tmp_path, budget=10)
    monkeypatch.chdir(tmp_path)
    assert main(["live", str(path), "--dry-run", "--progress", "none"]) == 0
    assert (tmp_path / "runs" / "live-eng5_sample-dry-run" / "run.json").is_file()
    assert not (tmp_path / "runs" / "live-eng5_sample").exists()


def test_a_folder_that_is_a_file_or_holds_no_run_is_refused_for_resume(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    path = example_config(tmp_path, budget=10)
    assert main(["live", str(path), "--out", str(tmp_path / "afile"), "--dry-run"]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["live", "--resume", str(tmp_path / "empty")]) == 2
    assert "holds no live run to resume" in capsys.readouterr().err
    assert main(["live", "--resume", str(tmp_path / "empty"), str(path)]) == 2
    assert "not with --resume" in capsys.readouterr().err


class FakeServerProcess:
    """``python -m tests.live.fake_provider_server`` in a process of its own."""

    def __init__(self, log: Path, *extra: str) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.live.fake_provider_server", "--log", str(log), *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("fake provider listening on "), line
        self.url = line.strip().rsplit(" ", 1)[-1]

    def judged(self) -> list[tuple[str, ...]]:
        """Each comparison the server was asked to judge, as its (A, B) essay ids."""
        lines = [json.loads(x) for x in self.log.read_text().splitlines() if x.strip()]
        return [tuple(x["essay_ids"]) for x in lines if x["path"].endswith("/messages")]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def fake_server(tmp_path):
    server = FakeServerProcess(tmp_path / "server.jsonl", "--delay-s", "0.05")
    yield server
    server.stop()


def _cjsim(*argv: str, output: Path) -> subprocess.Popen[bytes]:
    """``cjsim`` in a process of its own, its output to a file (a pipe nobody reads can fill)."""
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "PYTHONPATH": str(ROOT)}
    with output.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "sim.commands.cli", *argv],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _callbacks(out: Path) -> int:
    path = out / "trace" / "llm_callbacks.jsonl"
    return path.read_text().count("\n") if path.exists() else 0


# Two kill points by default; `nox -s soak` (CJSIM_SLOW=1) kills at forty.
KILL_SEEDS = range(1, 41) if os.environ.get("CJSIM_SLOW") else range(1, 3)


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_kill_9_at_a_random_point_then_resume(tmp_path, fake_server, seed):
    kill_after = random.Random(seed).randint(1, 30)  # callbacks recorded before the kill
    path = example_config(
        tmp_path,
        provider={"name": "anthropic", "model": "test-model", "base_url": fake_server.url},
    )
    out = tmp_path / "out"
    log = tmp_path / "cjsim.log"
    run = _cjsim("live", str(path), "--out", str(out), "--progress", "plain", output=log)
    deadline = time.monotonic() + 120
    while _callbacks(out) < kill_after and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.poll() is None, "the run ended before it could be killed"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=10)

    # What the kill left: whole lines, a run that promotes, a manifest naming it.
    before_resume = fake_server.judged()
    recorded = load_trace(out / "trace")
    assert json.loads((out / "run.json").read_text())["sessions"][0]["ended_at"] is None
    assert main(["promote", str(out / "trace"), "--out", str(tmp_path / "replay.yaml")]) == 0

    resumed = _cjsim("live", "--resume", str(out), "--progress", "plain", output=log)
    assert resumed.wait(timeout=300) == 0, log.read_text()
    assert "resumed batch 1" in log.read_text()

    judged = fake_server.judged()
    answered = {
        (r.request_metadata["essay_a_id"], r.request_metadata["essay_b_id"])
        for r in recorded.results
    }
    in_flight = set(before_resume) - answered  # sent before the kill, never recorded
    twice = {pair for pair, n in Counter(judged).items() if n > 1}
    assert twice <= in_flight, f"judged twice though answered before the kill: {twice - in_flight}"
    assert not (set(judged[len(before_resume) :]) & answered)  # nothing answered was re-sent

    trace = load_trace(out / "trace")
    report = json.loads((out / "report.json").read_text())
    assert trace.summary == summarize(trace.scenario_id, trace.results)
    assert report["batches"][0]["final_state"] == "COMPLETED"
    assert report["live"]["session"] == 2
    # The log knows every answered call; a call on the wire at the kill is known to the server
    # only, and the caps count it as sent.
    assert report["provider_calls"] <= len(judged) <= report["live"]["requests"]
    assert len(judged) - report["provider_calls"] <= len(in_flight)
    assert trace.summary["success_count"] == report["batches"][0]["completed"]
    assert all(r["ok"] for r in report["invariants"].values()), report["invariants"]
    assert KEY not in "".join(p.read_text(errors="ignore") for p in out.rglob("*") if p.is_file())


def test_a_database_password_never_reaches_the_run_folder(tmp_path):
    path = example_config(
        tmp_path, database="postgresql://cjsim:hunter2secret@127.0.0.1:5432/cjsim"
    )
    config, base = load_live_config(path)
    plan = prepare_new_run(config, load_cohort(config, base), base, tmp_path / "out", dry_run=True)
    written = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "hunter2secret" not in written
    assert plan.manifest.live_config.database == "postgresql://cjsim@127.0.0.1:5432/cjsim"


def test_a_broken_manifest_is_located_in_run_json_field_by_field(tmp_path, capsys):
    import json as json_module

    manifest = {
        "run_id": "r",
        "name": "n",
        "dry_run": True,
        "config": {"name": "n", "essays": "e", "assessment": {"assignment": "a"}, "budget": "x"},
        "config_dir": "/",
        "database": "sqlite:///cj.sqlite",
        "bos_batch_id": "b",
    }
    (tmp_path / "run.json").write_text(json_module.dumps(manifest, indent=1))
    assert main(["live", "--resume", str(tmp_path), "--progress", "none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{tmp_path / 'run.json'}:11:3: config.budget: Input should be")
    (tmp_path / "run.json").write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    assert main(["live", "--resume", str(tmp_path), "--progress", "none"]) == 2
    assert capsys.readouterr().err.startswith(f"{tmp_path / 'run.json'}:1:")
