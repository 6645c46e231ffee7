"""Seed runners for the swarm's pool tests: module-level (a spawned worker imports them by
name) and light (they import no engine, so a worker starts in well under a second)."""

from __future__ import annotations

import os

from engine.ports import TaskCrashed
from sim.harness.swarm_result import SeedResult


def _held(seed: int) -> SeedResult:
    return SeedResult(seed=seed, ok=True, broken=(), problems=(), fingerprint=f"fp-{seed}")


def crash_on_odd_seeds(
    path: str, seed: int, legacy: bool, overrides: tuple[str, ...]
) -> SeedResult:
    """Raise ``TaskCrashed`` out of the worker on odd seeds (it must cross the pool)."""
    if seed % 2:
        raise TaskCrashed("lps-worker-0", 12.5, KeyError(f"item-{seed}"))
    return _held(seed)


def die_on_seed_3(path: str, seed: int, legacy: bool, overrides: tuple[str, ...]) -> SeedResult:
    """Kill the worker process outright on seed 3, as a segfault or the OOM killer would."""
    if seed == 3:
        os._exit(3)
    return _held(seed)


def die_on_task_3(task: int) -> int:
    """An executor task that kills its worker process outright on task 3, every time."""
    if task == 3:
        os._exit(3)
    return task * 10
