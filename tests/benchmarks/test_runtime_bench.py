"""SimRuntime's coroutine bridge against bare SimPy, the same number of timeouts each."""

from __future__ import annotations

import simpy

from sim.adapters.runtime import SimRuntime
from tests.benchmarks.goals import judge_times
from tests.benchmarks.interleave import interleave

PROCESSES = 100
STEPS_EACH = 1000


def bare_simpy() -> float:
    env = simpy.Environment()

    def proc(env):
        for _ in range(STEPS_EACH):
            yield env.timeout(1)

    for _ in range(PROCESSES):
        env.process(proc(env))
    env.run()
    return env.now


def sim_runtime() -> float:
    runtime = SimRuntime()

    async def task():
        for _ in range(STEPS_EACH):
            await runtime.sleep(1)

    async def main():
        tasks = [runtime.spawn(task(), name=f"t{i}") for i in range(PROCESSES)]
        for t in tasks:
            await t.join()

    runtime.run(main())
    return runtime.now()


def test_sim_runtime_sleeps_against_bare_simpy_timeouts(benchmark):
    sides = {"bare_simpy": bare_simpy, "sim_runtime": sim_runtime}
    rounds = interleave(benchmark, sides, rounds=11, warmup_rounds=1)
    assert all(r.results == {"bare_simpy": STEPS_EACH, "sim_runtime": STEPS_EACH} for r in rounds)
    judge_times(benchmark, "runtime_steps", rounds, reference="bare_simpy", subject="sim_runtime")
