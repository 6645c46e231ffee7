"""The run page (``sim.reports.run_page``) as a reader meets it: one file, readable without
JavaScript, agreeing with the run's own tables, the same bytes every time."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from engine.cj.misfit import essay_fit
from sim.reports.html_page import (
    VEGA_LITE_VERSION,
    ChartBlock,
    Flagged,
    Section,
    Table,
    TableBlock,
    javascript_bundle,
    render_page,
    script_json,
)
from sim.reports.run_charts import (
    CHART_HEIGHT_PX_MAX,
    HEATMAP_ESSAYS_MAX,
    HEATMAP_GROUPS,
    LABELLED_ESSAYS_MAX,
    essay_axis,
    heatmap_chart,
    positions_chart,
    rank_groups,
    scores_chart,
)
from sim.reports.run_page import run_page_charts, run_page_html
from sim.reports.run_page_data import BatchRanking, RankedEssay, histogram, read_run
from sim.reports.run_page_specs import channel, layer, mark, top_level, unit
from sim.reports.run_page_timeline import thin

CHART_IDS = {
    "scores-1",
    "heatmap-1",
    "positions-1",
    "timeline",
    "latency",
    "queue-wait",
    "dispositions",
}


@dataclass
class ParsedTable:
    title: str
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


class PageParts(HTMLParser):
    """What the page shows a reader without JavaScript: its tables (under the heading before
    each), its blocks' charts and tables, and every src and href attribute."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.addresses: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.tags: set[str] = set()
        self.tables: list[ParsedTable] = []
        self.blocks: list[dict[str, list[str]]] = []  # {"charts": [...], "data_tables": [...]}
        self._heading = ""
        self._in_heading = False
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._header = False
        self._details = 0
        self._block_depth: int | None = None
        self._div_depth = 0
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.add(tag)
        for name in ("src", "href"):
            if values.get(name) is not None:
                self.addresses.append((tag, name, str(values[name])))
        classes = (values.get("class") or "").split()
        if tag == "div":
            self._div_depth += 1
            if "block" in classes:
                self._block_depth = self._div_depth
                self.blocks.append({"charts": [], "data_tables": []})
            if "chart" in classes and self._block_depth is not None:
                self.blocks[-1]["charts"].append(str(values.get("id")))
        elif tag in ("h1", "h2", "h3"):
            self._in_heading, self._heading = True, ""
        elif tag == "details":
            self._details += 1
        elif tag == "table":
            self.tables.append(ParsedTable(title=self._heading))
            if self._details and self._block_depth is not None:
                self.blocks[-1]["data_tables"].append(self._heading)
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th", "dd"):
            self._cell = []
            self._header = tag == "th"

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self._block_depth == self._div_depth:
                self._block_depth = None
            self._div_depth -= 1
        elif tag in ("h1", "h2", "h3"):
            self._in_heading = False
        elif tag == "details":
            self._details -= 1
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            table = self.tables[-1]
            if self._header and not table.header:
                table.header = self._row
            else:
                table.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self._heading += data
        if self._cell is not None:
            self._cell.append(data)

    def table(self, title: str) -> ParsedTable:
        matching = [t for t in self.tables if t.title == title]
        assert len(matching) == 1, f"{len(matching)} tables under {title!r}"
        return matching[0]


@pytest.fixture(scope="module")
def page(run_folder: Path) -> str:
    """The page of the regular run."""
    return run_page_html(run_folder)


@pytest.fixture(scope="module")
def parts(page: str) -> PageParts:
    """The regular run's page, parsed."""
    return PageParts(page)


def _specs(page: str) -> dict[str, object]:
    match = re.search(r'<script type="application/json" id="chart-specs">(.*?)</script>', page)
    assert match, "the page has no chart specs"
    specs: dict[str, object] = json.loads(match.group(1))
    return specs


def test_the_page_fetches_nothing(parts: PageParts):
    assert [a for a in parts.addresses if not a[2].startswith("#")] == []
    assert not parts.tags & {"link", "img", "iframe", "object", "embed"}


