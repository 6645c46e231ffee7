"""The live-run dashboards (docs/dashboards/): the shipped promql.md and Grafana JSON are what
panels.py builds, and every metric and label they name is one a run really registers."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from prometheus_client import CollectorRegistry

from engine.metrics_export import samples
from tests.docs.promql_names import expression_problems, panel_problems, selectors

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / "docs" / "dashboards" / "panels.py"
SCENARIO = "scenarios/eng5_regular_24.yaml"


def _load_builder() -> ModuleType:
    # docs/ is not a package: the builder is a script, loaded from its path.
    spec = importlib.util.spec_from_file_location("cjsim_dashboard_panels", BUILDER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while they are built
    spec.loader.exec_module(module)
    return module


panels_py = _load_builder()


def declared(registry: CollectorRegistry) -> dict[str, frozenset[str]]:
    """Every sample name ``registry`` can expose, with its label names.

    Read from the declarations, not from the samples: a labelled metric exposes nothing before
    its first ``labels()`` call, so a run without an orphan has no ``cj_orphan_callbacks_total``
    line at all. prometheus_client lists its collectors and their label names only in private
    attributes; ``test_declared_names_match_what_the_run_exposed`` keeps this reading honest."""
    names: dict[str, frozenset[str]] = {}
    for collector in registry._collector_to_names:
        labels = frozenset(collector._labelnames)
        for family in collector.describe():
            if family.type == "counter":
                names[f"{family.name}_total"] = labels
            elif family.type == "gauge":
                names[family.name] = labels
            elif family.type == "histogram":
                names[f"{family.name}_bucket"] = labels | {"le"}
                names[f"{family.name}_count"] = labels
                names[f"{family.name}_sum"] = labels
            else:
                raise AssertionError(
                    f"{family.name} is a {family.type}: teach declared() its names"
                )
    return names


@pytest.fixture(scope="module")
def run_registry() -> CollectorRegistry:
    """The registry of a small simulated run, built the way every run builds it."""
    from sim.harness.runner import run_scenario
    from sim.harness.scenario_file import load_scenario

    return run_scenario(load_scenario(ROOT / SCENARIO)).registry


@pytest.fixture(scope="module")
def exposed(run_registry: CollectorRegistry) -> dict[str, frozenset[str]]:
    """Sample name -> label names, for every metric the run's registry declares."""
    return declared(run_registry)


def _all_panels(sections=panels_py.SECTIONS) -> list[tuple[str, str, str]]:
    return [(p.title, p.expr, p.legend) for s in sections for p in s.panels]


# -- the shipped files are the builder's ---------------------------------------------------------


def test_promql_md_is_what_the_builder_makes():
    shipped = panels_py.MARKDOWN.read_text()
    assert shipped == panels_py.markdown_text(shipped), (
        f"{panels_py.MARKDOWN} is stale; run: {panels_py.WRITE_COMMAND}"
    )


def test_grafana_json_is_what_the_builder_makes():
    assert panels_py.GRAFANA.read_text() == panels_py.grafana_text(), (
        f"{panels_py.GRAFANA} is stale; run: {panels_py.WRITE_COMMAND}"
    )


def test_an_edit_inside_the_generated_block_is_undone_and_one_outside_is_kept():
    shipped = panels_py.MARKDOWN.read_text()
    begin = shipped.index(panels_py.BEGIN)
    inside = shipped[:begin] + shipped[begin:].replace("sum by (provider, error_type)", "sum", 1)
    outside = shipped.replace("# PromQL for live runs", "# PromQL for live runs, edited", 1)
    assert inside != shipped
    assert panels_py.markdown_text(inside) == shipped
    assert panels_py.markdown_text(outside) == outside


def test_promql_md_without_its_markers_is_refused():
    with pytest.raises(ValueError, match="markers"):
        panels_py.markdown_text("# PromQL for live runs\n")


def test_every_panel_is_in_promql_md_ready_to_paste():
    shipped = panels_py.MARKDOWN.read_text()
    snippets = re.findall(r"```promql\n(.*?)\n```", shipped, re.DOTALL)
    panels = [p for s in panels_py.SECTIONS for p in s.panels]
    assert snippets == [panels_py.promql(p.expr) for p in panels]
    assert [s for s in snippets if "$" in s] == []  # no Grafana variable left unsubstituted


# -- every name is the engine's --------------------------------------------------------------------


def test_declared_names_match_what_the_run_exposed(run_registry, exposed):
    seen: dict[str, set[str]] = {}
    for sample in samples(run_registry):
        seen.setdefault(sample.name, set()).update(name for name, _ in sample.labels)
    assert {name: frozenset(labels) for name, labels in seen.items()} == {
        name: exposed[name] for name in seen
    }
    assert "llm_provider_queue_wait_time_seconds_bucket" in seen  # histograms included


