"""The frame of cjsim's HTML pages: one self-contained, deterministic HTML document.

Theory of operation. A page is a title, a header of plain HTML and a sequence of ``Section``
values, each holding blocks: a ``ChartBlock`` (a Vega-Lite spec and the ``Table`` of the same
data), a ``TableBlock``, a ``FiguresBlock`` (headline figures) or a ``HtmlBlock``.
``render_page`` turns them into one string that

* needs no network: the Vega, Vega-Lite and vega-embed JavaScript is inlined once
  (``vl_convert.javascript_bundle``), the CSS is inlined, nothing is fetched;
* reads without JavaScript: every chart carries a plain HTML table of its data, and every
  headline figure is plain HTML, so a page opened with scripts off, or printed, loses nothing
  but the pictures;
* prints: ``@media print`` keeps the background white, scales charts and tables to the page and
  opens the data tables before printing;
* is byte-identical for the same inputs: no timestamps, no random ids (a chart's element id is
  ``chart-<chart_id>``), the specs serialised with sorted keys.

Everything that comes from a run is escaped here (``html.escape``); JSON inside ``<script>``
has every ``<`` written as ``\\u003c`` so that no ``</script>`` or ``<!--`` can end it early.
``HtmlBlock`` and ``header_html`` are the two ways to put HTML in as it is: build them with
``table_html``, ``figures_html`` and ``text`` so they are escaped too.

The charts are drawn by ``vegaEmbed(element, spec, {renderer: "svg", actions: false})``. Each
chart element gets ``data-rendered="true"`` once drawn, or ``data-error`` with the message when
drawing failed; ``<body>`` gets ``data-charts-failed`` with the count of failures (what a
browser test waits for and reads).
"""

from __future__ import annotations

import functools
import html
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "VEGA_LITE_VERSION",
    "Block",
    "Cell",
    "ChartBlock",
    "FiguresBlock",
    "Flagged",
    "HtmlBlock",
    "Section",
    "Table",
    "TableBlock",
    "figures_html",
    "format_cell",
    "javascript_bundle",
    "render_page",
    "script_json",
    "table_html",
    "text",
]

#: Chart ids become element ids (``chart-<id>``): lower-case words joined by ``-``.
CHART_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
#: The Vega-Lite version of the pages' specs (their ``$schema``) and of the JavaScript that
#: draws them. The tests validate the specs against the schema Altair ships, and check that it
#: is this version: an Altair upgrade shows up there, not as charts that fail in a browser.
VEGA_LITE_VERSION = "v6.4.1"
#: A table bigger than this is a mistake in the caller (a page must stay printable).
TABLE_ROWS_MAX = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Flagged:
    """A table cell to draw attention to (a misfit above its limit, a broken invariant): shown
    marked, with ``reason`` as its tooltip and in words for screen readers and print."""

    value: str | int | float | bool | None
    reason: str


