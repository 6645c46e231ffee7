"""What ``cjsim live`` writes after a live run: the same report and analysis as a simulation.

A finished ``LiveRun`` becomes a ``RunOutcome`` against the scenario that replays it (see
``sim.promote``): the invariants are checked over its event log and final rows as for a
simulated run, ``report.json`` and the DuckDB analysis are written next to the trace, and every
file is scrubbed of secrets on the way out.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from engine.live.config import LiveCohort
from engine.live.secrets import Scrubber
from engine.live.session import LiveRun
from engine.traces import SUMMARY_FILE
from sim.analysis import ANALYSIS_FILE, OUTCOMES_FILE, write_outcomes
from sim.invariants import InvariantMonitor, Snapshot
from sim.liveness import LivenessBounds
from sim.promote import COHORT_FILE, cohort_manifest, scenario_document
from sim.report import build_report
from sim.runner import RunOutcome
from sim.scenario import Scenario

__all__ = ["REPORT_FILE", "live_outcome", "write_live_results"]

REPORT_FILE = "report.json"


def live_outcome(run: LiveRun, manifest: dict[str, Any]) -> RunOutcome:
    """The live run as a ``RunOutcome``, its invariants checked as a simulation's are."""
    document = scenario_document(manifest, replay=str(run.trace_dir))
    scenario = Scenario.model_validate({**document, "epoch": run.started_at})
    monitor = InvariantMonitor.with_liveness(LivenessBounds.from_settings(run.settings))
    for record in run.log.records():
        monitor.observe(record)
    rows = run.rows
    end_t = run.log.records()[-1].t if len(run.log) else 0.0
    snapshot = Snapshot.at_end(
        rows, rows, open_queue_items=run.lps.ledger.active, run=scenario.run, end_t=end_t
    )
    return RunOutcome(
        scenario=scenario,
        seed=run.config.seed,
        legacy=False,
        settings=run.settings,
        log=run.log,
        registry=run.registry,
        cj_store=rows,
        lps_store=rows,
        lps=run.lps,
        bus=None,
        batch_ids=run.batch_ids,
        virtual_seconds=end_t,
        fault_phase_end_s=run.elapsed_s,
        liveness_ok=run.settled,
        invariants=monitor.results(snapshot),
        callbacks=[],
    )


def write_live_results(run: LiveRun, cohort: LiveCohort, out: TextIO) -> int:
    """Write ``cohort.json``, ``report.json`` and the analysis; print a summary; exit code."""
    config = run.config
    scrub = Scrubber.from_environment().scrub
    manifest = cohort_manifest(
        name=config.name,
        seed=config.seed,
        grade_scale=config.grade_scale,
        students=cohort.students,
        anchors=cohort.anchors,
        provider="mock" if run.dry_run else config.provider.name,
        model=config.provider.model,
        reasoning_effort=config.provider.reasoning_effort,
        budget=config.budget,
        settings=run.settings,
    )
    (run.trace_dir / COHORT_FILE).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    outcome = live_outcome(run, manifest)
    report = build_report(outcome, wall_seconds=run.elapsed_s)
    report["live"] = {
        "dry_run": run.dry_run,
        "provider": manifest["provider"],
        "requests": run.requests,
        "estimated_cost_usd": round(run.cost_usd, 6),
        "settled": run.settled,
        "stopped": run.stopped,
    }
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    (run.out_dir / REPORT_FILE).write_text(scrub(text), encoding="utf-8")
    write_outcomes(outcome, run.out_dir)
    analysis = run.out_dir / ANALYSIS_FILE
    analysis.write_text(scrub(analysis.read_text(encoding="utf-8")), encoding="utf-8")
    _summary(run, report, out)
    return 0 if run.settled and run.stopped is None else 1


def _summary(run: LiveRun, report: dict[str, Any], out: TextIO) -> None:
    mode = " (dry run: mock provider)" if run.dry_run else ""
    out.write(f"\ncjsim live {run.config.name}{mode}\n")
    for batch in report["batches"]:
        out.write(
            f"  batch {batch['cj_batch_id']}: {batch['final_state']} ({batch['upload_status']}), "
            f"{batch['completed']} completed, {batch['failed']} failed of "
            f"{batch['submitted']} submitted\n"
        )
    errors = ", ".join(f"{k} {v}" for k, v in report["errors_by_type"].items()) or "none"
    live = report["live"]
    out.write(f"  provider calls: {report['provider_calls']} (errors: {errors})\n")
    out.write(
        f"  requests {live['requests']}, estimated cost ${live['estimated_cost_usd']:.4f}, "
        f"{run.elapsed_s:.1f} s\n"
    )
    held = sum(r["ok"] for r in report["invariants"].values())
    out.write(f"  invariants: {held}/{len(report['invariants'])} hold\n")
    if run.stopped:
        out.write(f"  stopped early: {run.stopped}\n")
    out.write(f"  trace: {run.trace_dir} ({SUMMARY_FILE} written)\n")
    out.write(f"  report: {run.out_dir / REPORT_FILE}\n")
    out.write(f"  analysis: {run.out_dir / ANALYSIS_FILE} (tables: {OUTCOMES_FILE})\n")
    out.write(f"  replay it: cjsim promote {run.trace_dir}\n")
