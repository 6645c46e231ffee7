"""A run never writes over an earlier run: a taken --out is refused, a taken default moves on."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.commands.cli import main
from sim.commands.out_folder import OutputTaken, output_file, output_folder
from sim.reports.run_folder import RUN_FILES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scenario(tmp_path: Path) -> str:
    """A tiny scenario that runs in a blink and meets its (default) expectations."""
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\ncohort: {students: {count: 3}}\nbudget: 6\n")
    return str(path)


def test_a_free_requested_folder_is_used_as_given(tmp_path):
    assert output_folder(tmp_path / "new", tmp_path / "default", RUN_FILES) == tmp_path / "new"


def test_an_empty_existing_folder_is_free(tmp_path):
    assert output_folder(tmp_path, tmp_path / "default", RUN_FILES) == tmp_path


@pytest.mark.parametrize("marker", RUN_FILES)
def test_a_requested_folder_holding_any_run_file_is_refused_by_option(tmp_path, marker):
    (tmp_path / marker).write_text("earlier")
    with pytest.raises(
        OutputTaken, match=rf"^{tmp_path}: --out: holds an earlier run \({marker}\)"
    ):
        output_folder(tmp_path, tmp_path / "default", RUN_FILES)


def test_a_taken_default_moves_to_the_next_free_sibling(tmp_path):
    default = tmp_path / "eng5-seed42"
    for folder in (default, tmp_path / "eng5-seed42-2"):
        folder.mkdir()
        (folder / "report.json").write_text("{}")
    (tmp_path / "eng5-seed42-3").mkdir()  # empty: free
    assert output_folder(None, default, RUN_FILES) == tmp_path / "eng5-seed42-3"


def test_a_file_in_the_way_of_the_default_is_stepped_over(tmp_path):
    (tmp_path / "eng5-seed42").write_text("not a folder")
    assert output_folder(None, tmp_path / "eng5-seed42", RUN_FILES) == tmp_path / "eng5-seed42-2"


def test_a_second_run_into_the_same_out_leaves_the_first_byte_for_byte(tmp_path, capsys, scenario):
    out = tmp_path / "run"
    assert main(["run", scenario, "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(["run", scenario, "--out", str(out), "--seed", "7"]) == 2
    err = capsys.readouterr().err
    assert f"{out}: --out: holds an earlier run" in err
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_running_twice_without_out_keeps_both_runs(tmp_path, monkeypatch, capsys, scenario):
    monkeypatch.chdir(tmp_path)
    assert main(["run", scenario]) == 0
    assert main(["run", scenario]) == 0
    out = capsys.readouterr().out
    assert "report: runs/tiny-seed42/report.json" in out
    assert "report: runs/tiny-seed42-2/report.json" in out
    first, second = (
        (tmp_path / "runs" / name / "report.json").read_bytes()
        for name in ("tiny-seed42", "tiny-seed42-2")
    )
    assert first.count(b"fingerprint") == second.count(b"fingerprint") == 1


def test_a_swarm_refuses_an_out_holding_earlier_results_before_any_seed(tmp_path, capsys):
    (tmp_path / "swarm.json").write_text("{}")
    scenario = str(ROOT / "scenarios" / "storm.yaml")
    assert main(["swarm", scenario, "--seeds", "1", "--workers", "1", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert f"{tmp_path}: --out: holds an earlier run (swarm.json)" in captured.err
    assert "seeds 1..1" not in captured.out
    assert (tmp_path / "swarm.json").read_text() == "{}"


def test_a_new_requested_file_is_used_as_given(tmp_path):
    assert output_file(tmp_path / "page.html", tmp_path / "default.html") == tmp_path / "page.html"


def test_a_requested_file_that_exists_is_refused_and_kept(tmp_path):
    (tmp_path / "page.html").write_text("earlier")
    with pytest.raises(OutputTaken, match=r"page\.html: --out: exists, and is never overwritten"):
        output_file(tmp_path / "page.html", tmp_path / "default.html")
    assert (tmp_path / "page.html").read_text() == "earlier"


def test_a_requested_file_in_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(OutputTaken, match=r"--out: the folder .*nowhere does not exist"):
        output_file(tmp_path / "nowhere" / "page.html", tmp_path / "default.html")


def test_a_taken_default_file_moves_to_the_next_free_name(tmp_path):
    default = tmp_path / "report.html"
    assert output_file(None, default) == default
    default.write_text("first")
    assert output_file(None, default) == tmp_path / "report-2.html"
    (tmp_path / "report-2.html").write_text("second")
    assert output_file(None, default) == tmp_path / "report-3.html"