Cell = str | int | float | bool | None | Flagged


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """Rows of cells under named columns. Numbers are right-aligned; a float is shown as
    Python's shortest exact form (``repr``), so callers round what they want rounded."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""
    nowrap: tuple[str, ...] = ()  # columns whose cells stay on one line

    def __post_init__(self) -> None:
        unknown = sorted(set(self.nowrap) - set(self.columns))
        if unknown:
            raise ValueError(f"nowrap names columns {unknown} not in {self.columns!r}")
        self._check_rows()

    def _check_rows(self) -> None:
        if len(self.rows) > TABLE_ROWS_MAX:
            raise ValueError(f"a table of {len(self.rows)} rows is over {TABLE_ROWS_MAX}")
        for number, row in enumerate(self.rows, start=1):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"row {number} has {len(row)} cells for {len(self.columns)} columns "
                    f"{self.columns!r}"
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class ChartBlock:
    """A chart under its heading: a Vega-Lite spec (``run_page_specs.top_level``), drawn into
    ``<div class="chart" id="chart-<chart_id>">``, and ``table``, the same data as plain HTML
    (folded in a ``<details>`` that opens for printing). ``note`` is a sentence under the
    heading saying how to read the chart."""

    title: str
    chart_id: str
    spec: dict[str, Any]
    table: Table
    note: str = ""

    def __post_init__(self) -> None:
        if not CHART_ID.match(self.chart_id):
            raise ValueError(
                f"chart id {self.chart_id!r} must be lower-case words joined by '-' "
                f"(it becomes the element id chart-{self.chart_id})"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class TableBlock:
    """A table under its heading, always visible (the ranking, the invariants)."""

    title: str
    table: Table
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FiguresBlock:
    """Headline figures, label and value, as a definition list."""

    title: str
    figures: tuple[tuple[str, Cell], ...]
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HtmlBlock:
    """HTML put in as it is: build it with ``text``, ``table_html`` or ``figures_html``."""

    html: str


Block = ChartBlock | TableBlock | FiguresBlock | HtmlBlock


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """A titled part of the page (``<section>`` with an ``<h2>``)."""

    title: str
    blocks: tuple[Block, ...]
    note: str = ""


def text(value: object) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(value), quote=True)


def format_cell(value: Cell) -> str:
    """A cell's plain text: ``—`` for none and NaN, ``yes``/``no`` for booleans, the shortest
    exact form of a float."""
    if isinstance(value, Flagged):
        return format_cell(value.value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "—" if math.isnan(value) else repr(value)
    return str(value)


def _cell_html(value: Cell, tag: str, *, nowrap: bool = False) -> str:
    classes = ["nowrap"] if nowrap else []
    inner = value.value if isinstance(value, Flagged) else value
    if isinstance(inner, int | float) and not isinstance(inner, bool):
        classes.append("num")
    body = text(format_cell(value))
    title = ""
    if isinstance(value, Flagged):
        classes.append("flag")
        title = f' title="{text(value.reason)}"'
        body += f' <span class="flag-reason">({text(value.reason)})</span>'
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<{tag}{attr}{title}>{body}</{tag}>"


def table_html(table: Table) -> str:
    """A ``Table`` as an HTML ``<table>``, every cell escaped."""
    parts = ['<div class="table-wrap"><table>']
    if table.caption:
        parts.append(f"<caption>{text(table.caption)}</caption>")
    head = "".join(f'<th scope="col">{text(column)}</th>' for column in table.columns)
    parts.append(f"<thead><tr>{head}</tr></thead><tbody>")
    nowrap = [column in table.nowrap for column in table.columns]
    for row in table.rows:
        cells = (_cell_html(c, "td", nowrap=n) for c, n in zip(row, nowrap, strict=True))
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table></div>")
    return "\n".join(parts)


def figures_html(figures: Sequence[tuple[str, Cell]]) -> str:
    """Headline figures as ``<dl class="figures">``: each label over its value."""
    items = "".join(
        f'<div class="figure"><dt>{text(label)}</dt>{_cell_html(value, "dd")}</div>'
        for label, value in figures
    )
    return f'<dl class="figures">{items}</dl>'


def script_json(value: Any) -> str:
    """JSON safe inside ``<script>``: sorted keys, and every ``<`` as ``\\u003c`` (it only
    occurs inside strings in JSON, where the escape means the same), so ``</script>`` and
    ``<!--`` cannot appear. NaN and infinity are refused: JSON has neither."""
    encoded = json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return encoded.replace("<", "\\u003c")


def _vega_lite_version() -> str | None:
    """The Vega-Lite ``major.minor`` of ``VEGA_LITE_VERSION``, when vl-convert bundles it
    (else None: vl-convert's newest)."""
    import vl_convert

    wanted = ".".join(VEGA_LITE_VERSION.lstrip("v").split(".")[:2])
    return wanted if wanted in vl_convert.get_vegalite_versions() else None


@functools.lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (~0.9 MB), which sets ``window.vegaEmbed``.
    The same bytes every time for one vl-convert version. Building it takes seconds (vl-convert
    bundles the modules anew on each call), so it is kept in a cache file per version
    (``bundle_cache``): one build per machine, not one per page."""
    import vl_convert

    version = _vega_lite_version()
    # vl-convert's type stubs leave out its __version__, which the module has.
    release = getattr(vl_convert, "__version__", "unknown")
    cached = bundle_cache(f"vega-bundle-{release}-{version or 'latest'}.js")
    if cached is not None and cached.is_file():
        bundle = cached.read_text(encoding="utf-8")
    else:
        # Its type stubs make ``snippet`` a required str, though None (the default) is what
        # sets the globals: called through an untyped reference.
        build: Callable[..., str] = vl_convert.javascript_bundle
        bundle = build(vl_version=version)
        if cached is not None:
            _keep(cached, bundle)
    # It goes in a <script> element as it is: it must not end that element early.
    assert "</script" not in bundle.lower(), "the Vega bundle contains </script"
    return bundle


def bundle_cache(name: str) -> Path | None:
    """Where a built bundle is kept: ``$CJSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/cjsim``, else
    ``~/.cache/cjsim``; none when no such folder can be made (the bundle is then built each
    time)."""
    root = os.environ.get("CJSIM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "cjsim",
    )
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return Path(root) / name


def _keep(path: Path, text: str) -> None:
    """Write the cache file whole (another process may be reading or writing it too); a cache
    that cannot be written is only slower."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        staging.write_text(text, encoding="utf-8")
        os.replace(staging, path)
    except OSError:
        staging.unlink(missing_ok=True)


_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1b1b1b; background: #fff; margin: 0 auto; max-width: 1240px; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; }
h2 { font-size: 1.3rem; border-bottom: 2px solid #d0d7de; padding-bottom: .2rem;
  margin-top: 2.2rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .3rem; }
p.note { color: #444; margin: .2rem 0 .6rem; max-width: 60rem; }
header.page { border-bottom: 3px solid #1b1b1b; padding-bottom: .6rem; }
nav.toc ol { columns: 2; margin: .4rem 0; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .85rem; margin: .3rem 0 .8rem; }
caption { text-align: left; font-style: italic; padding: .2rem 0; }
th, td { border: 1px solid #d0d7de; padding: .15rem .35rem; text-align: left;
  vertical-align: top; }
thead th { background: #f3f5f7; }
td.nowrap { white-space: nowrap; }
td.num, dd.num { text-align: right; font-variant-numeric: tabular-nums; }
.flag { background: #fff1c2; font-weight: 600; }
.flag-reason { font-weight: 400; font-size: .8em; color: #6b4e00; }
td.flag .flag-reason { display: block; white-space: nowrap; }
.ok { color: #116329; font-weight: 600; }
.broken { color: #a40e26; font-weight: 600; }
dl.figures { display: flex; flex-wrap: wrap; gap: .5rem 1.6rem; margin: .6rem 0; }
dl.figures .figure { min-width: 8rem; }
dl.figures dt { font-size: .8rem; color: #555; }
dl.figures dd { margin: 0; font-size: 1.15rem; font-weight: 600; text-align: left; }
.chart { min-height: 2rem; max-width: 100%; overflow-x: auto; }
.chart svg { max-width: 100%; height: auto; }
.chart-fallback, .chart[data-error] { color: #555; font-style: italic; }
details.data { margin: .2rem 0 1rem; }
details.data > summary { cursor: pointer; color: #0b5cad; }
code { font-size: .9em; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; color: #000; background: #fff; }
  h2 { break-after: avoid; }
  .block { break-inside: avoid-page; }
  .chart, .chart svg { max-width: 100% !important; height: auto; }
  .table-wrap { overflow: visible; }
  table { font-size: 8pt; width: 100%; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
  thead th, .flag { background: #fff; }
  .flag { outline: 1px solid #000; }
  details.data > summary { color: #000; }
  nav.toc { display: none; }
}
"""

# Draws every chart; any failure is written on the chart's element and counted on <body>.
_LOADER = """
(function () {
  var specs = JSON.parse(document.getElementById("chart-specs").textContent);
  var failed = 0;
  document.body.setAttribute("data-charts-failed", "0");
  Object.keys(specs).sort().forEach(function (chartId) {
    var element = document.getElementById("chart-" + chartId);
    if (!element) { return; }
    element.textContent = "";
    vegaEmbed(element, specs[chartId], {renderer: "svg", actions: false, mode: "vega-lite"})
      .then(function () { element.setAttribute("data-rendered", "true"); })
      .catch(function (error) {
        failed += 1;
        document.body.setAttribute("data-charts-failed", String(failed));
        element.setAttribute("data-error", String(error));
        element.textContent = "This chart could not be drawn (" + error +
          "); the table below holds its data.";
      });
  });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details.data").forEach(function (d) { d.open = true; });
  });
})();
"""


def _heading(title: str, note: str, level: int) -> str:
    parts = [f"<h{level}>{text(title)}</h{level}>"] if title else []
    if note:
        parts.append(f'<p class="note">{text(note)}</p>')
    return "\n".join(parts)


def _block_html(block: Block) -> str:
    if isinstance(block, HtmlBlock):
        return block.html
    if isinstance(block, TableBlock):
        body = table_html(block.table)
    elif isinstance(block, FiguresBlock):
        body = figures_html(block.figures)
    else:
        body = (
            f'<div class="chart" id="chart-{block.chart_id}" '
            f'aria-label="{text(block.title)}">'
            '<p class="chart-fallback">The chart needs JavaScript; the table below holds its '
            "data.</p></div>\n"
            f'<details class="data"><summary>Data: {text(block.title)}</summary>\n'
            f"{table_html(block.table)}\n</details>"
        )
    return f'<div class="block">\n{_heading(block.title, block.note, 3)}\n{body}\n</div>'


def _section_id(number: int) -> str:
    return f"section-{number}"


def render_page(title: str, header_html: str, sections: Sequence[Section]) -> str:
    """The whole page as one HTML string: ``title`` (escaped) as ``<title>`` and ``<h1>``,
    ``header_html`` (trusted, see ``HtmlBlock``) under it, a table of contents, then each
    section. The JavaScript bundle is inlined only when some section has a chart. Raises
    ``ValueError`` when two charts share an id."""
    charts: dict[str, dict[str, Any]] = {}
    for section in sections:
        for block in section.blocks:
            if isinstance(block, ChartBlock):
                if block.chart_id in charts:
                    raise ValueError(
                        f"two charts have the id {block.chart_id!r} "
                        f"(the second in section {section.title!r})"
                    )
                # No "$schema": its URL is the only address a spec carries, and the mode is
                # given to vegaEmbed instead.
                charts[block.chart_id] = {k: v for k, v in block.spec.items() if k != "$schema"}

    toc = "".join(
        f'<li><a href="#{_section_id(n)}">{text(s.title)}</a></li>'
        for n, s in enumerate(sections, start=1)
    )
    body = [
        f'<header class="page">\n<h1>{text(title)}</h1>\n{header_html}\n</header>',
        f'<nav class="toc"><ol>{toc}</ol></nav>' if sections else "",
    ]
    for number, section in enumerate(sections, start=1):
        blocks = "\n".join(_block_html(block) for block in section.blocks)
        body.append(
            f'<section id="{_section_id(number)}">\n'
            f"{_heading(section.title, section.note, 2)}\n{blocks}\n</section>"
        )
    scripts = ""
    if charts:
        scripts = (
            f"<script>\n{javascript_bundle()}\n</script>\n"
            f'<script type="application/json" id="chart-specs">{script_json(charts)}</script>\n'
            f"<script>{_LOADER}</script>"
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{text(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + f"\n{scripts}\n</body>\n</html>\n"
    )
