"""Booleans are not numbers, in every model of a user's input."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field

from engine.numbers import refuse_booleans_for_numbers, wants_a_number
from sim.harness.scenario import ScenarioError
from sim.harness.scenario_file import parse_scenario


@pytest.mark.parametrize(
    ("annotation", "numeric"),
    [
        (int, True),
        (float, True),
        (int | None, True),
        (Annotated[float, Field(ge=0)], True),
        (Annotated[int, Field(ge=0)] | None, True),
        (bool, False),
        (int | bool, False),
        (str, False),
        (list[int], False),
    ],
)
def test_a_field_wants_a_number_only_when_no_boolean_will_do(annotation, numeric):
    assert wants_a_number(annotation) is numeric


def test_a_boolean_for_a_number_is_refused_and_anything_else_passes():
    with pytest.raises(ValueError, match="a number was expected, not true or false"):
        refuse_booleans_for_numbers(True, int)
    assert refuse_booleans_for_numbers(False, bool) is False
    assert refuse_booleans_for_numbers(1, int) == 1


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ("budget: yes", "s.yaml:2:1: budget"),
        ("seed: on", "s.yaml:2:1: seed"),
        ("run: {batches: true}", "s.yaml:2:7: run.batches"),
        ("faults: [{kind: http_429, rate: true}]", "s.yaml:2:27: faults.0.rate"),
        ("settings: {LPS_WORKERS: true}", "s.yaml:2:12: settings.LPS_WORKERS"),
    ],
)
def test_yaml_booleans_never_become_numbers(document, where):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(f"name: x\n{document}\n", "s.yaml")
    assert str(caught.value).startswith(f"{where}: a number was expected, not true or false")


def test_a_boolean_setting_still_takes_a_boolean():
    text = "name: x\nsettings: {ENABLE_COMPARISON_POSITION_BALANCING: false}\n"
    assert parse_scenario(text, "s.yaml").settings == {
        "ENABLE_COMPARISON_POSITION_BALANCING": False
    }
