"""Vega-Lite specs as plain data, for the run page and the comparison page.

Theory of operation. A page's charts are written as the JSON Vega-Lite reads, built here from
dicts and lists: a ``unit`` (one mark over one named dataset), ``layer`` and ``vconcat`` of
units, and ``top_level``, which adds the rows of every dataset by name. Nothing is checked when
a page is built, and nothing of Altair is imported: Altair validated each channel, each row and
the whole spec against the Vega-Lite JSON schema, which took about a second of every page (and
so of every ``cjsim run``), and importing it another half second. The check moved to the tests
(``tests/reports`` validates every spec of both pages against the schema Altair ships and pins
``VEGA_LITE_VERSION`` to it), so a broken spec still fails CI, once, instead of costing every
page. ``tests/snapshots/test_chart_specs.py`` shows a changed chart as a diff of its spec.

The specs are what Altair wrote for the same charts, byte for byte: channels in Altair's
``"field:T"`` shorthand (``channel("score:Q", title=...)``), its default view ``config``, the
``$schema`` of ``VEGA_LITE_VERSION`` (the page drops it: it is the only address a spec holds),
and the data of a layer moved up to the layer when every one of its units reads the same
dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sim.reports.html_page import VEGA_LITE_VERSION

__all__ = [
    "SCHEMA_URL",
    "Spec",
    "channel",
    "layer",
    "mark",
    "tooltip",
    "top_level",
    "unit",
    "value",
    "vconcat",
]

Spec = dict[str, Any]

SCHEMA_URL = f"https://vega.github.io/schema/vega-lite/{VEGA_LITE_VERSION}.json"
#: Altair's default theme: the size of a view whose continuous axes are given no width or
#: height (every chart here gives both); kept so that the pages did not change.
_VIEW_CONFIG: Spec = {"continuousHeight": 300, "continuousWidth": 300}
_TYPES = {"N": "nominal", "O": "ordinal", "Q": "quantitative", "T": "temporal"}


def channel(shorthand: str, **properties: Any) -> Spec:
    """An encoding channel on a field, from Altair's shorthand: ``channel("score:Q",
    title="BT score")`` is ``{"field": "score", "type": "quantitative", "title": "BT score"}``.
    Without ``:T`` the channel has no type (``x2``, which takes the type of ``x``). A property
    given as None is written as null (``title=None``: no title)."""
    name, _, code = shorthand.partition(":")
    if not name or (code and code not in _TYPES):
        raise ValueError(f"channel {shorthand!r}: expected 'field' or 'field:N|O|Q|T'")
    spec: Spec = {"field": name}
    if code:
        spec["type"] = _TYPES[code]
    spec.update(properties)
    return spec


def tooltip(*shorthands: str) -> list[Spec]:
    """A tooltip listing each field (``"essay:N"``, ``"score:Q"``)."""
    return [channel(shorthand) for shorthand in shorthands]


def value(constant: Any) -> Spec:
    """A channel set to one value for every mark (a pixel position, say)."""
    return {"value": constant}


def mark(kind: str, **properties: Any) -> Spec:
    """A mark definition: ``mark("rule", color="#888")``."""
    return {"type": kind, **properties}


def unit(data: str, mark: Spec, encoding: Mapping[str, Any], **properties: Any) -> Spec:
    """One mark over the dataset named ``data``; ``properties`` are the view's own (``width``,
    ``height``, ``title``, ``transform``)."""
    return {"data": {"name": data}, "mark": mark, "encoding": dict(encoding), **properties}


def layer(*units: Spec, **properties: Any) -> Spec:
    """Units drawn over each other. When all of them read one dataset, it is named once, on the
    layer (as Altair writes it)."""
    assert units, "a layer of nothing"
    layers = list(units)
    data = layers[0].get("data")
    spec: Spec = {}
    if data is not None and all(u.get("data") == data for u in layers):
        spec["data"] = data
        layers = [{k: v for k, v in u.items() if k != "data"} for u in layers]
    spec["layer"] = layers
    spec.update(properties)
    return spec


def vconcat(*charts: Spec, **properties: Any) -> Spec:
    """Charts stacked top to bottom."""
    assert charts, "a column of nothing"
    return {"vconcat": list(charts), **properties}


def hconcat(*charts: Spec, **properties: Any) -> Spec:
    """Charts side by side, left to right."""
    assert charts, "a row of nothing"
    return {"hconcat": list(charts), **properties}


def top_level(chart: Spec, datasets: Mapping[str, Sequence[Mapping[str, Any]]]) -> Spec:
    """The whole spec of ``chart``, with the rows of each dataset its units name. A name used
    and not given is a mistake here (the chart would draw nothing), so it raises."""
    missing = sorted(_names(chart) - datasets.keys())
    assert not missing, f"the chart reads datasets {missing} that it was not given"
    return {
        "$schema": SCHEMA_URL,
        "config": {"view": dict(_VIEW_CONFIG)},
        **chart,
        "datasets": {name: [dict(row) for row in rows] for name, rows in datasets.items()},
    }


def _names(spec: Any) -> set[str]:
    """The dataset names a spec reads."""
    if isinstance(spec, list):
        return {name for item in spec for name in _names(item)}
    if not isinstance(spec, dict):
        return set()
    found = set()
    data = spec.get("data")
    if isinstance(data, dict) and "name" in data:
        found.add(str(data["name"]))
    for key in ("layer", "vconcat", "hconcat", "spec"):
        found |= _names(spec.get(key))
    return found
