"""The built-in demo: why the engine takes a row lock before it counts a callback.

Sixty-four "callbacks" arrive at once and each increments one counter row in its own
transaction, on the simulated store with seeded statement latency. Without ``for_update`` the
read-increment-write transactions interleave and lose updates; with it, none are lost. Both
runs are recorded in one event log, whose fingerprint the demo prints.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine.eventlog import MemoryEventLog
from engine.randomness import Streams
from engine.store.rows import Row, table
from sim.adapters.runtime import SimRuntime
from sim.adapters.store import SimStore

__all__ = ["DemoResult", "run_demo"]


@table("demo_counters", key="name")
@dataclass(frozen=True, slots=True, kw_only=True)
class Counter(Row):
    name: str
    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoResult:
    seed: int
    increments: int
    without_lock: int
    with_lock: int
    virtual_seconds: float
    events: int
    fingerprint: str


def run_demo(seed: int = 42, increments: int = 64) -> DemoResult:
    runtime = SimRuntime()
    streams = Streams(seed)
    latency = streams.random("store.latency")
    store = SimStore(runtime, statement_latency_s=lambda: latency.uniform(0.001, 0.010))
    log = MemoryEventLog(runtime.now)

    async def increment(counter: str, for_update: bool, worker: int) -> None:
        async with store.transaction() as tx:
            row = await tx.get(Counter, counter, for_update=for_update)
            assert row is not None
            await tx.update(replace(row, value=row.value + 1))
        log.append(
            "demo.increment.committed",
            ids={"counter": counter, "worker": worker},
            read_value=row.value,
        )

    async def main() -> tuple[int, int]:
        finals = []
        for counter, for_update in (("without_lock", False), ("with_lock", True)):
            async with store.transaction() as tx:
                await tx.insert(Counter(name=counter, value=0))
            tasks = [
                runtime.spawn(increment(counter, for_update, worker), name=f"{counter}-{worker}")
                for worker in range(increments)
            ]
            for task in tasks:
                await task.join()
            async with store.transaction() as tx:
                final = await tx.get(Counter, counter)
            assert final is not None
            log.append(
                "demo.counter.final",
                ids={"counter": counter},
                value=final.value,
                expected=increments,
            )
            finals.append(final.value)
        return finals[0], finals[1]

    without_lock, with_lock = runtime.run(main())
    return DemoResult(
        seed=seed,
        increments=increments,
        without_lock=without_lock,
        with_lock=with_lock,
        virtual_seconds=runtime.now(),
        events=len(log),
        fingerprint=log.fingerprint(),
    )
