"""The retry policy at its edges: exact delays from a fixed jitter draw, every bound at its value,
and the legacy policy's three cases (the survivors of `nox -s mutants`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.contracts import ErrorDetail
from engine.lps.retry import LEGACY_RETRY_AFTER_CAP_S, retry_delay_s
from engine.settings import Settings
from tests.fixed_draws import FixedDraw

DEFAULTS = (
    Settings.for_simulation()
)  # 3 retries, backoff 4 s doubling to 60 s, Retry-After <= 120 s
LEGACY = DEFAULTS.with_overrides(LEGACY_UNCLASSIFIED_PROVIDER_ERRORS=True)


def _detail(**details):
    return ErrorDetail(
        error_code="E",
        message="m",
        correlation_id="c",
        timestamp=datetime(2025, 12, 1, tzinfo=UTC),
        service="s",
        operation="o",
        details=details,
    )


@pytest.mark.parametrize(
    ("retry_count", "no_jitter_s", "full_jitter_s"),
    [(0, 4.0, 3.0), (1, 8.0, 6.0), (2, 16.0, 12.0)],
)
def test_backoff_is_exact_and_jitter_shortens_it_by_at_most_a_quarter(
    retry_count, no_jitter_s, full_jitter_s
):
    retryable = _detail(retryable=True)
    assert retry_delay_s(retryable, retry_count, DEFAULTS, FixedDraw(0.0)) == no_jitter_s
    assert retry_delay_s(retryable, retry_count, DEFAULTS, FixedDraw(1.0)) == full_jitter_s


def test_backoff_stops_doubling_at_its_maximum():
    settings = DEFAULTS.with_overrides(QUEUE_MAX_RETRIES=10)
    retryable = _detail(retryable=True)
    assert retry_delay_s(retryable, 3, settings, FixedDraw(0.0)) == 32.0
    assert retry_delay_s(retryable, 4, settings, FixedDraw(0.0)) == 60.0  # not 64


@pytest.mark.parametrize(("retry_count", "gives_up"), [(2, False), (3, True), (4, True)])
def test_the_last_retry_is_number_queue_max_retries(retry_count, gives_up):
    delay = retry_delay_s(_detail(retryable=True), retry_count, DEFAULTS, FixedDraw(0.0))
    assert (delay is None) is gives_up


@pytest.mark.parametrize(
    ("retry_after_s", "delay_s"), [(119.0, 119.0), (120.0, 120.0), (121, 120.0)]
)
def test_retry_after_is_honoured_up_to_its_maximum(retry_after_s, delay_s):
    detail = _detail(retryable=True, retry_after_s=retry_after_s)
    assert retry_delay_s(detail, 0, DEFAULTS, FixedDraw(1.0)) == delay_s


def test_an_error_that_does_not_say_it_is_retryable_is_not_retried():
    assert retry_delay_s(_detail(error_type="unknown"), 0, DEFAULTS, FixedDraw(0.0)) is None


@pytest.mark.parametrize(
    ("retry_after_s", "delay_s"),
    [(None, 0.0), (3, 3.0), (LEGACY_RETRY_AFTER_CAP_S, 5.0), (7, 5.0)],
)
def test_legacy_retries_everything_after_the_providers_sleep_capped_at_5_s(retry_after_s, delay_s):
    details = {"retryable": False}
    if retry_after_s is not None:
        details["retry_after_s"] = retry_after_s
    assert retry_delay_s(_detail(**details), 0, LEGACY, FixedDraw(0.0)) == delay_s


def test_legacy_still_stops_after_queue_max_retries():
    assert retry_delay_s(_detail(retry_after_s=1), 3, LEGACY, FixedDraw(0.0)) is None
