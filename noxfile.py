"""cjsim's tooling. `nox` runs tests, lint and typecheck; `nox -s bench` runs the benchmarks."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The default test suite (no benchmarks)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy, strict on engine/."""
    session.install("-e", ".[dev]")
    session.run("mypy", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """pytest-benchmark goals, each printed as a ratio against its reference from one run."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "tests/benchmarks",
        "-m",
        "bench",
        "--benchmark-only",
        "--benchmark-columns=min,median,mean,stddev,rounds",
        *session.posargs,
    )


@nox.session(python=PYTHON)
@nox.parametrize("name", ["cj_generic", "eng5_anchor", "eng5_lower5"])
def profile(session: nox.Session, name: str) -> None:
    """One mock profile through the whole engine, checked against its trace and the original's
    LPS metrics guardrails: nox -s "profile(name='eng5_anchor')"."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/profiles", "-k", name, *session.posargs)
