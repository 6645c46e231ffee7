"""tools/mutation_report.py: the score `nox -s mutants` gates on, and which survivors count as
equivalent (a listed name whose mutated line still reads as recorded)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_tool():
    spec = importlib.util.spec_from_file_location(
        "mutation_report", ROOT / "tools" / "mutation_report.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_report"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


report = load_tool()

DIFF = """--- engine/cj/x.py
+++ engine/cj/x.py
@@ -1,2 +1,2 @@
 def f(a):
-    return a < 0
+    return a <= 0
"""


def result(
    killed: int, survivors: list[tuple[str, str]], mutants: int = 10, module: str = "engine.cj.x"
) -> dict:
    return {
        "mutants": mutants,
        "killed": killed,
        "wall_s": 1.5,
        "error": "",
        "survivors": [
            {"name": f"{module}.{name}", "status": status, "diff": DIFF}
            for name, status in survivors
        ],
    }


def test_the_mutated_line_is_the_diffs_added_lines_without_the_file_header():
    assert report.mutated_line(DIFF) == "return a <= 0"
    two = DIFF + "+    b = 1\n"
    assert report.mutated_line(two) == "return a <= 0 / b = 1"


def test_a_listed_survivor_whose_line_still_reads_as_recorded_is_equivalent():
    listed = {"f__mutmut_2": report.Equivalent(mutated="return a <= 0", why="never negative")}
    scored = report.score(
        "engine/cj/x.py",
        result(7, [("f__mutmut_2", "survived"), ("f__mutmut_3", "survived")]),
        listed,
    )
    assert scored.equivalent == ["f__mutmut_2"]
    assert scored.undetected == ["f__mutmut_3"]
    assert scored.score == pytest.approx(7 / 9)


def test_a_listed_survivor_that_now_reads_otherwise_is_stale_and_counts_against_the_score():
    listed = {"f__mutmut_2": report.Equivalent(mutated="return a < 1", why="old reasoning")}
    scored = report.score("engine/cj/x.py", result(9, [("f__mutmut_2", "survived")]), listed)
    assert scored.equivalent == []
    assert scored.stale == ["f__mutmut_2"]
    assert scored.undetected == ["f__mutmut_2"]
    assert scored.score == pytest.approx(9 / 10)


def test_timeouts_count_as_detected_and_no_tests_as_undetected():
    scored = report.score(
        "engine/cj/x.py",
        result(
            7,
            [
                ("f__mutmut_1", "timeout"),
                ("f__mutmut_2", "no tests"),
                ("g__mutmut_1", "suspicious"),
            ],
        ),
        {},
    )
    assert scored.detected == 8
    assert scored.undetected == ["f__mutmut_2", "g__mutmut_1"]
    assert scored.score == pytest.approx(0.8)


def test_a_listed_mutant_that_no_longer_survives_is_reported_gone():
    listed = {"f__mutmut_9": report.Equivalent(mutated="return a <= 0", why="was equivalent")}
    scored = report.score("engine/cj/x.py", result(10, []), listed)
    assert scored.gone == ["f__mutmut_9"]
    assert scored.score == 1.0


def test_the_text_totals_every_module_and_names_the_equivalent_reason():
    listed = {
        "engine/cj/x.py": {
            "f__mutmut_2": report.Equivalent(mutated="return a <= 0", why="never negative")
        }
    }
    results = {
        "engine/cj/x.py": result(9, [("f__mutmut_2", "survived")]),
        "engine/cj/y.py": result(8, [("f__mutmut_1", "survived")], mutants=9, module="engine.cj.y"),
    }
    text, scores = report.text(results, listed)
    lines = text.splitlines()
    assert lines[1].split() == ["engine/cj/x.py", "10", "9", "1", "0", "100.0%", "1.5"]
    assert lines[2].split() == ["engine/cj/y.py", "9", "8", "0", "1", "88.9%", "1.5"]
    assert lines[3].split() == ["all", "19", "17", "1", "1", "94.4%", "3.0"]
    assert "## engine/cj/x.py: f__mutmut_2 (equivalent: never negative)" in lines
    assert "## engine/cj/y.py: f__mutmut_1 (survived)" in lines
    assert [s.score < report.SCORE_MIN for s in scores] == [False, True]


def test_the_shipped_list_of_equivalent_mutants_reads_and_says_why_for_each():
    listed = report.load_equivalents(ROOT / "tests" / "equivalent_mutants.toml")
    assert listed, "tests/equivalent_mutants.toml lists no module"
    for module, entries in listed.items():
        assert (ROOT / module).is_file(), module
        for name, entry in entries.items():
            assert "__mutmut_" in name, (module, name)
            assert entry.mutated, (module, name)
            assert len(entry.why) > 10, (module, name)
