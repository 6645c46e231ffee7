"""What the two live adapters share: one SDK client, one HTTP request per ``compare``.

Theory of operation. ``SdkProvider`` is a template; ``AnthropicProvider`` and ``OpenAIProvider``
fill in the hooks. Everything here is the same for both providers because both official SDKs
are generated from one template (see ``sdk_errors``); everything about the wire format stays in
the adapter that speaks it.

``compare`` builds the body (hook ``request_params``), sends it once (hook ``_send``, which
returns the raw HTTP response), times it, takes the request id from ``REQUEST_ID_HEADER`` and
reads the body as JSON itself, so that a malformed body still reports the request it came with.
``_verdict`` rejects a body that is not an object, lets the adapter find the answer and its stop
reason in it (hook ``_read_answer``, which raises ``invalid_response`` when there is none), and
turns that into a ``ProviderVerdict`` through the shared ``parse_verdict``, with the adapter's
own usage normalisation (hook ``_usage``).

Batches: ``submit_batch`` renders every body before anything is sent (so a call without a model
fails alone, as in ``compare``) and hands them to hook ``_create_batch``. ``poll_batch`` reads a
``BatchSnapshot`` (hook ``_read_batch``), matches its JSONL lines to the submitted calls by
``custom_id`` and lets the adapter settle each one (hook ``_batch_result``). A failure to poll
that the engine would retry is an empty poll; every other SDK failure is raised, translated.

What an answer costs and what it says about the limits: every HTTP answer's headers become
``RateLimitHints`` (hook ``_rate_limit``, pure parsing in ``rate_limits``) on the verdict or on
the ``ProviderError``, a 429's above all. An answer that is not a verdict (truncated, refused,
without a valid judgement) was still billed: its ``ProviderError`` carries the answer's usage
and model. A body that cannot be read at all claims neither.

Preflight: ``preflight`` looks the configured model up (hook ``_lookup_model``, free and
authenticated) once, bounded, before a live run's first comparison; any failure is one
``PreflightFailed`` sentence (see ``preflight``).

Time comes from the ``Runtime`` the adapter is given, as everywhere in the engine: each call is
timed on ``runtime.now()``, every error is stamped, and every rate-limit reset measured, on
``runtime.utcnow()``.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import httpx2

from engine.lps.batch_api import BatchPoll
from engine.lps.calls import ProviderCall, ProviderVerdict, RateLimitHints, TokenUsage
from engine.lps.errors import ProviderError
from engine.lps.providers.preflight import PREFLIGHT_TIMEOUT_S, PreflightFailed, preflight_failure
from engine.lps.providers.sdk_errors import (
    SdkExceptions,
    batch_item_expired,
    batch_refused,
    classify_batch_http,
    invalid_answer,
    missing_model,
    translate,
)
from engine.lps.verdict import parse_verdict
from engine.ports import Runtime

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_TIMEOUT_S",
    "BatchSnapshot",
    "SdkClient",
    "SdkProvider",
    "token_count",
]

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_TOKENS = 1024


class SdkClient(Protocol):
    """What the base needs of an SDK's async client: where it sends, and that it can close."""

    @property
    def base_url(self) -> httpx2.URL: ...

    async def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=SdkClient)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSnapshot:
    """One read of a provider batch: its result lines so far and whether it has ended.

    ``refusal`` is why the provider refused the batch as a whole, if it did: every submitted
    call without a result line then fails with it.
    """

    ended: bool
    lines: tuple[str, ...]
    refusal: str | None = None


