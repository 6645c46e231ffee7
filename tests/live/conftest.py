"""The fake provider server, one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live.adapters_under_test import NOW
from tests.live.fake_provider_server import FakeProviderServer


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    """A started fake provider server whose calendar is pinned at ``NOW``, stopped after."""
    with FakeProviderServer(utcnow=lambda: NOW) as running:
        yield running
