"""--set overrides: lists are indexed, a path that cannot be followed is refused by the
override's own text, and a problem an override caused names the override."""

from __future__ import annotations

import pytest

from sim.harness.scenario import ScenarioError
from sim.harness.scenario_file import apply_overrides, parse_scenario

TWO_FAULTS = """name: x
faults:
  - {kind: http_429, rate: 0.1}
  - {kind: http_529, rate: 0.2}
"""


def _refused(document: str, overrides: list[str]) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(document, "s.yaml", overrides=overrides)
    return str(caught.value)


def test_a_list_entry_is_set_by_its_index():
    scenario = parse_scenario(TWO_FAULTS, "s.yaml", overrides=["faults.1.rate=0.5"])
    assert [fault.rate for fault in scenario.faults] == [0.1, 0.5]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("faults.2.rate=1", "--set faults.2.rate=1: faults: has no entry 2 (indexes 0..1)"),
        ("faults.rate=1", "--set faults.rate=1: faults: is a list; index it by number"),
        ("faults.0.rate.x=1", "--set faults.0.rate.x=1: faults.0.rate: is a value"),
        ("run..batches=1", "--set run..batches=1: run..batches: an empty name"),
        ("=1", "--set =1: expected KEY=VALUE"),
        ("run.batches", "--set run.batches: expected KEY=VALUE"),
    ],
)
def test_a_path_that_cannot_be_followed_is_refused_by_the_override(override, message):
    assert _refused(TWO_FAULTS, [override]).startswith(message)


def test_an_index_into_a_list_the_file_lacks_is_refused_not_turned_into_a_mapping():
    message = _refused("name: x\n", ["faults.7.rate=1"])
    assert message.startswith("--set faults.7.rate=1: faults: has no entry 7 (it is not in")


def test_an_empty_list_says_so():
    assert "(it is empty)" in _refused("name: x\nfaults: []\n", ["faults.0.rate=1"])


def test_a_value_an_override_set_is_blamed_on_the_override_not_the_file():
    message = _refused(TWO_FAULTS, ["faults.0.rate=2"])
    assert message == (
        "--set faults.0.rate=2: faults.0.rate: Input should be less than or equal to 1 (got 2)"
    )


def test_file_problems_keep_their_place_and_come_first():
    lines = _refused("name: x\nrun: {batchez: 1}\n", ["run.liveness_s=-1"]).splitlines()
    assert lines[0] == "s.yaml:2:7: run.batchez: unknown key (did you mean 'batches'?)"
    assert lines[1].startswith("--set run.liveness_s=-1: run.liveness_s: Input should be greater")


def test_an_unknown_setting_gets_a_near_name_with_the_files_other_problems():
    lines = _refused("name: x\nrun: {batchez: 1}\n", ["MAX_PAIRWISE_COMPARISSONS=3"]).splitlines()
    assert lines == [
        "s.yaml:2:7: run.batchez: unknown key (did you mean 'batches'?)",
        "--set MAX_PAIRWISE_COMPARISSONS=3: settings.MAX_PAIRWISE_COMPARISSONS: unknown key "
        "(did you mean 'MAX_PAIRWISE_COMPARISONS'?)",
    ]


def test_a_setting_in_the_file_is_located_in_the_file():
    message = _refused("name: x\nsettings:\n  MAX_PAIRWISE_COMPARISONS: -5\n", [])
    assert message.startswith("s.yaml:3:3: settings.MAX_PAIRWISE_COMPARISONS: Input should be")


def test_a_non_string_settings_key_is_located_not_a_crash():
    assert _refused("name: x\nsettings: {1: 2}\n", []).startswith("s.yaml:2:12: settings.1:")


def test_apply_overrides_says_where_the_value_landed():
    data: dict = {"faults": [{"kind": "http_429"}]}
    assert apply_overrides(data, "faults.0.rate=0.5") == ("faults", 0, "rate")
    assert apply_overrides(data, "LPS_WORKERS=2") == ("settings", "LPS_WORKERS")
    assert data == {"faults": [{"kind": "http_429", "rate": 0.5}], "settings": {"LPS_WORKERS": 2}}
