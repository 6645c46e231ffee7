"""Fixtures that hand each contract suite every implementation of its port."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest

from engine.live.runtime import AsyncioRuntime
from sim.runtime import SimRuntime


@dataclass
class RuntimeUnderTest:
    """A runtime, the time unit its tests sleep in, and whether its clock is exact."""

    kind: str
    make: Callable[[], Any]
    unit_s: float
    exact: bool

    def run(self, main: Callable[[Any], Coroutine[Any, Any, Any]], **kwargs: Any) -> Any:
        runtime = self.make()
        return runtime.run(main(runtime), **kwargs)


RUNTIMES = {
    # Virtual seconds cost nothing; real ones are kept short so the suite never really waits.
    "sim": RuntimeUnderTest("sim", SimRuntime, unit_s=1.0, exact=True),
    "asyncio": RuntimeUnderTest("asyncio", AsyncioRuntime, unit_s=0.01, exact=False),
}


@pytest.fixture(params=sorted(RUNTIMES))
def rt(request: pytest.FixtureRequest) -> RuntimeUnderTest:
    """Each runtime implementation in turn."""
    return RUNTIMES[request.param]


@dataclass
class StoreUnderTest:
    """A store implementation on its runtime, and which isolation anomalies it can show."""

    kind: str
    runtime_under_test: RuntimeUnderTest
    make_store: Callable[[Any], Any]
    # A read-increment-write without FOR UPDATE loses updates only where concurrent
    # transactions can both read before either writes (row-level locking, read committed).
    loses_unlocked_updates: bool = True

    def run(self, main: Callable[[Any, Any], Coroutine[Any, Any, Any]], **kwargs: Any) -> Any:
        runtime = self.runtime_under_test.make()
        store = self.make_store(runtime)
        return runtime.run(main(runtime, store), **kwargs)


def _sim_store(runtime: Any) -> Any:
    from sim.store import SimStore

    return SimStore(runtime, statement_latency_s=0.002)


STORES = {
    "sim": StoreUnderTest("sim", RUNTIMES["sim"], _sim_store),
}


@pytest.fixture(params=sorted(STORES))
def store_impl(request: pytest.FixtureRequest) -> StoreUnderTest:
    """Each store implementation in turn, on its own runtime."""
    return STORES[request.param]
