"""The CJ side's Prometheus metrics: the original's names and labels, on a per-run registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from engine.metrics_export import CachedLabels

__all__ = ["CJMetrics"]


class CJMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.comparisons = CachedLabels(
            Counter("cj_comparisons_total", "Comparisons by outcome", ["status"], registry=registry)
        )
        self.callbacks = CachedLabels(
            Counter(
                "cj_callbacks_processed_total",
                "Callbacks by disposition: applied_success, applied_error, duplicate, orphan, "
                "late, invalid",
                ["status"],
                registry=registry,
            )
        )
        self.llm_requests = CachedLabels(
            Counter(
                "cj_llm_requests_total",
                "Comparison requests sent to LPS",
                ["batching_mode"],
                registry=registry,
            )
        )
        self.llm_batches_started = CachedLabels(
            Counter(
                "cj_llm_batches_started_total",
                "Waves submitted to LPS",
                ["batching_mode"],
                registry=registry,
            )
        )
        self.decisions = CachedLabels(
            Counter(
                "cj_workflow_decisions_total",
                "Continuation decisions",
                ["decision"],
                registry=registry,
            )
        )
        self.se_inflated_batches = Counter(
            "cj_bt_se_inflated_batches_total",
            "Fits whose standard errors were inflated",
            registry=registry,
        )
        self.sparse_coverage_batches = Counter(
            "cj_bt_sparse_coverage_batches_total",
            "Fits with under one comparison per item",
            registry=registry,
        )
        self.stuck_detected = Gauge(
            "cj_stuck_batches_detected",
            "Stuck batches found by the last monitor sweep",
            registry=registry,
        )
        self.stuck_recovered = Counter(
            "cj_stuck_batches_recovered_total",
            "Stuck batches finalised by forced recovery",
            registry=registry,
        )
        self.stuck_failed = Counter(
            "cj_stuck_batches_failed_total",
            "Stuck batches failed for insufficient progress",
            registry=registry,
        )
        self.batch_state = CachedLabels(
            Gauge("cj_batch_state", "Batches in each state", ["state"], registry=registry)
        )
        self.iterations = Histogram(
            "cj_iterations_per_batch",
            "Waves a batch took",
            registry=registry,
            buckets=(1, 2, 3, 5, 8, 13, 21, 34, 55, 89),
        )
        self.stability_changes = Histogram(
            "cj_score_stability_changes",
            "Largest score change between successive fits",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
        )
        self.llm_api_calls = CachedLabels(
            Counter(
                "cj_assessment_llm_api_calls_total",
                "Comparison outcomes by provider and model",
                ["provider", "model", "status"],
                registry=registry,
            )
        )
        self.orphan_callbacks = CachedLabels(
            Counter(
                "cj_orphan_callbacks_total",
                "Callbacks whose correlation id matches no pair",
                ["source_service"],
                registry=registry,
            )
        )
        self.resubmissions = Counter(
            "cj_callback_resubmissions_total",
            "Comparisons sent again under a new correlation id after their callback deadline",
            registry=registry,
        )
        self.progress = CachedLabels(
            Gauge(
                "cj_batch_progress_percentage",
                "(completed + failed) / completion denominator",
                ["cj_batch_id"],
                registry=registry,
            )
        )
