"""A loopback fake of the Anthropic and OpenAI HTTP APIs, scripted per test.

The official SDKs send through ``httpx2``, which respx cannot intercept, so the adapters are
tested the way they run: a real SDK client whose ``base_url`` points at this server. It is a
stdlib ``ThreadingHTTPServer`` on 127.0.0.1 and an ephemeral port, served from a daemon thread;
use it as a context manager (``with FakeProviderServer() as server:``).

It speaks both wire formats (``POST /v1/messages`` and the Message Batches endpoints;
``POST /v1/responses``, ``/v1/files``, ``/v1/batches`` and file content) with realistic bodies
and headers (``request-id`` / ``x-request-id``, usage, error envelopes). Model calls answer from
one FIFO script of ``Answer`` values (``server.script(...)``), rendered in the dialect of the
path that was called; an unscripted call gets a 500 that says so. Batches are driven by the
test: ``server.batch(job_id).publish(custom_id, item)`` and ``.end()`` (``fake_batches``).

Every request is recorded (method, path, lower-cased headers, parsed JSON body, the request id
it was answered with) so a test can assert that one compare made exactly one HTTP request and
what it carried; with ``log=`` each is also appended to a JSONL file as it arrives, one flushed
line (``log_line``), so another process can count what the server was asked to judge.

Beyond the script: ``GET /v1/models/{id}`` answers both SDKs' model lookup (404 in the
provider's own shape for a model outside ``models``; ``None`` knows every model); ``api_key``,
when set, is the only key accepted (any other gets the provider's 401 on every path); every
model-call answer carries rate-limit headers from ``server.limits`` (a 429's say no request
is left); ``default`` answers every call the script does not cover.

As a process (``python -m tests.live.fake_provider_server --port N --log FILE``) it answers
every call with a verdict, or with ``--answer max_tokens`` a billed truncation, and prints
``fake provider listening on http://127.0.0.1:N`` once it is ready; SIGTERM stops it.

The script's vocabulary (``Answer``, ``BatchItem``, ``Usage`` and their constructors) and the
rendering of each dialect live in ``tests.live.fake_answers``; they are re-exported here.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import signal
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Literal

from tests.live.fake_answers import (
    Answer,
    BatchItem,
    Limits,
    Usage,
    anthropic_error,
    anthropic_message,
    canceled,
    dropped,
    errored,
    expired,
    malformed_json,
    missing_winner,
    model_body,
    model_not_found,
    openai_error,
    openai_response,
    overloaded,
    presented_key,
    quota_exhausted,
    rate_limit_headers,
    rate_limited,
    refusal,
    server_error,
    slow,
    succeeded,
    truncated,
    unauthorized,
    verdict,
)
from tests.live.fake_batches import BatchDesk, FakeBatch

__all__ = [
    "Answer",
    "BatchItem",
    "FakeProviderServer",
    "Limits",
    "RecordedRequest",
    "Usage",
    "canceled",
    "dropped",
    "errored",
    "expired",
    "log_line",
    "malformed_json",
    "missing_winner",
    "overloaded",
    "quota_exhausted",
    "rate_limited",
    "refusal",
    "server_error",
    "slow",
    "succeeded",
    "truncated",
    "unauthorized",
    "verdict",
]

MODEL_PATHS = ("/v1/messages", "/v1/responses")
ESSAY_ID = re.compile(r"Essay [AB] \(ID: ([^)]*)\)")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON; for a multipart upload, {field: text}
    request_id: str | None  # the request id it was answered with

    @property
    def model(self) -> str | None:
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else None

    @property
    def user_text(self) -> str:
        return user_text(self.body)

    @property
    def essay_ids(self) -> list[str]:
        """The compared essays' ids, Essay A first, as the prompt names them."""
        return ESSAY_ID.findall(self.user_text)


def user_text(body: Any) -> str:
    """A model call's user turn, its text blocks joined by blank lines, in either dialect."""
    body = body if isinstance(body, dict) else {}
    texts: list[str] = []
    for message in body.get("messages") or body.get("input") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                texts.append(block["text"])
    return "\n\n".join(texts)


