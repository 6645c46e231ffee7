"""A swarm seed's variant of a scenario: a fault storm drawn from the whole catalogue.

Theory of operation. Swarm testing (Groce, Zhang, Eide, Chen and Regehr, "Swarm Testing",
ISSTA 2012) found that one fixed, "everything on" configuration hides bugs: a fault that fires
often can mask the one it would need to be absent for, and a mix that is always the same never
reaches the corners. Each swarm seed therefore draws its own configuration, as TigerBeetle's
VOPR does, and the swarm runs many of them:

- **faults**: every kind of the catalogue (``FaultKind``) joins the storm with probability 1/2,
  at an intensity from mild to storm level: ``rate`` log-uniform in [0.005, 0.5], sometimes a
  ``count``, a ``window_s``, an ``after_calls`` or a batch ``target``, and the kind's own knobs
  (``hang_s``, ``timeout_s``, ``extra_latency_s``, ``retry_after_s``/``_ms``, ``delay_s``,
  ``store_latency_ms``, ``malformed``). ``orphan_callback`` always gets ``at_s``;
  ``callback_burst`` and ``store_latency`` always get ``window_s``. The scenario's own faults
  come first and are always kept, each intensified with probability 1/2;
- **run**: 1..8 concurrent batches; each of the batch interval (up to 300 s), the bus jitter
  (up to 5 s: callbacks overtake each other) and the reorder spread is the scenario's own half
  the time, else drawn;
- **cohort**: the generated students scaled by 1/4..2 (a replayed cohort, named by ``ids``, and
  an anchors-only cohort are left alone); the budget is the scenario's, so the engine's budget
  logic is untouched;
- **settings**: each knob of ``SETTINGS`` (LPS workers, processing mode, deadlines,
  resubmissions, retries, backoff, bundle size, callback consumers...) is redrawn with
  probability 1/2, else keeps the scenario's value.

Stable draw order. Every decision draws from its own stream, ``Rng(stable_hash64("cjsim-swarm",
scenario name, seed, section))``, with sections ``run``, ``cohort``, ``fault:<kind>`` (one per
catalogue kind), ``own:<index>`` (one per scenario fault) and ``setting:<NAME>`` (one per knob).
Within a stream the draws are made in the order the code below lists them. So adding a kind or a
knob, or changing how one is drawn, never shifts the draws of another: old seeds keep meaning
what they meant. The variant is a pure function of (scenario, seed): ``cjsim run SCENARIO
--seed N --swarm`` replays exactly what the swarm ran.

Liveness. The runner switches faults off after ``run.fault_phase_s`` (or once everything has
settled) and then gives the world ``run.liveness_s`` to settle. A storm's ``liveness_s`` is raised
to cover the engine's longest legitimate wait under the drawn settings (the monitor's stuck
threshold, the queue TTL, callback deadlines times resubmissions, call deadlines times retries,
the longest late callback) twice over, plus the remaining work done by one worker: a correct
engine always settles in it, so a batch that does not is a liveness bug, not an impatient harness.

Cost. Storms must stay affordable (a seed well under 2 s wall on average on a 2-core machine):
the batch count is cut so that batches x (comparisons + essays) per batch stays under
``WORK_PER_SEED_MAX``, and the students are capped at ``STUDENTS_MAX``. (The swarm's
workers also pin BLAS to one thread: on a busy 2-core machine a threaded solve is 30x slower.)

Judging. A variant expects every invariant to hold and checks no report figures (a storm changes
the cohort and the batch count, so a scenario's own figures no longer apply), in both modes: the
swarm judges invariants only, and ``cjsim run --swarm`` then agrees with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from engine.randomness import Rng, stable_hash64
from engine.settings import Settings
from sim.harness.fault_catalogue import FaultKind, FaultSpec
from sim.harness.scenario import Expectation, Scenario

__all__ = [
    "BATCHES_MAX",
    "SETTINGS",
    "STUDENTS_MAX",
    "WORK_PER_SEED_MAX",
    "swarm_variant",
]

BATCHES_MAX = 8
WORK_PER_SEED_MAX = 720  # batches x (comparisons + essays): keeps a seed affordable
STUDENTS_MAX = 48
RATE_MIN, RATE_MAX = 0.005, 0.5
WINDOW_S_MIN, WINDOW_S_MAX = 10.0, 1800.0
LATE_DELAY_S_MAX = 3600.0
LIVENESS_S_MAX = 30 * 86400.0  # RunSpec's own bound


def _stream(scenario: Scenario, seed: int, section: str) -> Rng:
    return Rng(stable_hash64("cjsim-swarm", scenario.name, seed, section))


def _log_uniform(rng: Rng, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _r(value: float) -> float:
    """Three decimals: exact in YAML, readable in a shrunk scenario."""
    return round(value, 3)


# ------------------------------------------------------------------------------------------
# Settings: one drawer per knob (or pair of knobs that must agree), each in its own stream
# ------------------------------------------------------------------------------------------


def _mode(rng: Rng) -> dict[str, Any]:
    mode = rng.choice(("per_request", "serial_bundle"))
    # The CJ side's batching hint follows the queue's mode, as every shipped scenario has it.
    return {
        "QUEUE_PROCESSING_MODE": mode,
        "LLM_BATCHING_MODE": mode,
        "ENABLE_LLM_BATCHING_METADATA_HINTS": rng.random() < 0.5,
    }


def _backoff(rng: Rng) -> dict[str, Any]:
    base = _log_uniform(rng, 0.1, 10.0)
    return {
        "RETRY_BACKOFF_BASE_S": _r(base),
        "RETRY_BACKOFF_MAX_S": _r(base * _log_uniform(rng, 1.0, 30.0)),
    }


def _one(name: str, draw: Callable[[Rng], Any]) -> Callable[[Rng], dict[str, Any]]:
    return lambda rng: {name: draw(rng)}


#: Every knob a storm redraws, in a fixed order (the order only names streams; it shifts nothing).
SETTINGS: tuple[tuple[str, Callable[[Rng], dict[str, Any]]], ...] = (
    ("LPS_WORKERS", _one("LPS_WORKERS", lambda rng: rng.randint(1, 8))),
    ("QUEUE_PROCESSING_MODE", _mode),
    (
        "QUEUE_PROCESSING_TIMEOUT_S",
        _one("QUEUE_PROCESSING_TIMEOUT_S", lambda rng: _r(_log_uniform(rng, 30.0, 3600.0))),
    ),
    (
        "PROVIDER_CALL_DEADLINE_S",
        _one("PROVIDER_CALL_DEADLINE_S", lambda rng: _r(_log_uniform(rng, 5.0, 900.0))),
    ),
    (
        "CJ_CALLBACK_DEADLINE_S",
        _one("CJ_CALLBACK_DEADLINE_S", lambda rng: _r(_log_uniform(rng, 60.0, 3600.0))),
    ),
    ("CJ_MAX_RESUBMISSIONS", _one("CJ_MAX_RESUBMISSIONS", lambda rng: rng.randint(0, 4))),
    (
        "CJ_CALLBACK_CONCURRENCY",
        _one("CJ_CALLBACK_CONCURRENCY", lambda rng: rng.choice((1, 2, 4, 8, 16, 32, 64))),
    ),
    (
        "RETRY_AFTER_MAX_S",
        _one("RETRY_AFTER_MAX_S", lambda rng: _r(_log_uniform(rng, 1.0, 600.0))),
    ),
    ("QUEUE_MAX_RETRIES", _one("QUEUE_MAX_RETRIES", lambda rng: rng.randint(0, 6))),
    ("RETRY_BACKOFF", _backoff),
    (
        "SERIAL_BUNDLE_MAX_REQUESTS_PER_CALL",
        _one("SERIAL_BUNDLE_MAX_REQUESTS_PER_CALL", lambda rng: rng.randint(1, 64)),
    ),
    ("SERIAL_BUNDLE_WINDOW_S", _one("SERIAL_BUNDLE_WINDOW_S", lambda rng: _r(rng.uniform(0, 2)))),
    (
        "BATCH_MONITOR_INTERVAL_S",
        _one("BATCH_MONITOR_INTERVAL_S", lambda rng: _r(_log_uniform(rng, 30.0, 900.0))),
    ),
    (
        "QUEUE_REQUEST_TTL_HOURS",
        _one("QUEUE_REQUEST_TTL_HOURS", lambda rng: _r(_log_uniform(rng, 0.25, 4.0))),
    ),
    (
        "QUEUE_POLL_INTERVAL_S",
        _one("QUEUE_POLL_INTERVAL_S", lambda rng: _r(_log_uniform(rng, 0.1, 2.0))),
    ),
)


def _settings(scenario: Scenario, seed: int) -> dict[str, Any]:
    settings = dict(scenario.settings)
    for name, draw in SETTINGS:
        rng = _stream(scenario, seed, f"setting:{name}")
        if rng.random() < 0.5:
            settings.update(draw(rng))
    return settings


# ------------------------------------------------------------------------------------------
# Faults
# ------------------------------------------------------------------------------------------


def _window(rng: Rng, fault_phase_s: float) -> tuple[float, float]:
    start = _r(rng.uniform(0.0, min(fault_phase_s, 3600.0) / 2))
    return start, _r(start + _log_uniform(rng, WINDOW_S_MIN, WINDOW_S_MAX))


def _storm_fault(kind: FaultKind, rng: Rng, *, fault_phase_s: float, batches: int) -> FaultSpec:
    """One fault of ``kind`` at a random intensity. Draws, in order: rate, count?, window?,
    after_calls?, target?, then the kind's own knobs."""
    fault: dict[str, Any] = {
        "kind": kind.value,
        "rate": round(_log_uniform(rng, RATE_MIN, RATE_MAX), 6),
    }
    if rng.random() < 0.25:
        fault["count"] = rng.randint(1, 20)
    needs_window = kind in (FaultKind.CALLBACK_BURST, FaultKind.STORE_LATENCY)
    if rng.random() < 0.25 or needs_window:
        fault["window_s"] = _window(rng, fault_phase_s)
    if rng.random() < 0.125:
        fault["after_calls"] = rng.randint(0, 200)
    if rng.random() < 0.125:
        fault["target"] = {"batch": rng.randint(1, batches)}
    if kind is FaultKind.HTTP_429:
        header = rng.choice(("none", "seconds", "milliseconds"))
        if header == "seconds":
            fault["retry_after_s"] = _r(_log_uniform(rng, 0.5, 300.0))
        elif header == "milliseconds":
            fault["retry_after_ms"] = _r(_log_uniform(rng, 100.0, 120_000.0))
    elif kind is FaultKind.TIMEOUT:
        fault["timeout_s"] = _r(_log_uniform(rng, 1.0, 600.0))
    elif kind is FaultKind.LATENCY_SPIKE:
        fault["extra_latency_s"] = _r(_log_uniform(rng, 1.0, 900.0))
    elif kind is FaultKind.STUCK:
        fault["hang_s"] = _r(_log_uniform(rng, 10.0, 20_000.0))
    elif kind is FaultKind.MALFORMED:
        fault["malformed"] = rng.choice(("not_json", "missing_winner", "invalid_winner"))
    elif kind is FaultKind.DUPLICATE_CALLBACK:
        fault["delay_s"] = _r(_log_uniform(rng, 0.01, 600.0))
    elif kind is FaultKind.LATE_CALLBACK:
        fault["delay_s"] = _r(_log_uniform(rng, 1.0, LATE_DELAY_S_MAX))
    elif kind is FaultKind.ORPHAN_CALLBACK:
        fault["at_s"] = _r(rng.uniform(0.0, min(fault_phase_s, 3600.0)))
    elif kind is FaultKind.STORE_LATENCY:
        fault["store_latency_ms"] = _r(_log_uniform(rng, 5.0, 2000.0))
    return FaultSpec.model_validate(fault)


