"""A hostile run folder for ``cjsim compare`` and ``cjsim diff``: every problem of both
folders is one ``file:line:col: field: problem`` line of one ``RunFolderError`` (the CLI exits 2
with it, never a traceback); ``diff`` prints times to the millisecond."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.eventlog import LogRecord
from sim.commands.cli import main
from sim.reports.compare import (
    VALIDATION_PLAN,
    RunFolderError,
    compare_runs,
    first_divergence,
    render_divergence,
)

LOCATED = re.compile(r"^\S.*:\d+:\d+: \S[^:]*: \S.*$")
EVENTS = [
    LogRecord(0, 0.0, "sim.phase", {}, {"phase": "faults", "seed": 42}).to_json(),
    LogRecord(1, 0.018000000000000002, "cj.batch.created", {"cj_batch_id": 1}, {}).to_json(),
    LogRecord(2, 0.5960000000000001, "lps.item.dispatched", {"q": "x"}, {"size": 12}).to_json(),
]


def _analysis() -> dict[str, list[dict[str, object]]]:
    return {
        section.query: [dict.fromkeys((*section.keys, *section.values), 1)]
        for section in VALIDATION_PLAN
    }


REPORT = {"scenario": "s", "seed": 42, "fingerprint": "f" * 64, "legacy": False}


def _run(tmp_path: Path, name: str, *, events: str | bytes | None = None, **files: str) -> Path:
    """A run folder: the three files, each good unless given (``analysis=``, ``report=``)."""
    run = tmp_path / name
    run.mkdir()
    texts = {
        "analysis": json.dumps(_analysis(), indent=2),
        "report": json.dumps(REPORT, indent=2),
        **files,
    }
    for stem, text in texts.items():
        (run / f"{stem}.json").write_text(text, encoding="utf-8")
    data = events if events is not None else "".join(line + "\n" for line in EVENTS)
    (run / "events.jsonl").write_bytes(data.encode() if isinstance(data, str) else data)
    return run


def _compare_error(run_a: Path, run_b: Path) -> list[str]:
    with pytest.raises(RunFolderError) as caught:
        compare_runs(run_a, run_b)
    lines = str(caught.value).split("\n")
    assert all(LOCATED.match(line) for line in lines), lines
    return lines


def _diff_error(run_a: Path, run_b: Path) -> list[str]:
    with pytest.raises(RunFolderError) as caught:
        first_divergence(run_a, run_b)
    lines = str(caught.value).split("\n")
    assert all(LOCATED.match(line) for line in lines), lines
    return lines


# -- the folders ---------------------------------------------------------------------------------


def test_good_folders_compare(tmp_path):
    out = compare_runs(_run(tmp_path, "a"), _run(tmp_path, "b"))
    assert out.startswith(f"A: {tmp_path / 'a'}  (s seed 42, fingerprint ffffffffffff)\n")


def test_a_missing_folder_is_named_once(tmp_path):
    good, missing = _run(tmp_path, "a"), tmp_path / "nope"
    hint = "compare needs a `cjsim run` output folder"
    assert _compare_error(missing, good) == [f"{missing}:1:1: (folder): no such folder ({hint})"]
    [line] = _diff_error(good, missing)
    assert line.startswith(f"{missing}:1:1: (folder): no such folder (diff needs")


def test_a_file_given_for_a_folder_is_named(tmp_path):
    (tmp_path / "file").write_text("x")
    [line] = _diff_error(tmp_path / "file", _run(tmp_path, "a"))
    assert line.startswith(f"{tmp_path / 'file'}:1:1: (folder): a file, not a folder")


@pytest.mark.parametrize("missing", ["analysis.json", "report.json"])
def test_a_folder_that_is_not_a_run_names_the_missing_file(tmp_path, missing):
    run = _run(tmp_path, "a")
    (run / missing).unlink()
    assert _compare_error(run, _run(tmp_path, "b")) == [
        f"{run / missing}:1:1: (file): not found (is {run} a `cjsim run` output folder? "
        "compare reads analysis.json and report.json)"
    ]


def test_diff_names_the_missing_event_log(tmp_path):
    run = _run(tmp_path, "a")
    (run / "events.jsonl").unlink()
    assert _diff_error(_run(tmp_path, "b"), run) == [
        f"{run / 'events.jsonl'}:1:1: (file): not found (is {run} a `cjsim run` output folder? "
        "diff reads events.jsonl)"
    ]


def test_problems_of_both_runs_come_in_one_error_a_first(tmp_path):
    run_a = _run(tmp_path, "a", report="[]")
    run_b = _run(tmp_path, "b", analysis="{")
    assert [line.split(":")[0] for line in _compare_error(run_a, run_b)] == [
        str(run_a / "report.json"),
        str(run_b / "analysis.json"),
    ]


def test_one_broken_folder_given_twice_is_reported_once(tmp_path):
    run = _run(tmp_path, "a", report="[]")
    assert len(_compare_error(run, run)) == 1


# -- analysis.json and report.json ---------------------------------------------------------------


def test_an_analysis_that_is_not_json_is_located(tmp_path):
    run = _run(tmp_path, "a", analysis='{\n  "queue_status": [\n    {"status": }\n  ]\n}')
    assert _compare_error(run, _run(tmp_path, "b")) == [
        f"{run / 'analysis.json'}:3:16: (top level): not JSON: Expecting value"
    ]


@pytest.mark.parametrize("text", ["[]", "3", "null", '"analysis"'])
def test_an_analysis_that_is_not_an_object_is_refused(tmp_path, text):
    run = _run(tmp_path, "a", analysis=text)
    [line] = _compare_error(run, _run(tmp_path, "b"))
    assert line.startswith(f"{run / 'analysis.json'}:1:1: (top level): not a JSON object (got ")


def test_a_missing_section_is_named(tmp_path):
    analysis = _analysis()
    del analysis["queue_status"]
    run = _run(tmp_path, "a", analysis=json.dumps(analysis))
    assert _compare_error(run, _run(tmp_path, "b")) == [
        f"{run / 'analysis.json'}:1:1: queue_status: required field is missing"
    ]


def test_sections_rows_and_cells_of_the_wrong_kind_are_located(tmp_path):
    analysis = _analysis()
    analysis["error_rate_by_provider"] = {"provider": "x"}
    analysis["positions_by_role"] = [7]
    del analysis["callbacks_by_disposition"][0]["callbacks"]
    analysis["queue_status"][0]["items"] = {"n": 1}
    run = _run(tmp_path, "a", analysis=json.dumps(analysis, indent=1))
    path = run / "analysis.json"
    assert _compare_error(run, _run(tmp_path, "b")) == [
        f"{path}:2:2: error_rate_by_provider: expected a list, got an object",
        f"{path}:14:3: positions_by_role.0: expected an object, got 7",
        f"{path}:29:3: callbacks_by_disposition.0.callbacks: required field is missing",
        f"{path}:37:4: queue_status.0.items: expected a number, text, true, false or null, "
        "got an object",
    ]


def test_a_report_with_wrong_types_is_located(tmp_path):
    report = {**REPORT, "seed": "42", "legacy": "no"}
    del report["fingerprint"]
    run = _run(tmp_path, "a", report=json.dumps(report, indent=2))
    path = run / "report.json"
    assert _compare_error(run, _run(tmp_path, "b")) == [
        f"{path}:1:1: fingerprint: required field is missing",
        f"{path}:3:3: seed: expected a whole number, 0 or more, got '42'",
        f"{path}:4:3: legacy: expected true or false, got 'no'",
    ]


def test_nan_in_an_analysis_is_refused(tmp_path):
    text = json.dumps(_analysis()).replace('"error_rate": 1', '"error_rate": NaN')
    run = _run(tmp_path, "a", analysis=text)
    [line] = _compare_error(run, _run(tmp_path, "b"))
    assert line.endswith(
        "error_rate_by_provider.0.error_rate: NaN is not a finite number "
        "(JSON has no NaN or infinity)"
    )


def test_binary_files_are_named_and_a_byte_order_mark_is_accepted(tmp_path):
    run = _run(tmp_path, "a")
    (run / "report.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(REPORT).encode())
    compare_runs(run, run)
    (run / "analysis.json").write_bytes(b"SQLite format 3\x00")
    assert _compare_error(run, run) == [
        f"{run / 'analysis.json'}:1:1: (file): a binary file (a NUL byte at byte 15)"
    ]


# -- events.jsonl --------------------------------------------------------------------------------


def test_a_last_line_cut_short_by_a_kill_is_tolerated(tmp_path):
    full = _run(tmp_path, "full")
    cut = _run(tmp_path, "cut", events=EVENTS[0] + "\n" + EVENTS[1] + "\n" + EVENTS[2][:20])
    divergence = first_divergence(full, cut)
    assert divergence is not None
    assert (divergence.line, divergence.b) == (3, None)
    assert first_divergence(cut, cut) is None


def test_a_garbled_line_in_the_middle_is_located(tmp_path):
    events = EVENTS[0] + "\n" + EVENTS[1][:30] + "\n" + EVENTS[2] + "\n"
    run = _run(tmp_path, "bad", events=events)
    assert _diff_error(_run(tmp_path, "good"), run) == [
        f"{run / 'events.jsonl'}:2:21: (line): not JSON: Unterminated string starting at"
    ]


def test_a_garbled_line_is_an_error_even_where_both_logs_hold_it(tmp_path):
    run = _run(tmp_path, "bad", events="{oops\n")
    assert len(_diff_error(run, run)) == 1


@pytest.mark.parametrize(("text", "got"), [("[]", "a list"), ("7", "7"), ("null", "null")])
def test_a_line_that_is_not_an_object_is_not_an_event(tmp_path, text, got):
    run = _run(tmp_path, "bad", events=EVENTS[0] + "\n" + text + "\n")
    assert _diff_error(run, _run(tmp_path, "good")) == [
        f"{run / 'events.jsonl'}:2:1: (line): not an event record (got {got})"
    ]


def test_a_record_of_the_wrong_shape_names_its_field(tmp_path):
    line = '{"fields":{},"ids":[1],"seq":3,"t":"soon"}'
    run = _run(tmp_path, "bad", events=line + "\n")
    path = run / "events.jsonl"
    assert _diff_error(run, _run(tmp_path, "good")) == [
        f"{path}:1:1: kind: required field is missing",
        f"{path}:1:14: ids: expected an object, got a list",
        f"{path}:1:32: t: expected a number, got 'soon'",
    ]


def test_nan_in_an_event_is_refused_where_it_stands(tmp_path):
    line = EVENTS[2].replace('"size":12', '"size":NaN')
    run = _run(tmp_path, "bad", events=line + "\n")
    [problem] = _diff_error(run, run)
    assert problem == (
        f"{run / 'events.jsonl'}:1:{line.index('size')}: fields.size: NaN is not a finite "
        "number (JSON has no NaN or infinity)"
    )


def test_a_binary_event_log_is_named(tmp_path):
    run = _run(tmp_path, "bad", events=b"\x00\x01\x02\n")
    assert _diff_error(run, run) == [
        f"{run / 'events.jsonl'}:1:1: (file): a binary file (a NUL byte at byte 0)"
    ]


def test_a_byte_order_mark_windows_line_ends_and_blank_lines_change_nothing(tmp_path):
    plain = _run(tmp_path, "plain")
    text = "\ufeff" + EVENTS[0] + "\r\n\r\n" + EVENTS[1] + "\r\n" + EVENTS[2] + "\r\n"
    odd = _run(tmp_path, "odd", events=text)
    assert first_divergence(plain, odd) is None


def test_a_divergence_after_a_blank_line_gives_each_files_line(tmp_path):
    changed = EVENTS[2].replace('"size":12', '"size":1')
    run_a = _run(tmp_path, "a")
    run_b = _run(tmp_path, "b", events="\n".join([EVENTS[0], "", EVENTS[1], changed, ""]))
    out = render_divergence(first_divergence(run_a, run_b), run_a, run_b)
    assert out.startswith("first divergence at event line 3 of A, line 4 of B:\n")


# -- what diff prints ----------------------------------------------------------------------------


def _diff_output(tmp_path: Path, a: LogRecord, b: LogRecord) -> str:
    run_a = _run(tmp_path, "a", events=a.to_json() + "\n")
    run_b = _run(tmp_path, "b", events=b.to_json() + "\n")
    return render_divergence(first_divergence(run_a, run_b), run_a, run_b)


def test_diff_prints_times_to_the_millisecond(tmp_path):
    a = LogRecord(7, 0.5960000000000001, "k", {}, {"delay_s": 1.23456, "size": 12})
    b = LogRecord(7, 0.09600000000000007, "k", {}, {"delay_s": 2.0004999, "size": 1})
    assert _diff_output(tmp_path, a, b) == (
        "first divergence at event line 1:\n"
        "  A: #7 t=0.596 k\n"
        "  B: #7 t=0.096 k\n"
        "    fields.delay_s: 1.235 -> 2.0\n"
        "    fields.size: 12 -> 1\n"
        "    t: 0.596 -> 0.096\n"
    )


def test_diff_prints_other_floats_to_six_significant_digits(tmp_path):
    a = LogRecord(0, 1.0, "k", {}, {"ssr": 0.0946543219, "cost_usd": 1.23456789e-05})
    b = LogRecord(0, 1.0, "k", {}, {"ssr": 0.1, "cost_usd": 2e-05})
    assert _diff_output(tmp_path, a, b).splitlines()[3:] == [
        "    fields.cost_usd: 1.23457e-05 -> 2e-05",
        "    fields.ssr: 0.0946543 -> 0.1",
    ]


def test_diff_says_when_values_differ_only_in_digits_not_shown(tmp_path):
    a = LogRecord(0, 1.0001, "k", {}, {})
    b = LogRecord(0, 1.0002, "k", {}, {})
    assert _diff_output(tmp_path, a, b).splitlines()[-1] == (
        "    t: 1.0 -> 1.0  (they differ in digits not shown)"
    )


# -- the command line ----------------------------------------------------------------------------


def test_the_cli_exits_2_with_located_lines_and_no_traceback(tmp_path, capsys):
    good = _run(tmp_path, "good")
    bad = _run(tmp_path, "bad", events="{oops\n", report='{"seed": -1}')
    assert main(["diff", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert (
        captured.err == f"{bad / 'events.jsonl'}:1:2: (line): not JSON: Expecting property "
        "name enclosed in double quotes\n"
    )
    assert main(["compare", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 3  # fingerprint, scenario: missing; seed: below 0
    assert all(LOCATED.match(line) for line in err.splitlines())
