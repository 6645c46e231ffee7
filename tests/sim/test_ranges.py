"""Every number a scenario, a live configuration or an engine setting may hold is finite and
bounded both ways, and each bound holds exactly at its edge: the limit is accepted and the next
value beyond it refused, each with the smallest input that reaches the field."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError

from engine.live.config import Caps, LiveConfig, Pricing, ProviderConfig
from engine.settings import Settings
from sim.harness.fault_catalogue import FaultSpec
from sim.harness.scenario import CohortSpec, ReportCheck, Scenario, ScenarioError, StudentsSpec
from sim.harness.scenario_bounds import ANCHORS_MAX, COHORT_WORDS_MAX, STUDENTS_MAX
from sim.harness.scenario_file import parse_scenario

# ---- The models, their numeric fields and their bounds -------------------------------------


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """``root`` and every model its fields hold, at any depth."""
    found: list[type[BaseModel]] = []
    pending: list[Any] = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, type) and issubclass(node, BaseModel):
            if node not in found:
                found.append(node)
                pending += [field.annotation for field in node.model_fields.values()]
        else:
            pending += typing.get_args(node)
    return found


MODELS = [*_models(Scenario), *_models(LiveConfig), Settings]


def _number_type(annotation: Any) -> type | None:
    """``int`` or ``float`` for a (possibly optional) number field, else None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _number_type(kinds[0]) if len(kinds) == 1 else None
    return annotation if annotation in (int, float) else None


def _bounds(metadata: list[Any]) -> dict[str, float]:
    bounds = {}
    for constraint in metadata:
        for name in ("ge", "gt", "le", "lt"):
            value = getattr(constraint, name, None)
            if isinstance(constraint, annotated_types.BaseMetadata) and value is not None:
                bounds[name] = value
    return bounds


NUMBERS = [
    (model, name, kind, _bounds(field.metadata))
    for model in MODELS
    for name, field in model.model_fields.items()
    if (kind := _number_type(field.annotation)) is not None
]


def _id(model: type[BaseModel], name: str) -> str:
    return f"{model.__name__}.{name}"


def test_the_walk_reaches_every_model():
    names = {model.__name__ for model in MODELS}
    assert {"Quality", "Latency", "Tokens", "FaultSpec", "FaultTarget", "RunSpec"} <= names
    assert {"ReportCheck", "ProviderRateLimit", "Caps", "Pricing", "Settings"} <= names
    assert len(NUMBERS) > 100


@pytest.mark.parametrize(
    ("model", "name", "bounds"),
    [pytest.param(model, name, bounds, id=_id(model, name)) for model, name, _, bounds in NUMBERS],
)
def test_every_number_is_bounded_below_and_above(model, name, bounds):
    assert bounds.keys() & {"ge", "gt"}, f"{_id(model, name)} has no lower bound"
    assert bounds.keys() & {"le", "lt"}, f"{_id(model, name)} has no upper bound"
    assert all(math.isfinite(limit) for limit in bounds.values())


# ---- Minimal inputs ------------------------------------------------------------------------

#: The smallest valid input of each model that has required fields.
BASE: dict[type[BaseModel], dict[str, Any]] = {
    Scenario: {"name": "s"},
    FaultSpec: {"kind": "http_429"},
    ReportCheck: {"path": "x"},
    LiveConfig: {"name": "x", "assessment": {"assignment": "a"}, "essays": "e"},
    Pricing: {"input_per_mtok": 0, "output_per_mtok": 0},
}
for _model in MODELS:
    if _model.__name__ == "AnchorSpec":
        BASE[_model] = {"ref": "a", "grade": "A"}

CONCURRENCY = ("LPS_CONCURRENCY_MIN", "LPS_CONCURRENCY_START", "LPS_CONCURRENCY_MAX")


