"""A run folder as one self-contained HTML page (``report.html``), for people.

The header says what ran (scenario, seed, fingerprint, the settings that differ from the
defaults) and whether it kept its rules (each invariant, with the first event that broke it).
Then, per batch, the ranking (scores with 95% intervals, projected grades with their
probabilities, infit and outfit, the scale's separation reliability) and its charts; then the
run in virtual time, the provider calls, the callbacks, and tokens and cost. The values come
from ``sim.reports.run_page_data`` (and ``run_page_timeline``), the charts from
``sim.reports.run_charts`` (a batch's) and ``run_page_activity`` (the run's), the frame from
``sim.reports.html_page``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.cj.misfit import MISFIT_LIMIT, is_misfit
from sim.reports.html_page import (
    Block,
    Cell,
    ChartBlock,
    FiguresBlock,
    Flagged,
    HtmlBlock,
    Section,
    Table,
    TableBlock,
    figures_html,
    render_page,
    table_html,
    text,
)
from sim.reports.ranking import Z_95
from sim.reports.run_charts import (
    heatmap_chart,
    positions_chart,
    scores_chart,
)
from sim.reports.run_page_activity import dispositions_chart, histogram_chart, timeline_chart
from sim.reports.run_page_data import BatchRanking, RankedEssay, RunData, read_run

__all__ = ["run_page_charts", "run_page_html"]

#: The grades shown beside a projected grade, most probable first.
PROBABILITIES_SHOWN = 3


def run_page_html(run_dir: Path) -> str:
    """The page of the run in ``run_dir``: the same folder gives the same bytes."""
    data = read_run(run_dir)
    report = data.report
    title = f"cjsim run: {report['scenario']} (seed {report['seed']})"
    return render_page(title, _header_html(data), _sections(data))


def run_page_charts(run_dir: Path) -> dict[str, ChartBlock]:
    """The charts of ``run_dir``'s page by chart id, in page order: what the page draws, without
    its HTML (each spec whole, with its data and the ``$schema`` the page leaves out)."""
    return {
        block.chart_id: block
        for section in _sections(read_run(run_dir))
        for block in section.blocks
        if isinstance(block, ChartBlock)
    }


def _sections(data: RunData) -> list[Section]:
    sections = [
        _invariants_section(data),
        _settings_section(data),
        *(_ranking_section(data, batch) for batch in data.batches),
    ]
    sections.extend(
        [
            Section(title="Timeline", blocks=(timeline_chart(data),)),
            _provider_section(data),
            Section(
                title="Callbacks",
                blocks=(dispositions_chart(data.analysis["callbacks_by_disposition"]),),
            ),
            _usage_section(data),
        ]
    )
    return sections


def _rows_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """An analysis query's rows as a table (a query without rows: one cell saying so)."""
    if not rows:
        return Table(columns=("",), rows=(("none",),))
    columns = tuple(rows[0])
    # An empty text (no expiry reason) is a missing value, shown as every other one is: "—".
    return Table(
        columns=columns,
        rows=tuple(tuple(None if row[c] == "" else row[c] for c in columns) for row in rows),
    )


def _header_html(data: RunData) -> str:
    report = data.report
    invariants: Mapping[str, Mapping[str, Any]] = report["invariants"]
    broken = sorted(name for name, result in invariants.items() if not result["ok"])
    verdict = (
        f'<p class="verdict ok">Every invariant held ({len(invariants)} of {len(invariants)}).</p>'
        if not broken
        else f'<p class="verdict broken">{len(broken)} of {len(invariants)} invariants broken: '
        f"{text(', '.join(broken))}.</p>"
    )
    figures: list[tuple[str, Cell]] = [
        ("scenario", report["scenario"]),
        ("seed", report["seed"]),
        ("legacy", report["legacy"]),
        ("batches", len(report["batches"])),
        ("events", report["events"]),
        ("virtual seconds", report["virtual_seconds"]),
    ]
    liveness = report.get("liveness")  # older reports have none
    if liveness is not None:
        # liveness.ok: the run settled (every batch finished, nothing queued or in flight)
        # before its liveness window closed; a batch's progress is the invariant
        # batches_progress, not this.
        settled = liveness["ok"]
        figures.append(
            (
                LIVENESS_LABEL,
                True if settled else Flagged(value=False, reason="did not settle"),
            )
        )
    live = report.get("live")  # a live run's verdict (cjsim live)
    if live is not None and live.get("verdict"):
        figures.append(("live verdict", live["verdict"]))
    description = ""
    if data.scenario is not None:
        figures.insert(1, ("scenario file", data.scenario["file"]))
        description = str(data.scenario["scenario"].get("description") or "").strip()
    parts = [
        f'<p class="note">{text(description)}</p>' if description else "",
        verdict,
        figures_html(figures),
        f'<p>Fingerprint: <code class="fingerprint">{text(report["fingerprint"])}</code></p>',
    ]
    return "\n".join(part for part in parts if part)


