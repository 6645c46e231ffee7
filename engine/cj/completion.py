"""How many comparisons a batch may have, and how complete it is.

The decision and its reasons are in ``docs/decisions/0001-completion-denominator.md``. In short:
the *schedule cap* bounds what pair generation may submit, and the completion *denominator* is
that same number, so ``(completed + failed) / denominator`` can never pass 100%:

    cap = min(total_budget, C(n, 2) * (1 + resampling passes allowed for a net of n essays))

The legacy toggle restores the original's mismatch: pairs scheduled against the raw budget,
completion reported against ``min(total_budget, C(n, 2))``; with resampling, completion then
passes 100%.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.settings import Settings

__all__ = ["CompletionPlan", "completion_plan", "normalise_budget", "resampling_passes_allowed"]


def normalise_budget(settings: Settings, override: int | None) -> tuple[int, str]:
    """``(budget, source)``: the per-batch override when it is positive, capped by the service
    maximum; else the service maximum (the original's ``comparison_request_normalizer``)."""
    if override is not None and override > 0:
        return min(settings.MAX_PAIRWISE_COMPARISONS, override), "runner_override"
    return settings.MAX_PAIRWISE_COMPARISONS, "service_default"


def is_small_net(n_essays: int, settings: Settings) -> bool:
    return n_essays <= settings.MIN_RESAMPLING_NET_SIZE


def resampling_passes_allowed(n_essays: int, settings: Settings) -> int:
    if is_small_net(n_essays, settings):
        return settings.MAX_RESAMPLING_PASSES_FOR_SMALL_NET
    return settings.MAX_RESAMPLING_PASSES_FOR_REGULAR_NET


@dataclass(frozen=True, slots=True)
class CompletionPlan:
    schedule_cap: int  # pair generation never submits more than this
    denominator: int  # completion percentage is callbacks / denominator

    def percentage(self, callbacks: int) -> float:
        return 100.0 * callbacks / self.denominator if self.denominator else 100.0


def completion_plan(total_budget: int, n_essays: int, settings: Settings) -> CompletionPlan:
    distinct_pairs = n_essays * (n_essays - 1) // 2
    if settings.LEGACY_COMPLETION_DENOMINATOR:
        return CompletionPlan(
            schedule_cap=total_budget, denominator=min(total_budget, distinct_pairs)
        )
    passes = resampling_passes_allowed(n_essays, settings)
    cap = min(total_budget, distinct_pairs * (1 + passes))
    return CompletionPlan(schedule_cap=cap, denominator=cap)
