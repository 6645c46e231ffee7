"""One seed, one fingerprint, whatever BLAS does: thread counts and CPU kernels (DESIGN.md,
"Numerics and determinism across machines").

Each run is a fresh process, because OpenBLAS reads ``OPENBLAS_NUM_THREADS`` and
``OPENBLAS_CORETYPE`` once, when it loads. The child reports the thread count and kernel its
BLAS libraries actually run with, so a variable BLAS ignored would fail here rather than make
the comparison vacuous. A positive control shows the variants really do change LAPACK's
answers: before issue 15, three of them gave three fingerprints for one seed at 100 essays.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

BATCH = Path(__file__).with_name("batch.yaml")
ANCHORS = 12
SIZES = (24, 100, 300)
COMPARISONS_PER_ESSAY = 5

# x86-64 kernels every AVX2 machine can run, chosen for how differently they round: Haswell
# sums with fused multiply-adds (AVX2 + FMA), Sandybridge without them (AVX).
KERNEL, OTHER_KERNEL = "Haswell", "Sandybridge"
VARIANTS = {
    "1 thread": {"OPENBLAS_NUM_THREADS": "1", "OPENBLAS_CORETYPE": KERNEL},
    "2 threads": {"OPENBLAS_NUM_THREADS": "2", "OPENBLAS_CORETYPE": KERNEL},
    f"1 thread, {OTHER_KERNEL}": {"OPENBLAS_NUM_THREADS": "1", "OPENBLAS_CORETYPE": OTHER_KERNEL},
}

_RUN = """
import json, sys
from pathlib import Path
from threadpoolctl import threadpool_info
from sim.harness.runner import run_scenario
from sim.harness.scenario_file import load_scenario

path, students, budget = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
overrides = [
    f"cohort.students.count={students}",
    f"budget={budget}",
    f"settings.MAX_PAIRWISE_COMPARISONS={budget}",
]
outcome = run_scenario(load_scenario(path, overrides=overrides), base_dir=path.parent)
blas = [
    (info["num_threads"], info["architecture"])
    for info in threadpool_info()
    if info["internal_api"] == "openblas"
]
print(json.dumps({"fingerprint": outcome.fingerprint, "blas": blas}))
"""

# LAPACK under the same variants (a solve's bits, which the variants must change), and the
# Bradley–Terry fit's raw scores before they are quantised (which they must not).
_CONTROL = """
import hashlib, json
import numpy as np
from engine.cj.scoring import fit_bradley_terry

rng = np.random.default_rng(1)
a = rng.random((300, 300))
a = a @ a.T + 300 * np.eye(300)
lapack = hashlib.sha256(np.linalg.solve(a, rng.random(300)).tobytes()).hexdigest()
fits = hashlib.sha256()
for n in (24, 100, 300):
    winners = rng.integers(0, n, 10 * n)
    losers = (winners + rng.integers(1, n, 10 * n)) % n
    fit = fit_bradley_terry(n, np.column_stack([winners, losers]), alpha=0.01)
    fits.update(fit.scores.tobytes())
print(json.dumps({"lapack": lapack, "fit": fits.hexdigest()}))
"""


def _cpu_runs_both_kernels() -> bool:
    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return all(f" {flag}" in flags for flag in ("avx2", "fma", "avx"))


pytestmark = pytest.mark.skipif(
    not _cpu_runs_both_kernels(),
    reason=f"needs an x86-64 CPU with AVX2 and FMA to run both the {KERNEL} and "
    f"{OTHER_KERNEL} OpenBLAS kernels",
)


def _child(code: str, args: list[str], variant: dict[str, str]) -> str:
    env = {**os.environ, **variant}
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _run(size: int, variant: dict[str, str]) -> dict[str, object]:
    students = size - ANCHORS
    budget = size * COMPARISONS_PER_ESSAY // 2
    out: dict[str, object] = json.loads(
        _child(_RUN, [str(BATCH), str(students), str(budget)], variant)
    )
    return out


def test_the_variants_change_lapack_but_not_the_fit():
    """The positive control: LAPACK's answer moves with the variants, so the fingerprints
    below are compared under numerics that really differ. The fit's raw scores, before
    ``engine.cj.portable.quantise`` rounds them, must not move at all: the grid is a second
    line of defence, not what makes these equal."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [
            json.loads(out)
            for out in pool.map(lambda v: _child(_CONTROL, [], v), VARIANTS.values())
        ]
    assert len({run["lapack"] for run in runs}) > 1, "the variants all solved alike: vacuous"
    assert len({run["fit"] for run in runs}) == 1, runs


@pytest.mark.parametrize("size", SIZES)
def test_one_fingerprint_under_every_blas_thread_count_and_kernel(size):
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(
            zip(VARIANTS, pool.map(lambda v: _run(size, v), VARIANTS.values()), strict=True)
        )
    for name, variant in VARIANTS.items():
        wanted = (int(variant["OPENBLAS_NUM_THREADS"]), variant["OPENBLAS_CORETYPE"])
        assert runs[name]["blas"], f"{name}: no OpenBLAS loaded"
        assert all(tuple(found) == wanted for found in runs[name]["blas"]), (name, runs[name])
    fingerprints = {name: run["fingerprint"] for name, run in runs.items()}
    assert len(set(fingerprints.values())) == 1, fingerprints