def test_every_panel_names_only_metrics_and_labels_the_engine_registers(exposed):
    assert panel_problems(_all_panels(), exposed) == []


def test_the_provider_variable_queries_a_registered_label(exposed):
    (query,) = [v["definition"] for v in panels_py.VARIABLES if v["name"] == "provider"]
    metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", query).groups()
    assert label in exposed[metric]


def test_a_misspelt_metric_in_a_copied_panel_list_is_reported(exposed):
    sections = tuple(
        dataclasses.replace(
            section,
            panels=tuple(
                dataclasses.replace(
                    p, expr=p.expr.replace("llm_provider_retries_total", "llm_provider_retry_total")
                )
                for p in section.panels
            ),
        )
        for section in panels_py.SECTIONS
    )
    assert panel_problems(_all_panels(sections), exposed) == [
        "Retries by error_type: no metric 'llm_provider_retry_total' in the engine's registry; "
        "did you mean 'llm_provider_retries_total'?"
    ]


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        # queue wait has no provider label: the filter the LPS panels use cannot apply here
        (
            'sum(rate(llm_provider_queue_wait_time_seconds_count{provider=~"$provider"}[2m]))',
            "llm_provider_queue_wait_time_seconds_count has no label 'provider' "
            "(its labels: queue_processing_mode, result)",
        ),
        (
            "sum by (model) (rate(llm_provider_retries_total[2m]))",
            "llm_provider_retries_total has no label 'model' (its labels: error_type, provider)",
        ),
        # a histogram's family name is not a series: only _bucket, _count and _sum are
        (
            "rate(llm_provider_queue_wait_time_seconds[2m])",
            "no metric 'llm_provider_queue_wait_time_seconds' in the engine's registry; "
            "did you mean 'llm_provider_queue_wait_time_seconds_sum'?",
        ),
        ("sum(cj_batch_state", "unclosed '(' at column 3"),
        ("sum(cj_batch_state))", "unbalanced ')' at column 19"),
        (
            "sum(rate(cj_comparisons_total[2x]))",
            "range [2x] is neither a duration nor $__rate_interval",
        ),
        ("rat(cj_comparisons_total[2m])", "unknown function rat()"),
        (
            "sum(cj_batch_state) by (state)",
            "'by (state)' must sit between an aggregation and its body, as in sum by (x) (...)",
        ),
        (
            'cj_batch_state{state="COMPLETED}',
            "unclosed string in 'cj_batch_state{state=\"COMPLETED}'",
        ),
        ('cj_batch_state{state=~"$state"}', "unknown Grafana variable $state"),
        ("sum(vector(1))", "selects no metric: 'sum(vector(1))'"),
    ],
)
def test_the_checker_reports_each_kind_of_mistake(exposed, expr, problem):
    assert expression_problems(expr, exposed) == [problem]


def test_a_legend_may_name_only_labels_the_expression_keeps(exposed):
    panel = (
        "Retries",
        "sum by (provider) (rate(llm_provider_retries_total[2m]))",
        "{{error_type}}",
    )
    assert panel_problems([panel], exposed) == [
        "Retries: legend names 'error_type', which the expression does not keep"
    ]


def test_selectors_skip_functions_keywords_numbers_and_grouping_labels():
    expr = (
        "histogram_quantile(0.95, sum by (le, result) "
        '(rate(llm_provider_queue_wait_time_seconds_bucket{result="success"}[2m])))'
    )
    assert [(s.metric, s.labels) for s in selectors(expr)] == [
        ("llm_provider_queue_wait_time_seconds_bucket", ("result",))
    ]


# -- the Grafana model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> dict:
    """The shipped dashboard, parsed."""
    return json.loads(panels_py.GRAFANA.read_text())


def test_the_dashboard_has_a_stable_uid_and_a_prometheus_datasource_variable(model):
    assert model["uid"] == "cjsim-live-run"
    assert model["schemaVersion"] == 39
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["provider"]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_every_panel_has_a_unique_id_and_a_place_on_the_grid_no_other_takes(model):
    panels = model["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], int] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("h", "w", "x", "y")), panel["title"]
        assert 0 <= grid["x"] < grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = panel["id"]


def test_every_time_series_panel_queries_the_chosen_datasource(model):
    series = [p for p in model["panels"] if p["type"] == "timeseries"]
    assert len(series) == sum(len(s.panels) for s in panels_py.SECTIONS)
    for panel in series:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert [t["datasource"]["uid"] for t in panel["targets"]] == ["${datasource}"]


def test_the_dashboard_carries_no_credentials(model):
    keys: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            keys.extend(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(model)
    assert [k for k in keys if re.search(r"pass|secret|token|key|auth|url", k, re.I)] == []
