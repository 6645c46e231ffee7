"""The shipped JSON Schemas: current, fully described, and true of every shipped YAML; the
``$schema`` line that opens every YAML we ship or write; the scenarios' README table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from engine.settings import Settings
from sim.commands import schemas
from sim.commands.promote import COHORT_FILE, promote
from sim.commands.schemas import (
    HEADER_PREFIX,
    LIVE_SCHEMA_FILE,
    SCENARIO_SCHEMA_FILE,
    SCHEMA_FILES,
    SWEEP_SCHEMA_FILE,
    header_line,
    live_schema,
    scenario_schema,
    schema_text,
    write_schemas,
)
from sim.harness.scenario_file import parse_scenario
from sim.harness.swarm_shrink import write_scenario

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SCHEMAS = ROOT / "schemas"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
REGRESSIONS = sorted((ROOT / "scenarios" / "regressions").glob("*.yaml"))
LIVE_CONFIGS = sorted((ROOT / "examples" / "live").glob("*.yaml"))
SWEEPS = sorted((ROOT / "scenarios" / "sweeps").glob("*.yaml"))
#: Every YAML we ship, and the schema it is written against.
SHIPPED_YAML = (
    [(path, SCENARIO_SCHEMA_FILE) for path in SCENARIOS + REGRESSIONS]
    + [(path, LIVE_SCHEMA_FILE) for path in LIVE_CONFIGS]
    + [(path, SWEEP_SCHEMA_FILE) for path in SWEEPS]
)


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


class _PlainLoader(yaml.SafeLoader):
    """YAML as an editor's schema validator reads it: timestamps stay strings."""


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _document(text: str) -> Any:
    return yaml.load(text, Loader=_PlainLoader)  # a SafeLoader


