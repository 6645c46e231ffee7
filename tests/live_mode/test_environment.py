"""CJSIM_* variables are input too: a typo or a refused value is named, never blamed on the file."""

from __future__ import annotations

import pytest

from engine.live.config import LiveConfigError, load_live_config
from engine.live.environment import environment_problems
from tests.live_mode.live_example import example_config


def test_a_typo_gets_the_near_setting():
    assert environment_problems({}, {"CJSIM_MAX_PAIRWISE_COMPARISSONS": "3"}) == [
        "CJSIM_MAX_PAIRWISE_COMPARISSONS: not a cjsim setting "
        "(did you mean CJSIM_MAX_PAIRWISE_COMPARISONS?)"
    ]


def test_a_refused_value_is_named_by_its_variable():
    problems = environment_problems({}, {"CJSIM_MAX_PAIRWISE_COMPARISONS": "abc"})
    assert problems == [
        "CJSIM_MAX_PAIRWISE_COMPARISONS: Input should be a valid integer, unable to parse "
        "string as an integer (got 'abc') (from the environment)"
    ]


def test_names_match_case_insensitively_as_the_settings_loader_reads_them():
    assert environment_problems({}, {"cjsim_lps_workers": "0"})[0].startswith("cjsim_lps_workers:")


def test_a_variable_the_file_overrides_is_not_judged():
    assert environment_problems({"LPS_WORKERS": 2}, {"CJSIM_LPS_WORKERS": "zero"}) == []


def test_harness_variables_and_good_values_pass():
    environ = {"CJSIM_SLOW": "1", "CJSIM_LPS_WORKERS": "2", "PATH": "/bin", "XCJSIM_FOO": "1"}
    assert environment_problems({}, environ) == []


def test_a_live_configuration_names_the_variable_not_line_1(tmp_path, monkeypatch):
    config = example_config(tmp_path)
    monkeypatch.setenv("CJSIM_BATCH_MONITOR_INTERVAL_S", "-1")
    with pytest.raises(LiveConfigError) as caught:
        load_live_config(config)
    assert str(caught.value).startswith("CJSIM_BATCH_MONITOR_INTERVAL_S: Input should be greater")
