"""The ``Provider`` (and ``BatchProvider``) port on OpenAI's Responses API, live only.

Theory of operation. ``SdkProvider`` (``sdk_provider``) owns what both live adapters share: one
HTTP request per ``compare`` with no SDK retries (the engine owns retries), the timing, the
error translation and the batch polling loop. This module is the OpenAI wire format. The verdict
is Structured Outputs: ``text.format`` is a strict ``json_schema``, so the answer's
``output_text`` is the verdict object, checked by the shared ``parse_verdict``.

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
subset of it), ``cache_read_tokens = input_tokens_details.cached_tokens``, also on a billed
failure. The request id is the ``x-request-id`` header; the limits are the ``x-ratelimit-*``
headers, their resets Go-style durations (``6m0s``).

Batches (``batch_api`` mode): ``submit_batch`` uploads a JSONL file (``purpose="batch"``) of
``POST /v1/responses`` lines with the same bodies and the queue id as ``custom_id``, then
creates a batch with a 24 h window. ``poll_batch`` reads the batch, then its output file and
error file once they exist, matched by ``custom_id``. A line that failed with an HTTP status is
classified as that error; ``batch_expired``/``batch_cancelled`` lines are ``batch_expired``. A
batch that failed as a whole (its input did not validate) fails every item without a result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx2
import openai

from engine.lps.calls import ProviderCall, ProviderVerdict, RateLimitHints, TokenUsage
from engine.lps.errors import ProviderError
from engine.lps.providers.rate_limits import openai_hints
from engine.lps.providers.sdk_errors import SdkExceptions
from engine.lps.providers.sdk_provider import (
    BatchSnapshot,
    SdkProvider,
    token_count,
)

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


def normalised_usage(usage: object) -> TokenUsage:
    """The Responses API's usage as ``TokenUsage`` (cached tokens are already in the input)."""
    details = usage.get("input_tokens_details") if isinstance(usage, Mapping) else None
    return TokenUsage(
        prompt_tokens=token_count(usage, "input_tokens"),
        completion_tokens=token_count(usage, "output_tokens"),
        cache_read_tokens=token_count(details, "cached_tokens"),
        cache_write_tokens=token_count(details, "cache_write_tokens"),
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


class OpenAIProvider(SdkProvider[openai.AsyncOpenAI]):
    """Judgements from OpenAI models through the official SDK. See the module docstring.

    ``api_key`` defaults to ``OPENAI_API_KEY`` (required: a missing key raises ``ValueError``
    here); ``base_url`` to ``OPENAI_BASE_URL``, else the SDK's default. ``timeout_s`` bounds
    each HTTP read. ``model`` is used when a call names none; ``max_tokens`` when a call sets
    none.
    """

    SDK = SDK
    KEY_VARIABLE = "OPENAI_API_KEY"
    BASE_URL_VARIABLE = "OPENAI_BASE_URL"
    REQUEST_ID_HEADER = "x-request-id"
    NAME = "openai"

    def _new_client(
        self, *, api_key: str, base_url: str | None, max_retries: int, timeout: float
    ) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout
        )

    # ---- one comparison ------------------------------------------------------------------

    def request_params(self, call: ProviderCall) -> dict[str, Any]:
        """The Responses API body for ``call`` (also a batch line's ``body``)."""
        model = self._model_for(call)
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

    async def _send(self, params: dict[str, Any]) -> httpx2.Response:
        raw = await self._client.responses.with_raw_response.create(**params)
        response: httpx2.Response = raw.http_response  # Any: **params picks no SDK overload
        return response

    def _read_answer(
        self, body: dict[str, Any], call: ProviderCall, request_id: str | None
    ) -> tuple[str | Mapping[str, Any], str | None]:
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
        return text, stop_reason

    def _usage(self, usage: object) -> TokenUsage:
        return normalised_usage(usage)

    def _rate_limit(self, headers: Mapping[str, str]) -> RateLimitHints | None:
        return openai_hints(headers, self._runtime.utcnow())

    async def _lookup_model(self, model: str, timeout: httpx2.Timeout) -> None:
        # Raw: the answer is not parsed, so a field the SDK does not know cannot fail the check.
        await self._client.models.with_raw_response.retrieve(model, timeout=timeout)

    # ---- Batch API -----------------------------------------------------------------------

    async def _create_batch(
        self, calls: Sequence[ProviderCall], bodies: Sequence[dict[str, Any]]
    ) -> str:
        lines = [
            json.dumps(
                {
                    "custom_id": call.custom_id,
                    "method": "POST",
                    "url": BATCH_ENDPOINT,
                    "body": body,
                },
                ensure_ascii=False,
            )
            for call, body in zip(calls, bodies, strict=True)
        ]
        payload = ("\n".join(lines) + "\n").encode("utf-8")
        upload = await self._client.files.create(
            file=("cjsim-batch.jsonl", payload, "application/jsonl"), purpose="batch"
        )
        batch = await self._client.batches.create(
            input_file_id=upload.id, endpoint=BATCH_ENDPOINT, completion_window="24h"
        )
        return batch.id

    async def _read_batch(self, job_id: str) -> BatchSnapshot:
        batch = await self._client.batches.retrieve(job_id)
        lines: list[str] = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await self._client.files.content(file_id)
                lines += content.text.splitlines()
        status = getattr(batch, "status", None)
        refusal: str | None = None
        if status == "failed":
            # The batch was refused as a whole (its input did not validate): every item fails.
            errors = getattr(getattr(batch, "errors", None), "data", None) or []
            refusal = "; ".join(str(getattr(e, "message", e)) for e in errors) or "batch failed"
        return BatchSnapshot(ended=status in BATCH_ENDED, lines=tuple(lines), refusal=refusal)

    def _batch_result(
        self, job_id: str, entry: dict[str, Any], call: ProviderCall
    ) -> ProviderVerdict | ProviderError:
        error = entry.get("error")
        response = entry.get("response")
        response = response if isinstance(response, dict) else {}
        request_id = response.get("request_id")
        request_id = request_id if isinstance(request_id, str) else None
        if isinstance(error, dict):
            code = str(error.get("code") or "")
            if code in BATCH_NOT_RUN:
                return self._batch_expired(BATCH_NOT_RUN[code], call, job_id)
            if not response:
                return self._batch_refused(call, job_id, f"{code}: {error.get('message')}")
        status_code = response.get("status_code")
        if status_code == 200:
            return self._batch_verdict(response.get("body"), call, request_id)
        return self._batch_http_error(
            status_code if isinstance(status_code, int) else 500,
            response.get("body"),
            call,
            request_id,
        )
