"""A PostgreSQL server for the store contract suite.

``postgres_server()`` answers with the URL of a server the tests may create schemas in:
``CJSIM_TEST_POSTGRES_URL`` when it is set, otherwise a throwaway server started here. The
throwaway one lives in a temporary directory, listens only on 127.0.0.1 (and a unix socket in
that directory), runs with ``fsync=off``, trusts local connections, and is stopped and deleted
when the session ends. PostgreSQL refuses to run as root, so as root it runs as the ``postgres``
system user (created if missing).

When no server can be had the PostgreSQL tests are skipped, saying why; under ``CI`` they fail
instead, so CI can never pass without having run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import sqlalchemy as sa

ENV_URL = "CJSIM_TEST_POSTGRES_URL"
SERVER_USER = "postgres"  # the unprivileged system user the server runs as under root
DATABASE = "cjsim_test"
ROLE = "cjsim"

# Settings for a server that only lives as long as a test session: nothing needs to survive a
# crash, and the deadlock test should not wait PostgreSQL's default second for detection.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",  # 64 concurrent transactions, with room for a few stores at once
    "shared_buffers": "32MB",
    "deadlock_timeout": "100ms",
    "log_min_messages": "warning",
}


STOP = ("--mode", "immediate", "--wait", "stop")  # nothing in it is worth a clean shutdown


class PostgresUnavailable(Exception):
    """No PostgreSQL server could be found or started; the message says why."""


@dataclass(frozen=True)
class PostgresServer:
    url: str  # postgresql+asyncpg://...
    throwaway: bool


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The server to test against, for as long as the ``with`` block runs."""
    url = os.environ.get(ENV_URL)
    if url:
        yield PostgresServer(url=url, throwaway=False)
        return
    with _throwaway_server() as server:
        yield server


def run_admin_sql(url: str, sql: str) -> None:
    """Run one statement on the server at ``url`` outside any store (and any event loop)."""
    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def run() -> None:
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


def find_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: from PATH, else the newest Debian one."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted(
        (Path(path).parent for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda path: _version_key(path.parent.name),
        reverse=True,
    )
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin;"
        f" install the server package or set {ENV_URL}"
    )


@contextlib.contextmanager
def _throwaway_server() -> Iterator[PostgresServer]:
    bin_dir = find_bin_dir()
    as_user = _unprivileged_prefix()
    root = Path(tempfile.mkdtemp(prefix="cjsim-pg-"))
    started = False
    try:
        if as_user:
            shutil.chown(root, SERVER_USER, SERVER_USER)
        data = root / "data"
        _run(
            [
                *as_user,
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                ROLE,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            "initdb",
        )
        port = _free_port()
        settings = {**SETTINGS, "port": str(port), "unix_socket_directories": f"'{root}'"}
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        _run(
            [
                *as_user,
                str(bin_dir / "pg_ctl"),
                "--pgdata",
                str(data),
                "--log",
                str(root / "server.log"),
                "--wait",
                "--timeout",
                "30",
                "start",
            ],
            "pg_ctl start",
            log=root / "server.log",
        )
        started = True
        _run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", ROLE, DATABASE],
            "createdb",
        )
        yield PostgresServer(
            url=f"postgresql+asyncpg://{ROLE}@127.0.0.1:{port}/{DATABASE}", throwaway=True
        )
    finally:
        if started:
            subprocess.run(
                [*as_user, str(bin_dir / "pg_ctl"), "--pgdata", str(root / "data"), *STOP],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def _unprivileged_prefix() -> list[str]:
    """The command prefix that runs the server's tools as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        _run(
            ["useradd", "--system", "--user-group", "--no-create-home", SERVER_USER],
            "useradd",
        )
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", SERVER_USER, "--"]
    return ["su", SERVER_USER, "-s", "/bin/sh", "-c", '"$0" "$@"']


def _run(command: list[str], what: str, *, log: Path | None = None) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PostgresUnavailable(f"{what} failed: {error}") from error
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        if log is not None and log.exists():
            output += "\n" + log.read_text(encoding="utf-8", errors="replace").strip()
        raise PostgresUnavailable(f"{what} exited with {done.returncode}: {output}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())
