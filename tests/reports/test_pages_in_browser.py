"""cjsim's HTML pages in a real browser (headless Chromium, ``tests/reports/browser.py``).

First the driver itself, each of its promises proved on a tiny page that breaks it on purpose:
scripts run before the DOM is read (and are really off when asked), an uncaught error and any
console output are seen, no request reaches the network, a page prints to PDF, a screenshot is
a PNG of the window. Then the pages: a page of the frame (``sim/reports/html_page.py``), the run
page of a real run and of a ``--legacy`` run, and the comparison page of serial bundles against
per request, each opened from ``file://`` with no network: every chart drawn by Vega into an
``<svg>`` with marks, nothing on the console, the headline figures (and the ranking) there with
scripts off, a PDF when printed, and a screenshot a person can look at: each is saved in the
test's temporary folder and, when ``CJSIM_SCREENSHOTS`` names a folder, there too.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import NamedTuple

import pytest

from sim.commands.cli import main
from sim.reports.html_page import format_cell
from sim.reports.ranking import read_ranking
from tests.reports.browser import (
    SCREENSHOT_HEIGHT_PX,
    SCREENSHOT_WIDTH_PX,
    Browser,
    Element,
    assert_clean,
    assert_drawn,
    charts,
    chromium,
    parse_dom,
    pdf_page_count,
    png_dimensions,
)

PDF_BYTES_MIN = 10_000  # a page of text and charts; an empty PDF is about 1 kB
# Distinct byte values in a PNG's (filtered) pixel data: a blank window has a handful (white,
# filter types); anti-aliased text alone has well over this many.
PNG_DISTINCT_BYTES_MIN = 64
ENV_SCREENSHOTS = "CJSIM_SCREENSHOTS"
SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "eng5_regular_24.yaml"
PER_REQUEST = ("QUEUE_PROCESSING_MODE=per_request", "LLM_BATCHING_MODE=per_request")


@pytest.fixture(scope="module")
def browser() -> Browser:
    """Chromium, or the module skipped (failed under CI) saying why there is none."""
    return chromium()


def _page(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"<!DOCTYPE html><html><head></head><body>{body}</body></html>\n")
    return path


def _pixel_bytes(png: bytes) -> set[int]:
    """The distinct byte values of a PNG's (filtered) pixel data, its IDAT chunks inflated."""
    data, at = b"", 8
    while at < len(png):
        length = int.from_bytes(png[at : at + 4], "big")
        if png[at + 4 : at + 8] == b"IDAT":
            data += png[at + 8 : at + 8 + length]
        at += 12 + length  # length, type, data, CRC
    return set(zlib.decompress(data))


def _shoot(browser: Browser, page: Path, name: str, folder: Path) -> bytes:
    """A screenshot of ``page`` as ``name`` in ``folder`` and, for a person to look at, in
    ``$CJSIM_SCREENSHOTS`` when set; a PNG of the whole window with more than blank in it."""
    png = browser.screenshot(page, folder / name)
    assert png_dimensions(png) == (SCREENSHOT_WIDTH_PX, SCREENSHOT_HEIGHT_PX)
    assert len(_pixel_bytes(png)) >= PNG_DISTINCT_BYTES_MIN, f"{name} looks blank"
    if shots := os.environ.get(ENV_SCREENSHOTS):
        Path(shots).mkdir(parents=True, exist_ok=True)
        (Path(shots) / name).write_bytes(png)
    return png


def _by_id(root: Element, element_id: str) -> Element:
    found = [e for e in root.elements() if e.attrs.get("id") == element_id]
    assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
    return found[0]


# A script that changes the page only after a timer: read too early, the DOM is still static.
LATE_SCRIPT = """<p id="t">static</p><noscript><p id="n">scripts are off</p></noscript>
<script>setTimeout(function () { document.getElementById("t").textContent = "scripted"; },
  2000);</script>"""


def test_the_dom_is_read_after_the_page_timers_ran(browser, tmp_path):
    visit = browser.visit(_page(tmp_path, "late.html", LATE_SCRIPT))
    assert _by_id(parse_dom(visit.dom), "t").text == "scripted"
    assert_clean(visit)


def test_scripts_off_leaves_the_page_as_written(browser, tmp_path):
    dom = browser.dom_without_scripts(_page(tmp_path, "late.html", LATE_SCRIPT))
    root = parse_dom(dom)
    assert _by_id(root, "t").text == "static"
    assert "scripts are off" in root.find_all("noscript")[0].text


def test_an_uncaught_error_is_seen(browser, tmp_path):
    broken = _page(tmp_path, "broken.html", "<script>notAFunction();</script>")
    visit = browser.visit(broken)
    [error] = visit.errors
    assert "notAFunction is not defined" in error.text
    assert error.source == broken.as_uri()
    with pytest.raises(AssertionError, match="notAFunction"):
        assert_clean(visit)


