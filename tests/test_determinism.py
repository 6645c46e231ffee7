"""Determinism guards: no hidden entropy in engine/ or sim/, and one seed, one fingerprint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.determinism_scan import scan_source, scan_tree

REPO = Path(__file__).resolve().parents[1]


def test_engine_and_sim_use_no_hidden_entropy():
    violations = scan_tree(REPO)
    assert not violations, "\n".join(str(v) for v in violations)


# A negative control: each line below must be caught, or the scan above proves nothing.
OFFENDERS = {
    "import time": "wall-clock",
    "from time import monotonic": "wall-clock",
    "import asyncio": "asyncio",
    "import random": "random",
    "from random import choice": "random",
    "import secrets": "OS randomness",
    "from uuid import uuid4": "uuid4",
    "x = uuid.uuid4()": "uuid.uuid4",
    "x = hash('a')": "hash()",
    "x = os.urandom(8)": "os.urandom",
    "x = datetime.now()": "datetime.now",
    "x = datetime.datetime.utcnow()": "utcnow",
    "x = date.today()": "date.today",
    "x = np.random.rand(3)": "numpy's global generator",
    "x = numpy.random.default_rng()": "numpy's global generator",
}


@pytest.mark.parametrize(("line", "expected"), sorted(OFFENDERS.items()))
def test_the_scan_catches_each_forbidden_call(line, expected):
    violations = scan_source(line + "\n", "engine/example.py")
    assert violations, f"not caught: {line}"
    assert expected in violations[0].problem
    assert str(violations[0]).startswith("engine/example.py:1:")


def test_the_scan_allows_seeded_generators_and_runtime_time():
    allowed = (
        "import uuid\n"
        "x = uuid.UUID(int=5, version=4)\n"
        "rng = np.random.Generator(np.random.PCG64(7))\n"
        "t = runtime.now()\n"
        "d = self.hash_of(x)\n"
    )
    assert scan_source(allowed, "engine/example.py") == []


def _demo_fingerprint(seed: int, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    code = f"from sim.commands.demo import run_demo; print(run_demo({seed}).fingerprint)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def test_the_demo_fingerprint_is_the_same_in_any_process_and_changes_with_the_seed():
    first = _demo_fingerprint(42, hash_seed="0")
    assert len(first) == 64
    assert _demo_fingerprint(42, hash_seed="4242") == first
    assert _demo_fingerprint(43, hash_seed="0") != first