def test_the_vega_bundle_is_inlined_once(page: str):
    bundle = javascript_bundle()
    assert page.count(bundle) == 1
    assert page.count("window.vegaEmbed=") == 1


def test_every_chart_is_drawn_as_svg_into_its_stable_id_and_has_its_table(
    page: str, parts: PageParts
):
    charts = [chart for block in parts.blocks for chart in block["charts"]]
    assert set(charts) == {f"chart-{name}" for name in CHART_IDS}
    assert len(charts) == len(set(charts))
    for block in parts.blocks:
        if block["charts"]:
            assert len(block["data_tables"]) == 1, block
    assert set(_specs(page)) == CHART_IDS
    assert '{renderer: "svg", actions: false, mode: "vega-lite"}' in page


def test_every_chart_is_valid_vega_lite_and_is_what_the_page_draws(
    run_folder: Path, page: str, assert_valid_vega_lite
):
    charts = run_page_charts(run_folder)
    assert set(charts) == CHART_IDS
    specs = {chart_id: block.spec for chart_id, block in charts.items()}
    assert_valid_vega_lite(specs)
    drawn = {
        chart_id: {k: v for k, v in spec.items() if k != "$schema"}
        for chart_id, spec in specs.items()
    }
    assert _specs(page) == drawn


def test_a_legacy_runs_charts_are_valid_vega_lite(legacy_run_folder: Path, assert_valid_vega_lite):
    charts = run_page_charts(legacy_run_folder)
    assert_valid_vega_lite({chart_id: block.spec for chart_id, block in charts.items()})


def test_a_broken_spec_fails_the_check(run_folder: Path, assert_valid_vega_lite):
    """The negative control: the check the pages no longer make at build time still catches
    a misspelt field type, naming the chart and where."""
    spec = run_page_charts(run_folder)["dispositions"].spec
    broken = {**spec, "encoding": {**spec["encoding"], "y": {"field": "count", "type": "count"}}}
    with pytest.raises(
        AssertionError, match=r"chart 'dispositions': not valid Vega-Lite at /encoding/y/type"
    ):
        assert_valid_vega_lite({"dispositions": broken})


def test_the_specs_are_written_for_the_vega_lite_of_the_schema_they_are_checked_against():
    import altair

    assert VEGA_LITE_VERSION == altair.SCHEMA_VERSION


def test_the_ranking_lists_every_essay_with_its_score_from_outcomes_duckdb(
    run_folder: Path, parts: PageParts
):
    with duckdb.connect(str(run_folder / "outcomes.duckdb"), read_only=True) as con:
        stored = con.execute(
            "SELECT essay_id, rank, bt_score, grade FROM scores ORDER BY rank"
        ).fetchall()
    ranking = parts.table("Ranking")
    assert ranking.header[:4] == ["rank", "essay", "anchor", "BT score"]
    shown = [(row[1], row[0], row[3], row[6]) for row in ranking.rows]
    # The table rounds to 3 places, as its SE; the scores chart's data holds the exact value.
    assert shown == [
        (essay, str(rank), repr(round(score, 3)), grade) for essay, rank, score, grade in stored
    ]
    charted = run_page_charts(run_folder)["scores-1"].spec["datasets"]["essays"]
    assert {r["essay"]: r["score"] for r in charted} == {e: s for e, _, s, _ in stored}


def test_the_likeliest_grades_stay_on_one_line(run_folder: Path):
    page = run_page_html(run_folder)
    [row] = [r for r in page.splitlines() if "<td" in r and "\u00a0." in r][:1]
    # "B .31 · A .31": never broken inside a grade, and the cell does not wrap.
    assert re.search(
        r'<td class="nowrap">[A-Z][+-]?\u00a0\.\d\d( · [A-Z][+-]?\u00a0[.\d]+)*</td>', row
    )


def test_the_recomputed_grades_agree_with_the_finalizers(run_folder: Path):
    essays = read_run(run_folder).batches[0].essays
    projected = [e for e in essays if e.projection is not None]
    assert len(projected) == len(essays) == 24
    assert [e.projection.grade for e in projected] == [e.grade for e in projected]


