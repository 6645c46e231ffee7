"""``cjsim live``: start a run in a new folder, or resume one; then its report and analysis.

A new run claims its folder (refusing one that holds another run) and writes, before the first
comparison, the manifest (``run.json``), the validated configuration (``config.json``) and the
cohort (``trace/cohort.json``), so that a run killed at any instant can be resumed and promoted.

At the end of every session the run becomes a ``RunOutcome`` against the scenario that replays
it (see ``sim.commands.promote``): the invariants are checked over its whole event log and final
rows as
for a simulated run, and ``report.json`` and the DuckDB analysis are written next to the trace,
each whole and renamed into place, every file scrubbed of secrets on the way out. A session
that stopped before its batch finished (a cap, Ctrl-C) is judged on what it did: the rules that
only hold once a batch has finished are left unjudged, and named so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from engine.live.cohort import LiveCohort, load_cohort
from engine.live.config import LiveConfig, LiveConfigError
from engine.live.database import stored_database_url
from engine.live.manifest import RunManifest, new_run_id, read_manifest
from engine.live.run_folder import (
    claim_new_folder,
    replace_folder_files,
    staging_folder,
    write_json,
)
from engine.live.secrets import Scrubber
from engine.live.session import LiveRun, SessionPlan
from engine.settings import Settings
from engine.traces import SUMMARY_FILE
from sim.commands.promote import COHORT_FILE, cohort_manifest, scenario_document
from sim.harness.invariants import InvariantMonitor, Snapshot
from sim.harness.liveness import LivenessBounds
from sim.harness.runner import RunOutcome
from sim.harness.scenario import Scenario
from sim.reports.analysis import write_outcomes
from sim.reports.report import build_report
from sim.reports.run_folder import ANALYSIS_FILE, HTML_FILE, OUTCOMES_FILE, REPORT_FILE

__all__ = [
    "CONFIG_FILE",
    "EXIT_STOPPED",
    "REPORT_FILE",
    "UNJUDGED_WHEN_STOPPED",
    "live_outcome",
    "prepare_new_run",
    "prepare_resume",
    "write_live_results",
]

CONFIG_FILE = "config.json"
EXIT_OK, EXIT_FAILED, EXIT_STOPPED = 0, 1, 100
# Rules about a batch's end: a session that stopped with its batch open cannot be judged on
# them (its queue holds the held calls, its comparisons are owed until it is resumed).
UNJUDGED_WHEN_STOPPED = (
    "batches_terminal",
    "queue_drained",
    "every_comparison_accounted",
    "batches_progress",
)


def prepare_new_run(
    config: LiveConfig,
    cohort: LiveCohort,
    base_dir: Path,
    folder: Path,
    *,
    dry_run: bool,
    config_file: Path | None = None,
) -> SessionPlan:
    """Claim ``folder`` and write what a resume and a promotion need, before any comparison."""
    claim_new_folder(folder)
    run_id = new_run_id()
    recorded = config.model_dump(mode="json")
    if config.database is not None:  # a password never reaches a file
        recorded["database"] = stored_database_url(config)
    manifest = RunManifest(
        run_id=run_id,
        name=config.name,
        dry_run=dry_run,
        config=recorded,
        config_dir=str(base_dir.resolve()),
        config_file=None if config_file is None else str(config_file),
        database=stored_database_url(config),
        bos_batch_id=f"{config.name}-{run_id}",
    )
    write_json(folder / CONFIG_FILE, recorded)
    settings = config.engine_settings(mock=dry_run or config.provider.name == "mock")
    trace_dir = folder / "trace"
    trace_dir.mkdir(exist_ok=True)
    write_json(trace_dir / COHORT_FILE, _cohort_manifest(config, cohort, manifest, settings))
    manifest.write(folder)
    return SessionPlan(folder=folder, manifest=manifest, number=1, cohort=cohort)


def prepare_resume(folder: Path, *, retry_errors: bool = False) -> tuple[LiveConfig, SessionPlan]:
    """The configuration and the next session of the run in ``folder``."""
    manifest = read_manifest(folder)
    try:
        config = manifest.live_config
    except ValueError as exc:
        raise LiveConfigError(f"{folder / 'run.json'}: config: {exc}") from None
    cohort = None
    if not manifest.cj_batch_ids:  # killed before its batch was created: create it now
        cohort = load_cohort(config, Path(manifest.config_dir))
    number = len(manifest.sessions) + 1
    return config, SessionPlan(
        folder=folder,
        manifest=manifest,
        number=number,
        cohort=cohort,
        retry_errors=retry_errors,
    )


def _cohort_manifest(
    config: LiveConfig, cohort: LiveCohort, manifest: RunManifest, settings: Settings
) -> dict[str, Any]:
    return cohort_manifest(
        name=config.name,
        # The first session's root seed: the replay draws the anchors' ids as the run did.
        seed=manifest.session_seed(config.seed, 1),
        grade_scale=config.grade_scale,
        students=cohort.students,
        anchors=cohort.anchors,
        provider="mock" if manifest.dry_run else config.provider.name,
        model=config.provider.model,
        reasoning_effort=config.provider.reasoning_effort,
        budget=config.budget,
        settings=settings,
    )


def live_outcome(run: LiveRun, manifest: dict[str, Any]) -> RunOutcome:
    """The live run as a ``RunOutcome``, its invariants checked as a simulation's are."""
    document = scenario_document(manifest, replay=str(run.trace_dir))
    # The report is of this live run, named as its configuration names it (not its replay).
    document |= {"name": run.config.name, "description": f"live run {run.manifest.run_id}"}
    scenario = Scenario.model_validate({**document, "epoch": run.manifest.sessions[0].started_at})
    monitor = InvariantMonitor.with_liveness(LivenessBounds.from_settings(run.settings))
    for record in run.log.records():
        monitor.observe(record)
    rows = run.rows
    end_t = run.log.records()[-1].t if len(run.log) else 0.0
    snapshot = Snapshot.at_end(
        rows, rows, open_queue_items=run.lps.ledger.active, run=scenario.run, end_t=end_t
    )
    invariants = monitor.results(snapshot)
    if not run.settled:
        invariants = {
            name: result for name, result in invariants.items() if name not in UNJUDGED_WHEN_STOPPED
        }
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
        invariants=invariants,
        callbacks=[],
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """How the session ended, as an exit code and one line."""

    code: int
    why: str


