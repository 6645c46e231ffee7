"""The range of a root seed, apart from the generators (``engine/randomness.py``) so that the
command line can check a seed without importing numpy."""

from __future__ import annotations

__all__ = ["SEED_MAX"]

#: Root seeds are unsigned 64-bit integers: 0..2^64-1 (where the seeded generators stop).
SEED_MAX = 2**64 - 1