def _companions(name: str, value: Any) -> dict[str, Any]:
    """Settings that must move with ``name`` for ``value`` to be judged on its own: the
    concurrency triple must stay ordered, the backoff's base within its maximum."""
    if name in CONCURRENCY:
        held = min(max(value, 1), 1024)
        return {other: held for other in CONCURRENCY if other != name}
    held = min(value, 86_400) if value > 0 else 1.0
    if name == "RETRY_BACKOFF_BASE_S":
        return {"RETRY_BACKOFF_MAX_S": held}
    if name == "RETRY_BACKOFF_MAX_S":
        return {"RETRY_BACKOFF_BASE_S": held}
    return {}


def _validate(model: type[BaseModel], name: str, value: Any) -> None:
    if model is Settings:
        Settings.for_simulation(**{**_companions(name, value), name: value})
    else:
        model.model_validate({**BASE.get(model, {}), name: value})


def _refused(model: type[BaseModel], name: str, value: Any) -> bool:
    """Whether ``value`` is refused, and for ``name`` itself."""
    try:
        _validate(model, name, value)
    except ValidationError as error:
        return any(problem["loc"][:1] == (name,) for problem in error.errors())
    return False


def _edges(kind: type, bounds: dict[str, float]) -> Iterator[tuple[str, float, float]]:
    """``(bound, the last value accepted, the first refused)`` for each bound."""
    step: Callable[[float, float], float]
    if kind is int:

        def step(value: float, towards: float) -> float:
            return value + (1 if towards > value else -1)

    else:
        step = math.nextafter
    for bound, limit in bounds.items():
        outward = -math.inf if bound in ("ge", "gt") else math.inf
        if bound in ("ge", "le"):
            yield bound, limit, step(limit, outward)
        else:  # strict: the limit itself is the first value refused
            yield bound, step(limit, -outward), limit


EDGES = [
    pytest.param(model, name, accepted, refused, id=f"{_id(model, name)}-{bound}")
    for model, name, kind, bounds in NUMBERS
    for bound, accepted, refused in _edges(kind, bounds)
]


@pytest.mark.parametrize(("model", "name", "accepted", "refused"), EDGES)
def test_each_bound_holds_at_its_edge(model, name, accepted, refused):
    _validate(model, name, accepted)
    assert _refused(model, name, refused), f"{_id(model, name)}={refused!r} was accepted"


FLOATS = [
    pytest.param(model, name, bad, id=f"{_id(model, name)}-{bad}")
    for model, name, kind, _ in NUMBERS
    if kind is float
    for bad in (math.inf, -math.inf, math.nan)
]


@pytest.mark.parametrize(("model", "name", "bad"), FLOATS)
def test_no_number_is_infinite_or_nan(model, name, bad):
    assert _refused(model, name, bad)


# ---- Bounds the walk cannot see ------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "ok"),
    [
        ([0, 2_592_000], True),  # 30 days
        ([0, math.nextafter(2_592_000, math.inf)], False),
        ([-1e-9, 10], False),
        ([0, math.inf], False),
    ],
)
def test_a_fault_window_lies_within_30_days(window, ok):
    spec = {"kind": "callback_burst", "window_s": window}
    if ok:
        FaultSpec.model_validate(spec)
    else:
        with pytest.raises(ValidationError):
            FaultSpec.model_validate(spec)


@pytest.mark.parametrize("comparison", ["eq", "ne"])
def test_an_equality_check_with_a_number_is_finite_and_bounded(comparison):
    ReportCheck.model_validate({"path": "x", comparison: 1e12})
    ReportCheck.model_validate({"path": "x", comparison: "COMPLETED"})
    ReportCheck.model_validate({"path": "x", comparison: True})
    for bad in (math.nextafter(1e12, math.inf), -(10**13), math.nan, math.inf):
        with pytest.raises(ValidationError, match=comparison):
            ReportCheck.model_validate({"path": "x", comparison: bad})


def test_the_epoch_lies_in_1970_to_2999():
    Scenario.model_validate({"name": "s", "epoch": "1970-01-01T00:00:00Z"})
    Scenario.model_validate({"name": "s", "epoch": "2999-12-31T23:59:59.999999Z"})
    for bad in ("1969-12-31T23:59:59.999999Z", "3000-01-01T00:00:00Z", "9999-12-31T00:00:00Z"):
        with pytest.raises(ValidationError, match=r"epoch must be in 1970\.\.2999"):
            Scenario.model_validate({"name": "s", "epoch": bad})


