"""The baselines can fail: a change in engine behaviour breaks a snapshot with a diff that names
the fields that moved, in the report baselines and in the ENG5 ranking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _baseline_run(
    extra_settings: str,
    test_file: str = "tests/snapshots/test_report_baselines.py",
    selected: str = "eng5_regular_24",
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CJSIM_BASELINE_SET": extra_settings}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            test_file,
            "-vv",
            "-k",
            selected,
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_turning_off_position_balancing_fails_the_baseline_and_names_the_fields():
    result = _baseline_run("ENABLE_COMPARISON_POSITION_BALANCING=false")
    assert result.returncode == 1, result.stdout + result.stderr
    diff = [line.lstrip("E ") for line in result.stdout.splitlines() if line.startswith("E ")]
    changed = [line for line in diff if line.startswith(("-", "+"))]
    assert any('"position_balance.anchors.a_share"' in line for line in changed), result.stdout
    assert any('"position_balance.max_abs_skew"' in line for line in changed), result.stdout


def test_an_unchanged_engine_matches_its_baseline():
    result = _baseline_run("")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_stronger_prior_fails_the_ranking_and_names_the_essays_that_moved():
    result = _baseline_run("BT_ALPHA=1.0", "tests/snapshots/test_eng5_ranking.py", "snapshot")
    assert result.returncode == 1, result.stdout + result.stderr
    diff = [line[1:].strip() for line in result.stdout.splitlines() if line.startswith("E ")]
    # The anchor that led the ranking is third, and graded B, once the prior pulls scores in.
    assert "- 1     ANCHOR_eng5_a_1_1aab077f      A             A      MID" in diff, result.stdout
    assert "+ 3     ANCHOR_eng5_a_1_1aab077f      A             B      LOW" in diff, result.stdout
