"""Where each essay sat: per-essay A/B counts and the anchor vs student summary (PR 2)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.cj.models import ComparisonPair, Essay

__all__ = ["PositionBalance", "balances_by_batch", "position_balance"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupPositions:
    essays: int
    a_count: int
    b_count: int

    @property
    def a_share(self) -> float | None:
        total = self.a_count + self.b_count
        return self.a_count / total if total else None


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionBalance:
    per_essay: Mapping[str, tuple[int, int]]  # essay -> (A, B)
    anchors: GroupPositions
    students: GroupPositions

    def skew(self, essay_id: str) -> float:
        """``|A - B| / (A + B)`` for one essay (0 for an essay never compared)."""
        a, b = self.per_essay[essay_id]
        return abs(a - b) / (a + b) if a + b else 0.0

    @property
    def max_abs_skew(self) -> float:
        return max((self.skew(essay) for essay in self.per_essay), default=0.0)

    def format(self, anchor_ids: Iterable[str]) -> str:
        """A plain-text table for terminals and logs."""
        anchors = set(anchor_ids)
        lines = [f"{'essay':<28} {'kind':<8} {'A':>4} {'B':>4} {'skew':>6}"]
        for essay in sorted(self.per_essay):
            a, b = self.per_essay[essay]
            kind = "anchor" if essay in anchors else "student"
            lines.append(f"{essay:<28} {kind:<8} {a:>4} {b:>4} {self.skew(essay):>6.2f}")
        for label, group in (("anchors", self.anchors), ("students", self.students)):
            share = "n/a" if group.a_share is None else f"{group.a_share:.1%}"
            lines.append(
                f"{label}: {group.essays} essays, A {group.a_count}, "
                f"B {group.b_count}, share in A {share}"
            )
        lines.append(f"max |A-B|/(A+B) over essays: {self.max_abs_skew:.3f}")
        return "\n".join(lines)


def position_balance(
    pairs: Iterable[tuple[str, str]], essays: Mapping[str, bool]
) -> PositionBalance:
    """``pairs`` are ``(essay_a, essay_b)``; ``essays`` maps every essay id to ``is_anchor``."""
    counts = {essay: [0, 0] for essay in essays}
    for a, b in pairs:
        counts[a][0] += 1
        counts[b][1] += 1

    def group(is_anchor: bool) -> GroupPositions:
        members = [e for e, anchor in essays.items() if anchor is is_anchor]
        return GroupPositions(
            essays=len(members),
            a_count=sum(counts[e][0] for e in members),
            b_count=sum(counts[e][1] for e in members),
        )

    return PositionBalance(
        per_essay={essay: (a, b) for essay, (a, b) in counts.items()},
        anchors=group(True),
        students=group(False),
    )


def balances_by_batch(
    pairs: Iterable[ComparisonPair], essays: Iterable[Essay]
) -> dict[int, PositionBalance]:
    """Each batch's balance, in batch order: the same essay id in two batches is two essays."""
    by_batch: dict[int, tuple[list[tuple[str, str]], dict[str, bool]]] = {}
    for essay in essays:
        by_batch.setdefault(essay.cj_batch_id, ([], {}))[1][essay.essay_id] = essay.is_anchor
    for pair in pairs:
        by_batch[pair.cj_batch_id][0].append((pair.essay_a_id, pair.essay_b_id))
    return {
        batch: position_balance(batch_pairs, batch_essays)
        for batch, (batch_pairs, batch_essays) in sorted(by_batch.items())
    }
