"""The live progress display: a bar on a terminal, plain lines for logs and CI."""

from __future__ import annotations

import io

import pytest

from engine.live.progress import PLAIN_EVERY_S, LiveProgress, ProgressDisplay, resolve_mode


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_auto_is_plain_off_a_terminal_or_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert resolve_mode("auto", io.StringIO()) == "plain"
    monkeypatch.setenv("CI", "true")
    assert resolve_mode("auto", Terminal()) == "plain"
    assert resolve_mode("none", Terminal()) == "none"


@pytest.fixture
def plain():
    stream, clock = io.StringIO(), Clock()
    return ProgressDisplay("plain", stream, clock=clock), stream, clock


def test_plain_writes_one_line_per_wave_and_one_every_thirty_seconds(plain):
    display, stream, clock = plain
    counts = LiveProgress(budget=45, waves=1, completed=3, failed=1, in_flight=2, cost_usd=0.5)
    display.update(counts)
    display.update(counts)  # nothing new, not yet due
    clock.t = PLAIN_EVERY_S - 0.001
    display.update(counts)
    assert stream.getvalue().count("\n") == 1
    clock.t = PLAIN_EVERY_S
    display.update(counts)  # due at exactly thirty seconds
    counts.waves = 2
    display.update(counts)  # a new wave, whenever it comes
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0] == (
        "wave 1: 3/45 completed, 1 failed, 2 in flight, 0 retries, concurrency -, "
        "0 requests, $0.5000"
    )
    assert "\x1b" not in stream.getvalue()  # no ANSI codes


def test_plain_lines_say_why_a_run_is_stopping_and_none_says_nothing():
    stream = io.StringIO()
    display = ProgressDisplay("plain", stream, clock=Clock())
    display.update(LiveProgress(waves=1, concurrency_limit=8, stopping="max_requests 4 reached"))
    assert stream.getvalue().endswith(
        "concurrency 8, 0 requests, $0.0000; stopping: max_requests 4 reached\n"
    )
    quiet = io.StringIO()
    silent = ProgressDisplay("none", quiet, clock=Clock())
    silent.update(LiveProgress(waves=3))
    silent.notice("stopping")
    assert quiet.getvalue() == ""
