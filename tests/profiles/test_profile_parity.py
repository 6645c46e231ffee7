"""Mock profile parity: each mock mode, driven through the whole engine, behaves like the trace
it stands in for, within the original's tolerances, and the LPS metrics stay within the
original's guardrails. One nox session per profile: nox -s "profile(name='eng5_anchor')"."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.metrics_export import sample_value, samples
from engine.traces import load_trace, summarize
from sim.harness.runner import run_scenario
from sim.harness.scenario_file import load_scenario

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Profile:
    scenario: str
    trace: str
    model: str
    winner_tolerance: float | None  # per-label share, absolute; None: "at least 90% Essay A"
    completion_relative: float  # completion-token tolerance as a share of the recorded mean
    completion_floor: float
    latency: bool


PROFILES = {
    "cj_generic": Profile(
        "profile_cj_generic", "cj_lps_roundtrip_mock_20251205", "gpt-5.1", None, 0.5, 5, False
    ),
    "eng5_anchor": Profile(
        "profile_eng5_anchor",
        "eng5_anchor_align_gpt51_low_20251201",
        "gpt-5.1",
        0.20,
        1.0,
        10,
        True,
    ),
    "eng5_lower5": Profile(
        "profile_eng5_lower5", "eng5_lower5_gpt51_low_20251202", "gpt-5.1", 0.30, 0.5, 5, True
    ),
}


@pytest.fixture(scope="module", params=sorted(PROFILES))
def profile_run(request):
    """One engine run per profile, with its recomputed summary and the trace's."""
    profile = PROFILES[request.param]
    scenario = load_scenario(REPO / "scenarios" / f"{profile.scenario}.yaml")
    outcome = run_scenario(scenario)
    ours = summarize(profile.scenario, [c.result() for c in outcome.callbacks])
    recorded = load_trace(REPO / "traces" / profile.trace).summary
    return profile, outcome, ours, recorded


def _share(summary, label):
    return summary["winner_counts"].get(label, 0) / summary["total_events"]


def test_winner_proportions(profile_run):
    profile, _, ours, recorded = profile_run
    assert ours["error_count"] == 0
    assert ours["total_events"] == recorded["total_events"]
    if profile.winner_tolerance is None:
        assert _share(ours, "Essay A") >= 0.9
        return
    for label in ("Essay A", "Essay B"):
        assert abs(_share(ours, label) - _share(recorded, label)) <= profile.winner_tolerance


def test_token_means(profile_run):
    profile, _, ours, recorded = profile_run
    for kind in ("prompt_tokens", "completion_tokens", "total_tokens"):
        mine, theirs = ours["token_usage"][kind]["mean"], recorded["token_usage"][kind]["mean"]
        if kind == "completion_tokens":
            allowed = max(profile.completion_floor, profile.completion_relative * theirs)
        else:
            allowed = max(5.0, 0.5 * theirs)
        assert abs(mine - theirs) <= allowed, (kind, mine, theirs)


def test_latency(profile_run):
    profile, _, ours, recorded = profile_run
    if not profile.latency:
        pytest.skip("the recording published no latency")
    assert ours["response_time_ms"]["mean_ms"] <= recorded["response_time_ms"]["mean_ms"] + 100
    assert ours["response_time_ms"]["p95_ms"] <= recorded["response_time_ms"]["p95_ms"] + 200


# What each profile's seeded run does in LPS, exactly (the runs are deterministic): bundle calls,
# items per call as {bucket upper bound: calls in that bucket}, and the queue wait over every
# item. Every figure sits inside the original's guardrails (1..64 items a call, a mean wait
# under 120 s); pinning the figure catches a change that moves it and stays inside them.
LPS_FIGURES = {
    "cj_generic": {"calls": 2, "calls_by_items": {2.0: 2}, "waits": 4, "wait_s_sum": 2.0},
    "eng5_anchor": {
        "calls": 11,
        "calls_by_items": {8.0: 11},
        "waits": 66,
        "wait_s_sum": 290.954723,
    },
    "eng5_lower5": {
        "calls": 6,
        "calls_by_items": {1.0: 2, 2.0: 4},
        "waits": 10,
        "wait_s_sum": 10.777841,
    },
}


def test_lps_metrics_guardrails(profile_run):
    profile, outcome, ours, _ = profile_run
    expected = LPS_FIGURES[profile.scenario.removeprefix("profile_")]
    registry = outcome.registry
    calls = sample_value(
        registry, "llm_provider_serial_bundle_calls_total", provider="mock", model=profile.model
    )
    assert calls == expected["calls"]
    cumulative = sorted(
        (float(dict(s.labels)["le"]), s.value)
        for s in samples(registry)
        if s.name == "llm_provider_serial_bundle_items_per_call_bucket"
        and dict(s.labels).get("provider") == "mock"
    )
    per_bucket = {
        le: value - below
        for (le, value), (_, below) in zip(cumulative, [(0.0, 0.0), *cumulative], strict=False)
        if value > below
    }
    assert per_bucket == expected["calls_by_items"]
    count = sample_value(
        registry,
        "llm_provider_serial_bundle_items_per_call_count",
        provider="mock",
        model=profile.model,
    )
    assert count == calls
    wait_counts, wait_sums = (
        {
            result: sample_value(
                registry,
                f"llm_provider_queue_wait_time_seconds_{part}",
                queue_processing_mode="serial_bundle",
                result=result,
            )
            for result in ("success", "failure", "expired")
        }
        for part in ("count", "sum")
    )
    assert wait_counts == {"success": expected["waits"], "failure": 0, "expired": 0}
    assert wait_counts["success"] == ours["total_events"]  # one wait per comparison
    assert wait_sums["success"] == pytest.approx(expected["wait_s_sum"], abs=1e-9)
    assert (
        sample_value(
            registry,
            "llm_provider_comparison_callbacks_total",
            queue_processing_mode="serial_bundle",
            result="success",
        )
        == ours["total_events"]
    )
    assert sample_value(registry, "llm_provider_queue_depth", queue_type="total") == 0
