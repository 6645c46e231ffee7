"""Fixtures that hand each contract suite every implementation of its port."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest

from engine.live.runtime import AsyncioRuntime
from engine.store.sql import SqlStore, sqlite_url
from sim.adapters.runtime import SimRuntime


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
    # Why two transactions can never each hold a lock the other wants, where they cannot.
    no_lock_cycles: str | None = None
    # Why two transactions that write can never be open at once, where they cannot.
    one_writer_at_a_time: str | None = None
    # Whether a key allocated by a transaction that rolled back is handed out again.
    reuses_rolled_back_keys: bool = False

    def run(self, main: Callable[[Any, Any], Coroutine[Any, Any, Any]], **kwargs: Any) -> Any:
        runtime = self.runtime_under_test.make()
        store = self.make_store(runtime)

        async def main_then_close() -> Any:
            try:
                return await main(runtime, store)
            finally:
                close = getattr(store, "close", None)  # a SQL store's pool lives in this loop
                if close is not None:
                    await close()

        return runtime.run(main_then_close(), **kwargs)


def _sim_store(runtime: Any) -> Any:
    from sim.adapters.store import SimStore

    return SimStore(runtime, statement_latency_s=0.002)


def _sim(request: pytest.FixtureRequest) -> StoreUnderTest:
    return StoreUnderTest("sim", RUNTIMES["sim"], _sim_store)


def _sqlite(request: pytest.FixtureRequest) -> StoreUnderTest:
    url = sqlite_url(request.getfixturevalue("tmp_path") / "store.db")
    return StoreUnderTest(
        "sqlite",
        RUNTIMES["asyncio"],
        lambda runtime: SqlStore(url, runtime=runtime),
        # The first write or locking read takes the database write lock; a transaction that
        # read before it fails (WriteConflict) rather than write over a newer commit.
        loses_unlocked_updates=False,
        no_lock_cycles="SQLite has one write lock for the whole database, not row locks",
        one_writer_at_a_time="SQLite has one write lock for the whole database",
        reuses_rolled_back_keys=True,  # its key counter is a row, rolled back like any other
    )


def _postgres(request: pytest.FixtureRequest) -> StoreUnderTest:
    url, connect_args = request.getfixturevalue("postgres_database")
    return StoreUnderTest(
        "postgres",
        RUNTIMES["asyncio"],
        lambda runtime: SqlStore(url, runtime=runtime, connect_args=connect_args),
    )


# Each entry makes the store under test for one test (the SQL ones on a fresh, empty database).
STORES: dict[str, Callable[[pytest.FixtureRequest], StoreUnderTest]] = {
    "sim": _sim,
    "sqlite": _sqlite,
    "postgres": _postgres,
}
SQL_STORES = ("postgres", "sqlite")


@pytest.fixture(params=sorted(STORES))
def store_impl(request: pytest.FixtureRequest) -> StoreUnderTest:
    """Each store implementation in turn, on its own runtime."""
    return STORES[request.param](request)


@pytest.fixture(params=SQL_STORES)
def sql_store_impl(request: pytest.FixtureRequest) -> StoreUnderTest:
    """Each SQL store in turn (SQLite, PostgreSQL), on an empty database."""
    return STORES[request.param](request)
