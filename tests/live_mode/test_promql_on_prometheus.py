"""Every PromQL snippet of docs/dashboards/ evaluated by a real Prometheus server that scraped a
real live run.

Theory of operation. A Prometheus server (``tests.live_mode.prometheus_server``) scrapes, every
second, the ``/metrics`` endpoint of a live run of the shipped example (10 essays, 45 pairs in
serial bundles) against the loopback fake provider, through the real Anthropic SDK adapter, with
two 429s, two 529s, a 500 and a truncated answer injected. The run's configuration keeps its
metrics served for a few seconds after the run ends (``metrics_linger_s``), and the session says
so through its notice callback: called on the event loop, that callback blocks until Prometheus
has scraped after the call, so that scrape read the run's final state. That moment is
``final_s``, and ``test_the_last_scrape_saw_the_run_s_final_registry`` proves it (every sample
held at ``final_s`` equals the registry the run returned). (Holding the run from its progress
callback once every comparison was answered was not enough: the batch's final scoring, and its
decisions and stability samples, came after the last hold.)

Each panel is evaluated at ``final_s``, as ``promql.md`` prints it. rate() extrapolates, so a rate
snippet is checked for its series (label sets) and sane values, and its counter form (rate()
swapped for max_over_time() over the same window: a counter's last value, as the run has no
counter reset) for exact values. A histogram quantile is checked for its series, and its
_count series and whole-run quantile (over the buckets' last values) for exact counts and bounds.
The expected figures come from the run's folder: report.json, and events.jsonl for what the
report has no figure for (bundle sizes, HTTP statuses, retries and decisions by kind).
"""

from __future__ import annotations

import contextlib
import enum
import importlib.util
import json
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
from prometheus_client import CollectorRegistry

from engine.live.cohort import load_cohort
from engine.live.config import load_live_config
from engine.live.session import run_live
from engine.lps.publisher import SOURCE_SERVICE
from engine.metrics_export import samples
from sim.commands.live_command import prepare_new_run, write_live_results
from tests.live.fake_provider_server import (
    Answer,
    FakeProviderServer,
    overloaded,
    rate_limited,
    server_error,
    truncated,
)
from tests.live_mode.live_example import example_config
from tests.live_mode.prometheus_server import (
    JOB,
    PrometheusQueryError,
    PrometheusServer,
    PrometheusUnavailable,
    find_prometheus,
    free_port,
    prometheus_server,
)

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / "docs" / "dashboards" / "panels.py"
KEY = "sk-ant-api03-cjsimPROMQLtest0123456789"
MODEL = "test-model"
# The faults come first in the script, so each error_type's series exists for several scrapes.
FAULTS = (
    rate_limited(retry_after="0.1"),
    overloaded(),
    rate_limited(retry_after="0.1"),
    overloaded(),
    server_error(500),
    truncated(),
)
ANSWER_DELAY_S = 0.2  # some 10 s for 45 pairs: Prometheus scrapes the run several times
HOLD_WAIT_S_MAX = 10.0
METRICS_LINGER_S = 3.0  # the run's metrics stay up this long after it ends (scrapes every 1 s)
CALL_TIMEOUT_S = 10.0
RUN_WALL_S_MAX = 40.0


def _load_builder() -> ModuleType:
    # docs/ is not a package: the builder is a script, loaded from its path (as
    # tests/docs/test_dashboards.py loads it, under the same name).
    name = "cjsim_dashboard_panels"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BUILDER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while they are built
    spec.loader.exec_module(module)
    return module


panels_py = _load_builder()
PANELS = [panel for section in panels_py.SECTIONS for panel in section.panels]

# ---- what the run's folder says each panel must show -------------------------------------

Series = tuple[tuple[str, str], ...]  # a series' labels, sorted by name


def s(**labels: str) -> Series:
    return tuple(sorted(labels.items()))


class Form(enum.Enum):
    """How a panel's values are checked (its series are always)."""

    EXACT = "the snippet's own values"  # raw counters and gauges
    COUNTER = "the counter form's values"  # rate() swapped for max_over_time()
    COUNT = "the _count series and the whole-run quantile"  # histogram_quantile()
    PRESENCE = "series only: the run's folder does not determine the values"


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    form: Form
    values: dict[Series, float]  # for PRESENCE, the series alone count
    # A labelled counter has no series before its first inc(), and a state gauge keeps a 0 for
    # every state a batch has left: with this set, a 0 and no series mean the same.
    absent_is_zero: bool = False
    digits: int | None = None  # the report rounds to this many places
    quantile_max: float | None = None  # a histogram quantile's largest sane value

    def shown(self, values: dict[Series, float]) -> dict[Series, float]:
        kept = {k: v for k, v in values.items() if not (self.absent_is_zero and v == 0)}
        if self.digits is not None:
            kept = {k: round(v, self.digits) for k, v in kept.items()}
        return kept


