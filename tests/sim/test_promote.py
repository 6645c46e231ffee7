"""``cjsim promote`` and the scenario fields it relies on (students by id)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.randomness import Streams
from sim.cli import main
from sim.cohorts import build_cohort
from sim.scenario import ScenarioError
from sim.scenario_file import parse_scenario

TRACES = Path(__file__).resolve().parents[2] / "traces"


def test_students_can_be_named_so_that_a_trace_replays_them():
    scenario = parse_scenario("name: s\ncohort:\n  students:\n    ids: [ann, bo, cy]\n", "s.yaml")
    cohort = build_cohort(scenario, Streams(1))
    assert [s.essay_id for s in cohort.students] == ["ann", "bo", "cy"]


@pytest.mark.parametrize(
    ("students", "problem"),
    [
        ("{count: 2, ids: [a, b, c]}", "count is 2 but 3 ids are given"),
        ("{ids: [a, a]}", "student ids must be unique"),
        ("{ids: [ANCHOR_x]}", "not a student id"),
    ],
)
def test_bad_student_ids_are_located(students, problem):
    with pytest.raises(ScenarioError, match=problem) as info:
        parse_scenario(f"name: s\ncohort:\n  students: {students}\n", "s.yaml")
    assert str(info.value).startswith("s.yaml:3:")


def test_a_trace_without_a_cohort_cannot_be_promoted(capsys):
    trace = TRACES / "eng5_lower5_gpt51_low_20251202"
    assert main(["promote", str(trace)]) == 2
    err = capsys.readouterr().err
    assert "cohort.json: not found" in err
    assert "Traceback" not in err
