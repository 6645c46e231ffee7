"""Run folders for the page tests, each made once per session by ``cjsim run``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.commands.cli import main

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "eng5_regular_24.yaml"


def _run(folder: Path, *flags: str) -> Path:
    main(["run", str(SCENARIO), *flags, "--out", str(folder)])
    assert (folder / "report.json").is_file(), f"cjsim run {SCENARIO} {flags} wrote no report"
    return folder


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a run of eng5_regular_24, every invariant held."""
    return _run(tmp_path_factory.mktemp("regular") / "run")


@pytest.fixture(scope="session")
def legacy_run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the same scenario run with the original's bugs (--legacy): invariants
    broken."""
    return _run(tmp_path_factory.mktemp("legacy") / "run", "--legacy")