@dataclass(frozen=True, slots=True)
class RunFolder:
    """What a live run wrote: report.json and events.jsonl, with the settings the test chose."""

    report: dict[str, Any]
    events: list[dict[str, Any]]
    mode: str  # QUEUE_PROCESSING_MODE
    batching_mode: str  # LLM_BATCHING_MODE

    @property
    def provider(self) -> str:
        return str(self.report["live"]["provider"]["name"])

    @property
    def model(self) -> str:
        return str(self.report["live"]["provider"]["model"])

    def fields(self, kind: str) -> list[dict[str, Any]]:
        return [event["fields"] for event in self.events if event["kind"] == kind]

    def batches_sum(self, key: str) -> int:
        return sum(int(batch[key]) for batch in self.report["batches"])


def _errors(run: RunFolder) -> Expected:
    errors = run.report["errors_by_type"]
    values = {s(provider=run.provider, error_type=t): n for t, n in errors.items()}
    return Expected(form=Form.COUNTER, values=values)


def _failing_share(run: RunFolder) -> Expected:
    failed = sum(run.report["errors_by_type"].values())
    values = {s(provider=run.provider): failed / run.report["provider_calls"]}
    return Expected(form=Form.COUNTER, values=values)


def _errors_by_status(run: RunFolder) -> Expected:
    failed = [f for f in run.fields("lps.provider.call") if f["outcome"] == "error"]
    statuses = Counter((f["error_type"], str(f["http_status"] or "none")) for f in failed)
    assert Counter(f["error_type"] for f in failed) == run.report["errors_by_type"]
    values = {s(error_type=t, http_status_code=code): n for (t, code), n in statuses.items()}
    return Expected(form=Form.COUNTER, values=values)


def _retries(run: RunFolder) -> Expected:
    retried = Counter(f["error_type"] for f in run.fields("lps.retry.scheduled"))
    assert sum(retried.values()) == run.report["queue"]["retries"]
    values = {s(provider=run.provider, error_type=t): n for t, n in retried.items()}
    return Expected(form=Form.COUNTER, values=values)


def _queue_waits(run: RunFolder) -> dict[Series, float]:
    """Items by how they left the queue: each observes its wait once, at its end."""
    queue = run.report["queue"]
    return {
        s(queue_processing_mode=run.mode, result=result): queue[key]
        for result, key in (("success", "completed"), ("failure", "failed"), ("expired", "expired"))
    }


def _wait_p95(run: RunFolder) -> Expected:
    return Expected(form=Form.COUNT, values=_queue_waits(run), absent_is_zero=True)


def _wait_mean(run: RunFolder) -> Expected:
    # The mean's series are the p95's; its value is wall time the run's folder does not hold.
    return Expected(form=Form.PRESENCE, values=_queue_waits(run), absent_is_zero=True)


def _queue_depth(run: RunFolder) -> Expected:
    queue = run.report["queue"]
    open_items = queue["items"] - queue["completed"] - queue["failed"] - queue["expired"]
    assert open_items == 0  # a settled run leaves nothing open, so nothing waits for a worker
    values = {s(queue_type="total"): open_items, s(queue_type="queued"): open_items}
    return Expected(form=Form.EXACT, values=values)


def _expiries(run: RunFolder) -> Expected:
    values = {
        s(provider=run.provider, queue_processing_mode=run.mode, expiry_reason=reason): n
        for reason, n in run.report["queue"]["expiries_by_reason"].items()
    }
    return Expected(form=Form.EXACT, values=values, absent_is_zero=True)


def _zombies(run: RunFolder) -> Expected:
    values = {s(provider=run.provider): run.report["queue"]["zombie_results"]}
    return Expected(form=Form.EXACT, values=values, absent_is_zero=True)


def _call_duration_p95(run: RunFolder) -> Expected:
    failed = sum(run.report["errors_by_type"].values())
    values = {
        s(provider=run.provider, status="success"): run.report["provider_calls"] - failed,
        s(provider=run.provider, status="failure"): failed,
    }
    return Expected(form=Form.COUNT, values=values, absent_is_zero=True)


def _concurrency_limit(run: RunFolder) -> Expected:
    gates = run.report["concurrency"]["gates"]
    values = {s(provider=g["provider"], model=g["model"]): g["final"] for g in gates}
    return Expected(form=Form.EXACT, values=values)


