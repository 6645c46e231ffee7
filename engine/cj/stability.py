"""Has the scale stopped moving? The largest score change between two successive fits."""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["max_score_change"]


def max_score_change(
    previous: Mapping[str, float] | None, current: Mapping[str, float]
) -> float | None:
    """``max |current - previous|`` over essays scored in both fits (finite scores only).

    ``None`` when there is no previous fit or nothing in common to compare: stability cannot be
    judged yet, which is not the same as stable.
    """
    if not previous:
        return None
    changes = [
        abs(current[essay] - previous[essay])
        for essay in sorted(current.keys() & previous.keys())
        if math.isfinite(current[essay]) and math.isfinite(previous[essay])
    ]
    return max(changes) if changes else None
