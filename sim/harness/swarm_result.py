"""What a swarm seed came to (``SeedResult``) and what a whole swarm came to (``SwarmSummary``).

Value types only, so that a worker process and the parent share them without importing the
engine: a result crosses the process pool as plain strings and numbers. A seed whose run raised
is ``broken == ("crash",)``; its ``error_kind`` tells the engine's crashes (``TaskCrashed``, a
task raised; ``SimulationStalled``, every task blocked) from the harness's own errors
(``harness_error``: anything else, or a worker process that died).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.ports import TaskCrashed
from sim.adapters.runtime import SimulationStalled

__all__ = [
    "CRASH",
    "ENGINE_CRASHES",
    "WORKER_DIED",
    "SeedResult",
    "SwarmSummary",
    "crashed",
    "summarize",
    "worker_died",
]

CRASH = "crash"
WORKER_DIED = "WorkerDied"
ENGINE_CRASHES = (TaskCrashed, SimulationStalled)


@dataclass(frozen=True, slots=True)
class SeedResult:
    """One seed's outcome. ``broken`` names the invariants that broke, or is ``("crash",)``;
    ``error`` is the crash's ``Type: message`` and ``error_kind`` its type (for a
    ``TaskCrashed``, with the original error's type: ``TaskCrashed(KeyError)``)."""

    seed: int
    ok: bool
    broken: tuple[str, ...]
    problems: tuple[str, ...]
    fingerprint: str
    error: str = ""
    error_kind: str = ""
    harness_error: bool = False

    @property
    def crashed(self) -> bool:
        return CRASH in self.broken

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "ok": self.ok,
            "broken": list(self.broken),
            "problems": list(self.problems),
            "fingerprint": self.fingerprint,
            "error": self.error,
            "error_kind": self.error_kind,
            "harness_error": self.harness_error,
        }


def crashed(seed: int, exc: BaseException) -> SeedResult:
    """The result of a seed whose run raised ``exc``."""
    kind = type(exc).__name__
    if isinstance(exc, TaskCrashed):
        kind = f"{kind}({type(exc.error).__name__})"
    error = f"{type(exc).__name__}: {exc}"
    return SeedResult(
        seed=seed,
        ok=False,
        broken=(CRASH,),
        problems=(f"crash: {error}",),
        fingerprint="",
        error=error,
        error_kind=kind,
        harness_error=not isinstance(exc, ENGINE_CRASHES),
    )


def worker_died(seed: int) -> SeedResult:
    error = f"{WORKER_DIED}: the worker process running seed {seed} died"
    return SeedResult(
        seed=seed,
        ok=False,
        broken=(CRASH,),
        problems=(f"crash: {error}",),
        fingerprint="",
        error=error,
        error_kind=WORKER_DIED,
        harness_error=True,
    )


@dataclass(frozen=True, slots=True)
class SwarmSummary:
    """How a swarm went: seeds that held, failed, crashed; how many seeds broke each invariant
    (``broken``, most often broken first; ``"crash"`` counts crashed seeds)."""

    seeds: int
    held: int
    failed: int
    crashes: int
    harness_errors: int
    broken: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seeds": self.seeds,
            "held": self.held,
            "failed": self.failed,
            "crashes": self.crashes,
            "harness_errors": self.harness_errors,
            "broken": dict(self.broken),
        }


def summarize(results: Iterable[SeedResult]) -> SwarmSummary:
    results = list(results)
    counts = Counter(name for result in results for name in result.broken)
    return SwarmSummary(
        seeds=len(results),
        held=sum(result.ok for result in results),
        failed=sum(not result.ok for result in results),
        crashes=sum(result.crashed for result in results),
        harness_errors=sum(result.harness_error for result in results),
        broken=dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
    )