def _bundle_sizes(run: RunFolder) -> dict[Series, list[int]]:
    sizes: dict[Series, list[int]] = {}
    for f in run.fields("lps.bundle.started"):
        sizes.setdefault(s(provider=f["resolved_provider"], model=f["model"]), []).append(f["size"])
    return sizes


def _items_mean(run: RunFolder) -> Expected:
    values = {k: sum(sizes) / len(sizes) for k, sizes in _bundle_sizes(run).items()}
    return Expected(form=Form.COUNTER, values=values)


def _items_p95(run: RunFolder) -> Expected:
    values = {k: len(sizes) for k, sizes in _bundle_sizes(run).items()}
    return Expected(form=Form.COUNT, values=values, quantile_max=64)


def _bundle_calls(run: RunFolder) -> Expected:
    values = {k: len(sizes) for k, sizes in _bundle_sizes(run).items()}
    return Expected(form=Form.COUNTER, values=values)


def _per_wave(run: RunFolder) -> Expected:
    waves = len(run.fields("cj.wave.submitted"))
    values = {s(batching_mode=run.batching_mode): run.batches_sum("submitted") / waves}
    return Expected(form=Form.EXACT, values=values)


def _batch_progress(run: RunFolder) -> Expected:
    batches = run.report["batches"]
    values = {s(cj_batch_id=str(b["cj_batch_id"])): b["max_completion_pct"] for b in batches}
    return Expected(form=Form.EXACT, values=values, digits=6)


def _batch_states(run: RunFolder) -> Expected:
    states = Counter(b["final_state"] for b in run.report["batches"])
    values = {s(state=state): n for state, n in states.items()}
    return Expected(form=Form.EXACT, values=values, absent_is_zero=True)


def _comparisons(run: RunFolder) -> Expected:
    values = {
        s(status="success"): run.batches_sum("completed"),
        s(status="error"): run.batches_sum("failed"),
    }
    return Expected(form=Form.EXACT, values=values, absent_is_zero=True)


def _cj_failure_share(run: RunFolder) -> Expected:
    failed, completed = run.batches_sum("failed"), run.batches_sum("completed")
    values = {s(provider=run.provider, model=run.model): failed / (completed + failed)}
    return Expected(form=Form.COUNTER, values=values)


def _lps_callbacks(run: RunFolder) -> Expected:
    values = _queue_waits(run)  # one callback per item, as it leaves the queue
    assert sum(values.values()) == run.report["callbacks"]["published_by_lps"]
    return Expected(form=Form.COUNTER, values=values, absent_is_zero=True)


def _cj_callbacks(run: RunFolder) -> Expected:
    callbacks = run.report["callbacks"]
    applied = {
        s(status="applied_success"): run.batches_sum("completed"),
        s(status="applied_error"): run.batches_sum("failed"),
    }
    assert sum(applied.values()) == callbacks["applied"]
    others = {s(status=key): callbacks[key] for key in ("duplicate", "orphan", "late", "invalid")}
    return Expected(form=Form.EXACT, values=applied | others, absent_is_zero=True)


def _orphans(run: RunFolder) -> Expected:
    values = {s(source_service=SOURCE_SERVICE): run.report["callbacks"]["orphan"]}
    return Expected(form=Form.EXACT, values=values, absent_is_zero=True)


def _resubmissions(run: RunFolder) -> Expected:
    return Expected(form=Form.EXACT, values={s(): run.batches_sum("resubmissions")})


def _stuck(run: RunFolder) -> Expected:
    # A gauge of the monitor's last sweep: neither file records sweeps.
    return Expected(form=Form.PRESENCE, values={s(): 0})


def _decisions(run: RunFolder) -> Expected:
    decided = Counter(f["decision"] for f in run.fields("cj.continuation"))
    return Expected(form=Form.EXACT, values={s(decision=d): n for d, n in decided.items()})


def _tokens(run: RunFolder) -> Expected:
    usage = run.report["usage"]
    values = {
        s(provider=run.provider, model=run.model, token_type=token_type): usage[key]
        for token_type, key in (
            ("prompt", "input_tokens"),
            ("completion", "output_tokens"),
            ("cache_read", "cache_read_tokens"),
            ("cache_write", "cache_write_tokens"),
        )
    }
    return Expected(form=Form.COUNTER, values=values, absent_is_zero=True)


def _cost(run: RunFolder) -> Expected:
    values = {s(provider=run.provider, model=run.model): run.report["usage"]["cost_usd"]}
    return Expected(form=Form.EXACT, values=values, absent_is_zero=True, digits=6)


