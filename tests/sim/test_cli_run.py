"""``cjsim run``, ``validate``, ``schema`` and ``swarm`` as a user meets them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.commands.cli import main

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "scenarios" / "per_request_baseline.yaml"


def test_a_passing_run_exits_0_and_writes_its_report(tmp_path, capsys):
    assert main(["run", str(BASELINE), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "invariants: 11/11 hold" in out
    assert "virtual s in" in out
    report = json.loads((tmp_path / "report.json").read_text())
    for key in (
        "scenario",
        "seed",
        "fingerprint",
        "invariants",
        "batches",
        "errors_by_type",
        "callbacks",
        "queue",
        "position_balance",
        "virtual_seconds",
        "wall_seconds",
    ):
        assert key in report
    batch = report["batches"][0]
    for key in (
        "cj_batch_id",
        "final_state",
        "upload_status",
        "total_budget",
        "submitted",
        "completed",
        "failed",
        "max_completion_pct",
        "db_completed",
        "db_failed",
        "callbacks_after_finalization",
    ):
        assert key in batch
    for key in ("applied", "duplicate", "orphan", "late"):
        assert key in report["callbacks"]
    for key in ("completed", "failed", "expired", "processing_timeouts", "max_depth"):
        assert key in report["queue"]
    assert (tmp_path / "events.jsonl").read_text().count("\n") == report["events"]


def test_a_failing_run_exits_1_naming_the_invariant_its_first_event_and_the_command(
    tmp_path, capsys
):
    args = [
        "run",
        str(BASELINE),
        "--out",
        str(tmp_path),
        "--seed",
        "5",
        "--set",
        "LEGACY_COMPLETION_DENOMINATOR=true",
        "--set",
        "MAX_RESAMPLING_PASSES_FOR_REGULAR_NET=1",
    ]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "invariant completion_never_exceeds_100 failed" in out
    assert "first event that broke completion_never_exceeds_100: #" in out
    assert (
        "reproduce: cjsim run " + str(BASELINE) + " --seed 5 --set "
        "LEGACY_COMPLETION_DENOMINATOR=true --set MAX_RESAMPLING_PASSES_FOR_REGULAR_NET=1"
    ) in out


BAD_INPUTS = {
    "malformed": ("name: x\ncohort: [unclosed\n", ":3:1: yaml: "),
    "wrong_type": ("name: x\nrun:\n  liveness_s: soon\n", ":3:3: run.liveness_s: "),
    "unknown_key": ("name: x\nprovidr:\n  name: openai\n", ":2:1: providr: unknown key"),
    "out_of_range": (
        "name: x\nfaults:\n  - kind: http_429\n    rate: 3\n",
        ":4:5: faults.0.rate: Input should be less than or equal to 1",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_located_line_exit_2_and_no_traceback(tmp_path, case):
    text, expected = BAD_INPUTS[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "sim.commands.cli", "run", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(str(path) + ":")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_a_bad_set_and_a_missing_file_are_bad_input(tmp_path, capsys):
    assert main(["run", str(BASELINE), "--set", "run.liveness_s=-5"]) == 2
    assert "run.liveness_s" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read the file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["run"])
    assert caught.value.code == 2


def test_validate_checks_every_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [\n")
    assert main(["validate", str(BASELINE), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "per_request_baseline.yaml: ok" in captured.out
    assert str(bad) in captured.err
    assert main(["validate", *map(str, sorted((REPO / "scenarios").glob("*.yaml")))]) == 0


def test_schema_is_a_json_schema_of_the_scenario(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "cjsim scenario"
    assert {"cohort", "faults", "expect", "settings"} <= set(schema["properties"])


def test_schema_write_writes_the_shipped_files_and_print_matches_them(tmp_path, capsys):
    assert main(["schema", "--write", str(tmp_path / "schemas")]) == 0
    for name, flag in (("scenario.schema.json", []), ("live.schema.json", ["--live"])):
        written = (tmp_path / "schemas" / name).read_text()
        assert written == (REPO / "schemas" / name).read_text()
        capsys.readouterr()
        assert main(["schema", *flag]) == 0
        assert capsys.readouterr().out == written


def test_schema_write_into_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("mine")
    assert main(["schema", "--write", str(tmp_path / "f")]) == 2
    assert f"{tmp_path / 'f'}: --write: exists and is not a folder" in capsys.readouterr().err
    assert (tmp_path / "f").read_text() == "mine"


def _fingerprint(seed: int, hash_seed: str) -> str:
    code = (
        "from sim.harness.scenario_file import load_scenario; "
        "from sim.harness.runner import run_scenario; "
        f"print(run_scenario(load_scenario('scenarios/eng5_regular_24.yaml'), seed={seed})"
        ".fingerprint)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        check=True,
        text=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
    )
    return result.stdout.strip()


def test_a_scenario_and_seed_give_one_fingerprint_in_any_process():
    first = _fingerprint(42, "0")
    assert _fingerprint(42, "777") == first
    assert _fingerprint(43, "0") != first


def test_swarm_exit_code_follows_its_seeds_and_it_ends_with_a_summary(tmp_path, capsys):
    code = main(["swarm", str(BASELINE), "--seeds", "2", "--workers", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    document = json.loads((tmp_path / "swarm.json").read_text())
    held = sum(result["ok"] for result in document["results"])
    assert [result["seed"] for result in document["results"]] == [1, 2]
    assert code == (0 if held == 2 else 1)
    assert out.rstrip().splitlines()[-1].endswith("swarm.json")
    assert any(
        line.split() == ["held", str(held), f"{100 * held / 2:.1f}%"] for line in out.splitlines()
    )


def test_swarm_reports_failing_seeds_and_shrinks_the_first(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sim.harness.swarm_shrink.SHRINK_RUNS_MAX", 3)  # a few runs show the way
    path = REPO / "scenarios" / "concurrent_callbacks.yaml"
    code = main(
        [
            "swarm",
            str(path),
            "--seeds",
            "2",
            "--workers",
            "1",
            "--out",
            str(tmp_path),
            "--set",
            "LEGACY_COUNTERS_WITHOUT_LOCK=true",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "reproduce: cjsim run" in out
    assert "--swarm" in out
    minimal = next(tmp_path.glob("minimal-seed*.yaml"))
    assert "breaks" in minimal.read_text().splitlines()[0]


def test_a_legacy_run_that_breaks_only_what_it_must_says_so(tmp_path, capsys):
    scenario = str(REPO / "scenarios" / "batch33_serial_bundle_errors.yaml")
    assert main(["run", scenario, "--legacy", "--out", str(tmp_path / "legacy")]) == 0
    assert (
        "as expected: the original system breaks completion_never_exceeds_100, "
        "position_skew_within_limit (expect_legacy.invariants.fail)"
    ) in capsys.readouterr().out
    assert main(["run", scenario, "--out", str(tmp_path / "fixed")]) == 0
    assert "as expected" not in capsys.readouterr().out


def test_schema_write_where_a_folder_holds_a_schema_name_is_refused(tmp_path, capsys):
    (tmp_path / "live.schema.json").mkdir()
    assert main(["schema", "--write", str(tmp_path)]) == 2
    assert f"{tmp_path / 'live.schema.json'}: --write: exists and is not a file" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "scenario.schema.json").exists()


def test_a_settings_variable_is_said_to_be_ignored_by_a_simulated_run(
    tmp_path, monkeypatch, capsys
):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text("name: tiny\ncohort: {students: {count: 3}}\nbudget: 6\n")
    monkeypatch.setenv("CJSIM_MAX_PAIRWISE_COMPARISONS", "3")
    assert main(["run", str(scenario), "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "cjsim: note: CJSIM_MAX_PAIRWISE_COMPARISONS is ignored" in err
    assert "--set MAX_PAIRWISE_COMPARISONS=..." in err


def test_an_engine_crash_is_the_runs_failure_not_an_internal_error(tmp_path, capsys):
    """The regression scenario's legacy settings bring back the original's worker crash: the
    run fails (exit 1) naming the task and its cause, writes no run folder, and is not called
    a bug of cjsim."""
    scenario = REPO / "scenarios" / "regressions" / "retried_item_expires_in_bundle.yaml"
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--legacy", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "FAILED: the engine crashed: task 'lps-worker-0' crashed" in captured.out
    assert "IllegalQueueTransition" in captured.out
    assert "--seed 1 --legacy" in captured.out
    assert "internal error" not in captured.out + captured.err
    assert not out.exists()
