"""``cjsim show`` and the end of ``cjsim run``'s summary: a run's ranking in the terminal, read
from its outcome tables, and one located line for a folder that is not a run's."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from engine.settings import Settings
from sim.commands.cli import main
from sim.harness.scenario_file import load_scenario
from sim.reports.ranking import Z_95, RankedEssay, ranking_lines
from sim.reports.run_description import run_description, settings_changed

ROOT = Path(__file__).resolve().parents[2]
ENG5 = ROOT / "scenarios" / "eng5_regular_24.yaml"


def _cjsim(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, str]:
    """The ENG5 regular batch's run folder (no page), and what ``cjsim run`` printed."""
    folder = tmp_path_factory.mktemp("show") / "run"
    code, printed, _ = _cjsim("run", str(ENG5), "--out", str(folder), "--no-html")
    assert code == 0, printed
    return folder, printed


def _scores(folder: Path) -> list[tuple]:
    con = duckdb.connect(str(folder / "outcomes.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT rank, essay_id, bt_score, bt_se, grade FROM scores ORDER BY rank"
        ).fetchall()
    finally:
        con.close()


def test_show_prints_every_essay_with_the_tables_score_and_interval(run):
    folder, _ = run
    code, printed, err = _cjsim("show", str(folder))
    assert (code, err) == (0, "")
    report = json.loads((folder / "report.json").read_text())
    assert f"fingerprint {report['fingerprint']}" in printed
    assert "11/11 invariants hold" in printed
    lines = printed.splitlines()
    scores = _scores(folder)
    assert len(scores) == 24
    for rank, essay, score, se, grade in scores:
        (line,) = [line for line in lines if f" {essay} " in line]
        cells = line.split()
        assert cells[0] == str(rank)
        assert f"{score:+.3f}" in cells
        assert f"[{score - Z_95 * se:+.2f}," in line
        assert line.rstrip().endswith(("LOW", "MID", "HIGH"))
        assert grade in cells


def test_run_summary_ends_with_the_top_and_bottom_three(run):
    folder, printed = run
    scores = _scores(folder)
    tail = printed[printed.index("batch 1: 24 essays") :]
    shown = [essay for _, essay, *_ in scores if f" {essay} " in tail]
    assert shown == [essay for _, essay, *_ in scores[:3] + scores[-3:]]
    assert "  ... 18 more" in tail
    assert f"(the whole ranking: cjsim show {folder})" in tail


def test_an_unscored_essay_shows_no_interval():
    essay = RankedEssay(
        cj_batch_id=1,
        rank=0,
        essay_id="e",
        is_anchor=False,
        known_grade=None,
        score=None,
        se=None,
        grade=None,
        confidence=None,
    )
    assert essay.interval is None
    assert ranking_lines([essay])[1].split() == ["-", "e"]


def test_a_ranking_no_longer_than_both_ends_is_shown_whole():
    essays = [
        RankedEssay(
            cj_batch_id=1,
            rank=rank,
            essay_id=f"e{rank}",
            is_anchor=False,
            known_grade=None,
            score=1.0 - rank,
            se=0.5,
            grade="A",
            confidence="LOW",
        )
        for rank in range(1, 7)
    ]
    assert not any("more" in line for line in ranking_lines(essays, ends=3))
    assert any("... 1 more" in line for line in ranking_lines([*essays, essays[-1]], ends=3))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("no folder", r"^{run}:1:1: \(folder\): no such folder"),
        ("no report", r"^{run}/report\.json:1:1: \(file\): not found"),
        ("not duckdb", r"^{run}/outcomes\.duckdb:1:1: \(file\): not the outcome tables of a run"),
        ("bad field", r"^{run}/report\.json:\d+:\d+: batches\.0\.submitted: expected a whole"),
        ("not json", r"^{run}/report\.json:1:2: \(top level\): not JSON"),
    ],
)
def test_a_folder_that_is_not_a_run_is_one_located_line_and_exit_2(run, tmp_path, damage, expected):
    folder = tmp_path / "copy"
    if damage != "no folder":
        shutil.copytree(run[0], folder)
    if damage == "no report":
        (folder / "report.json").unlink()
    elif damage == "not duckdb":
        (folder / "outcomes.duckdb").write_text("not a database")
    elif damage == "bad field":
        report = json.loads((folder / "report.json").read_text())
        report["batches"][0]["submitted"] = "many"
        (folder / "report.json").write_text(json.dumps(report, indent=1))
    elif damage == "not json":
        (folder / "report.json").write_text("{")
    code, printed, err = _cjsim("show", str(folder))
    assert (code, printed) == (2, "")
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err

    assert re.match(expected.format(run=re.escape(str(folder))), err), err


def test_scenario_json_says_what_the_run_was_asked_to_do(run):
    folder, _ = run
    described = json.loads((folder / "scenario.json").read_text())
    assert described["seed"] == 42
    assert described["legacy"] is False
    assert described["scenario"]["name"] == "eng5_regular_24"
    assert described["settings_changed"] == {
        "ENABLE_LLM_BATCHING_METADATA_HINTS": True,
        "MAX_PAIRWISE_COMPARISONS": 288,
        "MAX_RESAMPLING_PASSES_FOR_REGULAR_NET": 1,
        "QUEUE_PROCESSING_MODE": "serial_bundle",
    }


def test_no_setting_changed_from_the_defaults_is_listed():
    assert settings_changed(Settings.for_simulation()) == {}
    changed = settings_changed(Settings.for_simulation(BT_ALPHA=0.5))
    assert changed == {"BT_ALPHA": 0.5}


def test_a_legacy_run_lists_the_toggles_it_turned_on():
    described = run_description(load_scenario(ENG5), seed=1, legacy=True, file="x.yaml")
    legacy = {name for name in described["settings_changed"] if name.startswith("LEGACY_")}
    assert legacy, described["settings_changed"]
    assert all(described["settings_changed"][name] is True for name in legacy)