def _intensified(fault: FaultSpec, rng: Rng) -> FaultSpec:
    """The scenario's own fault, harsher with probability 1/2: rate up to 4x, count up to 3x."""
    if rng.random() >= 0.5:
        return fault
    update: dict[str, Any] = {"rate": round(min(1.0, fault.rate * _log_uniform(rng, 1.0, 4.0)), 6)}
    if fault.count is not None:
        update["count"] = fault.count * rng.randint(1, 3)
    return fault.model_copy(update=update)


# ------------------------------------------------------------------------------------------
# Cost and liveness bounds
# ------------------------------------------------------------------------------------------


def _essays(scenario: Scenario, students: int) -> int:
    anchors = scenario.cohort.anchors
    count = {"eng5": 12, "eng5_lower5": 5, "none": 0}[anchors] if isinstance(anchors, str) else 0
    return students + (len(anchors) if isinstance(anchors, list) else count)


def _comparisons_per_batch(scenario: Scenario, settings: Settings, students: int) -> int:
    """An upper estimate of one batch's comparisons: its budget, or every pair per pass."""
    essays = _essays(scenario, students)
    passes = 1 + max(
        settings.MAX_RESAMPLING_PASSES_FOR_REGULAR_NET, settings.MAX_RESAMPLING_PASSES_FOR_SMALL_NET
    )
    budget = min(
        scenario.budget or settings.MAX_PAIRWISE_COMPARISONS, settings.MAX_PAIRWISE_COMPARISONS
    )
    return max(1, min(budget, essays * (essays - 1) // 2 * passes))


def _liveness_s(
    scenario: Scenario, settings: Settings, faults: list[FaultSpec], work: int
) -> float:
    """Twice the engine's longest legitimate wait, plus the work left for one worker."""
    waits = [
        settings.BATCH_STUCK_THRESHOLD_S + settings.BATCH_MONITOR_INTERVAL_S,
        settings.BATCH_INITIALIZING_TIMEOUT_S + settings.BATCH_MONITOR_INTERVAL_S,
        settings.QUEUE_REQUEST_TTL_HOURS * 3600.0 + settings.QUEUE_CLEANUP_INTERVAL_S,
        settings.CJ_CALLBACK_DEADLINE_S * (settings.CJ_MAX_RESUBMISSIONS + 1),
        (settings.PROVIDER_CALL_DEADLINE_S + settings.RETRY_BACKOFF_MAX_S)
        * (settings.QUEUE_MAX_RETRIES + 1),
        settings.QUEUE_PROCESSING_TIMEOUT_S + settings.QUEUE_CLEANUP_INTERVAL_S,
        *(f.delay_s for f in faults if f.delay_s is not None),
    ]
    latency = scenario.provider.latency_ms
    call_s = max(latency.median, latency.mean, latency.high, latency.value, 1500.0) / 1000.0
    work_s = work * (call_s + settings.RETRY_BACKOFF_BASE_S)
    wanted = 2 * max(waits) + work_s
    return min(LIVENESS_S_MAX, _r(max(scenario.run.liveness_s, wanted)))


def _keep_or(rng: Rng, own: float, drawn: float) -> float:
    return own if rng.random() < 0.5 else drawn


# ------------------------------------------------------------------------------------------
# The variant
# ------------------------------------------------------------------------------------------


def swarm_variant(scenario: Scenario, seed: int) -> Scenario:
    """Seed ``seed``'s storm of ``scenario`` (a pure function of both; see the module notes)."""
    settings = _settings(scenario, seed)
    engine = Settings.for_simulation(**settings)
    fault_phase_s = scenario.run.fault_phase_s

    run_rng = _stream(scenario, seed, "run")
    batches = run_rng.randint(1, BATCHES_MAX)
    own = scenario.run
    # Each knob: the scenario's own value half the time, else a draw (drawn either way, so that
    # the stream advances alike).
    interval_s = _keep_or(run_rng, own.batch_interval_s, _r(_log_uniform(run_rng, 0.1, 300.0)))
    jitter_ms = _keep_or(run_rng, own.bus_jitter_ms, _r(_log_uniform(run_rng, 1.0, 5000.0)))
    reorder_s = _keep_or(run_rng, own.reorder_spread_s, _r(_log_uniform(run_rng, 1.0, 600.0)))

    students = scenario.cohort.students
    count = students.count
    if students.ids is None and count > 0:
        scale = _log_uniform(_stream(scenario, seed, "cohort"), 0.25, 2.0)
        # Never above STUDENTS_MAX, unless the scenario itself has more (then never more).
        count = max(2, min(round(count * scale), max(STUDENTS_MAX, count)))
    per_batch = _comparisons_per_batch(scenario, engine, count)
    # Scoring cost grows with the essays as well as the comparisons: count both.
    cost_per_batch = per_batch + _essays(scenario, count)
    batches = max(1, min(batches, WORK_PER_SEED_MAX // cost_per_batch))

    faults = [
        _intensified(fault, _stream(scenario, seed, f"own:{index}"))
        for index, fault in enumerate(scenario.faults)
    ]
    for kind in FaultKind:
        rng = _stream(scenario, seed, f"fault:{kind.value}")
        if rng.random() < 0.5:
            faults.append(_storm_fault(kind, rng, fault_phase_s=fault_phase_s, batches=batches))

    run = scenario.run.model_copy(
        update={
            "batches": batches,
            "batch_interval_s": interval_s,
            "bus_jitter_ms": jitter_ms,
            "reorder_spread_s": reorder_s,
            "liveness_s": _liveness_s(scenario, engine, faults, batches * per_batch),
        }
    )
    cohort = scenario.cohort
    if count != students.count:
        cohort = cohort.model_copy(
            update={"students": students.model_copy(update={"count": count})}
        )
    judged = Expectation()
    data = scenario.model_dump(mode="json", exclude_defaults=True)
    data.update(
        seed=seed,
        settings=settings,
        faults=[f.model_dump(mode="json", exclude_defaults=True) for f in faults],
        run=run.model_dump(mode="json", exclude_defaults=True),
        cohort=cohort.model_dump(mode="json", exclude_defaults=True),
        expect=judged.model_dump(mode="json"),
        expect_legacy=judged.model_dump(mode="json"),
    )
    # Validating (not model_copy) proves every drawn value is one a scenario file could hold.
    return Scenario.model_validate(data)
