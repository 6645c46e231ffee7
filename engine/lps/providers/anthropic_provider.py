"""The ``Provider`` (and ``BatchProvider``) port on Anthropic's Messages API, live only.

Theory of operation. ``SdkProvider`` (``sdk_provider``) owns what both live adapters share: one
HTTP request per ``compare`` with no SDK retries (the engine owns retries on its own clock,
``engine.lps.retry``), the timing, the error translation and the batch polling loop. This module
is the Anthropic wire format. The verdict is forced structured output: one strict
``record_judgement`` tool and a ``tool_choice`` that names it, so the answer arrives as the tool
call's ``input`` object, checked by the shared ``parse_verdict``.

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
(Anthropic counts cached tokens apart from ``input_tokens``), also on a billed failure. The
request id is the ``request-id`` header; the limits are the ``anthropic-ratelimit-*`` headers,
their resets RFC 3339 instants measured from the runtime's ``utcnow``.

Batches (``batch_api`` mode): ``submit_batch`` creates one Message Batch whose requests carry
the same params and the queue id as ``custom_id``; ``poll_batch`` reads the batch, and once it
has a ``results_url`` reads the JSONL results, matched by ``custom_id`` (any order). Errored
results are classified as the HTTP error they stand for; expired and canceled ones are
``batch_expired``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anthropic
import httpx2

from engine.contracts import PromptBlock
from engine.lps.calls import ProviderCall, ProviderVerdict, RateLimitHints, TokenUsage
from engine.lps.errors import ProviderError
from engine.lps.providers.rate_limits import anthropic_hints
from engine.lps.providers.sdk_errors import SdkExceptions
from engine.lps.providers.sdk_provider import (
    BatchSnapshot,
    SdkProvider,
    token_count,
)
from engine.lps.verdict import TRUNCATION_REASONS

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


def normalised_usage(usage: object) -> TokenUsage:
    """Anthropic's usage as ``TokenUsage``: cached tokens added into ``prompt_tokens``."""
    cache_write = token_count(usage, "cache_creation_input_tokens")
    cache_read = token_count(usage, "cache_read_input_tokens")
    return TokenUsage(
        prompt_tokens=token_count(usage, "input_tokens") + cache_write + cache_read,
        completion_tokens=token_count(usage, "output_tokens"),
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


class AnthropicProvider(SdkProvider[anthropic.AsyncAnthropic]):
    """Judgements from Claude through the official SDK. See the module docstring.

    ``api_key`` defaults to ``ANTHROPIC_API_KEY`` (required: a missing key raises
    ``ValueError`` here, not at the first call); ``base_url`` to ``ANTHROPIC_BASE_URL``, else
    the SDK's default. ``timeout_s`` bounds each HTTP read (the SDK's ``timeout``).
    ``model`` is used when a call names none; ``max_tokens`` when a call sets none.
    """

    SDK = SDK
    KEY_VARIABLE = "ANTHROPIC_API_KEY"
    BASE_URL_VARIABLE = "ANTHROPIC_BASE_URL"
    REQUEST_ID_HEADER = "request-id"
    NAME = "anthropic"

    def _new_client(
        self, *, api_key: str, base_url: str | None, max_retries: int, timeout: float
    ) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout
        )

    # ---- one comparison ------------------------------------------------------------------

    def request_params(self, call: ProviderCall) -> dict[str, Any]:
        """The Messages API body for ``call`` (also a batch request's ``params``)."""
        model = self._model_for(call)
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

    async def _send(self, params: dict[str, Any]) -> httpx2.Response:
        raw = await self._client.messages.with_raw_response.create(**params)
        response: httpx2.Response = raw.http_response  # Any: **params picks no SDK overload
        return response

    def _read_answer(
        self, body: dict[str, Any], call: ProviderCall, request_id: str | None
    ) -> tuple[str | Mapping[str, Any], str | None]:
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
        # A truncated answer may hold no tool call: parse_verdict reports it as max_tokens.
        answer = calls[0] if calls and isinstance(calls[0], dict | str) else {}
        return answer, stop_reason

    def _usage(self, usage: object) -> TokenUsage:
        return normalised_usage(usage)

    def _rate_limit(self, headers: Mapping[str, str]) -> RateLimitHints | None:
        return anthropic_hints(headers, self._runtime.utcnow())

    async def _lookup_model(self, model: str, timeout: httpx2.Timeout) -> None:
        # Raw: the answer is not parsed, so a field the SDK does not know cannot fail the check.
        await self._client.models.with_raw_response.retrieve(model, timeout=timeout)

    # ---- Message Batches -----------------------------------------------------------------

    async def _create_batch(
        self, calls: Sequence[ProviderCall], bodies: Sequence[dict[str, Any]]
    ) -> str:
        requests: list[Any] = [
            {"custom_id": call.custom_id, "params": params}
            for call, params in zip(calls, bodies, strict=True)
        ]
        batch = await self._client.messages.batches.create(requests=requests)
        return batch.id

    async def _read_batch(self, job_id: str) -> BatchSnapshot:
        batch = await self._client.messages.batches.retrieve(job_id)
        lines: list[str] = []
        if getattr(batch, "results_url", None):
            raw = await self._client.messages.batches.with_raw_response.results(job_id)
            lines = (await raw.read()).decode("utf-8").splitlines()
        return BatchSnapshot(
            ended=getattr(batch, "processing_status", None) == "ended", lines=tuple(lines)
        )

    def _batch_result(
        self, job_id: str, entry: dict[str, Any], call: ProviderCall
    ) -> ProviderVerdict | ProviderError:
        result = entry.get("result")
        result = result if isinstance(result, dict) else {}
        kind = result.get("type")
        if kind == "succeeded":
            message = result.get("message")
            request_id = message.get("id") if isinstance(message, dict) else None
            return self._batch_verdict(message, call, request_id)
        if kind == "errored":
            body = result.get("error")
            body = body if isinstance(body, dict) else {}
            error = body.get("error")
            error = error if isinstance(error, dict) else {}
            request_id = body.get("request_id")
            return self._batch_http_error(
                STATUS_OF_ERROR_TYPE.get(str(error.get("type")), 500),
                body,
                call,
                request_id if isinstance(request_id, str) else None,
            )
        return self._batch_expired(str(kind or "expired"), call, job_id)