def test_console_output_of_any_level_is_seen(browser, tmp_path):
    page = _page(
        tmp_path, "noisy.html", '<script>console.warn("a warning\\nover two lines");</script>'
    )
    visit = browser.visit(page)
    assert [m.text for m in visit.console] == ["a warning\nover two lines"]
    assert visit.errors == ()
    with pytest.raises(AssertionError, match="a warning"):
        assert_clean(visit)


def test_no_request_reaches_the_network_and_each_is_named(browser, tmp_path):
    page = _page(
        tmp_path,
        "fetching.html",
        """<p id="t">waiting</p><img src="https://example.com/logo.png">
<script>fetch("http://127.0.0.1:8000/data.json")
  .then(function () { return fetch("https://cdn.jsdelivr.net/npm/vega@5"); })
  .then(function () { document.getElementById("t").textContent = "fetched"; },
        function (error) { document.getElementById("t").textContent = "refused: " + error; });
</script>""",
    )
    visit = browser.visit(page)
    assert _by_id(parse_dom(visit.dom), "t").text == "refused: TypeError: Failed to fetch"
    assert set(visit.requests) == {
        "https://example.com/logo.png",
        "http://127.0.0.1:8000/data.json",
    }
    with pytest.raises(AssertionError, match="network requests"):
        assert_clean(visit)


def test_a_page_prints_to_pdf(browser, tmp_path):
    one = browser.print_pdf(_page(tmp_path, "one.html", "<p>one page</p>"))
    paragraphs = "".join(f"<p>paragraph {n}</p>" for n in range(300))
    many = browser.print_pdf(_page(tmp_path, "many.html", paragraphs))
    assert one.startswith(b"%PDF-")
    assert one.rstrip().endswith(b"%%EOF")
    assert pdf_page_count(one) == 1
    assert pdf_page_count(many) > 1


def test_a_screenshot_is_a_png_of_the_window(browser, tmp_path):
    blank = browser.screenshot(
        _page(tmp_path, "blank.html", ""), tmp_path / "blank.png", width_px=400, height_px=300
    )
    assert png_dimensions(blank) == (400, 300)
    assert (tmp_path / "blank.png").read_bytes() == blank
    assert len(_pixel_bytes(blank)) < PNG_DISTINCT_BYTES_MIN  # the control: blank is blank
    text = "".join(f"<p>paragraph {n} of a page with words on it</p>" for n in range(20))
    written = browser.screenshot(
        _page(tmp_path, "text.html", text), tmp_path / "text.png", width_px=400, height_px=300
    )
    assert len(_pixel_bytes(written)) >= PNG_DISTINCT_BYTES_MIN


# --- the pages -------------------------------------------------------------------------------


def _frame_page(folder: Path) -> Path:
    """A small page of the frame alone: two charts and a figure."""
    import altair as alt

    from sim.reports.html_page import ChartBlock, FiguresBlock, Section, Table, render_page

    rows = [{"t_s": float(n), "depth": n % 5} for n in range(20)]
    table = Table(columns=("t_s", "depth"), rows=tuple((r["t_s"], r["depth"]) for r in rows))
    line = alt.Chart(alt.Data(values=rows)).mark_line().encode(x="t_s:Q", y="depth:Q")
    bars = alt.Chart(alt.Data(values=rows)).mark_bar().encode(x="t_s:O", y="depth:Q")
    page = render_page(
        "A <small> page",
        "<p>frame only</p>",
        [
            Section(
                title="Queue",
                blocks=(
                    FiguresBlock(title="Headline", figures=(("essays", 24),)),
                    ChartBlock(title="Depth", chart_id="depth", spec=line.to_dict(), table=table),
                    ChartBlock(title="Bars", chart_id="bars", spec=bars.to_dict(), table=table),
                ),
            )
        ],
    )
    path = folder / "frame.html"
    path.write_text(page, encoding="utf-8")
    return path


def test_the_frame_draws_its_charts_offline(browser, tmp_path):
    visit = browser.visit(_frame_page(tmp_path))
    assert_clean(visit)
    assert set(assert_drawn(visit)) == {"depth", "bars"}


class RunPage(NamedTuple):
    page: Path  # the HTML file
    run: Path  # the run folder it shows
    name: str  # what its screenshot is called


@pytest.fixture(scope="module", params=["run_folder", "legacy_run_folder"])
def run_page(request, tmp_path_factory) -> RunPage:
    """The run page of eng5_regular_24 (and of its ``--legacy`` run: invariants broken, no
    ranking), written to a file next to nothing else; the run folders are the session's
    (tests/reports/conftest.py)."""
    from sim.reports.run_page import run_page_html

    run: Path = request.getfixturevalue(request.param)
    page = tmp_path_factory.mktemp("page") / "run.html"
    page.write_text(run_page_html(run), encoding="utf-8")
    name = "run-legacy" if request.param == "legacy_run_folder" else "run"
    return RunPage(page=page, run=run, name=name)


