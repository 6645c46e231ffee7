"""The cjsim command as a user meets it."""

from __future__ import annotations

import pytest

from sim import cli
from sim.cli import main


def test_bare_cjsim_runs_the_demo_and_prints_its_fingerprint(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "without row lock" in out
    assert "with row lock:      64 / 64" in out
    assert "fingerprint " in out


def test_the_demo_is_reproducible_per_seed(capsys):
    main(["demo", "--seed", "3"])
    first = capsys.readouterr().out
    main(["demo", "--seed", "3"])
    assert capsys.readouterr().out == first
    main(["demo", "--seed", "4"])
    assert capsys.readouterr().out != first


def test_an_impossible_setting_is_a_clear_error(capsys):
    assert main(["demo", "--increments", "0"]) == 2
    assert "--increments: must be >= 1" in capsys.readouterr().err


def test_help_describes_the_command(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    assert "Comparative Judgement" in capsys.readouterr().out


def test_an_internal_error_prints_its_traceback_exits_1_and_says_it_is_a_bug(monkeypatch, capsys):
    def broken(seed: int, increments: int) -> int:
        raise RuntimeError("a bug, planted")

    monkeypatch.setattr(cli, "_demo", broken)
    assert cli.main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug, planted" in err
    assert err.rstrip().endswith("please report it with the command you ran")
    assert "a bug in cjsim, not a problem with your input" in err