#: The header's label of report.json's ``liveness.ok``.
LIVENESS_LABEL = "settled in the liveness window"


def _invariants_section(data: RunData) -> Section:
    invariants: Mapping[str, Mapping[str, Any]] = data.report["invariants"]
    return Section(
        title="Invariants",
        blocks=(
            TableBlock(
                title="",
                table=Table(
                    columns=("invariant", "held", "detail", "first event that broke it"),
                    rows=tuple(
                        (
                            name,
                            result["ok"] if result["ok"] else Flagged(value=False, reason="broken"),
                            result["detail"],
                            _event_text(
                                result.get("first_event"),
                                data.breaking_events,
                                held=bool(result["ok"]),
                            ),
                        )
                        for name, result in sorted(invariants.items())
                    ),
                ),
            ),
        ),
    )


def _settings_section(data: RunData) -> Section:
    if data.scenario is None:
        return Section(
            title="Settings",
            blocks=(),
            note="No scenario.json in this folder: the settings that differ from the defaults, "
            "the position-skew limit and the fault windows are not shown.",
        )
    changed = data.scenario["settings_changed"]
    if not changed:
        return Section(
            title="Settings that differ from the defaults",
            blocks=(),
            note="None: every engine setting at its default.",
        )
    return Section(
        title="Settings that differ from the defaults",
        blocks=(
            HtmlBlock(
                html=table_html(
                    Table(
                        columns=("setting", "value"),
                        rows=tuple(
                            (name, _setting_cell(value)) for name, value in sorted(changed.items())
                        ),
                    )
                )
            ),
        ),
    )


