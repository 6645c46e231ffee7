"""The live run's first call: one free, authenticated model lookup, failing in one sentence.

Theory of operation. Before the first comparison a live run asks the provider about its model
(``GET /v1/models/{model}``: free, authenticated, and it names the model). Whatever goes wrong
there would otherwise surface as a storm of classified comparison failures, retried on the
engine's clock; here it is one ``PreflightFailed`` whose message tells the user what to fix:

    cannot reach https://api.anthropic.com: connection refused
    the API key was refused (401) — check ANTHROPIC_API_KEY
    unknown model 'claude-nope' at https://api.anthropic.com
    https://api.anthropic.com answered 500 to the model lookup: Internal server error

The lookup is bounded (no SDK retries; ``PREFLIGHT_TIMEOUT_S`` to connect, and again to
answer, so a dead endpoint fails within 8 s: no input keeps a command more than 10 s from
starting or refusing), and no message ever holds the key.
``preflight_failure`` is the pure translation; the adapters (``SdkProvider.preflight``) make
the call.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from typing import Literal

import httpx2

from engine.lps.providers.sdk_errors import SdkExceptions, redact

__all__ = [
    "PREFLIGHT_TIMEOUT_S",
    "PreflightFailed",
    "preflight_failure",
    "unreachable_reason",
]

PREFLIGHT_TIMEOUT_S = 4.0  # to connect, and again to answer: a dead endpoint fails in 8 s
MESSAGE_CHARS_MAX = 160

PreflightProblem = Literal["unreachable", "key_refused", "unknown_model", "refused"]


class PreflightFailed(Exception):
    """The provider cannot serve this run: its message is one line, for the user, keyless.

    ``problem`` says which: ``unreachable`` (no connection or no answer), ``key_refused``
    (401/403), ``unknown_model`` (404), ``refused`` (any other status, or no model to ask
    about); ``status`` is the HTTP status when there was one.
    """

    def __init__(self, message: str, *, problem: PreflightProblem, status: int | None = None):
        super().__init__(message)
        self.problem = problem
        self.status = status


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps, outermost first (bounded: a cycle cannot loop)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 16 and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def unreachable_reason(exc: BaseException, sdk: SdkExceptions, *, timeout_s: float) -> str:
    """Why a connection failed, in a few words: the innermost cause the user can act on."""
    causes = _causes(exc)
    for cause in reversed(causes):
        if isinstance(cause, socket.gaierror):
            return "host not found"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "no route to host"
    for cause in causes:
        if isinstance(cause, sdk.timeout | httpx2.TimeoutException | TimeoutError):
            return f"no answer within {timeout_s:g} s"
        if isinstance(cause, ConnectionResetError | httpx2.RemoteProtocolError):
            return "the connection was dropped"
    return "connection failed"


def _provider_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message else type(exc).__name__


def _one_line(text: str, secrets: Sequence[str]) -> str:
    flat = " ".join(redact(text, secrets).split())
    return flat if len(flat) <= MESSAGE_CHARS_MAX else flat[: MESSAGE_CHARS_MAX - 1] + "…"


def preflight_failure(
    exc: BaseException,
    sdk: SdkExceptions,
    *,
    endpoint: str,
    model: str,
    key_variable: str,
    secrets: Sequence[str],
    timeout_s: float,
) -> PreflightFailed | None:
    """The ``PreflightFailed`` for an SDK failure of the model lookup; ``None`` if ``exc`` is
    not an SDK failure (a bug of ours, which the caller re-raises)."""
    where = redact(endpoint, secrets)
    if isinstance(exc, sdk.status):
        status = getattr(exc, "status_code", None)
        status = status if isinstance(status, int) else 0
        if status in (401, 403):
            return PreflightFailed(
                f"the API key was refused ({status}) — check {key_variable}",
                problem="key_refused",
                status=status,
            )
        if status == 404:
            return PreflightFailed(
                _one_line(f"unknown model {model!r} at {where}", secrets),
                problem="unknown_model",
                status=status,
            )
        return PreflightFailed(
            _one_line(
                f"{where} answered {status} to the model lookup: {_provider_message(exc)}",
                secrets,
            ),
            problem="refused",
            status=status,
        )
    if isinstance(exc, sdk.connection | httpx2.TransportError):  # timeouts included
        reason = unreachable_reason(exc, sdk, timeout_s=timeout_s)
        return PreflightFailed(
            _one_line(f"cannot reach {where}: {reason}", secrets), problem="unreachable"
        )
    if isinstance(exc, sdk.base):
        return PreflightFailed(
            _one_line(f"the model lookup at {where} failed: {type(exc).__name__}: {exc}", secrets),
            problem="refused",
        )
    return None