def test_student_ids_and_listed_anchors_are_bounded_in_number():
    ids = [f"s{i}" for i in range(STUDENTS_MAX)]
    StudentsSpec.model_validate({"ids": ids})
    with pytest.raises(ValidationError, match="ids"):
        StudentsSpec.model_validate({"ids": [*ids, "one_more"]})
    anchors = [{"ref": f"a{i}", "grade": "A", "words": 1} for i in range(ANCHORS_MAX)]
    CohortSpec.model_validate({"anchors": anchors})
    with pytest.raises(ValidationError, match="anchors"):
        CohortSpec.model_validate({"anchors": [*anchors, {"ref": "x", "grade": "A"}]})


def test_a_cohorts_text_is_bounded_in_words():
    assert COHORT_WORDS_MAX == STUDENTS_MAX * 5_000
    full = {"students": {"count": STUDENTS_MAX, "words": 5_000}}
    assert CohortSpec.model_validate(full).text_words == COHORT_WORDS_MAX
    one_more = {**full, "anchors": [{"ref": "a", "grade": "A", "words": 1}]}
    with pytest.raises(ValidationError, match="15,000,001 words"):
        CohortSpec.model_validate(one_more)
    ids = {"students": {"ids": [f"s{i}" for i in range(1_500)], "words": 10_001}}
    with pytest.raises(ValidationError, match="15,001,500 words"):
        CohortSpec.model_validate(ids)


def test_mock_error_codes_are_http_errors():
    Settings.for_simulation(MOCK_ERROR_CODES=[400, 599])
    for bad in ([], [399], [600], [429] * 21):
        with pytest.raises(ValidationError, match="MOCK_ERROR_CODES"):
            Settings.for_simulation(MOCK_ERROR_CODES=bad)


def test_the_client_side_request_limit_holds_at_least_one_request():
    """A token bucket of less than one request a minute never admits a request."""
    Settings.for_simulation(LPS_CLIENT_REQUESTS_PER_MINUTE=1)
    ProviderConfig(requests_per_minute=1)
    with pytest.raises(ValidationError):
        Settings.for_simulation(LPS_CLIENT_REQUESTS_PER_MINUTE=0.999)
    with pytest.raises(ValidationError):
        ProviderConfig(requests_per_minute=0.999)


def test_the_limits_hold_in_the_live_models_too():
    Caps(max_wall_s=2_592_000, max_requests=10_000_000, max_cost_usd=1_000_000)
    Pricing(input_per_mtok=10_000, output_per_mtok=10_000)
    with pytest.raises(ValidationError, match="max_wall_s"):
        Caps(max_wall_s=2_592_001)
    with pytest.raises(ValidationError, match="output_per_mtok"):
        Pricing(input_per_mtok=0, output_per_mtok=10_000.5)


# ---- Located in a file ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("run:\n  batch_interval_s: 86400.001\n", "s.yaml:3:3: run.batch_interval_s: "),
        ("run:\n  batches: 51\n", "s.yaml:3:3: run.batches: "),
        ("cohort:\n  students: {count: 3001}\n", "s.yaml:3:14: cohort.students.count: "),
        (
            "provider:\n  latency_ms: {median: 3600001}\n",
            "s.yaml:3:16: provider.latency_ms.median: ",
        ),
        ("faults:\n  - {kind: stuck, hang_s: 2592001}\n", "s.yaml:3:19: faults.0.hang_s: "),
        ("settings:\n  BATCH_MONITOR_INTERVAL_S: 0.5\n", "s.yaml:3:3: settings.BATCH_MONITOR"),
        ("settings:\n  QUEUE_REQUEST_TTL_HOURS: 721\n", "s.yaml:3:3: settings.QUEUE_REQUEST"),
    ],
)
def test_a_value_beyond_its_limit_is_located_in_the_file(text, where):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(f"name: s\n{text}", "s.yaml")
    assert str(info.value).startswith(where)