def test_the_fit_shown_is_the_fit_of_the_stored_comparisons(run_folder: Path, parts: PageParts):
    with duckdb.connect(str(run_folder / "outcomes.duckdb"), read_only=True) as con:
        scores = dict(con.execute("SELECT essay_id, bt_score FROM scores").fetchall())
        decided = con.execute(
            """SELECT CASE outcome WHEN 'essay_a' THEN essay_a ELSE essay_b END,
                      CASE outcome WHEN 'essay_a' THEN essay_b ELSE essay_a END
               FROM comparisons WHERE outcome IN ('essay_a', 'essay_b')"""
        ).fetchall()
    fits = essay_fit(scores, decided)
    for row in parts.table("Ranking").rows:
        fit = fits[row[1]]
        assert row[-2].split()[0] == repr(round(fit.infit, 3))
        assert row[-1].split()[0] == repr(round(fit.outfit, 3))
        assert row[-3].split(" / ")[1] == str(fit.comparisons)


def test_the_header_shows_the_fingerprint_verdict_and_settings(run_folder: Path, page: str):
    report = json.loads((run_folder / "report.json").read_text())
    scenario = json.loads((run_folder / "scenario.json").read_text())
    assert f'<code class="fingerprint">{report["fingerprint"]}</code>' in page
    assert "Every invariant held (11 of 11)." in page
    for name in scenario["settings_changed"]:
        assert f"<td>{name}</td>" in page


def test_the_batch_summary_shows_the_finalizers_ssr(run_folder: Path, page: str):
    ssr = json.loads((run_folder / "report.json").read_text())["batches"][0]["ssr"]
    assert f'<dt>scale separation reliability (SSR)</dt><dd class="num">{ssr!r}</dd>' in page


def test_every_fault_window_of_the_scenario_is_in_the_timeline(run_folder: Path, parts):
    faults = json.loads((run_folder / "scenario.json").read_text())["scenario"]["faults"]
    windows = [(f["kind"], f["window_s"]) for f in faults if f["window_s"]]
    rows = parts.table("Queue, completion and faults over virtual time").rows
    shown = [(row[1], row[2], row[3]) for row in rows if row[0] == "fault window"]
    assert shown == [(kind, repr(start), f"until {end!r}") for kind, (start, end) in windows]
    assert windows


def test_the_page_of_24_essays_stays_under_3_mb(page: str):
    # About 1.16 MB, 0.9 of it the Vega bundle; the 1,000-essay page (10 MB at most) is held
    # by tests/benchmarks/test_report_bench.py, as simulating it takes tens of seconds.
    assert len(page.encode("utf-8")) <= 3_000_000


def test_the_page_is_the_same_bytes_when_built_twice(run_folder: Path, page: str):
    assert run_page_html(run_folder) == page


def test_a_folder_without_scenario_json_still_renders(run_folder: Path, tmp_path: Path):
    bare = tmp_path / "bare"
    shutil.copytree(run_folder, bare)
    (bare / "scenario.json").unlink()
    page = run_page_html(bare)
    report = json.loads((bare / "report.json").read_text())
    assert report["fingerprint"] in page
    assert "No scenario.json in this folder" in page
    assert "No limit drawn: the folder has no scenario.json." in page
    assert not [
        row
        for row in PageParts(page).table("Queue, completion and faults over virtual time").rows
        if row[0] == "fault window"
    ]


def test_an_older_report_without_usage_or_liveness_still_renders(run_folder, tmp_path):
    older = tmp_path / "older"
    shutil.copytree(run_folder, older)
    report = json.loads((older / "report.json").read_text())
    del report["usage"], report["liveness"]
    (older / "report.json").write_text(json.dumps(report))
    page = run_page_html(older)
    assert "<dt>liveness</dt>" not in page
    assert "<dt>input tokens</dt>" not in page
    assert report["fingerprint"] in page


