"""The ``Provider`` (and ``BatchProvider``) port on OpenAI's Responses API, live only.

Theory of operation. One ``compare`` is one HTTP request (``max_retries=0``: the engine owns
retries). The verdict is Structured Outputs: ``text.format`` is a strict ``json_schema``, so the
answer's ``output_text`` is the verdict object, checked by the shared ``parse_verdict``.

What is sent, and why:

* ``instructions``: the system prompt (and any ``target="system"`` blocks); ``input``: one user
  message with the prompt blocks in order. OpenAI caches the longest shared prefix on its own;
  ``prompt_cache_key`` (a hash of the leading cacheable blocks) routes every comparison of one
  rubric to the same cache.
* ``max_output_tokens`` from the call; ``reasoning.effort`` and ``text.verbosity`` when the call
  sets them. ``temperature`` only when no reasoning effort, or effort ``none``, is asked for:
  reasoning models refuse sampling parameters while they reason. ``store=False``: essays are
  not kept on the provider's side.

What comes back: ``status == "incomplete"`` with ``incomplete_details.reason`` ``max_output_tokens``
(or no reason at all, which has been seen on truncated answers) is a ``max_tokens`` error; any
other incomplete or failed status, a refusal, or text that does not parse is
``invalid_response``. Usage: ``prompt_tokens = input_tokens`` (OpenAI's ``cached_tokens`` is a
subset of it), ``cache_read_tokens = input_tokens_details.cached_tokens``.

Batches (``batch_api`` mode): ``submit_batch`` uploads a JSONL file (``purpose="batch"``) of
``POST /v1/responses`` lines with the same bodies and the queue id as ``custom_id``, then
creates a batch with a 24 h window. ``poll_batch`` reads the batch, then its output file and
error file once they exist, matched by ``custom_id``. A line that failed with an HTTP status is
classified as that error; ``batch_expired``/``batch_cancelled`` lines are ``batch_expired``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import openai

from engine.lps.batch_api import BatchPoll
from engine.lps.calls import ProviderCall, ProviderVerdict, TokenUsage
from engine.lps.errors import ErrorType, ProviderError, detail_for
from engine.lps.providers.sdk_errors import (
    SdkExceptions,
    batch_item_expired,
    classify_batch_http,
    invalid_answer,
    missing_model,
    redact,
    translate,
)
from engine.lps.verdict import parse_verdict

__all__ = ["JUDGEMENT_FORMAT", "OpenAIProvider"]

JUDGEMENT_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "name": "record_judgement",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {
            "winner": {"type": "string", "enum": ["Essay A", "Essay B"]},
            "justification": {"type": "string", "description": "At most 50 words."},
            "confidence": {"type": "number", "minimum": 1, "maximum": 5},
        },
        "required": ["winner", "justification", "confidence"],
        "additionalProperties": False,
    },
}
SDK = SdkExceptions(
    base=openai.OpenAIError,
    status=openai.APIStatusError,
    connection=openai.APIConnectionError,
    timeout=openai.APITimeoutError,
    validation=openai.APIResponseValidationError,
)
BATCH_ENDPOINT: Final = "/v1/responses"
BATCH_ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
BATCH_NOT_RUN = {"batch_expired": "expired", "batch_cancelled": "canceled"}
SAMPLING_EFFORTS = frozenset({None, "none"})  # reasoning efforts that accept a temperature
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_TOKENS = 1024


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _count(mapping: object, key: str) -> int:
    value = mapping.get(key) if isinstance(mapping, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def normalised_usage(usage: object) -> TokenUsage:
    """The Responses API's usage as ``TokenUsage`` (cached tokens are already in the input)."""
    if not isinstance(usage, Mapping):
        return TokenUsage()
    details = usage.get("input_tokens_details")
    return TokenUsage(
        prompt_tokens=_count(usage, "input_tokens"),
        completion_tokens=_count(usage, "output_tokens"),
        cache_read_tokens=_count(details, "cached_tokens"),
        cache_write_tokens=_count(details, "cache_write_tokens"),
    )


