"""A random stream that always draws one given value: a coin flip or a jitter at its edge."""

from __future__ import annotations

import random


class FixedDraw(random.Random):
    """A stream whose every ``random()`` is ``draw``."""

    def __init__(self, draw: float) -> None:
        super().__init__(0)
        self.draw = draw

    def random(self) -> float:
        return self.draw
