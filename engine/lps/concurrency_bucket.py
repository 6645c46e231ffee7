"""A token bucket on a given clock (pure): requests or tokens per minute.

The bucket holds at most ``capacity`` (one minute's worth) and refills continuously at
``per_s``; it starts full. A request takes one token when it starts. Model tokens are charged
when the answer says how many were used, so the bucket may go below zero (a debt that refilling
pays off); a new call waits while the bucket holds less than one. Providers meter their rate
limits the same way (Anthropic documents a token bucket), which is why the simulated provider
uses this bucket too, and reports ``remaining`` (whole tokens now) and ``reset_s`` (seconds until
full again) as their headers do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = ["TokenBucket"]

SECONDS_PER_MINUTE = 60.0
_EPSILON = 1e-9  # float slack, so that a wait of wait_s() really ends the wait


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenBucket:
    capacity: float
    per_s: float
    level: float
    at_s: float  # when ``level`` was measured

    @classmethod
    def per_minute(cls, limit: float, *, now_s: float) -> TokenBucket:
        """A full bucket of ``limit`` per minute."""
        if not (math.isfinite(limit) and limit > 0):
            raise ValueError(f"a per-minute limit must be finite and > 0, got {limit!r}")
        return cls(capacity=limit, per_s=limit / SECONDS_PER_MINUTE, level=limit, at_s=now_s)

    def refilled(self, now_s: float) -> TokenBucket:
        if now_s <= self.at_s:
            return self
        level = min(self.capacity, self.level + (now_s - self.at_s) * self.per_s)
        return replace(self, level=level, at_s=now_s)

    def take(self, amount: float, *, now_s: float) -> TokenBucket:
        """Take ``amount`` (negative: give back, never above capacity); may go into debt."""
        bucket = self.refilled(now_s)
        return replace(bucket, level=min(bucket.capacity, bucket.level - amount))

    def wait_s(self, *, now_s: float, need: float = 1.0) -> float:
        """Seconds from ``now_s`` until the bucket holds ``need``; 0 if it does now."""
        missing = need - self.refilled(now_s).level
        return 0.0 if missing <= _EPSILON else missing / self.per_s + _EPSILON

    def remaining(self, *, now_s: float) -> int:
        return max(0, math.floor(self.refilled(now_s).level + _EPSILON))

    def reset_s(self, *, now_s: float) -> float:
        """Seconds from ``now_s`` until the bucket is full."""
        return max(0.0, (self.capacity - self.refilled(now_s).level) / self.per_s)