def test_a_legacy_run_names_each_broken_invariant_and_its_first_event(legacy_run_folder: Path):
    report = json.loads((legacy_run_folder / "report.json").read_text())
    page = run_page_html(legacy_run_folder)
    invariants = {row[0]: row for row in PageParts(page).table("Invariants").rows}
    broken = {name: r for name, r in report["invariants"].items() if not r["ok"]}
    assert broken
    assert "invariants broken: " + ", ".join(sorted(broken)) in page
    for name, result in broken.items():
        assert invariants[name][1].startswith("no"), name
        event = result["first_event"]
        if event is not None:
            cell = invariants[name][3]
            assert cell.startswith(f"#{event['seq']} t={event['t']} s {event['kind']}"), cell
            # The event's ids and fields, as events.jsonl holds them: not a bare kind.
            with duckdb.connect(str(legacy_run_folder / "outcomes.duckdb"), read_only=True) as con:
                [(line,)] = con.execute(
                    "SELECT line FROM events WHERE seq = ?", [event["seq"]]
                ).fetchall()
            whole = json.loads(line)
            named = {**whole["ids"], **whole["fields"]}
            assert named
            for key, value in named.items():
                if value is None:  # a field the event leaves empty is not shown
                    assert f" {key}=" not in cell, (key, cell)
                    continue
                shown = value if isinstance(value, str) else json.dumps(value)
                assert f" {key}={shown}" in cell, (key, cell)
    assert any(r["first_event"] for r in broken.values())


def test_the_header_says_whether_the_run_settled_not_liveness(legacy_run_folder: Path):
    report = json.loads((legacy_run_folder / "report.json").read_text())
    page = run_page_html(legacy_run_folder)
    header = page[: page.index("</header>")]
    assert "liveness</dt>" not in header
    shown = "yes" if report["liveness"]["ok"] else "no"
    assert f"<dt>settled in the liveness window</dt><dd>{shown}" in header


def test_the_contents_come_before_and_list_the_invariants_and_settings(run_folder: Path):
    page = run_page_html(run_folder)
    toc = page.index('<nav class="toc">')
    toc_html = page[toc : page.index("</nav>")]
    assert ">Invariants</a>" in toc_html
    assert ">Settings that differ from the defaults</a>" in toc_html
    assert toc < page.index("<h2>Invariants</h2>") < page.index("<h2>Settings that differ")


def test_settings_are_shown_plainly(run_folder: Path, parts: PageParts):
    settings = {
        row[0]: row[1] for row in parts.table("Settings that differ from the defaults").rows
    }
    assert settings["QUEUE_PROCESSING_MODE"] == "serial_bundle"  # not "\"serial_bundle\""
    assert settings["MAX_PAIRWISE_COMPARISONS"] == "288"
    assert settings["ENABLE_LLM_BATCHING_METADATA_HINTS"] == "yes"


# The frame (sim.reports.html_page), at its edges.


def test_text_from_a_run_is_escaped_and_json_cannot_end_its_script():
    evil = "</script><script>alert(1)</script><!--"
    spec = {"mark": "bar", "data": {"values": [{"essay": evil}]}}
    table = Table(columns=("essay",), rows=((evil,),))
    page = render_page(
        evil,
        "",
        [
            Section(
                title=evil, blocks=(ChartBlock(title=evil, chart_id="x", spec=spec, table=table),)
            )
        ],
    )
    assert "alert(1)</script>" not in page
    assert "<!--" not in page.replace(javascript_bundle(), "")
    assert "\\u003c/script>" in script_json(spec)
    assert json.loads(script_json(spec)) == spec


def test_chart_ids_must_be_element_id_safe_and_unique():
    table = Table(columns=("a",), rows=())
    with pytest.raises(ValueError, match="lower-case"):
        ChartBlock(title="t", chart_id="Scores 1", spec={}, table=table)
    block = ChartBlock(title="t", chart_id="scores", spec={"mark": "bar"}, table=table)
    with pytest.raises(ValueError, match="two charts have the id 'scores'"):
        render_page("t", "", [Section(title="s", blocks=(block, block))])


