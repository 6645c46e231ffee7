"""Live configurations and the essays they name: bad input is one located line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.live.cohort import load_cohort
from engine.live.config import LiveConfigError, load_live_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "live"


@pytest.fixture
def example(tmp_path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "live")
    return tmp_path / "live"


def _load(folder: Path):
    config, base = load_live_config(folder / "eng5_sample.yaml")
    return config, load_cohort(config, base)


def test_the_example_loads_students_and_graded_anchors(example):
    config, cohort = _load(example)
    assert config.provider.name == "anthropic"
    assert config.budget == 45
    assert [s.essay_id for s in cohort.students][:2] == ["student_01", "student_02"]
    assert next((a.anchor_ref_id, a.grade) for a in cohort.anchors) == ("sample_a", "A")
    request = cohort.batch_request(config, bos_batch_id="b-1")
    assert len(request.students) == 6
    assert len(request.anchors) == 4


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda t: t.replace("seed: 42", "seed: 42\ncolour: blue"),
            "eng5_sample.yaml:7:1: colour: unknown key",
        ),
        (
            lambda t: t.replace("budget: 45 ", "budget: -3 "),
            "budget: Input should be greater than or equal to 1",
        ),
        (lambda t: t.replace("pricing:", "pricing_off:"), "pricing_off: unknown key"),
        (
            lambda t: t.replace(
                "QUEUE_PROCESSING_MODE: serial_bundle", "QUEUE_PROCESSING_MODE: fast"
            ),
            "settings.QUEUE_PROCESSING_MODE",
        ),
        (
            lambda t: t.replace("provider:\n  name: anthropic", "provider:\n  name: gemini"),
            "provider.name",
        ),
        (lambda t: t + "\n  broken: [", "yaml:"),
    ],
)
def test_bad_configurations_are_located(example, edit, expected):
    path = example / "eng5_sample.yaml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(LiveConfigError) as info:
        _load(example)
    assert expected in str(info.value)
    assert str(info.value).startswith(str(path))


def test_a_cost_cap_without_prices_is_refused(example):
    path = example / "eng5_sample.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("pricing:")])
    with pytest.raises(
        LiveConfigError, match=r"eng5_sample.yaml:28:3: caps.max_cost_usd: needs pricing"
    ):
        _load(example)


def test_a_bad_anchor_row_names_its_csv_line(example):
    csv = example / "anchors.csv"
    csv.write_text(csv.read_text().replace("anchors/anchor_c.txt,C+", "anchors/anchor_c.txt,Z"))
    with pytest.raises(LiveConfigError, match=r"anchors\.csv:3:22: grade: 'Z' is not on"):
        _load(example)


def test_every_bad_anchor_row_is_reported_at_once_and_a_spreadsheet_bom_is_read(example):
    csv = example / "anchors.csv"
    rows = csv.read_text().splitlines()
    rows[2] = rows[2].replace(",C+", ",Z")
    rows.append("anchors/missing.txt,B")
    rows.append(",B")
    csv.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    with pytest.raises(LiveConfigError) as caught:
        _load(example)
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[0].rsplit("/", 1)[-1] for line in lines] == [
        "anchors.csv:3:22",
        f"anchors.csv:{len(rows) - 1}:1",
        f"anchors.csv:{len(rows)}:1",
    ]
    assert "cannot read the file" in lines[1]
    assert "file: is empty" in lines[2]


def test_a_binary_anchor_csv_is_named_as_such(example):
    (example / "anchors.csv").write_bytes(b"\x00\x01\x02PK\x03\x04")
    with pytest.raises(LiveConfigError, match=r"anchors\.csv:1:1: a binary file"):
        _load(example)


def test_essay_problems_name_the_file(example):
    (example / "essays" / "student_07.txt").write_bytes(b"fine\nbad \xff bytes")
    with pytest.raises(LiveConfigError, match=r"student_07\.txt:2:5: not UTF-8"):
        _load(example)
    (example / "essays" / "student_07.txt").write_bytes("utf-16".encode("utf-16"))
    with pytest.raises(LiveConfigError, match=r"student_07\.txt:1:1: UTF-16 text"):
        _load(example)
    (example / "essays" / "student_07.txt").write_text("   \n")
    with pytest.raises(LiveConfigError, match="the essay is empty"):
        _load(example)
    shutil.rmtree(example / "essays")
    with pytest.raises(LiveConfigError, match=r"essays: .*/essays is not a folder"):
        _load(example)


def test_missing_paths_are_located_at_the_key_that_names_them_all_at_once(example):
    path = example / "eng5_sample.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("essays: essays", "essays: nowhere").replace(
            "anchors: anchors.csv", "anchors: gone.csv"
        )
    )
    config, base = load_live_config(path)
    with pytest.raises(LiveConfigError) as caught:
        load_cohort(config, base, config_file=path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:")
    assert ": essays: " in lines[0]
    assert lines[0].endswith("nowhere is not a folder")
    assert ": anchors: " in lines[1]
    assert lines[1].endswith("gone.csv is not a file")


def test_an_unclosed_quote_in_the_anchors_csv_is_named_at_its_line(example):
    (example / "anchors.csv").write_text('file,grade\n"anchors/anchor_a.txt,A\n')
    with pytest.raises(LiveConfigError, match=r"anchors\.csv:2:1: not a CSV row: .* never closed"):
        _load(example)
