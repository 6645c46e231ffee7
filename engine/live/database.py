"""A live run's database: which one, how it is recorded, and whether it answers.

The configuration's ``database`` is checked twice before anything is written: its URL when
the configuration loads (a scheme cjsim cannot store in, or a SQLite file whose folder does
not exist, is a located error), and, for a new run, that the server answers within
``CONNECT_TIMEOUT_S``, so that an unreachable database is one line and exit 2, not a claimed
run folder that then cannot start. Without a ``database`` the run keeps its state in a SQLite
file in its own folder.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from engine.live.config import LiveConfig
from engine.store.errors import StoreError
from engine.store.sql import SqlStore, sqlite_url, store_url_problem

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DATABASE_FILE",
    "database_problem",
    "database_url",
    "stored_database_url",
    "unreachable_database",
]

DATABASE_FILE = "cj.sqlite"
CONNECT_TIMEOUT_S = 5.0  # with the preflight's 9 s, a dead server is refused within 10 s each


def database_url(config: LiveConfig, folder: Path) -> str:
    """Where the run's state lives: the configuration's database, else a SQLite file in the
    run's folder."""
    return config.database or sqlite_url(folder / DATABASE_FILE)


def stored_database_url(config: LiveConfig) -> str:
    """The database as the manifest records it: never with its password (a resumed session
    takes it from ``PGPASSWORD`` or ``~/.pgpass``, as libpq does)."""
    if config.database is None:
        return f"sqlite:///{DATABASE_FILE} (in the run's folder)"
    # URL.set(password=None) leaves the password as it is: a None there means "no change".
    return sa.make_url(config.database)._replace(password=None).render_as_string(False)


def database_problem(url: str) -> str | None:
    """Why ``url`` cannot hold a run (its scheme, a SQLite file's missing folder); ``None``
    when it can."""
    problem = store_url_problem(url)
    if problem is not None:
        return problem
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            return f"the SQLite file's folder {str(folder)!r} does not exist"
    return None


def unreachable_database(url: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why the database at ``url`` does not answer (one line, no password); ``None`` if it
    does. Runs on its own event loop, before the session's."""

    async def ping() -> None:
        store = await SqlStore.connect(url, connect_timeout_s=timeout_s)
        await store.close()

    async def bounded() -> None:
        async with asyncio.timeout(timeout_s * 2):
            await ping()

    try:
        asyncio.run(bounded())
    except StoreError as exc:
        return str(exc)
    except TimeoutError:
        return f"no answer from {sa.make_url(url).render_as_string()} within {timeout_s * 2:g} s"
    return None