def token_count(usage: object, key: str) -> int:
    """``usage[key]`` as a token count: a positive int, else 0 (missing, null, bool, negative)."""
    value = usage.get(key) if isinstance(usage, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class SdkProvider(ABC, Generic[ClientT]):
    """The ``Provider`` and ``BatchProvider`` ports over one SDK client. See the module docstring.

    A subclass names its SDK (``SDK``, ``KEY_VARIABLE``, ``BASE_URL_VARIABLE``,
    ``REQUEST_ID_HEADER``, ``NAME``), builds its client (``_new_client``) and implements the
    other hooks marked abstract.

    ``runtime`` is the clock (``now`` times calls, ``utcnow`` stamps errors and measures
    rate-limit resets). ``api_key`` defaults to ``KEY_VARIABLE`` (required: a missing key
    raises ``ValueError`` here, not at the first call); ``base_url`` to ``BASE_URL_VARIABLE``,
    else the SDK's default. ``timeout_s`` bounds each HTTP read (the SDK's ``timeout``).
    ``model`` is used when a call names none; ``max_tokens`` when a call sets none; ``name``
    defaults to ``NAME``.
    """

    SDK: ClassVar[SdkExceptions]
    KEY_VARIABLE: ClassVar[str]  # where the API key comes from when none is passed
    BASE_URL_VARIABLE: ClassVar[str]
    REQUEST_ID_HEADER: ClassVar[str]
    NAME: ClassVar[str]

    def __init__(
        self,
        *,
        runtime: Runtime,
        model: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        name: str | None = None,
    ) -> None:
        key = api_key or os.environ.get(self.KEY_VARIABLE)
        if not key:
            raise ValueError(
                f"{type(self).__name__} needs an API key: pass api_key= or set {self.KEY_VARIABLE}"
            )
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        self._client = self._new_client(
            api_key=key,
            base_url=base_url or os.environ.get(self.BASE_URL_VARIABLE) or None,
            # The engine owns retries, on its own clock: an SDK retry would hide a 429's
            # retry-after from it and double-count the attempt.
            max_retries=0,
            timeout=timeout_s,
        )
        self._runtime = runtime
        self._secrets = (key,)
        self._model = model
        self._max_tokens = max_tokens
        self._name = self.NAME if name is None else name
        self._jobs: dict[str, dict[str, ProviderCall]] = {}  # job id -> custom_id -> call

    @property
    def name(self) -> str:
        return self._name

    @property
    def base_url(self) -> str:
        """Where the client sends (for messages to the user; it never holds the key)."""
        return str(self._client.base_url).rstrip("/")

    async def aclose(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- one comparison ------------------------------------------------------------------

    @abstractmethod
    def _new_client(
        self, *, api_key: str, base_url: str | None, max_retries: int, timeout: float
    ) -> ClientT:
        """The SDK's async client (``anthropic.AsyncAnthropic``, ``openai.AsyncOpenAI``)."""

    @abstractmethod
    def request_params(self, call: ProviderCall) -> dict[str, Any]:
        """The API body for ``call``, live or in a batch; ``ProviderError`` if it names no model."""

    @abstractmethod
    async def _send(self, params: dict[str, Any]) -> httpx2.Response:
        """One request with ``params``, answered with the raw HTTP response; SDK errors raised."""

    @abstractmethod
    def _read_answer(
        self, body: dict[str, Any], call: ProviderCall, request_id: str | None
    ) -> tuple[str | Mapping[str, Any], str | None]:
        """``(answer, stop_reason)`` from an answer body; ``_invalid(...)`` raised if none."""

    @abstractmethod
    def _usage(self, usage: object) -> TokenUsage:
        """The body's ``usage`` as ``TokenUsage`` (``prompt_tokens`` counts cached tokens)."""

    @abstractmethod
    def _rate_limit(self, headers: Mapping[str, str]) -> RateLimitHints | None:
        """What an answer's headers say about the limits (``rate_limits``); None if nothing."""

    def _model_for(self, call: ProviderCall) -> str:
        model = call.model or self._model
        if not model:
            raise ProviderError(
                missing_model(
                    self._name,
                    correlation_id=call.correlation_id,
                    timestamp=self._runtime.utcnow(),
                )
            )
        return model

    async def compare(self, call: ProviderCall) -> ProviderVerdict:
        params = self.request_params(call)
        started_s = self._runtime.now()
        try:
            response = await self._send(params)
        except Exception as exc:
            raise self._failure(exc, call.correlation_id) from None
        elapsed_ms = round((self._runtime.now() - started_s) * 1000)
        request_id = response.headers.get(self.REQUEST_ID_HEADER)
        rate_limit = self._rate_limit(response.headers)
        try:
            body = response.json()
        except ValueError:
            # Billed or not, nothing in it can be read: no usage, no model.
            raise self._invalid(
                call,
                f"the answer is not JSON: {response.text[:80]!r}",
                request_id,
                rate_limit=rate_limit,
            ) from None
        return self._verdict(
            body, call, request_id=request_id, elapsed_ms=elapsed_ms, rate_limit=rate_limit
        )

    def _verdict(
        self,
        body: object,
        call: ProviderCall,
        *,
        request_id: str | None,
        elapsed_ms: int,
        rate_limit: RateLimitHints | None = None,
    ) -> ProviderVerdict:
        if not isinstance(body, dict):
            raise self._invalid(
                call, "the answer is not a JSON object", request_id, rate_limit=rate_limit
            )
        answered = body.get("model")
        model = answered if isinstance(answered, str) and answered else call.model or self._model
        usage = body.get("usage")
        try:
            answer, stop_reason = self._read_answer(body, call, request_id)
            winner, justification, confidence = parse_verdict(
                answer,
                provider=self._name,
                correlation_id=call.correlation_id,
                timestamp=self._runtime.utcnow(),
                stop_reason=stop_reason,
                provider_request_id=request_id,
            )
        except ProviderError as refused:
            # The provider answered, and billed the answer: its cost is real and recorded.
            raise ProviderError(
                refused.detail,
                usage=self._usage(usage) if isinstance(usage, Mapping) else None,
                model=model or None,
                rate_limit=rate_limit,
            ) from None
        return ProviderVerdict(
            winner=winner,  # type: ignore[arg-type]  # parse_verdict checked it
            justification=justification,
            confidence=confidence,
            model=str(model),
            usage=self._usage(usage),
            response_time_ms=elapsed_ms,
            provider_request_id=request_id,
            stop_reason=stop_reason,
            rate_limit=rate_limit,
        )

    def _failure(self, exc: Exception, correlation_id: str) -> ProviderError:
        detail = translate(
            exc,
            self.SDK,
            provider=self._name,
            correlation_id=correlation_id,
            timestamp=self._runtime.utcnow(),
            secrets=self._secrets,
        )
        if detail is None:
            raise exc  # not an SDK failure: a bug, never reclassified
        response = getattr(exc, "response", None)
        rate_limit = (
            self._rate_limit(response.headers)
            if isinstance(exc, self.SDK.status) and isinstance(response, httpx2.Response)
            else None
        )
        return ProviderError(detail, rate_limit=rate_limit)

    def _invalid(
        self,
        call: ProviderCall,
        message: str,
        request_id: str | None,
        *,
        stop_reason: str | None = None,
        rate_limit: RateLimitHints | None = None,
    ) -> ProviderError:
        return ProviderError(
            invalid_answer(
                message,
                provider=self._name,
                correlation_id=call.correlation_id,
                timestamp=self._runtime.utcnow(),
                secrets=self._secrets,
                request_id=request_id,
                stop_reason=stop_reason,
            ),
            rate_limit=rate_limit,
        )

    # ---- preflight -----------------------------------------------------------------------

    @abstractmethod
    async def _lookup_model(self, model: str, timeout: httpx2.Timeout) -> None:
        """``GET /v1/models/{model}`` once, within ``timeout``; SDK errors raised."""

    async def preflight(self, *, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> None:
        """Check the key, the model and the endpoint with one free model lookup, before the
        first comparison; ``PreflightFailed`` (one keyless sentence) if they will not serve.

        Bounded: no SDK retries, ``timeout_s`` to connect and again to answer.
        """
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        if not self._model:
            raise PreflightFailed(
                f"no model to check at {self.base_url}: the configuration names none",
                problem="refused",
            )
        try:
            await self._lookup_model(self._model, httpx2.Timeout(timeout_s))
        except Exception as exc:
            failure = preflight_failure(
                exc,
                self.SDK,
                endpoint=self.base_url,
                model=self._model,
                key_variable=self.KEY_VARIABLE,
                secrets=self._secrets,
                timeout_s=timeout_s,
            )
            if failure is None:
                raise  # not an SDK failure: a bug, never reclassified
            raise failure from None

    # ---- batches -------------------------------------------------------------------------

    @abstractmethod
    async def _create_batch(
        self, calls: Sequence[ProviderCall], bodies: Sequence[dict[str, Any]]
    ) -> str:
        """Create one provider batch of ``bodies`` (``calls``' params, in order); its job id."""

    @abstractmethod
    async def _read_batch(self, job_id: str) -> BatchSnapshot:
        """The batch's state and every result line so far; SDK errors raised."""

    @abstractmethod
    def _batch_result(
        self, job_id: str, entry: dict[str, Any], call: ProviderCall
    ) -> ProviderVerdict | ProviderError:
        """The outcome of one result line (``entry``, already matched to ``call``)."""

    async def submit_batch(self, calls: Sequence[ProviderCall]) -> str:
        """Create one provider batch for ``calls``; its id is the job id."""
        if not calls:
            raise ValueError("submit_batch needs at least one call")
        bodies = [self.request_params(call) for call in calls]
        try:
            job_id = await self._create_batch(calls, bodies)
        except Exception as exc:
            raise self._failure(exc, calls[0].correlation_id) from None
        self._jobs[job_id] = {call.custom_id: call for call in calls}
        return job_id

    async def poll_batch(self, job_id: str) -> BatchPoll:
        """The batch's results so far (by ``custom_id``), and whether it has ended.

        A transient failure to poll (rate limit, overload, timeout...) is an empty poll, tried
        again next time; any other failure raises ``ProviderError``.
        """
        calls = self._jobs.get(job_id, {})
        try:
            snapshot = await self._read_batch(job_id)
        except Exception as exc:
            failure = self._failure(exc, f"batch:{job_id}")
            if failure.retryable:
                return BatchPoll(ended=False, results={})
            raise failure from None
        results: dict[str, ProviderVerdict | ProviderError] = {}
        for line in snapshot.lines:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn line: its item is expired with the job if it never comes
            custom_id = entry.get("custom_id") if isinstance(entry, dict) else None
            if isinstance(custom_id, str):
                call = calls.get(custom_id) or self._unknown_call(custom_id)
                results[custom_id] = self._batch_result(job_id, entry, call)
        if snapshot.refusal is not None:
            for custom_id, call in calls.items():
                results.setdefault(custom_id, self._batch_refused(call, job_id, snapshot.refusal))
        if snapshot.ended:
            self._jobs.pop(job_id, None)
        return BatchPoll(ended=snapshot.ended, results=results)

    def _unknown_call(self, custom_id: str) -> ProviderCall:
        """A stand-in for a result this adapter did not submit (another process did, or its
        job was forgotten): the result is still reported, under its ``custom_id``."""
        return ProviderCall(
            correlation_id=custom_id,
            provider=self._name,
            model=self._model or "",
            system_prompt="",
            user_prompt="",
            prompt_sha256="",
            custom_id=custom_id,
        )

    def _batch_verdict(
        self, body: object, call: ProviderCall, request_id: str | None
    ) -> ProviderVerdict | ProviderError:
        """A succeeded item read like a live answer; its failure is the item's outcome, not
        raised. A batch item has no latency of its own, so ``response_time_ms`` is 0."""
        try:
            return self._verdict(body, call, request_id=request_id, elapsed_ms=0)
        except ProviderError as exc:
            return exc

    def _batch_http_error(
        self, status: int, body: object, call: ProviderCall, request_id: str | None
    ) -> ProviderError:
        return ProviderError(
            classify_batch_http(
                status,
                body,
                request_id=request_id,
                provider=self._name,
                correlation_id=call.correlation_id,
                timestamp=self._runtime.utcnow(),
                secrets=self._secrets,
            )
        )

    def _batch_expired(self, result_type: str, call: ProviderCall, job_id: str) -> ProviderError:
        return ProviderError(
            batch_item_expired(
                result_type,
                provider=self._name,
                job_id=job_id,
                correlation_id=call.correlation_id,
                timestamp=self._runtime.utcnow(),
            )
        )

    def _batch_refused(self, call: ProviderCall, job_id: str, reason: str) -> ProviderError:
        return ProviderError(
            batch_refused(
                reason,
                provider=self._name,
                job_id=job_id,
                correlation_id=call.correlation_id,
                timestamp=self._runtime.utcnow(),
                secrets=self._secrets,
            )
        )
