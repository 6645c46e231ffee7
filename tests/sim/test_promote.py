"""``cjsim promote`` and the scenario fields it relies on (students by id)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.randomness import Streams
from sim.commands.cli import main
from sim.harness.cohorts import build_cohort
from sim.harness.scenario import ScenarioError
from sim.harness.scenario_file import parse_scenario

TRACES = Path(__file__).resolve().parents[2] / "traces"


def test_students_can_be_named_so_that_a_trace_replays_them():
    scenario = parse_scenario("name: s\ncohort:\n  students:\n    ids: [ann, bo, cy]\n", "s.yaml")
    cohort = build_cohort(scenario, Streams(1))
    assert [s.essay_id for s in cohort.students] == ["ann", "bo", "cy"]


@pytest.mark.parametrize(
    ("students", "where", "problem"),
    [
        ("{count: 2, ids: [a, b, c]}", "s.yaml:3:14: cohort.students.count", "is 2 but 3 ids"),
        ("{ids: [a, b, a]}", "s.yaml:3:26: cohort.students.ids.2", "'a' is given twice"),
        ("{ids: [ANCHOR_x]}", "s.yaml:3:20: cohort.students.ids.0", "not a student id"),
    ],
)
def test_bad_student_ids_are_located_at_the_field(students, where, problem):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(f"name: s\ncohort:\n  students: {students}\n", "s.yaml")
    assert str(info.value).startswith(f"{where}: ")
    assert problem in str(info.value)


def test_a_trace_without_a_cohort_cannot_be_promoted(capsys):
    trace = TRACES / "eng5_lower5_gpt51_low_20251202"
    assert main(["promote", str(trace)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{trace / 'cohort.json'}:1:1: (file): not found")
    assert "Traceback" not in err


def test_a_cohort_value_the_replay_cannot_take_is_located_in_cohort_json(live_trace, capsys):
    import json

    cohort = {**COHORT, "students": [{"id": "s1", "words": 400}, {"id": "ANCHOR_x", "words": 9}]}
    (live_trace / "cohort.json").write_text(json.dumps(cohort, indent=1))
    assert main(["promote", str(live_trace)]) == 2
    err = capsys.readouterr().err
    line = next(
        n
        for n, text in enumerate(json.dumps(cohort, indent=1).splitlines(), 1)
        if "ANCHOR_x" in text
    )
    assert err.startswith(f"{live_trace / 'cohort.json'}:{line}:")
    assert "not a student id" in err
    assert not (live_trace.parent / "replay_t.yaml").exists()


COHORT = {
    "name": "t",
    "seed": 1,
    "grade_scale": "eng5_np_legacy_9_step",
    "anchors": [],
    "students": [{"id": "s1", "words": 400}, {"id": "s2", "words": 420}],
    "provider": {"name": "openai", "model": "gpt-5.1", "reasoning_effort": None},
    "budget": None,
    "settings": {},
}


@pytest.fixture
def live_trace(tmp_path: Path) -> Path:
    """A trace folder as a live run leaves it: callbacks, summary and ``cohort.json``."""
    import json
    import shutil

    folder = tmp_path / "run" / "trace"
    shutil.copytree(TRACES / "eng5_anchor_align_gpt51_low_20251201", folder)
    (folder / "published.json").unlink(missing_ok=True)
    (folder / "cohort.json").write_text(json.dumps(COHORT))
    return folder


def test_a_second_promotion_never_overwrites_the_first(live_trace, capsys):
    assert main(["promote", str(live_trace)]) == 0
    written = live_trace.parent / "replay_t.yaml"
    before = written.read_bytes()
    assert main(["promote", str(live_trace)]) == 2
    assert f"{written}: --out: exists" in capsys.readouterr().err
    assert written.read_bytes() == before


@pytest.mark.parametrize(
    ("cohort", "where", "problem"),
    [
        ("[]", ":1:1: (top level)", "expected an object"),
        ('{"name": "t"', ":1:13: (top level)", "not JSON"),
        ("{}", ":1:1: name", "required field is missing"),
        (
            '{"name": "t", "seed": -1, "grade_scale": "x", "anchors": [], "students": [],\n'
            ' "provider": {"name": "openai", "model": "m"}, "settings": {}}',
            ":1:15: seed",
            "expected a whole number",
        ),
        (
            '{"name": "t", "seed": 1, "grade_scale": "x", "anchors": [], "students": [7],\n'
            ' "provider": {"name": "openai", "model": "m"}, "settings": {}}',
            ":1:74: students.0",
            "expected an object",
        ),
    ],
)
def test_a_broken_cohort_is_located_not_a_traceback(live_trace, capsys, cohort, where, problem):
    (live_trace / "cohort.json").write_text(cohort)
    assert main(["promote", str(live_trace)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err.splitlines()[0]
    assert line.startswith(f"{live_trace / 'cohort.json'}{where}")
    assert problem in line
