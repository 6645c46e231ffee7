"""The batch and file endpoints of the fake provider server, driven by the test.

Anthropic's Message Batches (``POST /v1/messages/batches``, its status, its JSONL results) and
OpenAI's Batch API (``POST /v1/files``, ``POST /v1/batches``, its status, file content), over
one store of ``FakeBatch`` values: a batch is created by the adapter, then the test
``publish``es its results (in any order) and ``end``s it; the results become visible when it
ends (as the real APIs do), or at once with ``results_before_end``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.live.fake_answers import BatchItem, anthropic_message, openai_response

__all__ = ["BatchDesk", "FakeBatch"]


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


class BatchDesk:
    """Every batch and file the fake server holds. ``next_id(prefix)`` numbers the ids it
    mints; ``base_url()`` is where results are fetched from."""

    def __init__(
        self, next_id: Callable[[str], tuple[int, str]], base_url: Callable[[], str]
    ) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, bytes] = {}
        self._batches: dict[str, FakeBatch] = {}
        self._next = next_id
        self._url = base_url

    def batch(self, job_id: str) -> FakeBatch:
        with self._lock:
            return self._batches[job_id]

    def route(self, method: str, path: str, body: Any, number: int) -> tuple[int, bytes, str]:
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
                "results_url": f"{self._url()}/v1/messages/batches/{job_id}/results"
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
