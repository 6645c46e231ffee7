"""The AIMD controller as pure functions: every rule at its edge, with the smallest input."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.lps.calls import RateLimitHints
from engine.lps.concurrency import (
    Admission,
    ConcurrencyConfig,
    ControllerState,
    RemainingHint,
    Signal,
    admission,
    initial_state,
    on_outcome,
    on_saturated,
    requests_budget,
    signal_for,
)
from engine.lps.errors import ErrorType
from engine.settings import Settings

CONFIG = ConcurrencyConfig(
    start=8,
    minimum=2,
    maximum=10,
    decrease_factor=0.5,
    debounce_s=5.0,
    clean_window_s=10.0,
    increase_step=1,
    pause_max_s=120.0,
)


def state(limit: int = 8, **changes) -> ControllerState:
    return ControllerState(limit=limit, window_start_s=0.0, **changes)


def rate_limited(st: ControllerState, now_s: float, **kwargs):
    return on_outcome(CONFIG, st, now_s=now_s, signal=Signal.RATE_LIMITED, **kwargs)


def ok(st: ControllerState, now_s: float, **kwargs):
    return on_outcome(CONFIG, st, now_s=now_s, signal=Signal.OK, **kwargs)


# -- reading outcomes ----------------------------------------------------------------------


@pytest.mark.parametrize("error_type", list(ErrorType))
def test_every_error_type_has_one_reading(error_type):
    expected = {
        ErrorType.RATE_LIMIT: Signal.RATE_LIMITED,
        ErrorType.OVERLOADED: Signal.STRAINED,
        ErrorType.SERVER_ERROR: Signal.STRAINED,
        ErrorType.TIMEOUT: Signal.STRAINED,
        ErrorType.CONNECTION: Signal.STRAINED,
    }.get(error_type, Signal.OK)
    assert signal_for(error_type.value) is expected


def test_an_answer_reads_ok():
    assert signal_for(None) is Signal.OK


# -- multiplicative decrease, debounced ----------------------------------------------------


def test_a_429_halves_the_limit_and_restarts_the_window():
    step = rate_limited(state(8, window_saturated=True), 3.0)
    assert step.state.limit == 4
    assert (step.change.old, step.change.new, step.change.reason) == (8, 4, "rate_limited")
    assert step.state.last_decrease_s == 3.0
    assert (step.state.window_start_s, step.state.window_saturated) == (3.0, False)


def test_429s_within_the_debounce_are_one_episode_and_one_at_the_boundary_is_a_new_one():
    first = rate_limited(state(8), 0.0).state
    same_episode = rate_limited(first, 4.999)
    assert same_episode.state.limit == 4
    assert same_episode.change is None
    assert same_episode.state.last_decrease_s == 0.0  # the episode keeps its start
    new_episode = rate_limited(same_episode.state, 5.0)
    assert new_episode.state.limit == 2
    assert new_episode.change.old == 4


def test_the_decrease_stops_at_the_minimum():
    at_min = rate_limited(state(2), 0.0)
    assert at_min.state.limit == 2
    assert at_min.change is None
    assert at_min.state.last_decrease_s == 0.0  # still an episode: its 429s stay debounced
    three = rate_limited(state(3), 0.0)  # 3 * 0.5 = 1 is below the minimum of 2
    assert three.state.limit == 2


def test_a_factor_close_to_one_still_decreases_by_one():
    gentle = replace(CONFIG, decrease_factor=0.99)
    step = on_outcome(gentle, state(8), now_s=0.0, signal=Signal.RATE_LIMITED)
    assert step.state.limit == 7


# -- additive increase after clean windows --------------------------------------------------


def test_the_limit_grows_after_exactly_one_clean_window_in_which_it_was_reached():
    saturated = on_saturated(state(8))
    assert ok(saturated, 9.999).change is None
    step = ok(saturated, 10.0)
    assert step.state.limit == 9
    assert (step.change.old, step.change.new, step.change.reason) == (8, 9, "clean_window")
    assert (step.state.window_start_s, step.state.window_saturated) == (10.0, False)


def test_a_window_in_which_the_limit_never_bound_earns_nothing_but_ends():
    step = ok(state(8), 10.0)
    assert step.state.limit == 8
    assert step.change is None
    assert step.state.window_start_s == 10.0


def test_the_increase_stops_at_the_maximum():
    step = ok(on_saturated(state(10)), 10.0)
    assert step.state.limit == 10
    assert step.change is None
    wide = replace(CONFIG, increase_step=5)
    capped = on_outcome(wide, on_saturated(state(8)), now_s=10.0, signal=Signal.OK)
    assert capped.state.limit == 10


@pytest.mark.parametrize("error_type", ["overloaded", "server_error", "timeout", "connection"])
def test_strain_pauses_growth_without_a_decrease(error_type):
    strained = on_outcome(CONFIG, on_saturated(state(8)), now_s=6.0, signal=signal_for(error_type))
    assert strained.state.limit == 8
    assert strained.change is None
    assert (strained.state.window_start_s, strained.state.window_saturated) == (6.0, False)
    # The window that would have ended at 10 s now ends at 16 s.
    assert ok(on_saturated(strained.state), 15.999).change is None
    assert ok(on_saturated(strained.state), 16.0).state.limit == 9


# -- pauses ---------------------------------------------------------------------------------


def test_retry_after_pauses_new_calls_until_then_exactly():
    step = rate_limited(state(8), 3.0, retry_after_s=7.0)
    assert (step.pause.until_s, step.pause.reason) == (10.0, "retry_after")
    assert admission(step.state, now_s=9.999, in_flight=0) is Admission.PAUSED
    assert admission(step.state, now_s=10.0, in_flight=0) is Admission.ADMIT


def test_retry_after_from_the_headers_counts_when_the_error_has_none():
    hints = RateLimitHints(retry_after_s=4.0)
    step = on_outcome(CONFIG, state(), now_s=1.0, signal=Signal.STRAINED, hints=hints)
    assert step.pause.until_s == 5.0
    assert step.state.limit == 8  # an overload with Retry-After still cuts nothing


def test_a_pause_is_capped_and_only_ever_extends():
    long = rate_limited(state(8), 0.0, retry_after_s=10_000.0)
    assert long.pause.until_s == CONFIG.pause_max_s
    shorter = ok(long.state, 1.0, retry_after_s=5.0)
    assert shorter.pause is None
    assert shorter.state.paused_until_s == CONFIG.pause_max_s


@pytest.mark.parametrize(
    ("hints", "until_s", "reason"),
    [
        (RateLimitHints(requests_remaining=0, requests_reset_s=42.0), 42.0, "requests_exhausted"),
        (RateLimitHints(tokens_remaining=0, tokens_reset_s=17.5), 17.5, "tokens_exhausted"),
        (RateLimitHints(requests_remaining=1, requests_reset_s=42.0), None, None),
        (RateLimitHints(requests_remaining=0), None, None),  # no reset: nothing to wait for
        (
            RateLimitHints(
                requests_remaining=0, requests_reset_s=3.0, tokens_remaining=0, tokens_reset_s=9.0
            ),
            9.0,
            "tokens_exhausted",
        ),
    ],
)
def test_an_exhausted_limit_pauses_until_its_reset(hints, until_s, reason):
    step = ok(state(), 0.0, hints=hints)
    if until_s is None:
        assert step.pause is None
    else:
        assert (step.pause.until_s, step.pause.reason) == (until_s, reason)


def test_a_clean_window_starts_only_when_the_pause_ends():
    paused = ok(on_saturated(state(8)), 2.0, retry_after_s=20.0).state
    assert paused.window_start_s == 22.0
    assert ok(on_saturated(paused), 31.999).change is None
    assert ok(on_saturated(paused), 32.0).state.limit == 9


# -- admission ------------------------------------------------------------------------------


def test_admission_at_the_limit_is_full_and_below_it_admits():
    assert admission(state(2), now_s=0.0, in_flight=1) is Admission.ADMIT
    assert admission(state(2), now_s=0.0, in_flight=2) is Admission.FULL


def test_the_budget_is_what_remains_less_the_calls_started_since():
    hint = RemainingHint(seq=5, remaining=3, expires_s=60.0)
    assert requests_budget(None, now_s=0.0, in_flight=[6, 7]) is None
    assert requests_budget(hint, now_s=1.0, in_flight=[4, 6, 7]) == 1  # call 4 was counted
    assert requests_budget(hint, now_s=1.0, in_flight=[6, 7, 8]) == 0
    assert requests_budget(hint, now_s=60.0, in_flight=[6, 7, 8]) is None  # reset since


# -- without the controller, and the configuration -----------------------------------------


def test_without_the_controller_nothing_moves():
    fixed = replace(CONFIG, adaptive=False)
    st = initial_state(fixed, now_s=0.0)
    step = on_outcome(fixed, st, now_s=1.0, signal=Signal.RATE_LIMITED, retry_after_s=30.0)
    assert step.state == st
    assert (step.change, step.pause) == (None, None)


def test_the_configuration_comes_from_the_settings():
    settings = Settings.for_simulation(
        LPS_CONCURRENCY_START=3, LPS_CONCURRENCY_MAX=9, RETRY_AFTER_MAX_S=30
    )
    config = ConcurrencyConfig.from_settings(settings)
    assert (config.start, config.minimum, config.maximum) == (3, 1, 9)
    assert config.pause_max_s == 30.0  # min(RETRY_AFTER_MAX_S, PROVIDER_CALL_DEADLINE_S)
    off = ConcurrencyConfig.from_settings(
        Settings.for_simulation(LPS_ADAPTIVE_CONCURRENCY=False, LPS_WORKERS=7)
    )
    assert (off.start, off.minimum, off.maximum, off.adaptive) == (7, 7, 7, False)


@pytest.mark.parametrize(
    "changes",
    [
        {"minimum": 0, "start": 0},
        {"start": 11},
        {"start": 1},
        {"decrease_factor": 1.0},
        {"decrease_factor": 0.0},
        {"clean_window_s": 0.0},
        {"increase_step": 0},
    ],
)
def test_a_configuration_out_of_bounds_is_refused(changes):
    with pytest.raises(ValueError, match=r"\S"):
        replace(CONFIG, **changes)


@pytest.mark.parametrize(
    "overrides",
    [
        {"LPS_CONCURRENCY_MIN": 5},
        {"LPS_CONCURRENCY_MAX": 3},
        {"LPS_CONCURRENCY_START": 0},
        {"LPS_CONCURRENCY_DEBOUNCE_S": float("inf")},
        {"LPS_CLIENT_REQUESTS_PER_MINUTE": 0},
        {"LPS_CLIENT_TOKENS_PER_MINUTE": float("nan")},
        {"PRICE_INPUT_PER_MTOK": -1.0},
    ],
)
def test_settings_out_of_bounds_are_refused(overrides):
    with pytest.raises(ValueError, match=next(iter(overrides))):
        Settings.for_simulation(**overrides)
