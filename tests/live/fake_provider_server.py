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
test: ``server.batch(job_id).publish(custom_id, item)`` and ``.end()``.

Every request is recorded (method, path, lower-cased headers, parsed JSON body, the request id
it was answered with) so a test can assert that one compare made exactly one HTTP request and
what it carried.

The script's vocabulary (``Answer``, ``BatchItem``, ``Usage`` and their constructors) and the
rendering of each dialect live in ``tests.live.fake_answers``; they are re-exported here.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from tests.live.fake_answers import (
    Answer,
    BatchItem,
    Usage,
    anthropic_error,
    anthropic_message,
    canceled,
    dropped,
    errored,
    expired,
    malformed_json,
    missing_winner,
    openai_error,
    openai_response,
    overloaded,
    presented_key,
    quota_exhausted,
    rate_limited,
    refusal,
    server_error,
    slow,
    succeeded,
    truncated,
    unauthorized,
    verdict,
)

__all__ = [
    "Answer",
    "BatchItem",
    "FakeProviderServer",
    "RecordedRequest",
    "Usage",
    "canceled",
    "dropped",
    "errored",
    "expired",
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


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON; for a multipart upload, {field: text}
    request_id: str | None  # the request id it was answered with


@dataclass
class FakeBatch:
    """A batch the test drives: ``publish`` results (in any order), then ``end``."""

    dialect: Literal["anthropic", "openai"]
    job_id: str
    requests: dict[str, dict[str, Any]]  # custom_id -> params / body, in submission order
    published: list[tuple[str, BatchItem]] = field(default_factory=list)
    ended: bool = False
    final_status: str = "completed"
    results_before_end: bool = False  # not what the real APIs do; for partial-result tests

    @property
    def custom_ids(self) -> list[str]:
        return list(self.requests)

    def publish(self, custom_id: str, item: BatchItem) -> FakeBatch:
        assert custom_id in self.requests, f"{custom_id!r} is not in batch {self.job_id}"
        self.published.append((custom_id, item))
        return self

    def end(self, status: str = "completed") -> FakeBatch:
        """End the job; ``status`` is OpenAI's final status (Anthropic's is always ``ended``)."""
        self.ended, self.final_status = True, status
        return self


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

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: deque[Answer] = deque()
        self._interruptions: deque[Answer] = deque()
        self._requests: list[RecordedRequest] = []
        self._files: dict[str, bytes] = {}
        self._batches: dict[str, FakeBatch] = {}
        self._counter = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeProviderServer:
        server = _Server(("127.0.0.1", 0), _Handler)
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
        """The next requests that are not model calls (batch and file endpoints) get these
        HTTP error answers instead, one each."""
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
        with self._lock:
            return self._batches[job_id]

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
        number, request_id = self._next("req_fake_" if dialect == "anthropic" else "req_")
        if headers.get("content-type", "").startswith("multipart/form-data"):
            body: Any = self._multipart(headers["content-type"], raw)
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        with self._lock:
            self._requests.append(RecordedRequest(method, path, headers, body, request_id))
        id_header = "request-id" if dialect == "anthropic" else "x-request-id"
        base = [(id_header, request_id)]
        if path in MODEL_PATHS and method == "POST":
            self._answer_model_call(handler, dialect, body, headers, number, request_id, base)
            return
        with self._lock:
            interruption = self._interruptions.popleft() if self._interruptions else None
        if interruption is not None:
            self._send_error(handler, dialect, interruption, headers, request_id, base)
            return
        status, payload, content_type = self._route(method, path, body, number)
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
            answer = self._answers.popleft() if self._answers else None
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
        if answer.kind == "http_error":
            self._send_error(handler, dialect, answer, headers, request_id, base)
            return
        payload = (
            anthropic_message(answer, model, number)
            if dialect == "anthropic"
            else openai_response(answer, model, number)
        )
        extra = (
            [("anthropic-ratelimit-requests-remaining", "49")]
            if dialect == "anthropic"
            else [("openai-processing-ms", "12"), ("x-ratelimit-remaining-requests", "499")]
        )
        handler.send(200, json.dumps(payload).encode(), [*json_type, *extra])

    @staticmethod
    def _send_error(
        handler: _Handler,
        dialect: str,
        answer: Answer,
        headers: dict[str, str],
        request_id: str,
        base: list[tuple[str, str]],
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
            [*base, ("content-type", "application/json"), *answer.headers],
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

    def _route(self, method: str, path: str, body: Any, number: int) -> tuple[int, bytes, str]:
        json_type = "application/json"
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/messages/batches":
            job_id = f"msgbatch_{number:04d}"
            requests = {r["custom_id"]: r["params"] for r in body["requests"]}
            self._add_batch(FakeBatch("anthropic", job_id, requests))
            return 200, self._anthropic_batch_json(job_id), json_type
        if method == "GET" and parts[:3] == ["v1", "messages", "batches"] and len(parts) == 4:
            return 200, self._anthropic_batch_json(parts[3]), json_type
        if (
            method == "GET"
            and parts[:3] == ["v1", "messages", "batches"]
            and parts[-1] == "results"
        ):
            return 200, self._anthropic_results(parts[3]), "application/binary"
        if method == "POST" and path == "/v1/files":
            file_id = f"file-{number:04d}"
            content = body.get("file", "")
            with self._lock:
                self._files[file_id] = content.encode("utf-8")
            return 200, json.dumps(self._file_json(file_id, len(content))).encode(), json_type
        if method == "POST" and path == "/v1/batches":
            job_id = f"batch_{number:04d}"
            with self._lock:
                lines = self._files[body["input_file_id"]].decode("utf-8").splitlines()
            requests = {
                line["custom_id"]: line["body"] for line in map(json.loads, filter(None, lines))
            }
            self._add_batch(FakeBatch("openai", job_id, requests))
            return 200, self._openai_batch_json(job_id, body["input_file_id"]), json_type
        if method == "GET" and parts[:2] == ["v1", "batches"] and len(parts) == 3:
            return 200, self._openai_batch_json(parts[2], None), json_type
        if method == "GET" and parts[:2] == ["v1", "files"] and parts[-1] == "content":
            with self._lock:
                return 200, self._files[parts[2]], "application/octet-stream"
        not_found = {"type": "error", "error": {"type": "not_found_error", "message": path}}
        return 404, json.dumps(not_found).encode(), json_type

    def _add_batch(self, batch: FakeBatch) -> None:
        with self._lock:
            self._batches[batch.job_id] = batch

    def _visible(self, batch: FakeBatch) -> list[tuple[str, BatchItem]]:
        return list(batch.published) if batch.ended or batch.results_before_end else []

    # ---- Anthropic batches -----------------------------------------------------------------

    def _anthropic_batch_json(self, job_id: str) -> bytes:
        batch = self.batch(job_id)
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        for _, item in batch.published:
            counts[item.kind] += 1
        counts["processing"] = 0 if batch.ended else len(batch.requests) - len(batch.published)
        visible = batch.ended or (batch.results_before_end and batch.published)
        return json.dumps(
            {
                "id": job_id,
                "type": "message_batch",
                "processing_status": "ended" if batch.ended else "in_progress",
                "request_counts": counts,
                "created_at": "2026-11-02T09:00:00Z",
                "expires_at": "2026-11-03T09:00:00Z",
                "ended_at": "2026-11-02T09:30:00Z" if batch.ended else None,
                "archived_at": None,
                "cancel_initiated_at": None,
                "results_url": f"{self.url}/v1/messages/batches/{job_id}/results"
                if visible
                else None,
            }
        ).encode()

    def _anthropic_results(self, job_id: str) -> bytes:
        batch = self.batch(job_id)
        lines = []
        for custom_id, item in self._visible(batch):
            number, request_id = self._next("req_fake_")
            result: dict[str, Any] = {"type": item.kind}
            if item.kind == "succeeded":
                assert item.answer is not None
                model = str(batch.requests[custom_id].get("model", "fake-model"))
                result["message"] = anthropic_message(item.answer, model, number)
            elif item.kind == "errored":
                error = {"type": item.error_type, "message": f"{item.error_type} in the batch"}
                result["error"] = {"type": "error", "error": error, "request_id": request_id}
            lines.append(json.dumps({"custom_id": custom_id, "result": result}))
        return ("\n".join(lines) + "\n").encode() if lines else b""

    # ---- OpenAI batches --------------------------------------------------------------------

    @staticmethod
    def _file_json(file_id: str, size: int) -> dict[str, Any]:
        return {
            "id": file_id,
            "object": "file",
            "bytes": size,
            "created_at": 1_790_000_000,
            "filename": "cjsim-batch.jsonl",
            "purpose": "batch",
            "status": "processed",
        }

    def _openai_batch_json(self, job_id: str, input_file_id: str | None) -> bytes:
        batch = self.batch(job_id)
        visible = self._visible(batch)
        output_file_id = error_file_id = None
        if visible:
            output, errors = self._openai_result_lines(batch, visible)
            with self._lock:
                if output:
                    output_file_id = f"file-{job_id}-output"
                    self._files[output_file_id] = ("\n".join(output) + "\n").encode()
                if errors:
                    error_file_id = f"file-{job_id}-errors"
                    self._files[error_file_id] = ("\n".join(errors) + "\n").encode()
        failed = sum(item.kind != "succeeded" for _, item in visible)
        return json.dumps(
            {
                "id": job_id,
                "object": "batch",
                "endpoint": "/v1/responses",
                "input_file_id": input_file_id or "file-input",
                "completion_window": "24h",
                "status": batch.final_status if batch.ended else "in_progress",
                "created_at": 1_790_000_000,
                "output_file_id": output_file_id,
                "error_file_id": error_file_id,
                "errors": None,
                "request_counts": {
                    "total": len(batch.requests),
                    "completed": len(visible) - failed,
                    "failed": failed,
                },
            }
        ).encode()

    def _openai_result_lines(
        self, batch: FakeBatch, visible: list[tuple[str, BatchItem]]
    ) -> tuple[list[str], list[str]]:
        output, errors = [], []
        for custom_id, item in visible:
            number, request_id = self._next("req_")
            line: dict[str, Any] = {"id": f"batch_req_{number:04d}", "custom_id": custom_id}
            if item.kind == "succeeded":
                assert item.answer is not None
                model = str(batch.requests[custom_id].get("model", "fake-model"))
                body = openai_response(item.answer, model, number)
                line |= {"response": {"status_code": 200, "request_id": request_id, "body": body},
                         "error": None}  # fmt: skip
                output.append(json.dumps(line))
                continue
            if item.kind == "errored":
                error = {"message": f"{item.error_type} in the batch", "type": item.error_type,
                         "param": None, "code": None}  # fmt: skip
                response = {"status_code": item.status, "request_id": request_id,
                            "body": {"error": error}}  # fmt: skip
                line |= {"response": response, "error": None}
            else:
                code = "batch_expired" if item.kind == "expired" else "batch_cancelled"
                line |= {"response": None, "error": {"code": code, "message": f"{item.kind}"}}
            errors.append(json.dumps(line))
        return output, errors