def verdict_of(run: LiveRun, report: dict[str, Any]) -> Verdict:
    broken = sorted(name for name, r in report["invariants"].items() if not r["ok"])
    if broken:
        return Verdict(EXIT_FAILED, f"invariant broken: {', '.join(broken)}")
    if not run.settled:
        why = run.stopped or "the session ended before the batch finished"
        return Verdict(EXIT_STOPPED, f"stopped before the batch finished ({why})")
    failed = [b for b in report["batches"] if b["final_state"] != "COMPLETED"]
    if failed:
        states = ", ".join(f"batch {b['cj_batch_id']} {b['final_state']}" for b in failed)
        return Verdict(EXIT_STOPPED, f"the batch did not complete: {states}")
    return Verdict(EXIT_OK, "the batch completed and every invariant held")


def write_live_results(run: LiveRun, out: TextIO, *, html: bool = True) -> int:
    """Write ``report.json`` and the analysis (each whole); print a summary; the exit code:
    0 completed with every invariant held, 1 an invariant broken, 100 the batch FAILED or the
    session stopped before it finished."""
    scrub = Scrubber.from_environment().scrub
    cohort_path = run.trace_dir / COHORT_FILE
    manifest = json.loads(cohort_path.read_text(encoding="utf-8"))
    outcome = live_outcome(run, manifest)
    report = build_report(outcome, wall_seconds=run.elapsed_s)
    report["live"] = {
        "config": run.manifest.config_file,
        "run_id": run.manifest.run_id,
        "session": run.session,
        "dry_run": run.dry_run,
        "provider": manifest["provider"],
        "requests": run.requests,
        "estimated_cost_usd": round(run.cost_usd, 6),
        "settled": run.settled,
        "stopped": run.stopped,
        "unjudged_invariants": [] if run.settled else list(UNJUDGED_WHEN_STOPPED),
        "resumed": [
            {
                "cj_batch_id": batch.cj_batch_id,
                "redelivered": batch.redelivered,
                "resent": len(batch.requests),
            }
            for batch in run.resumed
        ],
        "orphans_settled": run.orphans_settled,
        "retried_errors": [
            {
                "cj_batch_id": retry.cj_batch_id,
                "errored": retry.errored,
                "retried": len(retry.requests),
                "why_not": retry.why_not,
            }
            for retry in run.retried
        ],
    }
    verdict = verdict_of(run, report)
    report["live"]["exit_code"] = verdict.code
    report["live"]["verdict"] = verdict.why
    with staging_folder(run.out_dir) as staging:
        write_outcomes(outcome, staging)
        analysis = staging / ANALYSIS_FILE
        analysis.write_text(scrub(analysis.read_text(encoding="utf-8")), encoding="utf-8")
        text = json.dumps(report, indent=2, sort_keys=True) + "\n"
        (staging / REPORT_FILE).write_text(scrub(text), encoding="utf-8")
        if html:
            _write_page(staging, scrub, out)
        replace_folder_files(staging, run.out_dir)
    _summary(run, report, verdict, out)
    return verdict.code


