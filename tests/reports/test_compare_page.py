"""The comparison page (``sim/reports/compare_page.py``) of the task document's two runs: the
same scenario in serial bundles (the session's run, tests/reports/conftest.py) and per request.

What a reader relies on: a difference is the later run minus the first, exactly; the joined
ranking holds every essay with its rank in each run; Kendall's tau of a run against itself is
1 and against another run is tau-b of their ranks; the page is the same bytes for the same
folders and references nothing on the network; in a browser every chart is drawn.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.settings import Settings
from sim.commands.cli import main
from sim.reports.compare import RunFolderError
from sim.reports.compare_page import compare_page_html
from sim.reports.compare_page_data import RunSide, setting_differences
from sim.reports.html_page import format_cell
from sim.reports.ranking import read_ranking
from tests.reports.browser import Element, assert_clean, assert_drawn, chromium, parse_dom

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "eng5_regular_24.yaml"
PER_REQUEST = ("QUEUE_PROCESSING_MODE=per_request", "LLM_BATCHING_MODE=per_request")


@pytest.fixture(scope="module")
def per_request_folder(tmp_path_factory) -> Path:
    """The scenario run with per-request queue processing, as the README's validation plan."""
    folder = tmp_path_factory.mktemp("per_request") / "run"
    main(["run", str(SCENARIO), *(f"--set={s}" for s in PER_REQUEST), "--out", str(folder)])
    assert (folder / "report.json").is_file(), "cjsim run wrote no report"
    return folder


@pytest.fixture(scope="module")
def page(run_folder, per_request_folder) -> str:
    """The comparison page of serial bundles (A) against per request (B)."""
    return compare_page_html([run_folder, per_request_folder])


def _report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


