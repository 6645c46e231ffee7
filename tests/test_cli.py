"""The cjsim command as a user meets it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.commands import cli
from sim.commands import dispatch as commands
from sim.commands.cli import main


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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--increments", "0"], "argument --increments: 0 is outside 1..100,000"),
        (["demo", "--increments", "100001"], "argument --increments: 100001 is outside"),
        (["swarm", "s.yaml", "--seeds", "1000001"], "argument --seeds: 1000001 is outside"),
        (["swarm", "s.yaml", "--seeds", "1", "--workers", "257"], "--workers: 257 is outside"),
        (["swarm", "s.yaml", "--seeds", "x"], "argument --seeds: not an integer: 'x'"),
    ],
)
def test_an_impossible_count_is_refused_by_its_option(capsys, argv, message):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_help_describes_the_command(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    assert "Comparative Judgement" in capsys.readouterr().out


def test_an_internal_error_prints_its_traceback_exits_1_and_says_it_is_a_bug(monkeypatch, capsys):
    def broken(seed: int, increments: int) -> int:
        raise RuntimeError("a bug, planted")

    monkeypatch.setattr(commands, "_demo", broken)
    assert cli.main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "RuntimeError: a bug, planted" in err
    assert err.rstrip().endswith("please report it with the command you ran")
    assert "a bug in cjsim, not a problem with your input" in err


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["rn", "x.yaml"], "(did you mean 'run'?)"),
        (["run", "x.yaml", "--sed", "4"], "(did you mean '--seed'?)"),
        (["swarm", "x.yaml", "--seeds", "2", "--wokers", "1"], "(did you mean '--workers'?)"),
        (["trace", "sumarize", "t"], "(did you mean 'summarize'?)"),
    ],
)
def test_a_misspelt_command_or_option_gets_the_near_name(capsys, argv, hint):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert capsys.readouterr().err.rstrip().endswith(hint)


def test_a_name_near_nothing_gets_no_guess(capsys):
    with pytest.raises(SystemExit):
        main(["zzzzzz"])
    assert "did you mean" not in capsys.readouterr().err


def test_help_imports_no_heavy_library():
    """``cjsim --help`` and a refused option answer from the grammar alone: the engine, the
    harness and their libraries load only when a command runs (issue 15: an instant start)."""
    import subprocess
    import sys

    heavy = ("numpy", "scipy", "duckdb", "sqlalchemy", "pydantic", "yaml", "anthropic", "openai")
    code = (
        "import sys, contextlib, io\n"
        "from sim.commands.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_run_loads_neither_the_live_side_nor_libraries_it_does_not_use(tmp_path):
    """``cjsim run`` pays at start-up only for what a simulated run uses (issue 15): not the
    live configuration, the provider SDKs, SQLAlchemy, scipy.stats (~1 s of imports between
    them), nor the field docstrings that only a JSON Schema shows."""
    import subprocess
    import sys
    from pathlib import Path

    unused = ("engine.live.config", "anthropic", "openai", "sqlalchemy", "scipy.stats")
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "eng5_lower5_10.yaml"
    argv = ["run", str(scenario), "--out", str(tmp_path / "run")]
    code = (
        "import sys, contextlib, io\n"
        "from sim.commands.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main({argv!r})\n"
        "from engine.settings import Settings\n"
        f"print(code, sorted(m for m in {unused!r} if m in sys.modules),\n"
        "      Settings.model_fields['BT_ALPHA'].description)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "0 [] None", result.stderr


def test_a_command_runs_blas_on_one_thread_unless_told_otherwise():
    """Speed only (nothing decided goes through BLAS): one OpenBLAS thread by default, and a
    user's own OPENBLAS_NUM_THREADS is kept."""
    import os
    import subprocess
    import sys

    code = (
        "import contextlib, io, json\n"
        "from sim.commands.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['validate', 'scenarios/eng5_regular_24.yaml'])\n"
        "import numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "print(json.dumps(sorted({i['num_threads'] for i in threadpool_info()})))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    for given, expected in ((None, "[1]"), ("2", "[2]")):
        if given:
            env["OPENBLAS_NUM_THREADS"] = given
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert result.stdout.strip() == expected
