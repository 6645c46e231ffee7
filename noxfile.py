"""cjsim's tooling. `nox` runs tests, lint and typecheck; `nox -s bench` runs the benchmarks;
`nox -s soak` runs the swarm over every scenario for hours."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

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
    """The performance goals: reference and subject interleaved round by round, each goal judged
    on the median of its per-round ratios, BLAS on one thread (tests/benchmarks/conftest.py).
    pytest-benchmark's table times whole rounds; the goals' table comes after it. The scale
    goals simulate 1,000- and 3,000-essay batches and take most of the time: leave them out
    with `nox -s bench -- -k "not comparison_cost"`."""
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


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """The swarm as a soak (a few hours on 2 cores): 2,000 storms of scenarios/storm.yaml and
    1,000 of every other scenario, then 200 storms of the original system (--legacy, a
    measurement: how many seeds break each invariant), the slow halves of three tests (orientation
    over 1,000 seeds, kill -9 at 40 points, 20,000 bad-input fuzz examples), each command's wall
    time printed. Fewer seeds for a quick look: nox -s soak -- 20."""
    session.install("-e", ".")
    seeds_storm, seeds_other = ("2000", "1000")
    if session.posargs:
        seeds_storm = seeds_other = session.posargs[0]
    storm = Path("scenarios/storm.yaml")
    others = sorted(p for p in Path("scenarios").glob("*.yaml") if p != storm)
    plan: list[tuple[Path, str, list[str]]] = []
    if storm.is_file():
        plan.append((storm, seeds_storm, []))
    plan += [(path, seeds_other, []) for path in others]
    if storm.is_file():
        legacy_seeds = str(min(200, int(seeds_storm)))
        plan.append((storm, legacy_seeds, ["--legacy", "--no-shrink"]))
    cjsim = str(Path(session.bin) / "cjsim")
    walls: list[tuple[str, float, int]] = []
    started = time.perf_counter()
    for path, seeds, extra in plan:
        # Every scenario runs even when one fails (a soak reports all it found); the session
        # fails at the end.
        command = [cjsim, "swarm", str(path), "--seeds", seeds, "--workers", "2", *extra]
        session.log(" ".join(command))
        begun = time.perf_counter()
        code = subprocess.run(command, check=False).returncode
        label = f"{path} ({seeds} seeds{', legacy' if extra else ''})"
        walls.append((label, time.perf_counter() - begun, code))
    session.install("-e", ".[test]")
    python = str(Path(session.bin) / "python")
    for label, test, extra_env in (
        # The 12-anchor round robin over 1,000 seeds: every anchor ends with |A-B| <= 1.
        ("round robin, 1,000 seeds (pytest)", "tests/cj/test_orientation.py", {}),
        # A live run killed with SIGKILL at forty points, then resumed against the fake provider.
        ("live kill -9 and resume, 40 points (pytest)", "tests/live_mode/test_resume.py", {}),
        # Shipped scenarios mutated 20,000 ways: each is accepted or refused in located lines.
        (
            "bad-input fuzz, 20,000 examples (pytest)",
            "tests/bad_input/test_fuzz_scenarios.py",
            {"CJSIM_FUZZ_EXAMPLES": "20000"},
        ),
    ):
        begun = time.perf_counter()
        code = subprocess.run(
            [python, "-m", "pytest", "-q", test],
            env={**os.environ, "CJSIM_SLOW": "1", **extra_env},
            check=False,
        ).returncode
        walls.append((label, time.perf_counter() - begun, code))
    width = max(len(name) for name, _, _ in walls)
    session.log("soak wall times:")
    for name, wall_s, code in walls:
        verdict = "held" if code == 0 else f"FAILED (exit {code})"
        session.log(f"  {name.ljust(width)}  {wall_s:8.1f} s  {verdict}")
    session.log(f"  {'total'.ljust(width)}  {time.perf_counter() - started:8.1f} s")
    failed = [name for name, _, code in walls if code != 0]
    if failed:
        session.error(f"{len(failed)} swarm(s) failed: {', '.join(failed)}")