def log_line(number: int, request: RecordedRequest) -> dict[str, Any]:
    """One request as the log file holds it: which call, for which model, judging what."""
    text = request.user_text
    return {
        "seq": number,
        "method": request.method,
        "path": request.path,
        "model": request.model,
        "essay_ids": request.essay_ids,
        "content_sha256": hashlib.sha256(text.encode()).hexdigest() if text else None,
        "request_id": request.request_id,
    }


def _overridden(
    defaults: Sequence[tuple[str, str]], overrides: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """``defaults`` without the headers a scripted answer sets itself."""
    names = {name.lower() for name, _ in overrides}
    return [(name, value) for name, value in defaults if name.lower() not in names]


# ---- the server --------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeProviderServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # the test output stays clean
        pass

    def do_GET(self) -> None:
        self.server.fake._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._handle(self, "POST")

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test)


class FakeProviderServer:
    """See the module docstring. ``url`` is Anthropic's base URL; ``openai_url`` OpenAI's."""

    def __init__(
        self,
        *,
        port: int = 0,
        models: Iterable[str] | None = None,
        api_key: str | None = None,
        default: Answer | None = None,
        log: Path | None = None,
        utcnow: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._port = port
        self._models = None if models is None else frozenset(models)
        self._api_key = api_key
        self._default = default
        self._log_path = log
        self._log: IO[str] | None = None
        self._utcnow = utcnow
        self.limits = Limits()  # what the next answers' rate-limit headers say
        self._lock = threading.Lock()
        self._answers: deque[Answer] = deque()
        self._interruptions: deque[Answer] = deque()
        self._requests: list[RecordedRequest] = []
        self._desk = BatchDesk(self._next, lambda: self.url)
        self._counter = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeProviderServer:
        if self._log_path is not None:
            self._log = self._log_path.open("a", encoding="utf-8")
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # slow answers stop waiting
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    # ---- scripting and inspection ----------------------------------------------------------

    def script(self, *answers: Answer) -> FakeProviderServer:
        with self._lock:
            self._answers.extend(answers)
        return self

    def interrupt(self, *answers: Answer) -> FakeProviderServer:
        """The next requests that are not model calls (batch, file and model-lookup endpoints)
        get these HTTP error answers instead, one each."""
        with self._lock:
            self._interruptions.extend(answers)
        return self

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def model_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path in MODEL_PATHS]

    def batch(self, job_id: str) -> FakeBatch:
        return self._desk.batch(job_id)

    # ---- handling --------------------------------------------------------------------------

    def _next(self, prefix: str) -> tuple[int, str]:
        with self._lock:
            self._counter += 1
            return self._counter, f"{prefix}{self._counter:04d}"

    def _handle(self, handler: _Handler, method: str) -> None:
        raw = handler.read_body() if method == "POST" else b""
        headers = {name.lower(): value for name, value in handler.headers.items()}
        path = handler.path.split("?")[0]
        dialect = "openai" if path in ("/v1/responses", "/v1/files", "/v1/batches") or (
            path.startswith(("/v1/files/", "/v1/batches/"))
        ) else "anthropic"  # fmt: skip
        if path.startswith("/v1/models/"):  # both SDKs call it: Anthropic's sends its version
            dialect = "anthropic" if "anthropic-version" in headers else "openai"
        number, request_id = self._next("req_fake_" if dialect == "anthropic" else "req_")
        if headers.get("content-type", "").startswith("multipart/form-data"):
            body: Any = self._multipart(headers["content-type"], raw)
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        recorded = RecordedRequest(method, path, headers, body, request_id)
        with self._lock:
            self._requests.append(recorded)
            if self._log is not None:
                self._log.write(json.dumps(log_line(number, recorded)) + "\n")
                self._log.flush()
        id_header = "request-id" if dialect == "anthropic" else "x-request-id"
        base = [(id_header, request_id)]
        if self._api_key is not None and presented_key(headers) != self._api_key:
            self._send_error(handler, dialect, unauthorized(), headers, request_id, base)
            return
        if path in MODEL_PATHS and method == "POST":
            self._answer_model_call(handler, dialect, body, headers, number, request_id, base)
            return
        with self._lock:
            interruption = self._interruptions.popleft() if self._interruptions else None
        if interruption is not None:
            self._send_error(handler, dialect, interruption, headers, request_id, base)
            return
        if method == "GET" and path.startswith("/v1/models/"):
            self._answer_model_lookup(handler, dialect, path, request_id, base)
            return
        status, payload, content_type = self._desk.route(method, path, body, number)
        handler.send(status, payload, [*base, ("content-type", content_type)])

    def _answer_model_call(
        self,
        handler: _Handler,
        dialect: str,
        body: Any,
        headers: dict[str, str],
        number: int,
        request_id: str,
        base: list[tuple[str, str]],
    ) -> None:
        with self._lock:
            answer = self._answers.popleft() if self._answers else self._default
        if answer is None:
            message = {"error": {"type": "api_error", "message": "fake server: nothing scripted"}}
            handler.send(
                500, json.dumps(message).encode(), [*base, ("content-type", "application/json")]
            )
            return
        if answer.delay_s and self._stopping.wait(answer.delay_s):
            return
        if answer.kind == "drop":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        json_type = [*base, ("content-type", "application/json")]
        if answer.kind == "malformed":
            handler.send(200, b'{"id": "msg_0001", "content": [{"type": ', json_type)
            return
        model = str((body or {}).get("model", "fake-model"))
        limits = self.limits
        if answer.status == 429:
            limits = dataclasses.replace(limits, requests_remaining=0)
        limit_headers = rate_limit_headers(dialect, limits, self._utcnow())
        if answer.kind == "http_error":
            self._send_error(handler, dialect, answer, headers, request_id, base, limit_headers)
            return
        if answer.winner == "auto":
            digest = hashlib.sha256(user_text(body).encode()).digest()
            winner = "Essay A" if digest[0] % 2 == 0 else "Essay B"
            answer = dataclasses.replace(answer, winner=winner)
        payload = (
            anthropic_message(answer, model, number)
            if dialect == "anthropic"
            else openai_response(answer, model, number)
        )
        extra = [("openai-processing-ms", "12")] if dialect == "openai" else []
        extra += _overridden(limit_headers, answer.headers) + list(answer.headers)
        handler.send(200, json.dumps(payload).encode(), [*json_type, *extra])

    def _answer_model_lookup(
        self, handler: _Handler, dialect: str, path: str, request_id: str, base: list[Any]
    ) -> None:
        model = path.removeprefix("/v1/models/")
        if self._models is None or model in self._models:
            status, payload = 200, model_body(dialect, model)
        else:
            status, payload = model_not_found(dialect, model, request_id)
        handler.send(
            status, json.dumps(payload).encode(), [*base, ("content-type", "application/json")]
        )

    @staticmethod
    def _send_error(
        handler: _Handler,
        dialect: str,
        answer: Answer,
        headers: dict[str, str],
        request_id: str,
        base: list[tuple[str, str]],
        limit_headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        key = presented_key(headers)
        status, error = (
            anthropic_error(answer, request_id, key)
            if dialect == "anthropic"
            else openai_error(answer, key)
        )
        handler.send(
            status,
            json.dumps(error).encode(),
            [
                *base,
                ("content-type", "application/json"),
                *_overridden(limit_headers, answer.headers),
                *answer.headers,
            ],
        )

    @staticmethod
    def _multipart(content_type: str, raw: bytes) -> dict[str, str]:
        message = BytesParser(policy=HTTP).parsebytes(
            b"content-type: " + content_type.encode() + b"\r\n\r\n" + raw
        )
        fields: dict[str, str] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[str(name)] = payload.decode("utf-8") if isinstance(payload, bytes) else ""
        return fields


# ---- as a process --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.live.fake_provider_server",
        description="A loopback fake of the Anthropic and OpenAI APIs.",
    )
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--log", type=Path, help="append one JSON line per request received")
    parser.add_argument("--answer", choices=("verdict", "max_tokens"), default="verdict")
    parser.add_argument("--delay-s", type=float, default=0.0, help="before every answer")
    parser.add_argument("--model", action="append", help="a known model (repeat); default any")
    parser.add_argument("--api-key", help="the only key accepted; default any")
    args = parser.parse_args(argv)
    kind: Literal["verdict", "truncated"] = "verdict" if args.answer == "verdict" else "truncated"
    default = Answer(kind=kind, winner="auto", delay_s=args.delay_s)
    server = FakeProviderServer(
        port=args.port, models=args.model, api_key=args.api_key, default=default, log=args.log
    )
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with server:
        print(f"fake provider listening on {server.url}", flush=True)
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