def _ranking(run: Path) -> set[tuple[str, str]]:
    """Every essay of the run as its ranking table shows it: (rank, essay id), unranked
    essays with the frame's dash (a ``--legacy`` run of this scenario ranks none)."""
    return {
        (format_cell(essay.rank or None), essay.essay_id)
        for essay in read_ranking(run / "outcomes.duckdb")
    }


def _figures(root: Element) -> dict[str, str]:
    """Every headline figure of a page (``<dl class="figures">``), label to text; the first of
    two with one label."""
    found: dict[str, str] = {}
    for figures in root.find_all("dl", "figures"):
        for figure in figures.find_all("div", "figure"):
            [label], [value] = figure.find_all("dt"), figure.find_all("dd")
            found.setdefault(label.text, value.text)
    return found


def _table_rows(root: Element, columns: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The cells under ``columns`` of every table that has those columns."""
    rows = set()
    for table in root.find_all("table"):
        header = [th.text for th in table.find_all("th")]
        if not set(columns) <= set(header):
            continue
        at = [header.index(column) for column in columns]
        for row in table.find_all("tr"):
            cells = [td.text for td in row.find_all("td")]
            if cells:
                rows.add(tuple(cells[i] for i in at))
    return rows


def test_the_run_page_draws_every_chart_offline_without_errors(browser, run_page):
    visit = browser.visit(run_page.page)
    assert_clean(visit)
    assert_drawn(visit)


def test_the_run_page_shows_ranking_and_figures_without_scripts(browser, run_page):
    root = parse_dom(browser.dom_without_scripts(run_page.page))
    assert charts(root), "the page has no chart elements"
    assert not any(chart.svgs for chart in charts(root).values())  # scripts were off
    run = run_page.run
    report = json.loads((run / "report.json").read_text())
    figures = _figures(root)
    for label, value in (
        ("scenario", report["scenario"]),
        ("seed", report["seed"]),
        ("events", report["events"]),
        ("virtual seconds", report["virtual_seconds"]),
    ):
        assert figures.get(label) == format_cell(value), f"headline figure {label!r}"
    expected = _ranking(run)
    assert len(expected) == 24
    missing = expected - _table_rows(root, ("rank", "essay"))
    assert not missing, f"not in the ranking table: {sorted(missing)}"


def test_the_run_page_prints(browser, run_page):
    pdf = browser.print_pdf(run_page.page)
    assert pdf.startswith(b"%PDF-")
    assert pdf_page_count(pdf) > 1
    assert len(pdf) > PDF_BYTES_MIN


def test_the_run_page_screenshot(browser, run_page, tmp_path):
    _shoot(browser, run_page.page, f"{run_page.name}.png", tmp_path)


class ComparePage(NamedTuple):
    page: Path  # the HTML file
    runs: tuple[Path, Path]  # serial bundles (A), per request (B)


@pytest.fixture(scope="module")
def compare_page(run_folder, tmp_path_factory) -> ComparePage:
    """The comparison page of the session's run (serial bundles, A) against the same scenario
    run per request (B), as tests/reports/test_compare_page.py makes it."""
    from sim.reports.compare_page import compare_page_html

    per_request = tmp_path_factory.mktemp("per_request") / "run"
    main(["run", str(SCENARIO), *(f"--set={s}" for s in PER_REQUEST), "--out", str(per_request)])
    page = tmp_path_factory.mktemp("compare") / "compare.html"
    page.write_text(compare_page_html([run_folder, per_request]), encoding="utf-8")
    return ComparePage(page=page, runs=(run_folder, per_request))


def test_the_comparison_page_draws_every_chart_offline_without_errors(browser, compare_page):
    visit = browser.visit(compare_page.page)
    assert_clean(visit)
    assert set(assert_drawn(visit)) == {"queue", "completed", "ranks"}


def test_the_comparison_page_shows_its_figures_without_scripts(browser, compare_page):
    root = parse_dom(browser.dom_without_scripts(compare_page.page))
    assert charts(root), "the page has no chart elements"
    assert not any(chart.svgs for chart in charts(root).values())  # scripts were off
    a, b = (json.loads((run / "report.json").read_text()) for run in compare_page.runs)
    shown = _table_rows(root, ("figure", "A", "B", "B − A"))
    for label, key in (
        ("virtual seconds", "virtual_seconds"),
        ("events", "events"),
        ("provider calls", "provider_calls"),
    ):
        row = (label, format_cell(a[key]), format_cell(b[key]))
        assert any(r[:3] == row for r in shown), f"headline figure {label!r}: {row} not shown"
    joined = _table_rows(root, ("essay", "rank A", "rank B"))
    assert {essay for essay, _, _ in joined} == {
        essay for _, essay in _ranking(compare_page.runs[0])
    }


def test_the_comparison_page_prints(browser, compare_page):
    pdf = browser.print_pdf(compare_page.page)
    assert pdf.startswith(b"%PDF-")
    assert pdf_page_count(pdf) > 1
    assert len(pdf) > PDF_BYTES_MIN


def test_the_comparison_page_screenshot(browser, compare_page, tmp_path):
    _shoot(browser, compare_page.page, "compare.png", tmp_path)