def _problems(schema: dict[str, Any], document: Any) -> list[str]:
    """One line per problem; of a union (``anyOf``), the deepest branch's problem."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in validator.iter_errors(document):
        while error.context:
            error = max(error.context, key=lambda branch: len(branch.absolute_path))
        problems.append(
            f"{'.'.join(map(str, error.absolute_path)) or '(top level)'}: {error.message}"
        )
    return problems


# ---- The shipped files ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
def test_the_shipped_schema_is_what_the_models_generate(name):
    shipped = SHIPPED_SCHEMAS / name
    assert shipped.is_file(), f"{_name(shipped)} is missing: run `cjsim schema --write schemas`"
    assert shipped.read_text(encoding="utf-8") == schema_text(SCHEMA_FILES[name]()), (
        f"{_name(shipped)} is stale (a model changed): run `cjsim schema --write schemas` "
        "and commit the result"
    )


@pytest.mark.parametrize("make", [scenario_schema, live_schema], ids=["scenario", "live"])
def test_a_schema_names_its_draft_and_title_and_is_a_valid_schema(make):
    schema = make()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"].startswith("cjsim ")
    jsonschema.Draft202012Validator.check_schema(schema)


def _properties(node: Any, where: str = "") -> list[tuple[str, Any]]:
    """Every property schema at every depth (``$defs`` included), with where it is."""
    found = []
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            found += [(f"{where}.properties.{name}", body) for name, body in properties.items()]
        for key, value in node.items():
            found += _properties(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _properties(value, f"{where}[{index}]")
    return found


@pytest.mark.parametrize("make", [scenario_schema, live_schema], ids=["scenario", "live"])
def test_every_property_at_every_depth_is_described(make):
    properties = _properties(make())
    assert len(properties) > 100  # the settings' blocks and every model in $defs
    undescribed = [
        where
        for where, body in properties
        if not (isinstance(body, dict) and str(body.get("description", "")).strip())
    ]
    assert undescribed == []


@pytest.mark.parametrize("make", [scenario_schema, live_schema], ids=["scenario", "live"])
def test_descriptions_are_one_line(make):
    broken = [where for where, body in _properties(make()) if "\n" in body["description"]]
    assert broken == []


def test_the_settings_blocks_list_every_setting_and_nothing_else():
    scenario, live = scenario_schema(), live_schema()
    for schema in (scenario, live):
        block = schema["$defs"]["EngineSettings"]
        assert set(block["properties"]) == set(Settings.model_fields)
        assert block["additionalProperties"] is False
        assert block["properties"]["QUEUE_PROCESSING_MODE"]["enum"] == [
            "per_request",
            "serial_bundle",
            "batch_api",
        ]
        assert block["properties"]["MAX_PAIRWISE_COMPARISONS"]["default"] == 120
    assert scenario["properties"]["settings"]["$ref"] == "#/$defs/EngineSettings"
    assert {"$ref": "#/$defs/EngineSettings"} in scenario["properties"]["legacy"]["anyOf"]
    assert live["properties"]["settings"]["$ref"] == "#/$defs/EngineSettings"


# ---- Shipped YAML against the schemas -------------------------------------------------------


@pytest.mark.parametrize(("path", "schema_file"), SHIPPED_YAML, ids=lambda p: getattr(p, "stem", p))
def test_every_shipped_yaml_validates_against_its_schema(path, schema_file):
    schema = SCHEMA_FILES[schema_file]()
    assert _problems(schema, _document(path.read_text(encoding="utf-8"))) == []


BROKEN_SCENARIOS = [
    ("colour: blue", "Additional properties are not allowed ('colour' was unexpected)"),
    ("settings: {QUEUE_PROCESSING_MODE: fast}", "'fast' is not one of"),
    ("settings: {NOT_A_SETTING: 1}", "'NOT_A_SETTING' was unexpected"),
    ("legacy: {LPS_WORKERS: 0}", "0 is less than the minimum of 1"),
    ("run: {batches: 51}", "51 is greater than the maximum of 50"),
    ("faults: [{kind: meteor_strike}]", "'meteor_strike' is not one of"),
    ("cohort: {students: {count: 3001}}", "3001 is greater than the maximum of 3000"),
    ("provider: {latency_ms: {median: 0}}", "0 is less than or equal to the minimum of 0"),
]


@pytest.mark.parametrize(("line", "says"), BROKEN_SCENARIOS, ids=[b[0] for b in BROKEN_SCENARIOS])
def test_a_broken_scenario_fails_its_schema(line, says):
    problems = _problems(scenario_schema(), _document(f"name: s\n{line}\n"))
    assert len(problems) == 1
    assert says in problems[0]


def test_a_broken_live_configuration_fails_its_schema():
    assert any(
        "'assessment' is a required property" in problem
        for problem in _problems(live_schema(), {"name": "x", "essays": "e"})
    )
    config = {"name": "x", "essays": "e", "assessment": {"assignment": "a"}}
    assert _problems(live_schema(), config) == []
    assert _problems(live_schema(), {**config, "caps": {"max_wall_s": 0}}) != []
    assert _problems(live_schema(), {**config, "settings": {"LPS_WORKERS": "many"}}) != []


def test_an_editors_schema_key_is_part_of_both_schemas():
    document = {"$schema": "../schemas/scenario.schema.json", "name": "s"}
    assert _problems(scenario_schema(), document) == []
    assert parse_scenario("$schema: ../schemas/scenario.schema.json\nname: s\n", "s.yaml")


# ---- write_schemas --------------------------------------------------------------------------


def test_write_schemas_writes_every_file_whole(tmp_path):
    written = write_schemas(tmp_path / "new")
    assert [path.name for path in written] == [
        SCENARIO_SCHEMA_FILE,
        LIVE_SCHEMA_FILE,
        SWEEP_SCHEMA_FILE,
    ]
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert (
            text
            == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == sorted(SCHEMA_FILES)


def test_a_failed_write_leaves_the_old_file_as_it_was(tmp_path, monkeypatch):
    write_schemas(tmp_path)
    before = {path.name: path.read_text() for path in tmp_path.iterdir()}

    def broken() -> dict[str, Any]:
        return {"not json": object()}

    monkeypatch.setitem(schemas.SCHEMA_FILES, LIVE_SCHEMA_FILE, broken)
    with pytest.raises(TypeError):
        write_schemas(tmp_path)
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == before


# ---- The $schema line -----------------------------------------------------------------------


@pytest.mark.parametrize(("path", "schema_file"), SHIPPED_YAML, ids=lambda p: getattr(p, "stem", p))
def test_every_shipped_yaml_names_its_schema_on_its_first_line(path, schema_file):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(HEADER_PREFIX), f"{_name(path)}: line 1 is {first!r}"
    named = (path.parent / first.removeprefix(HEADER_PREFIX)).resolve()
    assert named == SHIPPED_SCHEMAS / schema_file
    assert header_line(path, schema_file) == first + "\n"


def _tree_with_schemas(root: Path) -> Path:
    write_schemas(root / "schemas")
    return root


def test_the_line_names_the_schema_by_a_relative_path_from_any_depth(tmp_path):
    root = _tree_with_schemas(tmp_path)
    assert header_line(root / "x.yaml") == f"{HEADER_PREFIX}schemas/scenario.schema.json\n"
    deep = root / "runs" / "swarm-storm" / "minimal-seed3.yaml"
    assert header_line(deep) == f"{HEADER_PREFIX}../../schemas/scenario.schema.json\n"
    assert header_line(deep, LIVE_SCHEMA_FILE) == f"{HEADER_PREFIX}../../schemas/live.schema.json\n"


def test_no_line_outside_a_tree_with_schemas(tmp_path):
    assert header_line(tmp_path / "runs" / "x.yaml") == ""
    (tmp_path / "schemas").mkdir()  # a folder without the schema file names nothing
    assert header_line(tmp_path / "runs" / "x.yaml") == ""


def _minimal_scenario_text(path: Path) -> str:
    scenario = parse_scenario("name: tiny\nseed: 3\n", "tiny.yaml")
    write_scenario(scenario, path, "breaks no_starvation\nreplay: cjsim run ...")
    return path.read_text(encoding="utf-8")


def test_a_shrunk_scenario_opens_with_the_line_inside_a_tree_with_schemas(tmp_path):
    root = _tree_with_schemas(tmp_path / "repo")
    folder = root / "runs" / "swarm-tiny"
    folder.mkdir(parents=True)
    lines = _minimal_scenario_text(folder / "minimal-seed3.yaml").splitlines()
    assert lines[:3] == [
        f"{HEADER_PREFIX}../../schemas/scenario.schema.json",
        "# breaks no_starvation",
        "# replay: cjsim run ...",
    ]
    assert _problems(scenario_schema(), _document("\n".join(lines))) == []


def test_a_shrunk_scenario_elsewhere_opens_with_its_note(tmp_path):
    text = _minimal_scenario_text(tmp_path / "minimal-seed3.yaml")
    assert text.startswith("# breaks no_starvation\n")


def _recorded_run(root: Path) -> Path:
    """A trace folder that ``cjsim promote`` accepts: a shipped trace plus a cohort."""
    trace = root / "runs" / "live-five" / "trace"
    shutil.copytree(ROOT / "traces" / "eng5_lower5_gpt51_low_20251202", trace)
    refs = ["eng5_fplus_1", "eng5_fplus_2", "eng5_eminus", "eng5_eplus", "eng5_dminus"]
    grades = ["F+", "F+", "E-", "E+", "D-"]
    manifest = {
        "name": "five",
        "seed": 7,
        "grade_scale": "eng5_np_legacy_9_step",
        "anchors": [
            {"ref": r, "grade": g, "words": 800} for r, g in zip(refs, grades, strict=True)
        ],
        "students": [],
        "provider": {"name": "openai", "model": "gpt-5.1", "reasoning_effort": "low"},
        "budget": 10,
        "settings": {},
    }
    (trace / COHORT_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    return trace


def test_a_promoted_scenario_opens_with_the_line_inside_a_tree_with_schemas(tmp_path):
    root = _tree_with_schemas(tmp_path / "repo")
    target = promote(_recorded_run(root))
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{HEADER_PREFIX}../../schemas/scenario.schema.json"
    assert lines[1].startswith("# Replays 10 recorded callbacks")
    assert _problems(scenario_schema(), _document("\n".join(lines))) == []


def test_a_promoted_scenario_elsewhere_opens_with_its_note(tmp_path):
    target = promote(_recorded_run(tmp_path))
    assert target.read_text(encoding="utf-8").startswith("# Replays 10 recorded callbacks")


# ---- scenarios/README.md --------------------------------------------------------------------


def test_the_scenarios_readme_lists_every_shipped_scenario():
    readme = (ROOT / "scenarios" / "README.md").read_text(encoding="utf-8")
    table = [line for line in readme.splitlines() if line.startswith("| `")]
    listed = {line.split("`")[1] for line in table}
    shipped = {_name(path).removeprefix("scenarios/") for path in SCENARIOS + REGRESSIONS}
    assert shipped - listed == set(), "scenarios/README.md: add a row for each"