def _output_text(body: Mapping[str, Any]) -> tuple[str, str | None]:
    """``(text, refusal)``: the answer's ``output_text`` parts joined, and any refusal."""
    texts: list[str] = []
    refusal: str | None = None
    output = body.get("output")
    for item in output if isinstance(output, list) else []:
        if not isinstance(item, dict) or item.get("type") != "message":
            continue
        content = item.get("content")
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "refusal":
                refusal = str(part.get("refusal") or "")
    return "".join(texts), refusal


class OpenAIProvider:
    """Judgements from OpenAI models through the official SDK. See the module docstring.

    ``api_key`` defaults to ``OPENAI_API_KEY`` (required: a missing key raises ``ValueError``
    here); ``base_url`` to ``OPENAI_BASE_URL``, else the SDK's default. ``timeout_s`` bounds
    each HTTP read. ``model`` is used when a call names none; ``max_tokens`` when a call sets
    none.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        name: str = "openai",
    ) -> None:
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise ValueError("OpenAIProvider needs an API key: pass api_key= or set OPENAI_API_KEY")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=base_url or os.environ.get("OPENAI_BASE_URL") or None,
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

    async def __aenter__(self) -> OpenAIProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- one comparison ------------------------------------------------------------------

    def request_params(self, call: ProviderCall) -> dict[str, Any]:
        """The Responses API body for ``call`` (also a batch line's ``body``)."""
        model = call.model or self._model
        if not model:
            raise ProviderError(
                missing_model(self._name, correlation_id=call.correlation_id, timestamp=_utcnow())
            )
        blocks = call.prompt_blocks
        system = [call.system_prompt] if call.system_prompt else []
        system += [block.content for block in blocks if block.target == "system"]
        user = [block.content for block in blocks if block.target != "system"] or [call.user_prompt]
        text: dict[str, Any] = {"format": JUDGEMENT_FORMAT}
        if call.output_verbosity:
            text["verbosity"] = call.output_verbosity
        params: dict[str, Any] = {
            "model": model,
            "input": [
                {
                    "role": "user",
                    "content": [{"type": "input_text", "text": part} for part in user],
                }
            ],
            "max_output_tokens": call.max_tokens or self._max_tokens,
            "text": text,
            "store": False,
        }
        if system:
            params["instructions"] = "\n\n".join(system)
        if call.reasoning_effort:
            params["reasoning"] = {"effort": call.reasoning_effort}
        if call.temperature is not None and call.reasoning_effort in SAMPLING_EFFORTS:
            params["temperature"] = call.temperature
        ordered = [b for b in blocks if b.target == "system"] + [
            b for b in blocks if b.target != "system"
        ]
        shared: list[str] = []
        for block in ordered:
            if not block.cacheable:
                break
            shared.append(block.content_hash or hashlib.sha256(block.content.encode()).hexdigest())
        if shared:
            digest = hashlib.sha256("\n".join(shared).encode()).hexdigest()
            params["prompt_cache_key"] = f"cjsim-{digest[:32]}"
        return params

    async def compare(self, call: ProviderCall) -> ProviderVerdict:
        params = self.request_params(call)
        started = time.monotonic()
        try:
            raw = await self._client.responses.with_raw_response.create(**params)
        except Exception as exc:
            raise self._failure(exc, call.correlation_id) from None
        elapsed_ms = round((time.monotonic() - started) * 1000)
        request_id = raw.headers.get("x-request-id")
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
        status = body.get("status")
        status = status if isinstance(status, str) else None
        stop_reason = status
        if status == "incomplete":
            incomplete = body.get("incomplete_details")
            reason = incomplete.get("reason") if isinstance(incomplete, dict) else None
            stop_reason = reason if isinstance(reason, str) else "max_output_tokens"
            if stop_reason != "max_output_tokens":
                raise self._invalid(
                    call,
                    f"the answer is incomplete ({stop_reason})",
                    request_id,
                    stop_reason=stop_reason,
                )
        elif status == "failed":
            error = body.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            raise self._invalid(
                call, f"the response failed ({code})", request_id, stop_reason=status
            )
        text, refusal = _output_text(body)
        if refusal is not None and not text:
            raise self._invalid(
                call, f"the model refused: {refusal[:200]}", request_id, stop_reason="refusal"
            )
        winner, justification, confidence = parse_verdict(
            text,
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

    # ---- Batch API -----------------------------------------------------------------------

    async def submit_batch(self, calls: Sequence[ProviderCall]) -> str:
        """Upload ``calls`` as one JSONL file and create a batch on it; its id is the job id."""
        if not calls:
            raise ValueError("submit_batch needs at least one call")
        lines = [
            json.dumps(
                {
                    "custom_id": call.custom_id,
                    "method": "POST",
                    "url": BATCH_ENDPOINT,
                    "body": self.request_params(call),
                },
                ensure_ascii=False,
            )
            for call in calls
        ]
        payload = ("\n".join(lines) + "\n").encode("utf-8")
        try:
            upload = await self._client.files.create(
                file=("cjsim-batch.jsonl", payload, "application/jsonl"), purpose="batch"
            )
            batch = await self._client.batches.create(
                input_file_id=upload.id, endpoint=BATCH_ENDPOINT, completion_window="24h"
            )
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
            batch = await self._client.batches.retrieve(job_id)
            lines: list[str] = []
            for file_id in (batch.output_file_id, batch.error_file_id):
                if file_id:
                    content = await self._client.files.content(file_id)
                    lines += content.text.splitlines()
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
        status = getattr(batch, "status", None)
        if status == "failed":
            # The batch was refused as a whole (its input did not validate): every item fails.
            errors = getattr(getattr(batch, "errors", None), "data", None) or []
            reason = "; ".join(str(getattr(e, "message", e)) for e in errors) or "batch failed"
            for custom_id, call in calls.items():
                results.setdefault(custom_id, self._batch_refused(call, job_id, reason))
        ended = status in BATCH_ENDED
        if ended:
            self._jobs.pop(job_id, None)
        return BatchPoll(ended=ended, results=results)

    def _batch_refused(self, call: ProviderCall, job_id: str, reason: str) -> ProviderError:
        return ProviderError(
            detail_for(
                ErrorType.CLIENT_ERROR,
                redact(f"{self._name} batch {job_id} failed: {reason}", self._secrets),
                correlation_id=call.correlation_id,
                timestamp=_utcnow(),
                provider=self._name,
                operation="batch_comparison",
                http_status=None,
                retry_after_s=None,
                provider_batch_id=job_id,
            )
        )

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
        error = entry.get("error")
        response = entry.get("response")
        response = response if isinstance(response, dict) else {}
        request_id = response.get("request_id")
        request_id = request_id if isinstance(request_id, str) else None
        if isinstance(error, dict):
            code = str(error.get("code") or "")
            if code in BATCH_NOT_RUN:
                return ProviderError(
                    batch_item_expired(
                        BATCH_NOT_RUN[code],
                        provider=self._name,
                        job_id=job_id,
                        correlation_id=call.correlation_id,
                        timestamp=_utcnow(),
                    )
                )
            if not response:
                return self._batch_refused(call, job_id, f"{code}: {error.get('message')}")
        status_code = response.get("status_code")
        if status_code == 200:
            try:
                return self._verdict(
                    response.get("body"), call, request_id=request_id, elapsed_ms=0
                )
            except ProviderError as exc:
                return exc
        return ProviderError(
            classify_batch_http(
                status_code if isinstance(status_code, int) else 500,
                response.get("body"),
                request_id=request_id,
                provider=self._name,
                correlation_id=call.correlation_id,
                timestamp=_utcnow(),
                secrets=self._secrets,
            )
        )
