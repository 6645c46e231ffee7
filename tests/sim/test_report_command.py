"""``cjsim report``: the run page for one folder, the comparison page for more, never written
over an earlier file; and ``cjsim run`` writes the run page unless ``--no-html``."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from sim.commands.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = "name: tiny\ncohort: {students: {count: 3}}\nbudget: 6\n"


def _cjsim(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two runs of a tiny scenario, one per queue mode, without pages."""
    root = tmp_path_factory.mktemp("report")
    scenario = root / "tiny.yaml"
    scenario.write_text(TINY)
    first, second = root / "serial", root / "per_request"
    assert _cjsim("run", str(scenario), "--out", str(first), "--no-html")[0] == 0
    per_request = ("--set", "QUEUE_PROCESSING_MODE=per_request")
    assert _cjsim("run", str(scenario), *per_request, "--out", str(second), "--no-html")[0] == 0
    return first, second


def test_no_html_leaves_the_page_out(runs):
    first, _ = runs
    assert not (first / "report.html").exists()


def test_one_folder_gets_its_run_page_and_a_taken_name_moves_on(runs, tmp_path):
    first, _ = runs
    code, printed = _cjsim("report", str(first))
    assert code == 0
    page = first / "report.html"
    assert f"wrote {page}" in printed
    assert page.read_text().startswith("<!DOCTYPE html>")
    earlier = page.read_bytes()
    code, printed = _cjsim("report", str(first))
    assert f"wrote {first / 'report-2.html'}" in printed
    assert page.read_bytes() == earlier
    assert (first / "report-2.html").read_bytes() == earlier  # the same run, the same bytes


def test_two_folders_get_the_comparison_page_next_to_the_first(runs):
    first, second = runs
    code, printed = _cjsim("report", str(first), str(second))
    assert code == 0
    target = first.parent / "compare-serial-vs-per_request.html"
    assert f"wrote {target}" in printed
    assert "Kendall" in target.read_text()


def test_an_out_file_that_exists_is_refused_and_kept(runs, tmp_path, capsys):
    first, _ = runs
    taken = tmp_path / "page.html"
    taken.write_text("mine")
    assert main(["report", str(first), "--out", str(taken)]) == 2
    assert "exists, and is never overwritten" in capsys.readouterr().err
    assert taken.read_text() == "mine"


def test_a_folder_that_is_not_a_run_is_named(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'report.json'}:1:1: (file): not found" in err
    assert "Traceback" not in err


def test_cjsim_run_writes_the_page_by_default(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    code, printed = _cjsim("run", str(scenario), "--out", str(tmp_path / "run"))
    assert code == 0
    assert (tmp_path / "run" / "report.html").is_file()
    assert f"page: {tmp_path / 'run' / 'report.html'}" in printed


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("duckdb", r"outcomes\.duckdb:1:1: \(file\): not the outcome tables of a run"),
        ("report", r"report\.json:\d+:\d+: invariants: expected an object"),
        ("scenario", r"scenario\.json:1:1: settings_changed: required field is missing"),
        ("scores", r"outcomes\.duckdb:1:1: \(file\): .*no table scores"),
    ],
)
def test_a_damaged_run_folder_is_one_located_line_not_a_traceback(
    runs, tmp_path, capsys, damage, expected
):
    folder = tmp_path / "copy"
    shutil.copytree(runs[0], folder)
    if damage == "duckdb":
        (folder / "outcomes.duckdb").write_text("not a database")
    elif damage == "report":
        report = json.loads((folder / "report.json").read_text())
        report["invariants"] = []
        (folder / "report.json").write_text(json.dumps(report, indent=1))
    elif damage == "scenario":
        (folder / "scenario.json").write_text('{"x": 1}')
    elif damage == "scores":
        con = duckdb.connect(str(folder / "outcomes.duckdb"))
        con.execute("DROP TABLE scores")
        con.close()
    assert main(["report", str(folder), "--out", str(tmp_path / "page.html")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(expected, err), err
    assert not (tmp_path / "page.html").exists()