EXPECTED: dict[str, Callable[[RunFolder], Expected]] = {
    "Provider errors by error_type": _errors,
    "Share of provider calls failing": _failing_share,
    "Provider errors by error_type and HTTP status": _errors_by_status,
    "Retries by error_type": _retries,
    "Queue wait p95 by mode and result": _wait_p95,
    "Queue wait mean by mode and result": _wait_mean,
    "Queue depth": _queue_depth,
    "Queue expiries since the run started": _expiries,
    "Zombie results since the run started": _zombies,
    "Provider call duration p95": _call_duration_p95,
    "Adaptive concurrency limit": _concurrency_limit,
    "Serial-bundle items per call (mean)": _items_mean,
    "Serial-bundle items per call (p95)": _items_p95,
    "Serial-bundle calls": _bundle_calls,
    "Comparisons requested per wave": _per_wave,
    "Batch progress": _batch_progress,
    "Batches by state": _batch_states,
    "Comparisons by outcome since the run started": _comparisons,
    "CJ failure share by provider and model": _cj_failure_share,
    "LPS callbacks by mode and result": _lps_callbacks,
    "CJ callbacks by disposition since the run started": _cj_callbacks,
    "Orphan callbacks since the run started": _orphans,
    "Callback resubmissions since the run started": _resubmissions,
    "Stuck batches": _stuck,
    "Continuation decisions since the run started": _decisions,
    "Tokens per second": _tokens,
    "Cost since the run started": _cost,
}

# ---- the snippets' other forms -----------------------------------------------------------

RATE = re.compile(r"\brate\(")
QUANTILE = re.compile(
    r"histogram_quantile\((?P<q>[\d.]+), sum by \(le, (?P<by>[\w, ]+)\) "
    r"\(rate\((?P<family>\w+)_bucket(?P<selector>\{[^}]*\})?\[(?P<range>\w+)\]\)\)\)"
)


def counter_form(expr: str) -> str:
    """``expr`` with each rate() a max_over_time() over the same window: since the run has no
    counter reset, each counter's value at the last scrape, aggregated as the panel does."""
    assert RATE.search(expr), f"no rate() in {expr!r}"
    return RATE.sub("max_over_time(", expr)


def count_form(expr: str) -> str:
    """A histogram_quantile() panel's observation counts, grouped as the panel groups."""
    match = QUANTILE.fullmatch(expr)
    assert match is not None, f"not a p-quantile of one histogram's rates: {expr!r}"
    selector = match["selector"] or ""
    return (
        f"sum by ({match['by']}) "
        f"(max_over_time({match['family']}_count{selector}[{match['range']}]))"
    )


def values_of(result: list[dict[str, Any]]) -> dict[Series, float]:
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result}


def sane(value: float) -> bool:
    """A rate or a ratio of rates: never negative or infinite; NaN is 0/0 (a series whose
    counter did not move inside the window), which Grafana leaves blank."""
    return math.isnan(value) or 0 <= value < math.inf


# ---- the run, scraped --------------------------------------------------------------------


@dataclass
class Scraped:
    prometheus: PrometheusServer
    final_s: float  # the last scrape, which saw the run's final state
    run: RunFolder
    registry: CollectorRegistry  # the run's, as run_live returned it

    def query(self, expr: str) -> dict[Series, float]:
        return values_of(self.prometheus.query(expr, at_s=self.final_s))