def test_a_page_without_charts_carries_no_javascript():
    table = Table(columns=("a",), rows=((Flagged(value=1.31, reason="above 1.3"),),))
    page = render_page("t", "", [Section(title="s", blocks=(TableBlock(title="t", table=table),))])
    assert "<script" not in page
    assert '<td class="num flag" title="above 1.3">1.31' in page


def test_a_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="row 1 has 1 cells for 2 columns"):
        Table(columns=("a", "b"), rows=((1,),))


def test_a_long_tail_is_cut_at_twice_the_95th_percentile_into_an_overflow_bin():
    # 96 calls of 1-2 s and four hung calls of 30 s (the 99th percentile is one of them): the
    # bars cover the body, not the hangs.
    values = [1000.0 + 10 * i for i in range(96)] + [30_000.0] * 4
    shown = histogram(values)
    assert shown.overflow == 4
    assert shown.overflow_from == shown.bins[-1].upper
    # twenty bins of 200 ms (not of 1 s), ending at the edge of the bin that holds twice the
    # 95th percentile (2 x 1940.5 ms)
    assert [(b.lower, b.upper) for b in shown.bins] == [
        (200.0 * i, 200.0 * (i + 1)) for i in range(20)
    ]
    assert sum(b.count for b in shown.bins) + shown.overflow == 100 == shown.values


def test_a_tail_at_the_edge_of_the_factor_is_not_cut():
    values = [100.0] * 95 + [200.0] * 5  # the largest is twice the 95th percentile...
    assert histogram(values).overflow_from is None
    values = [100.0] * 95 + [200.1] * 5  # ... just over it: the bins end at the edge of the
    shown = histogram(values)  # bin holding the bound (200-210), so nothing is left out...
    assert (shown.bins[-1].upper, shown.overflow, shown.overflow_from) == (210.0, 0, None)
    values = [100.0] * 95 + [210.0] * 5  # ... and at that edge, the overflow starts
    shown = histogram(values)
    assert (shown.bins[-1].upper, shown.overflow, shown.overflow_from) == (210.0, 5, 210.0)
    assert histogram([100.0] * 18 + [1e6]).overflow_from is None  # 19 values: too few to cut
    assert histogram([100.0] * 19 + [1e6]).overflow == 1  # 20: enough


def test_a_single_value_sits_inside_the_axis():
    shown = histogram([0.5] * 7)
    [filled] = [b for b in shown.bins if b.count]
    assert filled.count == 7
    assert filled.lower == 0.5
    assert (filled.lower, filled.upper) == (0.5, 0.55)
    assert shown.bins[-1].upper == 1.05  # room after it: not at the axis' edge


