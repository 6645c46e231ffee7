"""The trace format: loading with located errors, the summariser, the recorder, and the three
reconstructed traces reproducing every published figure."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from engine.traces import (
    SUMMARY_FILE,
    TraceError,
    TraceRecorder,
    compare_to_published,
    load_trace,
    percentile,
    summarize,
)
from sim.commands.trace_command import trace_summarize

TRACES = Path(__file__).resolve().parents[2] / "traces"
SHIPPED = sorted(p for p in TRACES.iterdir() if p.is_dir())


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_each_reconstructed_trace_reproduces_every_published_figure(folder):
    trace = load_trace(folder)
    summary = summarize(trace.scenario_id, trace.results)
    assert compare_to_published(summary, (folder / "published.json").read_text()) == []
    assert summary == json.loads((folder / SUMMARY_FILE).read_text())
    assert "reconstructed" in (folder / "README.md").read_text().lower()


def test_anchor_winners_are_plausible_for_their_grades():
    ladder = ("F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A")
    grades = {
        "fplus": "F+",
        "eminus": "E-",
        "eplus": "E+",
        "dminus": "D-",
        "dplus": "D+",
        "cminus": "C-",
        "cplus": "C+",
        "b": "B",
        "a": "A",
    }

    def grade(essay_id):
        return grades[essay_id.split("_")[2]]

    trace = load_trace(TRACES / "eng5_anchor_align_gpt51_low_20251201")
    agree = disagree = 0
    for result in trace.results:
        a, b = result.request_metadata["essay_a_id"], result.request_metadata["essay_b_id"]
        winner, loser = (a, b) if result.winner == "Essay A" else (b, a)
        gap = ladder.index(grade(winner)) - ladder.index(grade(loser))
        agree += gap > 0
        disagree += gap < 0
    # of the recorded 66 verdicts: 60 for the better-graded anchor, 3 against, 3 between equals
    assert (agree, disagree, len(trace.results)) == (60, 3, 66)


def test_percentiles_interpolate_at_n_minus_one_p():
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10, 20], 0.95) == pytest.approx(19.5)


def test_a_bad_line_is_reported_with_its_file_and_line(tmp_path):
    good = (TRACES / "cj_lps_roundtrip_mock_20251205" / "llm_callbacks.jsonl").read_text()
    lines = good.splitlines()
    lines[2] = lines[2].replace('"Essay A"', '"Essay Q"')
    (tmp_path / "llm_callbacks.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"llm_callbacks.jsonl:3:\d+: data.winner: "):
        load_trace(tmp_path)
    (tmp_path / "llm_callbacks.jsonl").write_text("{not json\n")
    with pytest.raises(TraceError, match=r"llm_callbacks.jsonl:1:"):
        load_trace(tmp_path)
    with pytest.raises(TraceError, match=r"missing:1:1: \(folder\): no such folder"):
        load_trace(tmp_path / "missing")


def test_a_changed_figure_is_caught():
    summary = json.loads((TRACES / "eng5_lower5_gpt51_low_20251202" / SUMMARY_FILE).read_text())
    summary["response_time_ms"]["p95_ms"] = 2143.6
    summary["winner_counts"]["Essay A"] = 5
    problems = compare_to_published(
        summary, (TRACES / "eng5_lower5_gpt51_low_20251202" / "published.json").read_text()
    )
    assert len(problems) == 2
    assert any("p95_ms" in p for p in problems)


def test_the_recorder_writes_lines_as_they_come_and_a_summary_at_the_end(tmp_path):
    source = load_trace(TRACES / "cj_lps_roundtrip_mock_20251205")
    recorder = TraceRecorder(tmp_path / "rec", "my_run")
    for envelope in source.envelopes[:2]:
        recorder.record(envelope)
    assert (tmp_path / "rec" / "llm_callbacks.jsonl").read_text().count("\n") == 2
    summary = recorder.close()
    assert summary["total_events"] == 2
    assert load_trace(tmp_path / "rec").summary == summary
    with pytest.raises(RuntimeError, match="closed"):
        recorder.record(source.envelopes[0])


def test_summarize_and_check(tmp_path):
    folder = TRACES / "eng5_anchor_align_gpt51_low_20251201"
    out = io.StringIO()
    assert trace_summarize(folder, check=True, as_json=True, out=out) == 0
    assert json.loads(out.getvalue().split("\n\n")[0])["total_events"] == 66
    assert "reproduces" in out.getvalue()
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / SUMMARY_FILE).write_text(
        (broken / SUMMARY_FILE).read_text().replace('"total_events": 66', '"total_events": 65')
    )
    out = io.StringIO()
    assert trace_summarize(broken, check=True, as_json=False, out=out) == 1
    assert "summary.json: total_events differs" in out.getvalue()
