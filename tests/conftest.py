"""Fixtures shared by every test package: a PostgreSQL server for the session."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from tests.contracts.postgres import PostgresUnavailable, postgres_server, run_admin_sql

# `nox -s mutants` runs the tests with --hypothesis-profile=mutants: the same examples on every
# run, so a mutant a property kills is killed every time and the scores repeat. The default
# suite keeps drawing new examples.
settings.register_profile("mutants", derandomize=True, database=None)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the session (see ``tests/contracts/postgres.py``). Without one
    the PostgreSQL tests are skipped, saying why; under ``CI`` they fail instead."""
    server = contextlib.ExitStack()
    try:
        url = server.enter_context(postgres_server()).url
    except PostgresUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test PostgreSQL, and cannot: {error}", pytrace=False)
        pytest.skip(f"no PostgreSQL server: {error}")
    with server:
        yield url


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """An empty schema of its own for one test: the URL and the driver arguments that put the
    store in it. Dropped afterwards, with everything in it."""
    schema = f"cjsim_test_{os.getpid()}_{next(_schemas)}"
    run_admin_sql(postgres_url, f"CREATE SCHEMA {schema}")
    try:
        yield postgres_url, {"server_settings": {"search_path": schema}}
    finally:
        run_admin_sql(postgres_url, f"DROP SCHEMA {schema} CASCADE")


_schemas = itertools.count(1)