def test_the_histogram_chart_draws_and_labels_the_overflow(assert_valid_vega_lite):
    from sim.reports.run_page_activity import histogram_chart

    shown = histogram([1000.0 + 10 * i for i in range(96)] + [30_000.0] * 4)
    block = histogram_chart("Latency", "latency", shown, "ms", "Calls.")
    assert_valid_vega_lite({"latency": block.spec})
    [bar] = block.spec["datasets"]["overflow"]
    assert bar["label"] == f"≥ {shown.overflow_from:g} ms: 4"
    assert (bar["lower"], bar["upper"]) == (4100.0, 4300.0)  # past a gap of half a bin
    assert block.spec["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0, bar["upper"]]
    assert block.table.rows[-1] == (shown.overflow_from, None, 4)


def test_the_timeline_series_keep_their_colours_whatever_the_run_has(run_folder: Path):
    from sim.reports.run_page_activity import SERIES_COLOURS

    spec = run_page_charts(run_folder)["timeline"].spec
    [queue] = [p for p in spec["vconcat"] if p.get("title") == "Queue and concurrency"]
    [scale] = [u["encoding"]["color"]["scale"] for u in queue["layer"] if "color" in u["encoding"]]
    assert scale["domain"][:3] == [name for name, _ in SERIES_COLOURS]
    assert scale["range"][:3] == [colour for _, colour in SERIES_COLOURS]
    assert len(scale["domain"]) == len(scale["range"])


def test_the_a_b_counts_are_a_column_of_their_own(run_folder: Path):
    spec = run_page_charts(run_folder)["positions-1"].spec
    plot, counts = spec["hconcat"]
    assert counts["mark"]["type"] == "text"
    assert counts["encoding"]["text"]["field"] == "counts"
    # Nothing drawn over the bars: no text layer in the plot.
    assert all(u["mark"]["type"] != "text" for u in plot["layer"])


def test_histogram_bins_are_round_and_hold_every_value():
    shown = histogram([0.0, 4.9, 5.0, 99.0, 100.0], bins_max=20)
    assert [(b.lower, b.upper) for b in shown.bins][:2] == [(0.0, 5.0), (5.0, 10.0)]
    assert sum(b.count for b in shown.bins) == 5 == shown.values
    assert len(shown.bins) == 20
    assert shown.bins[-1].count == 2  # 99 and 100: the last bin holds its upper edge
    assert histogram([]).bins == ()
    with pytest.raises(ValueError, match=r"negative value, -1\.0"):
        histogram([3.0, -1.0])


# The specs as plain data (sim.reports.run_page_specs), at their edges.


def test_a_channel_is_written_from_altairs_shorthand():
    assert channel("score:Q", title=None) == {
        "field": "score",
        "type": "quantitative",
        "title": None,
    }
    assert channel("high") == {"field": "high"}  # x2: the type of x
    with pytest.raises(ValueError, match="channel 'score:X'"):
        channel("score:X")


def test_a_layer_names_its_dataset_once_only_when_every_unit_reads_it():
    a, b = unit("essays", mark("bar"), {}), unit("essays", mark("text"), {})
    assert layer(a, b, width=1) == {
        "data": {"name": "essays"},
        "layer": [
            {"mark": {"type": "bar"}, "encoding": {}},
            {"mark": {"type": "text"}, "encoding": {}},
        ],
        "width": 1,
    }
    limits = unit("limits", mark("rule"), {})
    assert layer(a, limits)["layer"] == [a, limits]
    assert "data" not in layer(a, limits)


def test_a_chart_must_be_given_every_dataset_it_reads():
    chart = layer(unit("essays", mark("bar"), {}), unit("limits", mark("rule"), {}))
    with pytest.raises(AssertionError, match=r"\['limits'\]"):
        top_level(chart, {"essays": []})
    assert top_level(chart, {"essays": [], "limits": []})["datasets"] == {
        "essays": [],
        "limits": [],
    }


# The page's bounds, at their edges.


def _batch(essays: int, wins_between: dict[tuple[str, str], int] | None = None) -> BatchRanking:
    """A batch of ``essays`` unanchored essays ``e0000``, ``e0001``... strongest first; by
    default ``e0000`` beat ``e0001`` once, and no other two met."""
    ids = [f"e{i:04d}" for i in range(essays)]
    return BatchRanking(
        cj_batch_id=1,
        essays=tuple(
            RankedEssay(
                rank=i + 1,
                essay_id=essay,
                is_anchor=False,
                known_grade=None,
                score=-0.01 * i,
                se=0.5,
                grade=None,
                projection=None,
                comparisons=1,
                wins=1,
                a_count=1,
                b_count=0,
                fit=None,
            )
            for i, essay in enumerate(ids)
        ),
        grade_scale=None,
        calibration=None,
        ssr=None,
        wins_between={(ids[0], ids[1]): 1} if wins_between is None else wins_between,
    )


def test_the_heatmap_has_a_row_per_essay_up_to_its_essay_limit():
    heatmap = heatmap_chart(_batch(HEATMAP_ESSAYS_MAX))
    assert heatmap is not None
    assert heatmap.table.columns == ("essay \\ against", *(f"e{i:04d}" for i in range(60)))
    assert heatmap.table.rows[0][:3] == ("e0000", "", "1/1")
    assert heatmap.table.rows[1][:3] == ("e0001", "0/1", "")
    assert heatmap.spec["datasets"]["cells"] == [
        {"essay": "e0000", "opponent": "e0001", "wins": 1, "meetings": 1, "win_rate": 1.0},
        {"essay": "e0001", "opponent": "e0000", "wins": 0, "meetings": 1, "win_rate": 0.0},
    ]


def test_above_its_essay_limit_the_heatmap_has_a_row_per_group_of_ranks():
    # 61 essays in 20 groups: 3 or 4 consecutive ranks each; the strongest beat the weakest
    # twice and lost once, the strongest two met once (inside one group: not shown).
    wins = {("e0000", "e0060"): 2, ("e0060", "e0000"): 1, ("e0000", "e0001"): 1}
    heatmap = heatmap_chart(_batch(HEATMAP_ESSAYS_MAX + 1, wins))
    assert heatmap is not None
    labels = heatmap.table.columns[1:]
    assert len(labels) == HEATMAP_GROUPS
    assert (labels[0], labels[-1]) == ("1–3", "58–61")
    assert heatmap.title == "Batch 1: who beat whom, 20 groups by rank"
    assert "61 essays are too many for a row each" in heatmap.note
    assert heatmap.spec["datasets"]["cells"] == [
        {"group": "1–3", "against": "58–61", "wins": 2, "meetings": 3, "win_rate": 0.666667},
        {"group": "58–61", "against": "1–3", "wins": 1, "meetings": 3, "win_rate": 0.333333},
    ]
    assert heatmap.table.rows[0] == ("1–3", *[""] * 19, "2/3")
    assert heatmap.table.rows[-1] == ("58–61", "1/3", *[""] * 19)
    assert heatmap.table.caption.startswith("wins of the row group")
    tooltip = [t["field"] for t in heatmap.spec["encoding"]["tooltip"]]
    assert tooltip == ["group", "against", "wins", "meetings", "win_rate"]


def test_rank_groups_cover_every_essay_once_in_order_with_sizes_one_apart():
    order = [f"e{i}" for i in range(1_000)]
    groups = rank_groups(order, HEATMAP_GROUPS)
    assert [essay for _, members in groups for essay in members] == order
    assert {len(members) for _, members in groups} == {50}
    assert groups[1][0] == "51–100"
    assert sorted({len(m) for _, m in rank_groups(order[:61], HEATMAP_GROUPS)}) == [3, 4]
    assert rank_groups(["a"], 1) == [("1–1", ["a"])]


def test_the_charts_of_a_batch_past_every_bound_are_valid_vega_lite(assert_valid_vega_lite):
    """Unlabelled rows, grouped heatmap: the shapes the regular run's page never has."""
    batch = _batch(LABELLED_ESSAYS_MAX + 1, {("e0000", "e0150"): 1})
    heatmap = heatmap_chart(batch)
    assert heatmap is not None
    assert_valid_vega_lite(
        {
            "scores": scores_chart(batch).spec,
            "heatmap": heatmap.spec,
            "positions": positions_chart(batch, None).spec,
        }
    )


def test_essay_rows_are_labelled_up_to_their_limit():
    labelled, _ = essay_axis([f"e{i}" for i in range(LABELLED_ESSAYS_MAX)])
    unlabelled, _ = essay_axis([f"e{i}" for i in range(LABELLED_ESSAYS_MAX + 1)])
    assert labelled["axis"] == {}
    assert unlabelled["axis"] == {"labels": False, "ticks": False}
    assert essay_axis([f"e{i}" for i in range(3_200)])[1] == CHART_HEIGHT_PX_MAX


def test_a_series_is_thinned_only_above_its_point_budget():
    assert thin([0.0, 1.0, 2.0], end_s=2.0, points_max=3) == [0, 1, 2]
    # Four points, two slices of one second each: the last point of each slice is kept.
    assert thin([0.0, 0.5, 1.0, 1.5], end_s=2.0, points_max=2) == [1, 3]