def _setting_cell(value: Any) -> Cell:
    """A setting's value as it reads: text bare, numbers and flags as the tables show them,
    a list or mapping as JSON."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True)


def _event_text(
    event: Mapping[str, Any] | None, whole: Mapping[int, Mapping[str, Any]], *, held: bool
) -> str | None:
    """``#seq t=… s kind name=value …``, what a person looks up in events.jsonl: the event's
    ids and fields (from ``whole``, the events by seq; report.json keeps only the ids). A rule
    that is judged on the final rows (counters against the store, say) broke at no one
    event."""
    if not event:
        return None if held else "none: judged on the run's final state"
    found = whole.get(int(event["seq"])) if event.get("seq") is not None else None
    source = found if found is not None else event
    named = {**(source.get("ids") or {}), **(source.get("fields") or {})}
    values = " ".join(f"{k}={_plain(v)}" for k, v in sorted(named.items()) if v is not None)
    head = f"#{event.get('seq')} t={event.get('t')} s {event.get('kind')}"
    return f"{head} {values}" if values else head


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _mean_square(value: float | None) -> Cell:
    if value is None:
        return None
    shown = round(value, 3)
    return Flagged(value=shown, reason=f"above {MISFIT_LIMIT}") if is_misfit(value) else shown


def _probabilities(essay: RankedEssay) -> str | None:
    """The likeliest grades with their probabilities (``B .31 · A .31 · C+ .18``), the
    projected grade always among them (it is the grade whose score interval holds the score,
    not always the likeliest)."""
    projection = essay.projection
    if projection is None:
        return None
    top = sorted(projection.probabilities.items(), key=lambda item: (-item[1], item[0]))
    shown = [(grade, p) for grade, p in top[:PROBABILITIES_SHOWN] if p >= 0.005]
    if projection.grade in projection.probabilities and projection.grade not in dict(shown):
        shown.append((projection.grade, projection.probabilities[projection.grade]))
    # A no-break space inside each "grade .31": a line may break between grades, never
    # inside one.
    return " · ".join(f"{grade}\u00a0{p:.2f}".replace("\u00a00.", "\u00a0.") for grade, p in shown)


def _ranking_row(essay: RankedEssay) -> tuple[Cell, ...]:
    interval = None
    if essay.score is not None and essay.se is not None:
        low, high = essay.score - Z_95 * essay.se, essay.score + Z_95 * essay.se
        interval = f"[{low:.2f}, {high:.2f}]"
    projection = essay.projection
    return (
        essay.rank,
        essay.essay_id,
        essay.known_grade if essay.is_anchor else None,
        None if essay.score is None else round(essay.score, 3),
        None if essay.se is None else round(essay.se, 3),
        interval,
        essay.grade,
        _probabilities(essay),
        None if projection is None else projection.label.value,
        f"{essay.wins} / {essay.comparisons}",
        _mean_square(essay.fit.infit if essay.fit else None),
        _mean_square(essay.fit.outfit if essay.fit else None),
    )


def _ranking_section(data: RunData, batch: BatchRanking) -> Section:
    report_batch: Mapping[str, Any] = next(
        (b for b in data.report["batches"] if b["cj_batch_id"] == batch.cj_batch_id), {}
    )
    misfits = sum(1 for e in batch.essays if e.fit is not None and e.fit.misfitting)
    figures: list[tuple[str, Cell]] = [
        ("essays", len(batch.essays)),
        ("decided comparisons", sum(e.wins for e in batch.essays)),
        ("scale separation reliability (SSR)", batch.ssr),
        ("final state", report_batch.get("final_state")),
        ("Kendall τ (anchors)", report_batch.get("kendall_tau")),
        ("grade scale", batch.grade_scale),
        (f"essays with a mean-square above {MISFIT_LIMIT}", misfits),
    ]
    ranking = Table(
        columns=(
            "rank",
            "essay",
            "anchor",
            "BT score",
            "SE",
            "95% interval",
            "grade",
            "likeliest grades",
            "confidence",
            "wins / compared",
            "infit",
            "outfit",
        ),
        rows=tuple(_ranking_row(e) for e in batch.essays),
        nowrap=("95% interval", "likeliest grades", "wins / compared"),
    )
    blocks: list[Block] = [
        FiguresBlock(title="Summary", figures=tuple(figures)),
        TableBlock(
            title="Ranking",
            table=ranking,
            note=(
                "Strongest first. Anchor: the anchor's known grade. 95% interval: score ± "
                "1.96 SE. Grade: projected from the anchors; the likeliest grades and their "
                "probabilities come from the grade posterior, recomputed with "
                "engine.cj.grading as the finalizer computes it. Wins / compared: of the "
                f"decided comparisons. Infit and outfit mean-squares above {MISFIT_LIMIT} are "
                "marked: the judges disagreed about the essay more than its place on the scale "
                "explains."
            ),
        ),
    ]
    if any(e.score is not None for e in batch.essays):
        blocks.append(scores_chart(batch))
    heatmap = heatmap_chart(batch)
    if heatmap is not None:
        blocks.append(heatmap)
    blocks.append(positions_chart(batch, data.skew_limit))
    unscored = all(e.score is None for e in batch.essays)
    note = "This batch was never scored: it has no scores, grades or fit." if unscored else ""
    return Section(title=f"Batch {batch.cj_batch_id}", blocks=tuple(blocks), note=note)


def _provider_section(data: RunData) -> Section:
    analysis = data.analysis
    return Section(
        title="Provider calls and the queue",
        blocks=(
            histogram_chart(
                "Provider latency",
                "latency",
                data.latency_ms,
                "ms",
                f"Latency of the {data.latency_ms.values} successful provider calls.",
            ),
            TableBlock(
                title="Latency percentiles",
                table=_rows_table(analysis["provider_latency_percentiles"]),
            ),
            histogram_chart(
                "Queue wait",
                "queue-wait",
                data.queue_wait_s,
                "s",
                "Per queue item: from its first enqueue to its last dispatch (retries included).",
            ),
            TableBlock(
                title="Queue wait percentiles",
                table=_rows_table(analysis["queue_wait_percentiles"]),
            ),
            TableBlock(
                title="Errors by provider and type",
                table=_rows_table(analysis["errors_by_provider_and_type"]),
            ),
            TableBlock(title="Queue items by status", table=_rows_table(analysis["queue_status"])),
        ),
    )


def _usage_section(data: RunData) -> Section:
    usage: Mapping[str, Any] = data.report.get("usage") or {}  # older reports have none
    labels = (
        ("billed calls", "billed_calls"),
        ("input tokens", "input_tokens"),
        ("output tokens", "output_tokens"),
        ("cache write tokens", "cache_write_tokens"),
        ("cache read tokens", "cache_read_tokens"),
        ("cost (USD)", "cost_usd"),
    )
    blocks: list[Block] = []
    if usage:
        figures = tuple((label, usage.get(key)) for label, key in labels)
        blocks.append(FiguresBlock(title="Whole run", figures=figures))
    blocks.append(
        TableBlock(
            title="By provider and model", table=_rows_table(data.analysis["usage_by_model"])
        )
    )
    return Section(title="Tokens and cost", blocks=tuple(blocks))