def _unavailable(reason: str) -> NoReturn:
    """Skip without a Prometheus server, as the PostgreSQL and browser tests do; fail under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (under CI the PromQL must be tested on Prometheus)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    """One live run of the example against the fake provider, scraped by Prometheus every
    second until its final state; the server stays up for the queries."""
    try:
        find_prometheus()
    except PrometheusUnavailable as error:
        _unavailable(str(error))
    tmp = tmp_path_factory.mktemp("promql")
    metrics_port = free_port()  # chosen first, so the scrape configuration can name it
    with contextlib.ExitStack() as stack:
        try:
            prometheus = stack.enter_context(
                prometheus_server(f"127.0.0.1:{metrics_port}", tmp / "prometheus")
            )
        except PrometheusUnavailable as error:
            _unavailable(str(error))
        default = Answer(kind="verdict", winner="auto", delay_s=ANSWER_DELAY_S)
        provider = stack.enter_context(FakeProviderServer(default=default))
        provider.script(*FAULTS)
        environment = stack.enter_context(pytest.MonkeyPatch.context())
        environment.setenv("ANTHROPIC_API_KEY", KEY)
        out = tmp / "out"
        path = example_config(
            tmp,
            out=str(out),
            metrics_port=metrics_port,
            metrics_linger_s=METRICS_LINGER_S,
            provider={
                "name": "anthropic",
                "model": MODEL,
                "base_url": provider.url,
                "timeout_s": CALL_TIMEOUT_S,
            },
            caps={"max_wall_s": RUN_WALL_S_MAX},  # a stuck run stops, and fails the fixture
        )
        config, base = load_live_config(path)
        plan = prepare_new_run(config, load_cohort(config, base), base, out, dry_run=False)
        holds_s: list[float] = []

        def notice(message: str) -> None:
            # Said on the event loop once the run has ended, while its metrics are still
            # served: the scrape this waits for reads the final numbers.
            if message.startswith("metrics: final numbers"):
                holds_s.append(prometheus.scrape_after(time.time(), wait_s_max=HOLD_WAIT_S_MAX))

        run = run_live(config, plan, notice=notice)
        assert run.settled, run.stopped
        assert holds_s, "the session never said its final numbers were served"
        with open(os.devnull, "w") as sink:
            assert write_live_results(run, sink, html=False) == 0
        folder = RunFolder(
            report=json.loads((out / "report.json").read_text(encoding="utf-8")),
            events=[json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()],
            mode=config.settings["QUEUE_PROCESSING_MODE"],
            batching_mode=config.settings["LLM_BATCHING_MODE"],
        )
        yield Scraped(prometheus, holds_s[-1], folder, run.registry)


# ---- the tests ---------------------------------------------------------------------------


def test_every_panel_has_an_expectation():
    assert sorted(p.title for p in PANELS) == sorted(EXPECTED)


def test_the_run_met_every_fault_it_was_given(scraped):
    assert set(scraped.run.report["errors_by_type"]) == {
        "rate_limit",
        "overloaded",
        "server_error",
        "max_tokens",
    }


def test_prometheus_scraped_the_run_while_it_ran(scraped):
    (scrapes,) = scraped.query(f'sum_over_time(up{{job="{JOB}"}}[2m])').values()
    assert scrapes >= 4
    # An early scrape saw fewer answers than the last: Prometheus watched the run go.
    report = scraped.run.report
    answered = report["provider_calls"] - sum(report["errors_by_type"].values())
    successes = 'llm_provider_requests_total{status="success"}'
    assert scraped.query(f"sum({successes})") == {s(): answered}
    assert scraped.query(f"sum(min_over_time({successes}[2m]))")[s()] < answered


def test_the_last_scrape_saw_the_run_s_final_registry(scraped):
    seen: dict[tuple[str, Series], float] = {}
    for sample in scraped.prometheus.query(f'{{job="{JOB}"}}', at_s=scraped.final_s):
        labels = dict(sample["metric"])
        name = labels.pop("__name__")
        del labels["job"], labels["instance"]
        # Prometheus's own series about the scrape, and the wall-clock creation times the
        # engine leaves out of its samples too.
        if name.startswith("scrape_") or name == "up" or name.endswith("_created"):
            continue
        seen[(name, s(**labels))] = float(sample["value"][1])
    final = {(sample.name, sample.labels): sample.value for sample in samples(scraped.registry)}
    assert seen == final


def test_a_query_prometheus_refuses_fails_with_its_reason(scraped):
    # What "evaluates without error" below rests on: a refusal is an exception, not [].
    with pytest.raises(PrometheusQueryError, match=r"'sum by \(state\) cj_batch_state': bad_data"):
        scraped.query("sum by (state) cj_batch_state")


@pytest.mark.parametrize("panel", PANELS, ids=[p.title for p in PANELS])
def test_the_panel_evaluates_to_what_the_run_s_folder_says(scraped, panel):
    expected = EXPECTED[panel.title](scraped.run)
    expr = panels_py.promql(panel.expr)
    shown = scraped.query(expr)  # a refused query raises, with Prometheus's reason
    want = expected.shown(expected.values)
    if expected.form is Form.EXACT:
        assert expected.shown(shown) == want, expr
        return
    # The same series, labelled alike: a rate of 0 is still a series, a count of 0 may be none.
    assert set(shown) == set(want), expr
    assert all(sane(v) for v in shown.values()), (expr, shown)
    if expected.form is Form.COUNTER:
        counters = counter_form(expr)
        assert expected.shown(scraped.query(counters)) == want, counters
    elif expected.form is Form.COUNT:
        counts = count_form(expr)
        assert expected.shown(scraped.query(counts)) == want, counts
        whole_run = counter_form(expr)  # the quantile of every observation the run made
        quantiles = scraped.query(whole_run)
        assert set(quantiles) == set(want), whole_run
        ceiling = math.inf if expected.quantile_max is None else expected.quantile_max
        assert all(0 <= q <= ceiling for q in quantiles.values()), (whole_run, quantiles)