def _write_page(staging: Path, scrub: Callable[[str], str], out: TextIO) -> None:
    """The run's page, scrubbed like every file. A page that cannot be built must not cost the
    run its results (they are moved into place after this): it is left out, and said so."""
    from sim.commands.report_command import run_page_text

    try:
        page = run_page_text(staging, "cjsim live")
    except Exception as exc:  # the page is a view of the results, never a reason to lose them
        out.write(
            f"  note: report.html was not written ({type(exc).__name__}: {exc}); "
            "`cjsim report` on the run folder tries again\n"
        )
        return
    (staging / HTML_FILE).write_text(scrub(page), encoding="utf-8")


def _summary(run: LiveRun, report: dict[str, Any], verdict: Verdict, out: TextIO) -> None:
    mode = " (dry run: mock provider)" if run.dry_run else ""
    session = f", session {run.session}" if run.session > 1 else ""
    out.write(f"\ncjsim live {run.config.name}{mode}{session}\n")
    for batch in report["batches"]:
        out.write(
            f"  batch {batch['cj_batch_id']}: {batch['final_state']} ({batch['upload_status']}), "
            f"{batch['completed']} completed, {batch['failed']} failed of "
            f"{batch['submitted']} submitted\n"
        )
    for resumed in report["live"]["resumed"]:
        out.write(
            f"  resumed batch {resumed['cj_batch_id']}: {resumed['redelivered']} recorded "
            f"answers applied, {resumed['resent']} comparisons in flight sent again\n"
        )
    for retry in report["live"]["retried_errors"]:
        why = f" ({retry['why_not']})" if retry["why_not"] else ""
        out.write(
            f"  retried errors of batch {retry['cj_batch_id']}: {retry['retried']} of "
            f"{retry['errored']} compared again{why}\n"
        )
    errors = ", ".join(f"{k} {v}" for k, v in report["errors_by_type"].items()) or "none"
    live = report["live"]
    out.write(f"  provider calls: {report['provider_calls']} (errors: {errors})\n")
    out.write(
        f"  requests {live['requests']}, estimated cost ${live['estimated_cost_usd']:.4f} "
        f"(the whole run), {run.elapsed_s:.1f} s\n"
    )
    held = sum(r["ok"] for r in report["invariants"].values())
    unjudged = f" ({len(live['unjudged_invariants'])} not judged: the batch is open)"
    out.write(
        f"  invariants: {held}/{len(report['invariants'])} hold"
        f"{unjudged if live['unjudged_invariants'] else ''}\n"
    )
    if run.stopped:
        out.write(f"  stopped early: {run.stopped}\n")
    out.write(f"  trace: {run.trace_dir} ({SUMMARY_FILE} written)\n")
    out.write(f"  report: {run.out_dir / REPORT_FILE}\n")
    out.write(f"  analysis: {run.out_dir / ANALYSIS_FILE} (tables: {OUTCOMES_FILE})\n")
    if (run.out_dir / HTML_FILE).is_file():
        out.write(f"  page: {run.out_dir / HTML_FILE} (open it in a browser)\n")
    out.write(f"  replay it: cjsim promote {run.trace_dir}\n")
    if not run.settled:
        out.write(f"  continue it: cjsim live --resume {run.out_dir}\n")
    out.write(f"  exit {verdict.code}: {verdict.why}\n")
