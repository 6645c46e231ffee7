"""The ``Provider`` (and ``BatchProvider``) port on Anthropic's Messages API, live only.

Theory of operation. One ``compare`` is one HTTP request: the client is built with
``max_retries=0`` because the engine owns retries on its own clock (``engine.lps.retry``), and
an SDK retry would hide a 429's ``retry-after`` from it and double-count. The verdict is forced
structured output: one strict ``record_judgement`` tool and a ``tool_choice`` that names it, so
the answer arrives as the tool call's ``input`` object, checked by the shared ``parse_verdict``.

What is sent, and why:

* The system prompt, then the request's prompt blocks in order (``target="system"`` blocks join
  the system prompt). One ``cache_control`` breakpoint goes on the last block of the leading
  run of cacheable blocks: the cache covers tools, system and that run (the rubric), and stops
  before the essays. A cacheable block *after* the essays (the answer instruction) gets no
  breakpoint: its prefix holds the essays, so caching it would pay a cache write every call.
* ``max_tokens`` from the call (else the adapter's default). No ``temperature``: API version
  2026-10-21, which the 2.x SDK sends, rejects every sampling parameter with a 400, and the SDK
  has none. No ``thinking``: forced tool use is refused when thinking is on.

What comes back: ``stop_reason`` ``max_tokens`` or ``model_context_window_exceeded`` is a
``max_tokens`` error; no ``record_judgement`` call is ``invalid_response``. Usage is normalised
to ``prompt_tokens = input_tokens + cache_creation_input_tokens + cache_read_input_tokens``
(Anthropic counts cached tokens apart from ``input_tokens``). The body is read as JSON from the
raw response, so a malformed body still reports the ``request-id`` it came with.

Batches (``batch_api`` mode): ``submit_batch`` creates one Message Batch whose requests carry
the same params and the queue id as ``custom_id``; ``poll_batch`` reads the batch, and once it
has a ``results_url`` reads the JSONL results, matched by ``custom_id`` (any order). Errored
results are classified as the HTTP error they stand for; expired and canceled ones are
``batch_expired``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import anthropic

from engine.contracts import PromptBlock
from engine.lps.batch_api import BatchPoll
from engine.lps.calls import ProviderCall, ProviderVerdict, TokenUsage
from engine.lps.errors import ProviderError
from engine.lps.providers.sdk_errors import (
    SdkExceptions,
    batch_item_expired,
    classify_batch_http,
    invalid_answer,
    missing_model,
    translate,
)
from engine.lps.verdict import TRUNCATION_REASONS, parse_verdict

__all__ = ["JUDGEMENT_TOOL", "AnthropicProvider"]

TOOL_NAME = "record_judgement"
JUDGEMENT_TOOL: dict[str, Any] = {
    "name": TOOL_NAME,
    "description": "Record which essay is better, why, and how confident you are.",
    # Strict tools compile to a grammar that rejects numeric bounds: the 1..5 range is stated
    # in words here and checked by parse_verdict.
    "strict": True,
    "input_schema": {
        "type": "object",
        "properties": {
            "winner": {"type": "string", "enum": ["Essay A", "Essay B"]},
            "justification": {"type": "string", "description": "At most 50 words."},
            "confidence": {
                "type": "number",
                "description": "From 1 (a guess) to 5 (very confident).",
            },
        },
        "required": ["winner", "justification", "confidence"],
        "additionalProperties": False,
    },
}
SDK = SdkExceptions(
    base=anthropic.AnthropicError,
    status=anthropic.APIStatusError,
    connection=anthropic.APIConnectionError,
    timeout=anthropic.APITimeoutError,
    validation=anthropic.APIResponseValidationError,
)
# An errored batch result carries only the error body; the status it would have come with.
STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_TOKENS = 1024


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def normalised_usage(usage: object) -> TokenUsage:
    """Anthropic's usage as ``TokenUsage``: cached tokens added into ``prompt_tokens``."""
    if not isinstance(usage, Mapping):
        return TokenUsage()
    cache_write = _count(usage, "cache_creation_input_tokens")
    cache_read = _count(usage, "cache_read_input_tokens")
    return TokenUsage(
        prompt_tokens=_count(usage, "input_tokens") + cache_write + cache_read,
        completion_tokens=_count(usage, "output_tokens"),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


def content_blocks(call: ProviderCall) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system, user)`` text blocks, with the one cache breakpoint placed (see above)."""
    blocks = call.prompt_blocks or (
        PromptBlock.model_construct(content=call.user_prompt, cacheable=False, content_hash=""),
    )
    ordered = [b for b in blocks if b.target == "system"] + [
        b for b in blocks if b.target != "system"
    ]
    prefix = 0
    while prefix < len(ordered) and ordered[prefix].cacheable:
        prefix += 1
    cache_point = ordered[prefix - 1] if prefix else None
    system: list[dict[str, Any]] = (
        [{"type": "text", "text": call.system_prompt}] if call.system_prompt else []
    )
    user: list[dict[str, Any]] = []
    for block in ordered:
        text: dict[str, Any] = {"type": "text", "text": block.content}
        if block is cache_point:
            text["cache_control"] = {"type": "ephemeral", "ttl": block.ttl or "5m"}
        (system if block.target == "system" else user).append(text)
    if not user:  # every block went to the system prompt: the turn still needs a question
        user.append({"type": "text", "text": call.user_prompt})
    return system, user


class AnthropicProvider:
    """Judgements from Claude through the official SDK. See the module docstring.

    ``api_key`` defaults to ``ANTHROPIC_API_KEY`` (required: a missing key raises
    ``ValueError`` here, not at the first call); ``base_url`` to ``ANTHROPIC_BASE_URL``, else
    the SDK's default. ``timeout_s`` bounds each HTTP read (the SDK's ``timeout``).
    ``model`` is used when a call names none; ``max_tokens`` when a call sets none.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        name: str = "anthropic",
    ) -> None:
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ValueError(
                "AnthropicProvider needs an API key: pass api_key= or set ANTHROPIC_API_KEY"
            )
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        self._client = anthropic.AsyncAnthropic(
            api_key=key,
            base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_retries=0,  # the engine owns retries
            timeout=timeout_s,
        )
        self._secrets = (key,)
        self._model = model
        self._max_tokens = max_tokens
        self._name = name
        self._jobs: dict[str, dict[str, ProviderCall]] = {}

    @property
    def name(self) -> str:
        return self._name

    async def aclose(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> AnthropicProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- one comparison ------------------------------------------------------------------

    def request_params(self, call: ProviderCall) -> dict[str, Any]:
        """The Messages API body for ``call`` (also a batch request's ``params``)."""
        model = call.model or self._model
        if not model:
            raise ProviderError(
                missing_model(self._name, correlation_id=call.correlation_id, timestamp=_utcnow())
            )
        system, user = content_blocks(call)
        params: dict[str, Any] = {
            "model": model,
            "max_tokens": call.max_tokens or self._max_tokens,
            "messages": [{"role": "user", "content": user}],
            "tools": [JUDGEMENT_TOOL],
            "tool_choice": {"type": "tool", "name": TOOL_NAME, "disable_parallel_tool_use": True},
        }
        if system:
            params["system"] = system
        return params

    async def compare(self, call: ProviderCall) -> ProviderVerdict:
        params = self.request_params(call)
        started = time.monotonic()
        try:
            raw = await self._client.messages.with_raw_response.create(**params)
        except Exception as exc:
            raise self._failure(exc, call.correlation_id) from None
        elapsed_ms = round((time.monotonic() - started) * 1000)
        request_id = raw.headers.get("request-id")
        try:
            body = raw.http_response.json()
        except ValueError:
            raise self._invalid(
                call, f"the answer is not JSON: {raw.http_response.text[:80]!r}", request_id
            ) from None
        return self._verdict(body, call, request_id=request_id, elapsed_ms=elapsed_ms)

    def _failure(self, exc: Exception, correlation_id: str) -> ProviderError:
        detail = translate(
            exc,
            SDK,
            provider=self._name,
            correlation_id=correlation_id,
            timestamp=_utcnow(),
            secrets=self._secrets,
        )
        if detail is None:
            raise exc  # not an SDK failure: a bug, never reclassified
        return ProviderError(detail)

    def _invalid(
        self,
        call: ProviderCall,
        message: str,
        request_id: str | None,
        *,
        stop_reason: str | None = None,
    ) -> ProviderError:
        return ProviderError(
            invalid_answer(
                message,
                provider=self._name,
                correlation_id=call.correlation_id,
                timestamp=_utcnow(),
                secrets=self._secrets,
                request_id=request_id,
                stop_reason=stop_reason,
            )
        )

    def _verdict(
        self, body: object, call: ProviderCall, *, request_id: str | None, elapsed_ms: int
    ) -> ProviderVerdict:
        if not isinstance(body, dict):
            raise self._invalid(call, "the answer is not a JSON object", request_id)
        stop_reason = body.get("stop_reason")
        stop_reason = stop_reason if isinstance(stop_reason, str) else None
        content = body.get("content")
        calls = [
            block.get("input")
            for block in (content if isinstance(content, list) else [])
            if isinstance(block, dict)
            and block.get("type") == "tool_use"
            and block.get("name") == TOOL_NAME
        ]
        if not calls and stop_reason not in TRUNCATION_REASONS:
            raise self._invalid(
                call,
                f"no {TOOL_NAME} tool call in the answer (stop reason {stop_reason})",
                request_id,
                stop_reason=stop_reason,
            )
        answer = calls[0] if calls and isinstance(calls[0], dict | str) else {}
        winner, justification, confidence = parse_verdict(
            answer,
            provider=self._name,
            correlation_id=call.correlation_id,
            timestamp=_utcnow(),
            stop_reason=stop_reason,
            provider_request_id=request_id,
        )
        model = body.get("model")
        return ProviderVerdict(
            winner=winner,  # type: ignore[arg-type]  # parse_verdict checked it
            justification=justification,
            confidence=confidence,
            model=model if isinstance(model, str) and model else str(call.model or self._model),
            usage=normalised_usage(body.get("usage")),
            response_time_ms=elapsed_ms,
            provider_request_id=request_id,
            stop_reason=stop_reason,
        )

    # ---- Message Batches -----------------------------------------------------------------

    async def submit_batch(self, calls: Sequence[ProviderCall]) -> str:
        """Create one Message Batch for ``calls``; its id is the job id."""
        if not calls:
            raise ValueError("submit_batch needs at least one call")
        requests: list[Any] = [
            {"custom_id": call.custom_id, "params": self.request_params(call)} for call in calls
        ]
        try:
            batch = await self._client.messages.batches.create(requests=requests)
        except Exception as exc:
            raise self._failure(exc, calls[0].correlation_id) from None
        self._jobs[batch.id] = {call.custom_id: call for call in calls}
        return batch.id

    async def poll_batch(self, job_id: str) -> BatchPoll:
        """The batch's results so far (by ``custom_id``), and whether it has ended.

        A transient failure to poll (rate limit, overload, timeout...) is an empty poll, tried
        again next time; any other failure raises ``ProviderError``.
        """
        calls = self._jobs.get(job_id, {})
        try:
            batch = await self._client.messages.batches.retrieve(job_id)
            lines: list[str] = []
            if getattr(batch, "results_url", None):
                raw = await self._client.messages.batches.with_raw_response.results(job_id)
                lines = (await raw.read()).decode("utf-8").splitlines()
        except Exception as exc:
            failure = self._failure(exc, f"batch:{job_id}")
            if failure.retryable:
                return BatchPoll(ended=False, results={})
            raise failure from None
        results: dict[str, ProviderVerdict | ProviderError] = {}
        for line in lines:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn line: its item is expired with the job if it never comes
            custom_id = entry.get("custom_id") if isinstance(entry, dict) else None
            if isinstance(custom_id, str):
                results[custom_id] = self._batch_outcome(job_id, custom_id, entry, calls)
        ended = getattr(batch, "processing_status", None) == "ended"
        if ended:
            self._jobs.pop(job_id, None)
        return BatchPoll(ended=ended, results=results)

    def _batch_outcome(
        self,
        job_id: str,
        custom_id: str,
        entry: dict[str, Any],
        calls: Mapping[str, ProviderCall],
    ) -> ProviderVerdict | ProviderError:
        call = calls.get(custom_id) or ProviderCall(
            correlation_id=custom_id,
            provider=self._name,
            model=self._model or "",
            system_prompt="",
            user_prompt="",
            prompt_sha256="",
            custom_id=custom_id,
        )
        result = entry.get("result")
        result = result if isinstance(result, dict) else {}
        kind = result.get("type")
        if kind == "succeeded":
            message = result.get("message")
            request_id = message.get("id") if isinstance(message, dict) else None
            try:
                return self._verdict(message, call, request_id=request_id, elapsed_ms=0)
            except ProviderError as exc:
                return exc
        if kind == "errored":
            body = result.get("error")
            body = body if isinstance(body, dict) else {}
            error = body.get("error")
            error = error if isinstance(error, dict) else {}
            request_id = body.get("request_id")
            return ProviderError(
                classify_batch_http(
                    STATUS_OF_ERROR_TYPE.get(str(error.get("type")), 500),
                    body,
                    request_id=request_id if isinstance(request_id, str) else None,
                    provider=self._name,
                    correlation_id=call.correlation_id,
                    timestamp=_utcnow(),
                    secrets=self._secrets,
                )
            )
        return ProviderError(
            batch_item_expired(
                str(kind or "expired"),
                provider=self._name,
                job_id=job_id,
                correlation_id=call.correlation_id,
                timestamp=_utcnow(),
            )
        )
