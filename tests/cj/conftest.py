"""After every CJ test: no world without the legacy denominator reported completion over 100%."""

from __future__ import annotations

import pytest

from tests.cj import world as worlds


@pytest.fixture(autouse=True)
def no_completion_above_100_percent():
    """Every run of every test here keeps completion at or under 100% (legacy runs excepted)."""
    worlds.CREATED.clear()
    yield
    for world in worlds.CREATED:
        if not world.ctx.settings.LEGACY_COMPLETION_DENOMINATOR:
            assert world.max_completion_pct() <= 100.0
    worlds.CREATED.clear()
