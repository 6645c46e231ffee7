"""The provider adapters read time from their runtime only, and the determinism scan holds them
to it with no exemption."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.lps.calls import ProviderVerdict
from engine.lps.errors import ProviderError
from tests.determinism_scan import EXEMPT, scan_tree
from tests.live import fake_provider_server as fake
from tests.live.adapters_under_test import NOW, PROVIDERS, PinnedRuntime, compare_once

REPO = Path(__file__).resolve().parents[2]
PROVIDERS_PACKAGE = "engine/lps/providers/"


class SteppingRuntime(PinnedRuntime):
    """Each ``now()`` is a quarter of a second after the one before."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return 0.25 * self.reads


def test_the_provider_adapters_need_no_exemption_from_the_scan():
    assert not [entry for entry in EXEMPT if entry.startswith("engine/lps")]
    violations = [v for v in scan_tree(REPO, ("engine",)) if v.path.startswith(PROVIDERS_PACKAGE)]
    assert violations == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_call_is_timed_on_the_runtime_clock(provider, server):
    outcome = compare_once(provider, server, fake.verdict(), runtime=SteppingRuntime())
    assert isinstance(outcome, ProviderVerdict)
    assert outcome.response_time_ms == 250  # one read before the request, one after


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_error_is_stamped_on_the_runtime_calendar(provider, server):
    outcome = compare_once(provider, server, fake.overloaded())
    assert isinstance(outcome, ProviderError)
    assert outcome.detail.timestamp == NOW
