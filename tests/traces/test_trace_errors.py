"""A hostile trace folder: every problem is one ``file:line:col: field: problem`` line, raised
as ``TraceError`` (the CLI exits 2 with it, never a traceback); ``trace summarize`` prints a
table of the figures or the JSON itself."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

from engine.located_json import PROBLEMS_SHOWN_MAX
from engine.traces import (
    CALLBACKS_FILE,
    PUBLISHED_FILE,
    SUMMARY_FILE,
    TraceError,
    TraceRecorder,
    compare_to_published,
    load_trace,
    summarize,
)
from sim.commands.cli import main
from sim.commands.trace_command import trace_summarize

SHIPPED = Path(__file__).resolve().parents[2] / "traces" / "cj_lps_roundtrip_mock_20251205"
GOOD = (SHIPPED / CALLBACKS_FILE).read_text(encoding="utf-8").splitlines()
LOCATED = re.compile(r"^\S.*:\d+:\d+: \S[^:]*: \S.*$")


def _folder(tmp_path: Path, callbacks: str | bytes, **files: str) -> Path:
    """A trace folder holding these callbacks and files (``summary=``, ``published=``)."""
    folder = tmp_path / "trace"
    folder.mkdir()
    data = callbacks.encode("utf-8") if isinstance(callbacks, str) else callbacks
    (folder / CALLBACKS_FILE).write_bytes(data)
    for name, text in files.items():
        (folder / f"{name}.json").write_text(text, encoding="utf-8")
    return folder


def _error(folder: Path) -> list[str]:
    """The lines of the TraceError loading ``folder`` raises, each checked to be located."""
    with pytest.raises(TraceError) as caught:
        load_trace(folder)
    lines = str(caught.value).split("\n")
    assert all(LOCATED.match(line) for line in lines), lines
    return lines


def _line(text: str) -> str:
    return text + "\n"


def _col(line: str, key: str) -> int:
    return line.index(f'"{key}"') + 1


# -- the folder and the callbacks file as a whole ------------------------------------------------


def test_a_missing_folder_is_named(tmp_path):
    assert _error(tmp_path / "nope") == [
        f"{tmp_path / 'nope'}:1:1: (folder): no such folder (a trace folder holds {CALLBACKS_FILE})"
    ]


def test_a_file_given_for_the_folder_is_named(tmp_path):
    (tmp_path / "file.txt").write_text("hello")
    [line] = _error(tmp_path / "file.txt")
    assert line.startswith(f"{tmp_path / 'file.txt'}:1:1: (folder): a file, not a folder")


def test_a_folder_without_callbacks_names_the_file(tmp_path):
    [line] = _error(tmp_path)
    assert line == (
        f"{tmp_path / CALLBACKS_FILE}:1:1: (file): no such file "
        f"(a trace folder holds {CALLBACKS_FILE})"
    )


def test_a_callbacks_path_that_is_a_folder_is_named_as_one(tmp_path):
    (tmp_path / CALLBACKS_FILE).mkdir()
    [line] = _error(tmp_path)
    assert line == f"{tmp_path / CALLBACKS_FILE}:1:1: (file): a folder; a file was expected"


def test_a_callbacks_path_that_is_a_named_pipe_is_refused_before_it_is_opened(tmp_path):
    os.mkfifo(tmp_path / CALLBACKS_FILE)  # opening it to read would wait for a writer forever
    [line] = _error(tmp_path)
    assert (
        line == f"{tmp_path / CALLBACKS_FILE}:1:1: (file): not a regular file; a file was expected"
    )


@pytest.mark.parametrize(
    "content", ["", "\n\n  \n", GOOD[0][:50]], ids=["empty", "blank lines", "only a cut line"]
)
def test_a_trace_without_a_callback_is_refused(tmp_path, content):
    folder = _folder(tmp_path, content)
    assert _error(folder) == [
        f"{folder / CALLBACKS_FILE}:1:1: (file): no callbacks: the file is empty"
    ]


def test_a_last_line_cut_short_by_a_kill_is_left_out(tmp_path):
    folder = _folder(tmp_path, _line(GOOD[0]) + _line(GOOD[1]) + GOOD[2][:100])
    assert len(load_trace(folder).results) == 2


def test_a_byte_order_mark_and_windows_line_ends_are_accepted(tmp_path):
    folder = _folder(tmp_path, b"\xef\xbb\xbf" + (GOOD[0] + "\r\n" + GOOD[1] + "\r\n").encode())
    assert len(load_trace(folder).results) == 2


def test_a_binary_file_is_named_as_such(tmp_path):
    folder = _folder(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert _error(folder) == [
        f"{folder / CALLBACKS_FILE}:1:1: (file): a binary file (a NUL byte at byte 8)"
    ]


def test_text_that_is_not_utf8_is_located_at_its_byte(tmp_path):
    folder = _folder(tmp_path, (_line(GOOD[0]) + '{"caf').encode() + b"\xe9" + b'": 1}\n')
    assert _error(folder) == [
        f"{folder / CALLBACKS_FILE}:2:6: (file): not UTF-8 text "
        f"(byte {len(GOOD[0]) + 1 + 5} cannot be decoded)"
    ]


def test_utf16_text_is_named(tmp_path):
    folder = _folder(tmp_path, _line(GOOD[0]).encode("utf-16"))
    [line] = _error(folder)
    assert line.endswith(":1:1: (file): UTF-16 text (save it as UTF-8)")


# -- one line at a time --------------------------------------------------------------------------


def test_a_line_that_is_not_json_gives_the_decoders_column(tmp_path):
    folder = _folder(tmp_path, _line(GOOD[0]) + _line('{"event_id": "x",, }'))
    assert _error(folder) == [
        f"{folder / CALLBACKS_FILE}:2:18: (line): not JSON: Expecting property name enclosed "
        "in double quotes"
    ]


@pytest.mark.parametrize(
    ("text", "got"), [("[]", "a list"), ("42", "42"), ("null", "null"), ('"hi"', "'hi'")]
)
def test_a_line_that_is_json_but_not_an_object_is_refused(tmp_path, text, got):
    folder = _folder(tmp_path, _line(GOOD[0]) + _line(text))
    assert _error(folder) == [
        f"{folder / CALLBACKS_FILE}:2:1: (line): not a JSON object (got {got})"
    ]


def test_a_missing_envelope_field_is_named_at_its_object(tmp_path):
    record = json.loads(GOOD[0])
    del record["event_id"]
    folder = _folder(tmp_path, _line(json.dumps(record)))
    assert _error(folder) == [f"{folder / CALLBACKS_FILE}:1:1: event_id: required field is missing"]


def test_an_ill_typed_envelope_field_is_located_at_its_key(tmp_path):
    line = GOOD[0].replace('"schema_version":1', '"schema_version":"two"')
    folder = _folder(tmp_path, _line(GOOD[1]) + _line(line))
    [problem] = _error(folder)
    assert problem.startswith(
        f"{folder / CALLBACKS_FILE}:2:{_col(line, 'schema_version')}: schema_version: "
    )
    assert problem.endswith("(got 'two')")


def test_a_bad_field_inside_the_result_is_named_by_its_dotted_path(tmp_path):
    line = GOOD[0].replace('"prompt_tokens":5', '"prompt_tokens":-5')
    folder = _folder(tmp_path, _line(line))
    assert _error(folder) == [
        f"{folder / CALLBACKS_FILE}:1:{_col(line, 'prompt_tokens')}: "
        "data.token_usage.prompt_tokens: Input should be greater than or equal to 0 (got -5)"
    ]


def test_a_success_without_its_winner_is_a_problem_of_data(tmp_path):
    line = GOOD[0].replace('"winner":"Essay A"', '"winner":null')
    folder = _folder(tmp_path, _line(line))
    assert _error(folder) == [
        f"{folder / CALLBACKS_FILE}:1:{_col(line, 'data')}: data: a success result needs "
        "winner, justification and confidence"
    ]


def test_an_envelope_of_another_event_type_is_located_at_the_type(tmp_path):
    line = GOOD[0].replace('"LLMComparisonResultV1"', '"SomethingElse"')
    folder = _folder(tmp_path, _line(line))
    [problem] = _error(folder)
    assert problem.startswith(f"{folder / CALLBACKS_FILE}:1:{_col(line, 'event_type')}: ")
    assert "'SomethingElse', not LLMComparisonResultV1" in problem


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_where_they_stand(tmp_path, literal):
    line = GOOD[0].replace('"confidence":4.6', f'"confidence":{literal}')
    folder = _folder(tmp_path, _line(line))
    assert _error(folder) == [
        f"{folder / CALLBACKS_FILE}:1:{_col(line, 'confidence')}: data.confidence: "
        f"{literal} is not a finite number (JSON has no NaN or infinity)"
    ]


def test_a_number_too_large_for_a_float_is_refused(tmp_path):
    line = GOOD[0].replace('"cost_estimate":0.00033', '"cost_estimate":1e400')
    folder = _folder(tmp_path, _line(line))
    [problem] = _error(folder)
    assert ": data.cost_estimate: a number beyond the range of a float" in problem


def test_nesting_too_deep_for_the_parser_is_refused_not_a_crash(tmp_path):
    for depth in (70, 5000):
        folder = tmp_path / str(depth)
        folder.mkdir()
        (folder / CALLBACKS_FILE).write_text("[" * depth + "]" * depth + "\n")
        assert _error(folder) == [
            f"{folder / CALLBACKS_FILE}:1:1: (line): nested deeper than 64 levels"
        ]


def test_every_bad_line_is_reported_in_file_order_and_blank_lines_keep_the_count(tmp_path):
    folder = _folder(tmp_path, "\n".join(["[]", GOOD[0], "", "{", "null"]) + "\n")
    assert [line.split(": ")[0].rsplit(":", 2)[1:] for line in _error(folder)] == [
        ["1", "1"],
        ["4", "2"],
        ["5", "1"],
    ]


def test_a_flood_of_problems_is_cut_at_the_limit_with_a_count(tmp_path):
    folder = _folder(tmp_path, "[]\n" * 30)
    lines = _error(folder)
    assert len(lines) == PROBLEMS_SHOWN_MAX + 1
    assert lines[-1] == (
        f"{folder / CALLBACKS_FILE}:21:1: (more): 10 more problems from here on, not shown"
    )


# -- summary.json and published.json -------------------------------------------------------------


def test_a_summary_that_is_not_json_is_located(tmp_path):
    folder = _folder(tmp_path, _line(GOOD[0]), summary='{\n  "total_events": 1,\n}')
    assert _error(folder) == [
        f"{folder / SUMMARY_FILE}:3:1: (top level): not JSON: Expecting property name enclosed "
        "in double quotes"
    ]


@pytest.mark.parametrize(("name", "text"), [("summary", "[1, 2]"), ("published", '"figures"')])
def test_a_figures_file_that_is_not_an_object_is_refused(tmp_path, name, text):
    folder = _folder(tmp_path, _line(GOOD[0]), **{name: text})
    [line] = _error(folder)
    assert line.startswith(f"{folder / (name + '.json')}:1:1: (top level): not a JSON object")


def test_an_empty_summary_is_refused(tmp_path):
    folder = _folder(tmp_path, _line(GOOD[0]), summary="")
    assert _error(folder) == [
        f"{folder / SUMMARY_FILE}:1:1: (top level): empty (a JSON value was expected)"
    ]


def test_wrong_typed_figures_are_located_each_in_file_order(tmp_path):
    summary = (
        '{\n  "total_events": "1",\n  "winner_counts": {"Essay A": 1.5},\n'
        '  "response_time_ms": [],\n  "token_usage": {"total_tokens": {"mean": NaN}}\n}'
    )
    folder = _folder(tmp_path, _line(GOOD[0]), summary=summary)
    path = folder / SUMMARY_FILE
    assert _error(folder) == [
        f"{path}:5:36: token_usage.total_tokens.mean: NaN is not a finite "
        "number (JSON has no NaN or infinity)"
    ]
    (path).write_text(summary.replace("NaN", "null"))
    assert _error(folder) == [
        f"{path}:2:3: total_events: expected a whole number, 0 or more, got '1'",
        f"{path}:3:21: winner_counts.Essay A: expected a whole number, 0 or more, got 1.5",
        f"{path}:4:3: response_time_ms: expected an object, got a list",
    ]


def test_published_figures_of_the_wrong_kind_are_located(tmp_path):
    published = '{"response_time_ms": 5, "token_usage": {"total_tokens": {"mean": "fast"}}}'
    folder = _folder(tmp_path, _line(GOOD[0]), published=published)
    path = folder / PUBLISHED_FILE
    assert _error(folder) == [
        f"{path}:1:2: response_time_ms: expected an object or null, got 5",
        f"{path}:1:58: token_usage.total_tokens.mean: expected a number or null, got 'fast'",
    ]


def test_problems_of_several_files_come_file_by_file(tmp_path):
    folder = _folder(tmp_path, "42\n", summary="{", published="[]")
    assert [line.split(":")[0].rsplit("/", 1)[1] for line in _error(folder)] == [
        CALLBACKS_FILE,
        SUMMARY_FILE,
        PUBLISHED_FILE,
    ]


def test_a_huge_integer_is_refused_not_a_crash(tmp_path):
    folder = _folder(tmp_path, _line(GOOD[0]), summary='{"total_events": ' + "9" * 5000 + "}")
    [line] = _error(folder)
    assert line.startswith(f"{folder / SUMMARY_FILE}:1:1: (top level): not JSON: ")


def test_compare_to_published_reports_odd_types_instead_of_crashing():
    summary = summarize("x", load_trace(SHIPPED).results)
    summary["total_events"] = "four"
    summary["response_time_ms"] = 7
    published = '{"total_events": 4, "response_time_ms": {"mean_ms": 1.5}, "error_count": 10}'
    assert compare_to_published(summary, published) == [
        "total_events: four != published 4",
        "response_time_ms.mean_ms: missing, published 1.5",
        "error_count: 0 != published 10",
    ]
    assert compare_to_published({"total_events": 10**400}, '{"total_events": 1}') == [
        f"total_events: {10**400} != published 1"
    ]


# -- recorder, CLI, command ----------------------------------------------------------------------


def test_a_recorder_resumes_a_trace_killed_before_its_first_callback(tmp_path):
    folder = _folder(tmp_path, "")
    recorder = TraceRecorder(folder, "resumed")
    recorder.record(load_trace(SHIPPED).envelopes[0])
    assert recorder.close()["total_events"] == 1


def test_the_cli_exits_2_with_the_located_lines_and_no_traceback(tmp_path, capsys):
    folder = _folder(tmp_path, "[]\n{\n")
    assert main(["trace", "summarize", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"{folder / CALLBACKS_FILE}:1:1: (line): not a JSON object (got a list)",
        f"{folder / CALLBACKS_FILE}:2:2: (line): not JSON: Expecting property name enclosed in "
        "double quotes",
    ]


def test_summarize_prints_an_aligned_table_of_the_figures(tmp_path):
    folder = _folder(tmp_path, "".join(_line(line) for line in GOOD[:3]))
    out = io.StringIO()
    assert trace_summarize(folder, check=False, as_json=False, out=out) == 0
    rows = out.getvalue().splitlines()
    assert rows[0] == "scenario_id                         trace"
    assert "winner_counts.Essay A               3" in rows
    assert "error_code_counts                   (none)" in rows
    assert "token_usage.prompt_tokens.mean      5.0" in rows
    assert "response_time_ms.p95_ms             0.0" in rows
    assert "bt_se_summary                       -" in rows
    assert len({row.index(row.split()[-1]) for row in rows}) == 1  # one column of values


def test_summarize_rounds_floats_to_four_places(tmp_path):
    lines = [
        line.replace('"response_time_ms":0', f'"response_time_ms":{ms}')
        for line, ms in zip(GOOD[:3], (1, 2, 2), strict=True)
    ]
    folder = _folder(tmp_path, "".join(_line(line) for line in lines))
    out = io.StringIO()
    trace_summarize(folder, check=False, as_json=False, out=out)
    assert "response_time_ms.mean_ms            1.6667" in out.getvalue().splitlines()
    out = io.StringIO()
    trace_summarize(folder, check=False, as_json=True, out=out)
    assert json.loads(out.getvalue())["response_time_ms"]["mean_ms"] == 5 / 3


def test_check_with_nothing_to_check_against_says_so(tmp_path):
    folder = _folder(tmp_path, _line(GOOD[0]))
    out = io.StringIO()
    assert trace_summarize(folder, check=True, as_json=False, out=out) == 0
    assert out.getvalue().endswith(
        "\nnothing to check: the folder has no summary.json or published.json\n"
    )


def test_check_reports_a_published_figure_it_does_not_reproduce(tmp_path):
    folder = _folder(
        tmp_path, _line(GOOD[0]), published='{"total_events": 2, "winner_counts": {"Essay A": 1}}'
    )
    out = io.StringIO()
    assert trace_summarize(folder, check=True, as_json=False, out=out) == 1
    assert out.getvalue().splitlines()[-1] == "published.json: total_events: 1 != published 2"
