"""When to try a failed request again (pure). The engine owns retries, on its own clock:
provider SDKs are built with ``max_retries=0`` so nothing is retried twice.

* Not retryable (quota, auth, client errors, truncation, invalid answers): never.
* At most ``QUEUE_MAX_RETRIES`` retries per request.
* A provider's ``Retry-After`` / ``retry-after-ms`` is honoured, bounded by ``RETRY_AFTER_MAX_S``.
* Otherwise exponential backoff, ``min(base * 2^n, max)``, shortened by up to 25% of seeded
  jitter (the SDKs' shape), so simultaneous failures do not retry in lockstep.

Under ``LEGACY_UNCLASSIFIED_PROVIDER_ERRORS`` the original's policy: every error retried, with
only the provider's own ``min(Retry-After, 5)`` sleep before the item went straight back.
"""

from __future__ import annotations

from engine.contracts import ErrorDetail
from engine.randomness import Rng
from engine.settings import Settings

__all__ = ["LEGACY_RETRY_AFTER_CAP_S", "retry_delay_s"]

LEGACY_RETRY_AFTER_CAP_S = 5.0


def retry_delay_s(
    detail: ErrorDetail, retry_count: int, settings: Settings, rng: Rng
) -> float | None:
    """Seconds to wait before retry number ``retry_count + 1``, or None to give up."""
    if retry_count >= settings.QUEUE_MAX_RETRIES:
        return None
    retry_after = detail.details.get("retry_after_s")
    if settings.LEGACY_UNCLASSIFIED_PROVIDER_ERRORS:
        return min(float(retry_after), LEGACY_RETRY_AFTER_CAP_S) if retry_after else 0.0
    if not detail.details.get("retryable", False):
        return None
    if retry_after is not None:
        return min(float(retry_after), settings.RETRY_AFTER_MAX_S)
    backoff = min(settings.RETRY_BACKOFF_BASE_S * 2.0**retry_count, settings.RETRY_BACKOFF_MAX_S)
    return backoff * (1.0 - 0.25 * rng.random())
