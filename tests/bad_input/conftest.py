"""Fixtures of the bad-input suites: ``cjsim`` in-process, with its work replaced by a tripwire.

Issue 14 asks that every input be checked before any work starts, and that no input keep a
command busy for more than 10 s before it starts work or refuses. ``cli`` makes both
observable: the entry points of real work (a simulation, a swarm's seeds, a live session, the
demo) raise ``WorkStarted`` instead of running, and a 10 s alarm interrupts a command that
neither refuses nor starts. Both derive from ``BaseException`` so that ``main``'s handler of
internal errors (``except Exception``) cannot turn them into an exit code.
"""

from __future__ import annotations

import importlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sim.commands.cli import main

ROOT = Path(__file__).resolve().parents[2]
REFUSE_WITHIN_S = 10.0  # issue 14: no input keeps a command longer than this before it refuses

# Where each command's real work begins: (module, attribute) as the command looks it up.
WORK_ENTRY_POINTS = (
    ("sim.commands.run_command", "run_scenario"),
    ("sim.commands.swarm_command", "swarm_seeds"),
    ("engine.live.session", "run_live"),
    ("sim.commands.demo", "run_demo"),  # dispatch imports it when the demo runs
)


class WorkStarted(BaseException):
    """A command reached its real work: the input was not refused before it."""


class TookTooLong(BaseException):
    """A command neither refused nor started work within ``REFUSE_WITHIN_S``."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a user saw: the exit code, both streams, and how long the command took."""

    code: int | str | None
    out: str
    err: str
    seconds: float
    work_started: str | None = None  # the entry point reached, if any
    timed_out: bool = False

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def _tripwire(name: str) -> Callable[..., None]:
    def reached(*_args: object, **_kwargs: object) -> None:
        raise WorkStarted(name)

    return reached


def _alarm(_signum: int, _frame: object) -> None:
    raise TookTooLong


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Outcome]:
    """``cli(*argv)`` runs ``cjsim`` in-process, its real work replaced by a tripwire, under a
    10 s alarm, and returns what the user saw."""
    for module, attribute in WORK_ENTRY_POINTS:
        monkeypatch.setattr(importlib.import_module(module), attribute, _tripwire(attribute))

    def run(*argv: str) -> Outcome:
        capsys.readouterr()  # what came before is not this command's
        code: int | str | None
        reached, timed_out = None, False
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, REFUSE_WITHIN_S)
        started = time.perf_counter()
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code
        except WorkStarted as exc:
            code, reached = None, str(exc)
        except TookTooLong:
            code, timed_out = None, True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        seconds = time.perf_counter() - started
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err, seconds, reached, timed_out)

    return run
