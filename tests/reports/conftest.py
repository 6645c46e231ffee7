"""Run folders for the page tests, each made once per session by ``cjsim run``, and the check
of a chart's spec against the Vega-Lite schema (the pages build their specs unchecked)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

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


SpecCheck = Callable[[Mapping[str, Mapping[str, Any]]], None]


@pytest.fixture(scope="session")
def assert_valid_vega_lite() -> SpecCheck:
    """Checks specs by chart id against the Vega-Lite JSON schema Altair ships, the check Altair
    made on every page before the pages built their specs as plain data; a broken spec fails
    naming its chart, the path in the spec and what the schema wanted."""
    import jsonschema
    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema.core import load_schema

    schema = load_schema()

    def check(specs: Mapping[str, Mapping[str, Any]]) -> None:
        assert specs, "no chart to check"
        for chart_id, spec in specs.items():
            try:
                validate_jsonschema(dict(spec), schema)
            except jsonschema.ValidationError as error:
                path = "/".join(str(part) for part in error.absolute_path)
                raise AssertionError(
                    f"chart {chart_id!r}: not valid Vega-Lite at /{path}: {error.message}"
                ) from None

    return check
