"""Reading a page's DOM as the browser left it: a small tree of elements, and the charts on it.

``parse_dom`` turns what ``Browser.visit`` (``Visit.dom``) or ``Browser.dom_without_scripts``
returned into ``Element``s; ``charts`` finds every chart of an ``html_page`` page in that tree,
with whether its loader marked it drawn and how many Vega marks it holds; ``assert_drawn`` is
the check every page test makes of them. Chromium serialises every element with its end tag
except HTML's void elements, so a stack is enough to build the tree; an end tag without its
start closes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the type: browser.py imports this module
    from tests.reports.browser import Visit

__all__ = ["Chart", "Element", "assert_drawn", "charts", "parse_dom"]

# HTML's void elements: they have no end tag, so they never go on the stack.
_VOID = frozenset(("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"))
_VOID |= {"param", "source", "track", "wbr"}


@dataclass(slots=True)
class Element:
    """An element of a parsed DOM: its tag, attributes, children and text, in document order."""

    tag: str
    attrs: dict[str, str]
    children: list[Element | str]

    def elements(self) -> Iterator[Element]:
        """This element and every element under it, depth first."""
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.elements()

    def find_all(self, tag: str, css_class: str = "") -> list[Element]:
        return [
            e for e in self.elements() if e.tag == tag and (not css_class or css_class in e.classes)
        ]

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        """The text under this element, whitespace runs as one space."""
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join("".join(parts).split())


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, [])
        self._open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs}, [])
        self._open[-1].children.append(element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open[-1].children.append(Element(tag, {n: v or "" for n, v in attrs}, []))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, 0, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._open[-1].children.append(data)


def parse_dom(dom: str) -> Element:
    """A serialised DOM (``Visit.dom``, ``dom_without_scripts``) as a tree of ``Element``."""
    builder = _TreeBuilder()
    builder.feed(dom)
    builder.close()
    return builder.root


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    """A chart element of an ``html_page`` page as the browser left it: whether the page's
    loader marked it drawn (``data-rendered``) or failed (``data-error``), and how many Vega
    marks holding something it draws: mark groups (``role-mark``) with at least one shape."""

    chart_id: str
    rendered: bool
    error: str | None
    svgs: int
    marks: int


def charts(root: Element) -> dict[str, Chart]:
    """Every ``<div class="chart" id="chart-...">`` of a page, by its chart id."""
    found = {}
    for div in root.find_all("div", "chart"):
        chart_id = div.attrs.get("id", "").removeprefix("chart-")
        svgs = div.find_all("svg")
        marks = sum(
            1
            for svg in svgs
            for group in svg.find_all("g", "role-mark")
            if any(isinstance(child, Element) for child in group.children)
        )
        found[chart_id] = Chart(
            chart_id=chart_id,
            rendered=div.attrs.get("data-rendered") == "true",
            error=div.attrs.get("data-error"),
            svgs=len(svgs),
            marks=marks,
        )
    return found


def assert_drawn(visit: Visit) -> dict[str, int]:
    """Every chart of an ``html_page`` page drawn by Vega as one ``<svg>`` with marks, and no
    failure counted on ``<body>``; answers the marks of each chart, by id."""
    root = parse_dom(visit.dom)
    found = charts(root)
    assert found, "the page has no charts"
    for chart in found.values():
        assert chart.error is None, f"chart {chart.chart_id}: {chart.error}"
        assert chart.rendered, f"chart {chart.chart_id} was not marked drawn"
        assert chart.svgs == 1, f"chart {chart.chart_id} has {chart.svgs} <svg>"
        assert chart.marks > 0, f"chart {chart.chart_id} has an <svg> without marks"
    [body] = root.find_all("body")
    assert body.attrs.get("data-charts-failed") == "0", "the page counted failed charts"
    return {chart_id: chart.marks for chart_id, chart in found.items()}
