"""Bad input is one located line and exit 2, never a traceback, a hang or a silent run.

The first slice of issue 14's hostile corpus: non-finite numbers, seeds outside 0..2^64-1,
duplicate keys, byte-order marks and binary files, editors' ``$schema`` key, and an ``--out``
that names a file. Each case asserts exit 2, the location, and no traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sim.commands.cli import main

ROOT = Path(__file__).resolve().parents[2]
STORM = ROOT / "scenarios" / "storm.yaml"


def _write(tmp_path: Path, text: str | bytes, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _refused(capsys, argv: list[str], where: str, problem: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = next(x for x in err.splitlines() if where in x)
    assert problem in line


@pytest.mark.parametrize(
    ("document", "where", "problem"),
    [
        (
            "name: x\nrun: {batches: 2, batch_interval_s: .inf}\n",
            ":2:19: run.batch_interval_s",
            "finite",
        ),
        (
            "name: x\nrun: {batches: 2, batch_interval_s: -.inf}\n",
            ":2:19: run.batch_interval_s",
            "",
        ),
        ("name: x\nrun: {liveness_s: .nan}\n", ":2:7: run.liveness_s", "finite"),
        ("name: x\nseed: 18446744073709551616\n", ":2:1: seed", "less than or equal"),
        ("name: x\nseed: -1\n", ":2:1: seed", "greater than or equal"),
        ("name: x\nseed: 1\nseed: 2\n", ":3:1: seed", "duplicate key (first at line 2)"),
        ("name: x\nrun:\n  batches: 1\n  batches: 2\n", ":4:3: batches", "duplicate key"),
    ],
)
def test_a_scenario_with_a_nonsense_value_is_refused_where_it_is(
    tmp_path, capsys, document, where, problem
):
    path = _write(tmp_path, document)
    _refused(capsys, ["validate", str(path)], f"{path}{where}", problem)
    _refused(capsys, ["run", str(path), "--out", str(tmp_path / "out")], f"{path}{where}", problem)
    assert not (tmp_path / "out").exists()


def test_a_byte_order_mark_and_a_schema_key_are_accepted(tmp_path, capsys):
    text = STORM.read_text()
    path = _write(tmp_path, b"\xef\xbb\xbf$schema: ../cjsim.schema.json\n" + text.encode())
    assert main(["validate", str(path)]) == 0
    assert "ok (storm" in capsys.readouterr().out


def test_a_binary_file_is_named_as_such_and_the_other_files_are_still_checked(tmp_path, capsys):
    binary = _write(tmp_path, b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), "a.out")
    assert main(["validate", str(binary), str(STORM)]) == 2
    captured = capsys.readouterr()
    assert f"{binary}:1:1: a binary file" in captured.err
    assert "Traceback" not in captured.err
    assert "storm.yaml: ok" in captured.out


@pytest.mark.parametrize(
    "argv",
    [
        ["run", str(STORM), "--seed", "18446744073709551616"],
        ["run", str(STORM), "--seed", "-1"],
        ["run", str(STORM), "--seed", "1e3"],
        ["swarm", str(STORM), "--seeds", "2", "--first-seed", "18446744073709551616"],
        ["demo", "--seed", "-5"],
    ],
)
def test_a_seed_outside_0_to_2_64_is_refused_by_name(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--seed" in err or "--first-seed" in err
    assert "Traceback" not in err


def test_the_last_seed_of_a_swarm_may_not_pass_2_64(tmp_path, capsys):
    argv = ["swarm", str(STORM), "--seeds", "2", "--first-seed", str(2**64 - 1)]
    assert main([*argv, "--out", str(tmp_path / "s")]) == 2
    assert "would pass 2^64-1" in capsys.readouterr().err


def test_out_naming_a_file_is_refused_before_the_run(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("mine")
    _refused(capsys, ["run", str(STORM), "--out", str(target)], str(target), "not a folder")
    assert target.read_text() == "mine"


def test_a_live_configuration_with_a_non_finite_price_is_refused(tmp_path, capsys):
    folder = tmp_path / "live"
    shutil.copytree(ROOT / "examples" / "live", folder)
    path = folder / "eng5_sample.yaml"
    path.write_text(path.read_text().replace("input_per_mtok: 1.00", "input_per_mtok: .inf"))
    _refused(capsys, ["validate", str(path)], f"{path}:", "pricing.input_per_mtok")


def test_validate_reports_every_problem_of_a_file_in_order_with_near_names(tmp_path, capsys):
    path = _write(tmp_path, "name: x\nsed: 3\nrun:\n  batches: .nan\n  liveness_s: -1\nbudegt: 4\n")
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:2:1: sed: unknown key (did you mean 'seed'?)",
        f"{path}:4:3: run.batches: Input should be a finite number",
        f"{path}:5:3: run.liveness_s: Input should be greater than 0 (got -1)",
        f"{path}:6:1: budegt: unknown key (did you mean 'budget'?)",
    ]


def test_an_unknown_key_far_from_every_name_gets_no_guess(tmp_path, capsys):
    path = _write(tmp_path, "name: x\nzzqx: 1\n")
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.strip() == f"{path}:2:1: zzqx: unknown key"


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--max-requests", "0", "--max-requests: Input should be greater than or equal to 1"),
        ("--max-cost-usd", "inf", "--max-cost-usd: Input should be a finite number"),
        ("--max-wall-s", "-3", "--max-wall-s: Input should be greater than 0"),
    ],
)
def test_a_cap_override_out_of_range_is_refused_by_its_option(
    tmp_path, capsys, option, value, problem
):
    folder = tmp_path / "live"
    shutil.copytree(ROOT / "examples" / "live", folder)
    argv = ["live", str(folder / "eng5_sample.yaml"), "--dry-run", "--out", str(tmp_path / "o")]
    assert main([*argv, option, value]) == 2
    err = capsys.readouterr().err
    assert err.strip() == problem
    assert not (tmp_path / "o").exists()


def test_a_key_that_is_not_text_is_located_where_it_is_written(tmp_path, capsys):
    path = _write(tmp_path, "name: x\n~: 1\nrun:\n  yes: 2\n  3: 4\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{path}:2:1: None: Keys should be strings (got None)",
        f"{path}:4:3: run.True: Keys should be strings (got True)",
        f"{path}:5:3: run.3: Keys should be strings (got 3)",
    ]
