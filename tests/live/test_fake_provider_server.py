"""The fake provider server itself: its model lookup, its key check, its request log, and its
life as a separate process (which a crash test kills the client of, then reads the log of)."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from engine.lps.calls import ProviderVerdict
from engine.lps.errors import ProviderError
from tests.live import fake_provider_server as fake
from tests.live.adapters_under_test import KEYS, MODELS, PROVIDERS, a_call, make, run
from tests.live.fake_provider_server import FakeProviderServer, Usage

REPO = Path(__file__).resolve().parents[2]
READY_S_MAX = 30.0


def compare_all(provider: str, base_url: str, calls: list[int], **kwargs: object) -> list[object]:
    """``compare`` each numbered call in turn, through one adapter; what each produced."""

    class At:  # make() reads the server's URLs only
        url = base_url
        openai_url = f"{base_url}/v1"

    async def go() -> list[object]:
        outcomes: list[object] = []
        async with make(provider, At(), **kwargs) as adapter:  # type: ignore[arg-type]
            for number in calls:
                try:
                    outcomes.append(await adapter.compare(a_call(number)))
                except ProviderError as exc:
                    outcomes.append(exc)
        return outcomes

    return run(go)


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """The server as a process (extra arguments by indirect parametrisation), its URL and its
    log file. Stopped with SIGTERM, which it must obey."""
    log = tmp_path / "requests.jsonl"
    command = [sys.executable, "-m", "tests.live.fake_provider_server", "--port", "0"]
    with subprocess.Popen(
        [*command, "--log", str(log), *getattr(request, "param", [])],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=READY_S_MAX)
        line = process.stdout.readline() if ready else ""
        try:
            assert line.startswith("fake provider listening on http://127.0.0.1:"), line
            yield line.split()[-1], log
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0


def log_lines(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_process_judges_every_call_and_logs_each_one_as_it_arrives(provider, served):
    url, log = served
    first, again, other = compare_all(provider, url, [1, 1, 2])

    assert isinstance(first, ProviderVerdict)
    assert isinstance(again, ProviderVerdict)
    assert first.winner == again.winner  # the same comparison, the same verdict
    assert isinstance(other, ProviderVerdict)
    lines = log_lines(log)
    assert [line["path"] for line in lines] == [
        "/v1/messages" if provider == "anthropic" else "/v1/responses"
    ] * 3
    assert {line["model"] for line in lines} == {MODELS[provider]}
    assert [line["essay_ids"] for line in lines] == [
        ["essay-a-1", "essay-b-1"],
        ["essay-a-1", "essay-b-1"],
        ["essay-a-2", "essay-b-2"],
    ]
    hashes = [line["content_sha256"] for line in lines]
    assert hashes[0] == hashes[1] != hashes[2]  # duplicates can be counted
    assert len({line["seq"] for line in lines}) == 3


@pytest.mark.parametrize("served", [["--delay-s", "1.0"]], indirect=True)
def test_a_call_the_client_gave_up_on_is_logged_all_the_same(served):
    url, log = served
    [outcome] = compare_all("anthropic", url, [1], timeout_s=0.2)

    assert isinstance(outcome, ProviderError)
    assert outcome.error_type == "timeout"
    [line] = log_lines(log)  # written on arrival, before the (late) answer
    assert line["essay_ids"] == ["essay-a-1", "essay-b-1"]


@pytest.mark.parametrize("served", [["--answer", "max_tokens"]], indirect=True)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_process_can_answer_every_call_with_a_billed_failure(provider, served):
    url, _ = served
    [outcome] = compare_all(provider, url, [1])

    assert isinstance(outcome, ProviderError)
    assert outcome.error_type == "max_tokens"
    assert outcome.usage is not None
    assert outcome.usage.completion_tokens == Usage().output_tokens
    assert outcome.model == MODELS[provider]


# ---- in the test's own process -----------------------------------------------------------------


def test_the_model_lookup_answers_in_each_sdks_own_types():
    async def go() -> tuple[str, str]:
        async with anthropic.AsyncAnthropic(
            api_key=KEYS["anthropic"], base_url=server.url, max_retries=0
        ) as claude:
            info = await claude.models.retrieve("claude-fake-5")
        async with openai.AsyncOpenAI(
            api_key=KEYS["openai"], base_url=server.openai_url, max_retries=0
        ) as gpt:
            model = await gpt.models.retrieve("gpt-fake-5.1")
        return info.id, model.id

    with FakeProviderServer(models=["claude-fake-5", "gpt-fake-5.1"]) as server:
        assert run(go) == ("claude-fake-5", "gpt-fake-5.1")


def test_an_unknown_model_is_a_404_in_each_providers_own_shape():
    async def go() -> tuple[anthropic.NotFoundError, openai.NotFoundError]:
        async with anthropic.AsyncAnthropic(
            api_key=KEYS["anthropic"], base_url=server.url, max_retries=0
        ) as claude:
            with pytest.raises(anthropic.NotFoundError) as claude_404:
                await claude.models.retrieve("nope")
        async with openai.AsyncOpenAI(
            api_key=KEYS["openai"], base_url=server.openai_url, max_retries=0
        ) as gpt:
            with pytest.raises(openai.NotFoundError) as gpt_404:
                await gpt.models.retrieve("nope")
        return claude_404.value, gpt_404.value

    with FakeProviderServer(models=[]) as server:
        claude_404, gpt_404 = run(go)
    assert claude_404.body["error"] == {"type": "not_found_error", "message": "model: nope"}
    assert claude_404.request_id is not None
    assert (gpt_404.code, gpt_404.param) == ("model_not_found", None)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_key_is_refused_on_every_path(provider):
    with FakeProviderServer(api_key="sk-the-only-right-key-01234", default=fake.verdict()) as s:
        outcome = compare_all(provider, s.url, [1])[0]
    assert isinstance(outcome, ProviderError)
    assert outcome.error_type == "authentication"


def test_the_log_holds_non_model_calls_too(tmp_path):
    log = tmp_path / "requests.jsonl"
    with FakeProviderServer(log=log) as server:
        server.script(fake.verdict())

        async def go() -> None:
            async with make("openai", server) as adapter:
                await adapter.preflight()
                await adapter.compare(a_call(3))

        run(go)
    first, second = log_lines(log)
    assert (first["method"], first["path"], first["model"]) == (
        "GET",
        "/v1/models/gpt-fake-5.1",
        None,
    )
    assert (first["essay_ids"], first["content_sha256"]) == ([], None)
    assert (second["path"], second["essay_ids"]) == ("/v1/responses", ["essay-a-3", "essay-b-3"])
