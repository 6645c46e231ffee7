"""The swarm: storms drawn from the whole catalogue, crashes reported and shrunk, legacy counted."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import yaml

import sim.harness.swarm
import sim.harness.swarm_shrink
from engine.ports import TaskCrashed
from sim.adapters.runtime import SimulationStalled
from sim.commands.cli import main
from sim.harness.fault_catalogue import FaultKind
from sim.harness.scenario import Scenario
from sim.harness.scenario_file import load_scenario
from sim.harness.swarm import swarm_seeds
from sim.harness.swarm_result import CRASH, WORKER_DIED, SeedResult, summarize
from sim.harness.swarm_shrink import Failure, shrink
from sim.harness.swarm_variant import BATCHES_MAX, swarm_variant
from tests.sim.swarm_workers import crash_on_odd_seeds, die_on_seed_3

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
BASELINE = SCENARIOS / "per_request_baseline.yaml"
STORMY = SCENARIOS / "batch33_serial_bundle_errors.yaml"
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture
def blas_env(monkeypatch):
    """The pool pins BLAS in the environment; keep that from leaking out of the test."""
    for name in BLAS_THREADS:
        monkeypatch.setenv(name, "1")


def _no_progress(items, total):
    return items


def _dump(scenario: Scenario) -> str:
    return scenario.model_dump_json()


# ---- the variant --------------------------------------------------------------------------


def test_the_variant_is_a_pure_function_of_scenario_and_seed():
    scenario = load_scenario(STORMY)
    assert _dump(swarm_variant(scenario, 7)) == _dump(swarm_variant(scenario, 7))
    assert _dump(swarm_variant(scenario, 7)) != _dump(swarm_variant(scenario, 8))
    assert swarm_variant(scenario, 7).seed == 7


def test_over_200_seeds_storms_cover_the_catalogue_the_batch_counts_and_the_settings():
    scenario = load_scenario(BASELINE)
    kinds, batches, workers, modes = set(), set(), set(), set()
    for seed in range(200):
        variant = swarm_variant(scenario, seed)
        kinds |= {fault.kind for fault in variant.faults}
        batches.add(variant.run.batches)
        settings = variant.engine_settings()
        workers.add(settings.LPS_WORKERS)
        modes.add(settings.QUEUE_PROCESSING_MODE.value)
    assert kinds == set(FaultKind)
    assert batches == set(range(1, BATCHES_MAX + 1))
    assert workers == set(range(1, 9))
    assert modes == {"per_request", "serial_bundle"}


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_variant_of_every_shipped_scenario_validates(path):
    scenario = load_scenario(path)
    for seed in range(25):
        variant = swarm_variant(scenario, seed)
        again = Scenario.model_validate(variant.model_dump(mode="json"))
        assert _dump(again) == _dump(variant)
        variant.engine_settings()
        variant.engine_settings(legacy=True)
        # The scenario's own faults come first and are kept (possibly harsher).
        own = [fault.kind for fault in scenario.faults]
        assert [fault.kind for fault in variant.faults[: len(own)]] == own
        assert all(
            mine.rate >= theirs.rate
            for mine, theirs in zip(variant.faults, scenario.faults, strict=False)
        )
        # Liveness is never cut below the scenario's own, and outlasts the batch monitor.
        assert variant.run.liveness_s >= scenario.run.liveness_s
        stuck = variant.engine_settings().BATCH_STUCK_THRESHOLD_S
        assert variant.run.liveness_s >= 2 * stuck
        # Judged on invariants only: every one must hold, no report figure is checked.
        for expectation in (variant.expect, variant.expect_legacy):
            assert expectation is not None
            assert expectation.invariants.hold == "all"
            assert expectation.invariants.fail == []
            assert expectation.report == []


def test_a_storm_draws_each_fault_kind_from_its_own_stream():
    """Changing one part of the scenario (a setting) never shifts the fault draws."""
    scenario = load_scenario(BASELINE)
    other = scenario.model_copy(update={"settings": {**scenario.settings, "LLM_TEMPERATURE": 0.5}})
    for seed in range(20):
        assert swarm_variant(scenario, seed).faults == swarm_variant(other, seed).faults


def test_a_replayed_or_anchors_only_cohort_is_never_rescaled():
    scenario = load_scenario(SCENARIOS / "eng5_anchor_66.yaml")
    assert {swarm_variant(scenario, seed).cohort.students.count for seed in range(20)} == {0}


# ---- crashes ------------------------------------------------------------------------------


def test_task_crashed_round_trips_through_pickle():
    crash = TaskCrashed("lps-worker-1", 630.2, KeyError("q-1"))
    back = pickle.loads(pickle.dumps(crash))
    assert type(back) is TaskCrashed
    assert (back.task_name, back.at_s, str(back)) == ("lps-worker-1", 630.2, str(crash))
    assert type(back.error) is KeyError
    assert back.error.args == ("q-1",)


def test_task_crashed_with_an_error_that_does_not_unpickle_keeps_its_message():
    class Picky(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"{a}/{b}")

    crash = TaskCrashed("main", 1.0, Picky(1, 2))
    back = pickle.loads(pickle.dumps(crash))
    assert str(back) == str(crash) == "task 'main' crashed at t=1.000000s: Picky: 1/2"
    assert str(back.error) == "Picky: 1/2"


@pytest.mark.parametrize(
    ("error", "kind", "harness"),
    [
        (TaskCrashed("cj-callbacks", 3.0, KeyError("x")), "TaskCrashed(KeyError)", False),
        (SimulationStalled("every task is blocked"), "SimulationStalled", False),
        (ValueError("the harness tripped"), "ValueError", True),
    ],
    ids=["task-crashed", "stalled", "harness"],
)
def test_a_seed_whose_run_raises_is_a_crashed_seed(monkeypatch, error, kind, harness):
    def explode(*args, **kwargs):
        raise error

    monkeypatch.setattr(sim.harness.swarm, "run_scenario", explode)
    results = swarm_seeds(
        BASELINE, [1, 2], workers=1, legacy=False, overrides=(), progress=_no_progress
    )
    assert [r.seed for r in results] == [1, 2]
    for result in results:
        assert not result.ok
        assert result.broken == (CRASH,)
        assert result.error == f"{type(error).__name__}: {error}"
        assert result.error_kind == kind
        assert result.harness_error is harness


def test_a_pool_reports_task_crashed_raised_out_of_a_worker(blas_env):
    results = swarm_seeds(
        BASELINE,
        range(1, 5),
        workers=2,
        legacy=False,
        overrides=(),
        progress=_no_progress,
        run=crash_on_odd_seeds,
    )
    assert [(r.seed, r.ok) for r in results] == [(1, False), (2, True), (3, False), (4, True)]
    crash = results[0]
    assert crash.broken == (CRASH,)
    assert crash.error_kind == "TaskCrashed(KeyError)"
    assert "task 'lps-worker-0' crashed at t=12.500000s: KeyError: 'item-1'" in crash.error
    assert not crash.harness_error


def test_a_worker_process_that_dies_is_a_crashed_seed_and_the_swarm_goes_on(blas_env):
    results = swarm_seeds(
        BASELINE,
        range(1, 7),
        workers=2,
        legacy=False,
        overrides=(),
        progress=_no_progress,
        run=die_on_seed_3,
    )
    assert [r.seed for r in results] == [1, 2, 3, 4, 5, 6]
    assert [r.seed for r in results if not r.ok] == [3]
    dead = results[2]
    assert dead.broken == (CRASH,)
    assert dead.error_kind == WORKER_DIED
    assert dead.harness_error


def test_shrinking_a_crash_keeps_what_still_crashes_the_same_way(monkeypatch):
    """Only the stuck fault crashes the run (with a KeyError); without it the run stalls
    instead, which is another failure and must not be kept."""

    def fake_run(scenario, **kwargs):
        if any(fault.kind is FaultKind.STUCK for fault in scenario.faults):
            raise TaskCrashed("lps-worker-0", 1.0, KeyError("q"))
        raise SimulationStalled("stalled")

    monkeypatch.setattr(sim.harness.swarm, "run_scenario", fake_run)
    base = load_scenario(BASELINE)
    scenario = Scenario.model_validate(
        {
            **base.model_dump(mode="json", exclude_defaults=True),
            "faults": [
                {"kind": "http_500", "rate": 0.3},
                {"kind": "stuck", "rate": 0.2, "count": 4},
                {"kind": "dropped_callback", "rate": 0.1},
            ],
            "run": {"batches": 4, "bus_jitter_ms": 30},
            "settings": {"LPS_WORKERS": 3, "CJ_MAX_RESUBMISSIONS": 1},
        }
    )
    first = sim.harness.swarm.judge(scenario, 1, False, base_dir=None)
    failure = Failure.of(first)
    assert failure.crash_kind == "TaskCrashed(KeyError)"
    smallest, runs = shrink(scenario, 1, False, failure, base_dir=None)
    assert [(f.kind, f.count) for f in smallest.faults] == [(FaultKind.STUCK, 1)]
    assert smallest.run.batches == 1
    assert smallest.run.bus_jitter_ms == 0
    assert smallest.settings == {}
    assert 0 < runs <= sim.harness.swarm_shrink.SHRINK_RUNS_MAX


# ---- the command --------------------------------------------------------------------------


def test_summarize_counts_seeds_per_invariant():
    results = [
        SeedResult(1, False, ("a", "b"), (), "f1"),
        SeedResult(2, False, ("b",), (), "f2"),
        SeedResult(3, True, (), (), "f3"),
        SeedResult(4, False, (CRASH,), (), "", "TaskCrashed: x", "TaskCrashed(KeyError)"),
        SeedResult(5, False, (CRASH,), (), "", "WorkerDied: y", WORKER_DIED, True),
    ]
    summary = summarize(results)
    assert (summary.seeds, summary.held, summary.failed) == (5, 1, 4)
    assert (summary.crashes, summary.harness_errors) == (2, 1)
    assert summary.broken == {"b": 2, CRASH: 2, "a": 1}
    assert list(summary.broken) == ["b", CRASH, "a"]


def test_a_legacy_swarm_is_a_measurement_exit_0_with_the_distribution(tmp_path, capsys):
    code = main(
        [
            "swarm",
            str(BASELINE),
            "--seeds",
            "6",
            "--workers",
            "1",
            "--legacy",
            "--no-shrink",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    document = json.loads((tmp_path / "swarm.json").read_text())
    results = document["results"]
    assert len(results) == 6
    assert code == (1 if any(r["harness_error"] for r in results) else 0)
    assert "expected to fail but held" not in out
    assert all("expected" not in p for r in results for p in r["problems"])
    counts: dict[str, int] = {}
    for result in results:
        for name in result["broken"]:
            counts[name] = counts.get(name, 0) + 1
        assert result["ok"] == (not result["broken"])
    assert document["summary"]["broken"] == dict(
        sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    )
    assert document["summary"]["failed"] == sum(not r["ok"] for r in results)
    for name, count in counts.items():
        assert any(
            line.split() == [name, str(count), f"{100 * count / 6:.1f}%"]
            for line in out.splitlines()
        )
    assert "wall time" in out


def test_a_crashing_swarm_fails_and_a_legacy_one_only_on_harness_errors(
    monkeypatch, tmp_path, capsys
):
    def explode(*args, **kwargs):
        raise TaskCrashed("lps-worker-0", 5.0, KeyError("q"))

    monkeypatch.setattr(sim.harness.swarm, "run_scenario", explode)
    monkeypatch.setattr(sim.harness.swarm_shrink, "SHRINK_RUNS_MAX", 3)
    args = ["swarm", str(BASELINE), "--seeds", "2", "--workers", "1"]
    assert main([*args, "--out", str(tmp_path / "fixed")]) == 1
    out = capsys.readouterr().out
    assert "seed 1: TaskCrashed: task 'lps-worker-0' crashed at t=5.000000s" in out
    assert "crashes (TaskCrashed(KeyError))" in out
    assert (tmp_path / "fixed" / "minimal-seed1.yaml").is_file()
    assert main([*args, "--legacy", "--no-shrink", "--out", str(tmp_path / "legacy")]) == 0

    def trip(*args, **kwargs):
        raise ValueError("the harness tripped")

    monkeypatch.setattr(sim.harness.swarm, "run_scenario", trip)
    assert main([*args, "--legacy", "--no-shrink", "--out", str(tmp_path / "harness")]) == 1


def test_the_shrunk_scenario_is_self_contained_and_reproduces_from_any_cwd(
    monkeypatch, tmp_path, capsys
):
    """eng5_anchor_66 replays a trace by a relative path; a skew limit of 0 breaks
    position_skew_within_limit on every storm (each anchor meets the others an odd number of
    times), so seed 5 fails and is shrunk."""
    monkeypatch.setattr(sim.harness.swarm_shrink, "SHRINK_RUNS_MAX", 6)
    scenario = SCENARIOS / "eng5_anchor_66.yaml"
    out_dir = tmp_path / "swarm"
    code = main(
        [
            "swarm",
            str(scenario),
            "--seeds",
            "1",
            "--first-seed",
            "5",
            "--workers",
            "1",
            "--set",
            "run.position_skew_limit=0",
            "--out",
            str(out_dir),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    minimal = out_dir / "minimal-seed5.yaml"
    command = f"cjsim run {minimal.resolve()} --seed 5"
    assert f"reproduce: {command}" in out
    text = minimal.read_text()
    assert f"# Reproduce: {command}" in text
    data = yaml.safe_load(text)
    replay = Path(data["provider"]["replay"])
    assert replay.is_absolute()
    assert replay.is_dir()
    assert data["run"]["position_skew_limit"] == 0

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", str(minimal.resolve()), "--seed", "5", "--out", "run"]) == 1
    rerun = capsys.readouterr().out
    assert "invariant position_skew_within_limit failed" in rerun
    report = json.loads((elsewhere / "run" / "report.json").read_text())
    assert not report["invariants"]["position_skew_within_limit"]["ok"]
