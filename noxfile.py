"""cjsim's tooling. `nox` runs tests, lint and typecheck; `nox -s bench` runs the benchmarks;
`nox -s soak` runs the swarm over every scenario for hours; `nox -s mutants` plants bugs in the
critical logic and lists the ones the tests let through."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nox

sys.path.insert(0, str(Path(__file__).parent / "tools"))
# tools/ is not a package: the report's rules live beside the other tools, not in the product.
import mutation_report

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


# Where a bug costs users most (issue 18), each module with the test files that exercise it.
# mutmut runs these files once to learn which tests call which function, then runs a mutant
# against only the tests that call the function it changed: seconds per mutant, not the suite.
# A test file that does not exist yet (a module's *_edges.py) is skipped.
MUTATION_TARGETS: dict[str, tuple[str, ...]] = {
    "engine/cj/completion.py": (
        "tests/cj/test_completion_and_continuation.py",
        "tests/cj/test_completion_edges.py",
    ),
    "engine/cj/continuation.py": (
        "tests/cj/test_completion_and_continuation.py",
        "tests/cj/test_continuation_edges.py",
    ),
    "engine/cj/orientation.py": (
        "tests/cj/test_orientation.py",
        "tests/cj/test_pairing.py",
        "tests/cj/test_orientation_edges.py",
    ),
    "engine/cj/pairing.py": (
        "tests/cj/test_pairing.py",
        "tests/cj/test_pair_windows.py",
        "tests/cj/test_pairing_edges.py",
    ),
    "engine/cj/pair_candidates.py": (
        "tests/cj/test_pair_windows.py",
        "tests/cj/test_pairing.py",
        "tests/cj/test_pair_candidates_edges.py",
    ),
    "engine/cj/pair_matching.py": (
        "tests/cj/test_pair_windows.py",
        "tests/cj/test_pairing.py",
        "tests/cj/test_pair_matching_edges.py",
    ),
    "engine/cj/callbacks.py": (
        "tests/cj/test_callback_deadline.py",
        "tests/cj/test_callbacks_edges.py",
    ),
    "engine/cj/grading.py": ("tests/cj/test_grading.py", "tests/cj/test_grading_edges.py"),
    "engine/cj/scoring.py": ("tests/cj/test_scoring.py", "tests/cj/test_scoring_edges.py"),
    "engine/lps/errors.py": ("tests/lps/test_errors.py", "tests/lps/test_errors_edges.py"),
    "engine/lps/retry.py": ("tests/lps/test_errors.py", "tests/lps/test_retry_edges.py"),
    "engine/lps/queue.py": (
        "tests/lps/test_errors.py",
        "tests/lps/test_queue_status_table.py",
        "tests/lps/test_queue_edges.py",
    ),
    "engine/lps/ledger.py": (
        "tests/lps/test_lps.py",
        "tests/lps/test_call_deadlines.py",
        "tests/lps/test_bundle_dispatch.py",
        "tests/lps/test_ledger_edges.py",
    ),
    "engine/lps/strategies.py": (
        "tests/lps/test_bundle_dispatch.py",
        "tests/lps/test_lps.py",
        "tests/lps/test_call_deadlines.py",
        "tests/lps/test_strategies_edges.py",
    ),
    "engine/live/secrets.py": (
        "tests/live_mode/test_secrets.py",
        "tests/live_mode/test_secrets_edges.py",
    ),
    # Not tests/sim/test_invariants.py: it breaks each rule under its legacy toggle in whole
    # simulated runs (seconds each, past the 900 s cap); the edges build each event log by hand.
    "sim/harness/invariants.py": ("tests/sim/test_invariants_edges.py",),
    # Not the contract suite: it starts PostgreSQL; the SimStore rules are tested on their own.
    "sim/adapters/store.py": ("tests/test_sim_store.py", "tests/test_sim_store_edges.py"),
}
MUTANTS_ROOT = Path("mutants")  # git-ignored: one scratch copy per module, and the reports
MUTANTS_EQUIVALENT = Path("tests/equivalent_mutants.toml")  # survivors no test can tell apart
# A module's whole mutmut run, then it is stopped. The largest take 5-15 min with the machine
# to themselves and twice that beside other work (measured in issue 18).
MUTANTS_MODULE_WALL_S_MAX = 1800.0
# Everything the mapped tests read: the scenarios, their schemas and the traces they replay.
MUTANTS_COPIED = ("engine", "sim", "tests", "scenarios", "schemas", "traces", "pyproject.toml")
MUTANTS_REPORTED = ("survived", "no tests", "timeout", "suspicious")  # with their diffs


@nox.session(python=PYTHON)
def mutants(session: nox.Session) -> None:
    """Mutation testing with mutmut (docs/decisions/0009-mutation-testing.md) over
    MUTATION_TARGETS, each module against its own test files only, in a scratch copy of the tree
    under mutants/<module>/ (engine/ and sim/ are never touched), niced (it is a background job
    on a shared machine) and stopped after MUTANTS_MODULE_WALL_S_MAX. Survivors, with their
    diffs, go to mutants/report.json and mutants/report.txt, scored by tools/mutation_report.py
    against the equivalent mutants of MUTANTS_EQUIVALENT. A module whose run broke or was
    stopped fails the session, and so does one with under 90% of its non-equivalent mutants
    detected. One module: nox -s mutants -- engine/cj/completion.py

    A module stopped at the limit goes on where it stopped with --resume (its scratch copy, and
    so its tests, as they were copied; its wall time adds to the stopped run's):
    nox -s mutants -- --resume engine/cj/pairing.py"""
    session.install("-e", ".[dev]")
    resume = "--resume" in session.posargs
    targets = [a for a in session.posargs if a != "--resume"] or list(MUTATION_TARGETS)
    unknown = [t for t in targets if t not in MUTATION_TARGETS]
    if unknown:
        session.error(f"not in MUTATION_TARGETS (noxfile.py): {', '.join(unknown)}")
    python = str(Path(session.bin) / "python") if session.bin_paths else sys.executable
    report = MUTANTS_ROOT / "report.json"
    previous = json.loads(report.read_text()) if report.is_file() else {}
    results = {}
    for module in targets:
        earlier = previous.get(module) if resume else None
        results[module] = _mutate_module(session, python, module, resume=earlier is not None)
        if earlier is not None:
            results[module]["wall_s"] = round(earlier["wall_s"] + results[module]["wall_s"], 1)
    everything = {**previous, **results}  # the modules of earlier runs stay in the report
    report.write_text(json.dumps(everything, indent=2) + "\n")
    equivalents = mutation_report.load_equivalents(MUTANTS_EQUIVALENT)
    text, _ = mutation_report.text(everything, equivalents)
    (MUTANTS_ROOT / "report.txt").write_text(text)
    table, scores = mutation_report.text(results, equivalents)
    for line in table.splitlines()[: len(results) + 2]:  # the header, a row each, the total
        session.log(line)
    session.log(f"mutants: every survivor's diff in {MUTANTS_ROOT / 'report.txt'}")
    broken = [s.module for s in scores if s.error]
    if broken:
        session.error(f"mutmut did not finish on: {', '.join(broken)}")
    weak = [f"{s.module} ({s.score:.1%})" for s in scores if s.score < mutation_report.SCORE_MIN]
    if weak:
        session.error(
            f"under {mutation_report.SCORE_MIN:.0%} of the non-equivalent mutants detected: "
            + ", ".join(weak)
        )


def _mutate_module(
    session: nox.Session, python: str, module: str, *, resume: bool = False
) -> dict[str, Any]:
    """One module's mutmut run in a fresh scratch copy (or, resuming, in the one it left);
    its counts and survivors."""
    work = MUTANTS_ROOT / module.removesuffix(".py").replace("/", ".")
    if resume and (work / "setup.cfg").is_file():
        session.log(f"mutmut: {module} resumes in {work}")
        return _run_mutmut(python, work, module, list(MUTATION_TARGETS[module]))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in MUTANTS_COPIED:
        if Path(name).is_dir():
            shutil.copytree(name, work / name, ignore=ignore)
        elif Path(name).is_file():
            shutil.copy2(name, work / name)
    tests = [t for t in MUTATION_TARGETS[module] if Path(t).is_file()]
    # mutmut copies source_paths whole (the mutated module imports its neighbours) and mutates
    # only_mutate; the scratch copy's own setup.cfg keeps the repository free of its settings.
    (work / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths =\n    engine\n    sim\n"
        f"only_mutate =\n    {module}\n"
        "pytest_add_cli_args =\n    --hypothesis-profile=mutants\n"
        "pytest_add_cli_args_test_selection =\n"
        + "".join(f"    {t}\n" for t in tests)
        + "also_copy =\n    scenarios\n    schemas\n    traces\n"
    )
    session.log(f"mutmut: {module} against {', '.join(tests)}")
    return _run_mutmut(python, work, module, tests)


def _run_mutmut(python: str, work: Path, module: str, tests: list[str]) -> dict[str, Any]:
    """mutmut run in ``work`` (it goes on with the mutants it has not checked), then its counts
    and each survivor's diff."""
    begun = time.perf_counter()
    error = ""
    with (work / "mutmut-run.log").open("ab") as log:  # a resumed run adds to it
        process = subprocess.Popen(
            ["nice", "-n", "15", python, "-m", "mutmut", "run", "--max-children", "2"],
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its forked workers are stopped with it
        )
        try:
            code = process.wait(timeout=MUTANTS_MODULE_WALL_S_MAX)
            if code != 0:
                error = f"mutmut exited {code} (see {work / 'mutmut-run.log'})"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            error = f"stopped after {MUTANTS_MODULE_WALL_S_MAX:.0f} s"
    wall_s = time.perf_counter() - begun

    def mutmut(*args: str) -> str:
        done = subprocess.run(
            [python, "-m", "mutmut", *args], cwd=work, capture_output=True, text=True, check=False
        )
        return done.stdout

    statuses: dict[str, str] = {}
    for line in mutmut("results", "--all", "true").splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name and status:
            statuses[name] = status
    # "no tests": no selected test calls the mutated function, so nothing could kill it.
    left = [n for n, status in sorted(statuses.items()) if status in MUTANTS_REPORTED]
    diffs = _mutant_diffs(python, work, left)
    survivors = [
        {
            "name": name,
            "status": statuses[name],
            "diff": diffs[name] if name in diffs else mutmut("show", name).strip(),
        }
        for name in left
    ]
    return {
        "tests": tests,
        "mutants": len(statuses),
        "killed": sum(status == "killed" for status in statuses.values()),
        "survivors": survivors,
        "wall_s": round(wall_s, 1),
        "error": error,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _mutant_diffs(python: str, work: Path, names: list[str]) -> dict[str, str]:
    """Each mutant's diff from one process: ``mutmut show`` starts Python once per mutant,
    5-10 s each on a loaded machine, so 200 survivors took longer than their run. This reads
    mutmut's own ``get_diff_for_mutant`` (not a documented API); if it is gone, the caller falls
    back to ``mutmut show`` for each."""
    if not names:
        return {}
    script = (
        "import json, sys\n"
        "from mutmut.__main__ import get_diff_for_mutant\n"
        "print(json.dumps({n: get_diff_for_mutant(n).strip() for n in sys.argv[1:]}))\n"
    )
    done = subprocess.run(
        [python, "-c", script, *names], cwd=work, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {}
    diffs: dict[str, str] = json.loads(done.stdout)
    return diffs
