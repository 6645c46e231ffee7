"""How far a pair pushes an essay's A/B lean: the reference the pairing tests judge by."""

from __future__ import annotations


def free_pushed_to(x, y, skew):
    """How far the better orientation of {x, y} pushes an essay's lean (0: both move to even)."""
    best = None
    for a, b in ((x, y), (y, x)):
        after = {a: skew.get(a, 0) + 1, b: skew.get(b, 0) - 1}
        pushed = max(abs(after[e]) if abs(after[e]) > abs(skew.get(e, 0)) else 0 for e in (a, b))
        best = pushed if best is None else min(best, pushed)
    return best
