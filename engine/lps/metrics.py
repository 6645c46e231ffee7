"""The LPS side's Prometheus metrics: the original's names and labels, on a per-run registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from engine.metrics_export import CachedLabels

__all__ = ["LPSMetrics"]

# LLM calls and queue waits run from a second to many minutes: the client's default buckets
# (5 ms to 10 s) would put every observation in the last few.
LLM_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
ITEMS_PER_CALL_BUCKETS = (1, 2, 4, 8, 16, 32, 48, 64)


class LPSMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = CachedLabels(
            Counter(
                "llm_provider_requests_total",
                "Provider calls",
                ["provider", "model", "request_type", "status"],
                registry=registry,
            )
        )
        self.api_errors = CachedLabels(
            Counter(
                "llm_provider_api_errors_total",
                "Provider call failures by classified type",
                ["provider", "error_type", "http_status_code"],
                registry=registry,
            )
        )
        self.errors = CachedLabels(
            Counter(
                "llm_provider_errors_total",
                "Provider call failures by model",
                ["provider", "model", "error_type"],
                registry=registry,
            )
        )
        self.retries = CachedLabels(
            Counter(
                "llm_provider_retries_total",
                "Requests put back in line for another attempt",
                ["provider", "error_type"],
                registry=registry,
            )
        )
        self.queue_depth = CachedLabels(
            Gauge(
                "llm_provider_queue_depth", "Items in the queue", ["queue_type"], registry=registry
            )
        )
        self.queue_wait = CachedLabels(
            Histogram(
                "llm_provider_queue_wait_time_seconds",
                "From queued to last dispatch",
                ["queue_processing_mode", "result"],
                buckets=LLM_SECONDS_BUCKETS,
                registry=registry,
            )
        )
        self.callbacks = CachedLabels(
            Counter(
                "llm_provider_comparison_callbacks_total",
                "Callbacks published",
                ["queue_processing_mode", "result"],
                registry=registry,
            )
        )
        self.expiries = CachedLabels(
            Counter(
                "llm_provider_queue_expiry_total",
                "Items expired by queue hygiene",
                ["provider", "queue_processing_mode", "expiry_reason"],
                registry=registry,
            )
        )
        self.processing_time = CachedLabels(
            Histogram(
                "llm_provider_queue_processing_time_seconds",
                "Provider call duration",
                ["provider", "status"],
                buckets=LLM_SECONDS_BUCKETS,
                registry=registry,
            )
        )
        self.bundle_calls = CachedLabels(
            Counter(
                "llm_provider_serial_bundle_calls_total",
                "Serial bundles executed",
                ["provider", "model"],
                registry=registry,
            )
        )
        self.bundle_items = CachedLabels(
            Histogram(
                "llm_provider_serial_bundle_items_per_call",
                "Items per serial bundle",
                ["provider", "model"],
                buckets=ITEMS_PER_CALL_BUCKETS,
                registry=registry,
            )
        )
        self.tokens = CachedLabels(
            Counter(
                "llm_provider_tokens_used_total",
                "Tokens used",
                ["provider", "model", "token_type"],
                registry=registry,
            )
        )
        self.zombies = CachedLabels(
            Counter(
                "llm_provider_zombie_results_total",
                "Results that arrived for items already expired, discarded unpublished",
                ["provider"],
                registry=registry,
            )
        )
        self.cost = CachedLabels(
            Counter(
                "llm_provider_cost_usd_total",
                "What provider calls cost at the configured prices (PRICE_*), billed failures "
                "included",
                ["provider", "model"],
                registry=registry,
            )
        )
        self.concurrency_limit = CachedLabels(
            Gauge(
                "llm_provider_concurrency_limit",
                "The adaptive controller's limit on provider calls in flight",
                ["provider", "model"],
                registry=registry,
            )
        )
        self.worker_crashes = Counter(
            "llm_provider_worker_crashes_total",
            "Workers that died holding an item",
            registry=registry,
        )