def _table(root: Element, first_columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of the one table whose header starts with ``first_columns``, as header -> text."""
    found = []
    for table in root.find_all("table"):
        header = [th.text for th in table.find_all("th")]
        if tuple(header[: len(first_columns)]) == first_columns:
            found.append(
                [
                    dict(zip(header, [td.text for td in tr.find_all("td")], strict=True))
                    for tr in table.find_all("tr")
                    if tr.find_all("td")
                ]
            )
    assert len(found) == 1, f"{len(found)} tables start with the columns {first_columns}"
    return found[0]


def _by(rows: list[dict[str, str]], column: str) -> dict[str, dict[str, str]]:
    return {row[column]: row for row in rows}


def test_the_difference_is_the_second_run_minus_the_first(page, run_folder, per_request_folder):
    a, b = _report(run_folder), _report(per_request_folder)
    figures = _by(_table(parse_dom(page), ("figure", "A", "B", "B − A")), "figure")
    calls = figures["provider calls"]
    assert (calls["A"], calls["B"]) == (str(a["provider_calls"]), str(b["provider_calls"]))
    assert calls["B − A"] == str(b["provider_calls"] - a["provider_calls"])
    ssr_a, ssr_b = a["batches"][0]["ssr"], b["batches"][0]["ssr"]
    assert figures["batch 1: ssr"]["B − A"] == repr(round(ssr_b - ssr_a, 6))
    assert figures["batch 1: final_state"]["B − A"] == "—"  # text has no difference
    # An error type only one run met is a count of 0 in the other, not a gap.
    for error in a["errors_by_type"].keys() | b["errors_by_type"].keys():
        count_a, count_b = a["errors_by_type"].get(error, 0), b["errors_by_type"].get(error, 0)
        row = figures[f"provider errors: {error}"]
        assert (row["A"], row["B"], row["B − A"]) == tuple(
            map(str, (count_a, count_b, count_b - count_a))
        )


def test_the_settings_that_differ_are_named(page):
    settings = _by(_table(parse_dom(page), ("setting", "A", "B")), "setting")
    # B set it (--set), to the default value: set, so not marked "(default)".
    assert settings["QUEUE_PROCESSING_MODE"] == {
        "setting": "QUEUE_PROCESSING_MODE",
        "A": "serial_bundle",
        "B": "per_request",
    }


def _side(label: str, changed: dict | None, named: set[str] | None) -> RunSide:
    return RunSide(
        label=label,
        folder=Path(label),
        report={},
        analysis={},
        settings_changed=changed,
        settings_set=None if named is None else frozenset(named),
        ranking=(),
        timeline=None,  # type: ignore[arg-type]  # setting_differences does not read it
    )


def test_default_marks_only_a_default_the_run_did_not_set():
    mode = "LLM_BATCHING_MODE"
    default = Settings.for_simulation().model_dump(mode="json")[mode]
    other = next(v for v in ("serial_bundle", "per_request") if v != default)
    runs = [
        _side("A", {}, {mode}),  # set to the default: named in its scenario
        _side("B", {mode: other}, {mode}),
        _side("C", {}, set()),  # left at the default
        _side("D", None, None),  # no scenario.json
    ]
    [row] = setting_differences(runs)
    assert row.values == (default, other, default, None)
    assert row.defaults == (False, False, True, False)


def test_the_joined_ranking_holds_every_essay_with_its_rank_in_each_run(
    page, run_folder, per_request_folder
):
    joined = _by(_table(parse_dom(page), ("batch", "essay")), "essay")
    ranks = [
        {essay.essay_id: essay.rank or None for essay in read_ranking(folder / "outcomes.duckdb")}
        for folder in (run_folder, per_request_folder)
    ]
    assert set(joined) == set(ranks[0]) | set(ranks[1])
    assert len(joined) == 24
    for essay, row in joined.items():
        rank_a, rank_b = ranks[0].get(essay), ranks[1].get(essay)
        assert (row["rank A"], row["rank B"]) == (format_cell(rank_a), format_cell(rank_b))
        assert row["rank B − A"] == format_cell(rank_b - rank_a), essay


def _tau(page: str) -> str:
    [label] = [
        dt.text for dt in parse_dom(page).find_all("dt") if dt.text.startswith("Kendall tau")
    ]
    figures = parse_dom(page).find_all("div", "figure")
    [value] = [f.find_all("dd")[0].text for f in figures if f.find_all("dt")[0].text == label]
    return value


def test_tau_of_a_run_against_itself_is_one(run_folder):
    page = compare_page_html([run_folder, run_folder])
    assert _tau(page) == "1.0"
    [agreement] = _table(parse_dom(page), ("run", "batch", "essays ranked in both"))
    assert agreement == {
        "run": "B",
        "batch": "1",
        "essays ranked in both": "24",
        "rank changed": "0",
        "tau against A": "1.0",
    }


def test_tau_between_two_runs_is_tau_b_of_their_ranks(page, run_folder, per_request_folder):
    from scipy.stats import kendalltau  # an oracle the page's code does not use

    ranks = [
        {e.essay_id: e.rank for e in read_ranking(folder / "outcomes.duckdb")}
        for folder in (run_folder, per_request_folder)
    ]
    essays = sorted(ranks[0])
    expected = kendalltau([ranks[0][e] for e in essays], [ranks[1][e] for e in essays]).statistic
    assert _tau(page) == repr(round(float(expected), 6))
    assert _tau(page) != "1.0"  # the two runs do rank differently


def test_more_runs_are_each_compared_with_the_first(run_folder, per_request_folder):
    page = compare_page_html([run_folder, per_request_folder, run_folder])
    rows = _table(parse_dom(page), ("figure", "A", "B", "B − A", "C", "C − A"))
    for row in rows:
        assert row["C"] == row["A"], row["figure"]
        assert row["C − A"] in ("0", "0.0", "—"), row["figure"]
    assert any(row["B − A"] not in ("0", "0.0", "—") for row in rows)


def test_same_folders_same_bytes_and_the_order_matters(page, run_folder, per_request_folder):
    assert compare_page_html([run_folder, per_request_folder]) == page
    assert compare_page_html([per_request_folder, run_folder]) != page


def test_the_page_references_nothing_on_the_network(page):
    root = parse_dom(page)
    for element in root.elements():
        for attribute in ("src", "href", "action", "srcset", "poster", "data"):
            value = element.attrs.get(attribute)
            assert value is None or value.startswith("#"), (element.tag, attribute, value)
    assert root.find_all("link") == []
    assert root.find_all("iframe") == []
    styles = " ".join(style.text for style in root.find_all("style"))
    assert "@import" not in styles
    assert "url(" not in styles
    [specs] = [s for s in root.find_all("script") if s.attrs.get("id") == "chart-specs"]
    assert "http" not in specs.text  # no "$schema", no data URL


def test_a_folder_that_is_not_a_run_is_named(run_folder, tmp_path):
    with pytest.raises(RunFolderError, match=str(tmp_path)):
        compare_page_html([run_folder, tmp_path])
    with pytest.raises(ValueError, match="2 to 26 run folders, got 1"):
        compare_page_html([run_folder])


def test_every_chart_is_drawn_in_a_browser_offline(page, tmp_path):
    browser = chromium()
    path = tmp_path / "compare.html"
    path.write_text(page, encoding="utf-8")
    visit = browser.visit(path)
    assert_clean(visit)
    marks = assert_drawn(visit)
    assert set(marks) == {"queue", "completed", "ranks"}


def _chart_specs(page: str) -> dict:
    [specs] = [s for s in parse_dom(page).find_all("script") if s.attrs.get("id") == "chart-specs"]
    return json.loads(specs.text)


def test_every_chart_is_valid_vega_lite_with_its_data_by_name(page, assert_valid_vega_lite):
    charts = _chart_specs(page)
    assert_valid_vega_lite(charts)
    # Each chart's rows are the dataset named after it (not a name made from their hash).
    assert {chart_id: list(spec["datasets"]) for chart_id, spec in charts.items()} == {
        "queue": ["queue"],
        "completed": ["completed"],
        "ranks": ["diagonal", "ranks"],
    }


def test_the_rank_scatter_draws_its_diagonal_and_names_each_point(page):
    spec = _chart_specs(page)["ranks"]
    diagonal, points = spec["layer"]
    assert diagonal["mark"]["type"] == "line"
    assert diagonal["encoding"]["x"]["field"] == diagonal["encoding"]["y"]["field"]  # y = x
    ends = [row["rank"] for row in spec["datasets"]["diagonal"]]
    ranks = [row[k] for row in spec["datasets"]["ranks"] for k in ("first_rank", "rank")]
    assert ends[0] < min(ranks)
    assert max(ranks) < ends[1]
    assert "essay" in [t["field"] for t in points["encoding"]["tooltip"]]
    # Only the later runs are plotted: run A is not in the legend.
    assert points["encoding"]["color"]["scale"]["domain"] == ["B"]


def _colours(spec: object) -> dict[str, dict[str, str]]:
    """field -> {value: colour} of every colour scale in a spec with a domain and a range."""
    found: dict[str, dict[str, str]] = {}
    if isinstance(spec, list):
        for item in spec:
            found.update(_colours(item))
    elif isinstance(spec, dict):
        scale = (
            spec.get("color", {}).get("scale", {}) if isinstance(spec.get("color"), dict) else {}
        )
        if "domain" in scale and "range" in scale:
            found[spec["color"]["field"]] = dict(zip(scale["domain"], scale["range"], strict=True))
        for value in spec.values():
            found.update(_colours(value))
    return found


def test_a_colour_means_one_thing_on_the_page(page):
    by_field: dict[str, dict[str, str]] = {}
    for spec in _chart_specs(page).values():
        for name, colours in _colours(spec).items():
            seen = by_field.setdefault(name, {})
            for value, colour in colours.items():  # a value in the same colour in each chart
                assert seen.setdefault(value, colour) == colour, (name, value)
    assert set(by_field) == {"state", "run"}
    states, runs = set(by_field["state"].values()), set(by_field["run"].values())
    assert not states & runs


def test_the_lanes_are_named_across_the_page(page):
    row = _chart_specs(page)["queue"]["facet"]["row"]
    assert row["header"]["labelAngle"] == 0
    assert row["header"]["labelExpr"] == "'run ' + datum.value"


def test_a_count_a_run_lacks_is_0_in_the_validation_plan(page, run_folder, per_request_folder):
    rows = _table(parse_dom(page), ("provider", "error_type", "http_status", "measure"))
    a, b = (_report(folder)["errors_by_type"] for folder in (run_folder, per_request_folder))
    only_one = (a.keys() ^ b.keys()) - {"none"}
    assert only_one, "the two runs met the same error types: nothing to check"
    for row in rows:
        if row["error_type"] in only_one:
            assert "—" not in (row["A"], row["B"], row["B − A"]), row
    # ... and a missing value reads "—" everywhere, an empty text too (no expiry reason)
    for table in parse_dom(page).find_all("table"):
        for td in table.find_all("td"):
            assert td.text.strip(), "an empty cell"


def _time_scales(spec: object) -> list[object]:
    """The scale of every encoding of the virtual-time field in a Vega-Lite spec."""
    if isinstance(spec, list):
        return [scale for item in spec for scale in _time_scales(item)]
    if not isinstance(spec, dict):
        return []
    found = [spec.get("scale")] if spec.get("field") == "t_s" else []
    return found + [scale for value in spec.values() for scale in _time_scales(value)]


def test_the_timelines_share_one_time_axis(run_folder, per_request_folder, page):
    root = parse_dom(page)
    [specs] = [s for s in root.find_all("script") if s.attrs.get("id") == "chart-specs"]
    charts = json.loads(specs.text)
    ends = [_report(folder)["virtual_seconds"] for folder in (run_folder, per_request_folder)]
    assert ends[0] != ends[1]
    for chart_id in ("queue", "completed"):
        # Every run's lane from 0 to the end of the longest run (its last event; the report's
        # virtual seconds is the same moment).
        assert _time_scales(charts[chart_id]) == [{"domain": [0, max(ends)], "nice": False}]
