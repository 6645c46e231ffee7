"""A live run's database is checked before anything is written: its URL when the configuration
loads, and that it answers before a new run claims its folder."""

from __future__ import annotations

import pytest

from engine.live.database import database_problem, unreachable_database
from sim.commands.cli import main
from tests.live_mode.live_example import example_config


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("notadb://x", "cjsim supports sqlite and postgresql URLs, not 'notadb'"),
        ("::::", "not a database URL"),
        ("sqlite://", "needs a SQLite database file"),
        ("sqlite:////nonexistent/dir/x.db", "folder '/nonexistent/dir' does not exist"),
    ],
)
def test_a_url_cjsim_cannot_store_in_is_named(url, problem):
    assert problem in (database_problem(url) or "")


def test_a_storable_url_passes(tmp_path):
    assert database_problem(f"sqlite:///{tmp_path}/run.db") is None
    assert database_problem("postgresql://cj@db.example/cj") is None


def _with_database(tmp_path, url: str):
    config = example_config(tmp_path)
    config.write_text(config.read_text() + f'database: "{url}"\n')
    line = config.read_text().count("\n")
    return config, line


def test_a_bad_url_is_located_and_its_password_never_shown(tmp_path, capsys):
    config, line = _with_database(tmp_path, "notadb://user:hunter2@host/x")
    assert main(["validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{config}:{line}:1: database: cjsim supports sqlite and postgresql")
    assert "hunter2" not in err


def test_an_unreachable_server_refuses_a_new_run_before_its_folder_exists(tmp_path, capsys):
    config, line = _with_database(tmp_path, "postgresql://cj:hunter2@127.0.0.1:1/cj")
    out = tmp_path / "run"
    argv = ["live", str(config), "--dry-run", "--out", str(out), "--progress", "none"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{config}:{line}:1: database: cannot reach the database at ")
    assert "hunter2" not in err
    assert not out.exists()


def test_a_server_that_answers_nothing_is_given_up_on_in_time():
    # 192.0.2.0/24 is reserved for documentation: nothing there answers (or the route fails).
    problem = unreachable_database("postgresql://cj@192.0.2.1:5432/cj", timeout_s=0.5)
    assert problem is not None
