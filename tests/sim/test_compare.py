"""``cjsim compare`` and ``cjsim diff`` on real run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.commands.cli import main
from sim.reports.compare import RunFolderError, compare_runs, first_divergence

BASELINE = Path(__file__).resolve().parents[2] / "scenarios" / "per_request_baseline.yaml"
REGULAR = Path(__file__).resolve().parents[2] / "scenarios" / "eng5_regular_24.yaml"


def _run(tmp_path: Path, name: str, scenario: Path, *args: str) -> Path:
    folder = tmp_path / name
    assert main(["run", str(scenario), "--out", str(folder), *args]) in (0, 1)
    return folder


@pytest.fixture
def strategies(tmp_path, capsys):
    serial = _run(tmp_path, "serial", REGULAR)
    per_request = _run(
        tmp_path,
        "per_request",
        REGULAR,
        "--set",
        "QUEUE_PROCESSING_MODE=per_request",
        "--set",
        "LLM_BATCHING_MODE=per_request",
    )
    capsys.readouterr()
    return serial, per_request


def test_compare_prints_the_validation_plan_side_by_side(strategies, capsys):
    serial, per_request = strategies
    assert main(["compare", str(serial), str(per_request)]) == 0
    out = capsys.readouterr().out
    for title in (
        "Provider error rate",
        "Provider calls by error type",
        "A/B positions, anchors vs students",
        "Completion log vs store counts",
        "Callbacks by disposition",
        "Queue items by final status",
    ):
        assert title in out
    errors = json.loads((serial / "analysis.json").read_text())["error_rate_by_provider"][0]
    assert f"errors      {errors['errors']}" in out


def test_diff_names_the_first_event_where_two_strategies_part(strategies, capsys):
    serial, per_request = strategies
    divergence = first_divergence(serial, per_request)
    assert divergence is not None
    assert divergence.a
    assert divergence.b
    assert divergence.a["kind"] == divergence.b["kind"] == "lps.item.dispatched"
    assert main(["diff", str(serial), str(per_request)]) == 1
    out = capsys.readouterr().out
    assert "first divergence at event line" in out
    assert "fields.bundle_size: 12 -> 1" in out


def test_diff_of_a_run_with_itself_is_empty(strategies, capsys):
    serial, _ = strategies
    assert first_divergence(serial, serial) is None
    assert main(["diff", str(serial), str(serial)]) == 0
    assert "identical event logs" in capsys.readouterr().out


def test_diff_of_a_log_that_stops_early_says_where(tmp_path, capsys):
    run = _run(tmp_path, "full", BASELINE)
    cut = tmp_path / "cut"
    cut.mkdir()
    lines = (run / "events.jsonl").read_text().splitlines(keepends=True)
    (cut / "events.jsonl").write_text("".join(lines[:10]))
    divergence = first_divergence(run, cut)
    assert divergence is not None
    assert divergence.line == 11
    assert divergence.b is None
    capsys.readouterr()
    assert main(["diff", str(run), str(cut)]) == 1
    assert "B: (log ends)" in capsys.readouterr().out


def test_a_folder_that_is_not_a_run_is_one_located_error(tmp_path, capsys):
    with pytest.raises(RunFolderError, match=r"analysis\.json:1:1: \(file\): not found"):
        compare_runs(tmp_path, tmp_path)
    assert main(["diff", str(tmp_path), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "events.jsonl:1:1: (file): not found" in err
    assert "Traceback" not in err


def test_a_corrupt_event_log_names_its_line(tmp_path, capsys):
    run = _run(tmp_path, "full", BASELINE)
    bad = tmp_path / "bad"
    bad.mkdir()
    lines = (run / "events.jsonl").read_text().splitlines(keepends=True)
    (bad / "events.jsonl").write_text("".join(lines[:3]) + "{not json\n")
    capsys.readouterr()
    assert main(["diff", str(run), str(bad)]) == 2
    assert f"{bad / 'events.jsonl'}:4:" in capsys.readouterr().err
