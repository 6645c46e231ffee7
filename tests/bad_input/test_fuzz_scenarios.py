"""Every shipped scenario, mutated at random: each mutant is accepted, or refused where it is.

A mutant is a shipped scenario (``scenarios/*.yaml``, ``scenarios/regressions/*.yaml``) with one
change drawn by Hypothesis: a key deleted, duplicated (a second, textual copy of the key) or
renamed to a near typo; a value retyped (text, number, list, mapping, boolean, null) or swapped
for NaN, an infinity, a huge or negative number, an empty text, list or mapping, ``!!binary``
bytes, or raw garbage bytes written into the file. ``cjsim validate`` must exit 0 (a mutation
may be harmless) or 2 with every line of stderr at ``FILE:LINE:COL: ``, never a traceback, an
internal error or an exception out of ``main``, and within 10 s (see ``conftest.cli``). A
duplicated key and a non-finite number are refused whatever their place.

One test per kind of mutation, so that a kind which finds a bug can be marked on its own (a
strict xfail naming the bug, as in ``test_hostile_corpus``). The examples are shared out between
the kinds: ``CJSIM_FUZZ_EXAMPLES`` in all (default 500; the soak runs 20,000), drawn
deterministically (``derandomize``) so that CI sees the same ones.
"""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.bad_input.conftest import ROOT

SCENARIOS = ROOT / "scenarios"
SHIPPED = sorted([*SCENARIOS.glob("*.yaml"), *(SCENARIOS / "regressions").glob("*.yaml")])

KEY_KINDS = ("delete-key", "duplicate-key", "typo-key")
VALUE_KINDS = (
    "delete-item",
    "retype",
    "nan",
    "inf",
    "minus-inf",
    "huge",
    "negative",
    "empty-text",
    "empty-list",
    "empty-mapping",
    "binary",
    "garbage",
)
KINDS = KEY_KINDS + VALUE_KINDS
EXAMPLES = int(os.environ.get("CJSIM_FUZZ_EXAMPLES", "500"))
EXAMPLES_PER_KIND = max(1, -(-EXAMPLES // len(KINDS)))  # rounded up: at least EXAMPLES in all
RETYPES: tuple[Any, ...] = ("text", 7, [1, "a"], {"k": 1}, True, None)
NON_FINITE = {"nan": math.nan, "inf": math.inf, "minus-inf": -math.inf}
GARBAGE = "cjsim_garbage_7c1f"  # a plain scalar the dump leaves alone, then swapped for bytes

Path_ = tuple[str | int, ...]


def _absolute_replay(document: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The mutant lives elsewhere: a replayed trace is named by its absolute path."""
    provider = document.get("provider")
    if isinstance(provider, dict) and isinstance(provider.get("replay"), str):
        provider["replay"] = str((folder / provider["replay"]).resolve())
    return document


DOCUMENTS = {
    str(path.relative_to(SCENARIOS)): _absolute_replay(
        yaml.safe_load(path.read_text(encoding="utf-8")), path.parent
    )
    for path in SHIPPED
}


class Pairs(list):  # type: ignore[type-arg]
    """A mapping written as its ``(key, value)`` pairs in order, so a key can appear twice."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    Pairs, lambda dumper, pairs: dumper.represent_mapping("tag:yaml.org,2002:map", list(pairs))
)


def dump(document: Any) -> str:
    return yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )


@dataclass(frozen=True)
class Mutant:
    """One shipped scenario with one change; ``text`` is the file as written."""

    scenario: str
    kind: str
    path: Path_
    text: bytes


def _paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every key and item path under ``node``, parents before children."""
    found: list[Path_] = []
    children = (
        list(node.items())
        if isinstance(node, dict)
        else list(enumerate(node))
        if isinstance(node, list)
        else []
    )
    for step, child in children:
        found.append((*prefix, step))
        found += _paths(child, (*prefix, step))
    return found


def _at(document: Any, path: Path_) -> Any:
    for step in path:
        document = document[step]
    return document


def _typo(draw: st.DrawFn, key: str) -> str:
    """A near miss of ``key``: a letter dropped, doubled, swapped with the next, or replaced."""
    index = draw(st.integers(0, len(key) - 1))
    how = draw(st.sampled_from(("drop", "double", "swap", "replace")))
    if how == "drop" and len(key) > 1:
        return key[:index] + key[index + 1 :]
    if how == "swap" and index < len(key) - 1 and key[index] != key[index + 1]:
        return key[:index] + key[index + 1] + key[index] + key[index + 2 :]
    if how == "replace":
        letter = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz_"))
        if letter != key[index]:
            return key[:index] + letter + key[index + 1 :]
    return key[:index] + key[index] + key[index:]


def _value(draw: st.DrawFn, kind: str, current: Any) -> Any:
    if kind == "retype":
        others = [v for v in RETYPES if type(v) is not type(current)]
        return copy.deepcopy(draw(st.sampled_from(others)))
    if kind in NON_FINITE:
        return NON_FINITE[kind]
    if kind == "huge":
        return 10**30
    if kind == "negative":
        is_number = isinstance(current, int | float) and not isinstance(current, bool)
        return -abs(current) - 1 if is_number else -1
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=32))
    return {"empty-text": "", "empty-list": [], "empty-mapping": {}, "garbage": GARBAGE}[kind]


@st.composite
def mutants(draw: st.DrawFn, kind: str) -> Mutant:
    scenario = draw(st.sampled_from(sorted(DOCUMENTS)))
    document = copy.deepcopy(DOCUMENTS[scenario])
    paths = _paths(document)
    if kind in KEY_KINDS:
        paths = [p for p in paths if isinstance(p[-1], str)]
    elif kind == "delete-item":
        paths = [p for p in paths if isinstance(p[-1], int)] or paths
    path = draw(st.sampled_from(paths))
    parent, step = _at(document, path[:-1]), path[-1]
    current = parent[step]
    if kind in ("delete-key", "delete-item"):
        del parent[step]
    elif kind == "typo-key":
        assert isinstance(step, str)
        new = _typo(draw, step)
        while new in parent:
            new += "x"
        items = [(new if k == step else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
    elif kind == "duplicate-key":
        again = draw(st.one_of(st.just(current), st.sampled_from(RETYPES)))
        pairs = Pairs()
        for key, value in parent.items():
            pairs.append((key, value))
            if key == step:
                pairs.append((key, copy.deepcopy(again)))
        if path[:-1]:
            _at(document, path[:-2])[path[-2]] = pairs
        else:
            document = pairs
    else:
        parent[step] = _value(draw, kind, current)
    text = dump(document).encode("utf-8")
    if kind == "garbage":
        text = text.replace(GARBAGE.encode(), draw(st.binary(min_size=1, max_size=24)))
    if kind == "duplicate-key":
        assert _duplicated(yaml.compose(text)), "the mutant must hold a key twice, in its text"
    return Mutant(scenario, kind, path, text)


def _duplicated(node: yaml.Node | None) -> bool:
    if isinstance(node, yaml.MappingNode):
        keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
        return len(keys) != len(set(keys)) or any(_duplicated(value) for _, value in node.value)
    if isinstance(node, yaml.SequenceNode):
        return any(_duplicated(item) for item in node.value)
    return False


def _validate(cli: Any, path: Path, text: bytes) -> Any:
    path.write_bytes(text)
    outcome = cli("validate", str(path))
    assert outcome.work_started is None
    assert not outcome.timed_out, "validate neither refused nor accepted within 10 s"
    assert "Traceback" not in outcome.err + outcome.out, outcome.err
    return outcome


@pytest.mark.parametrize("scenario", sorted(DOCUMENTS))
def test_every_shipped_scenario_survives_the_round_trip_unmutated(scenario, cli, tmp_path):
    """The negative control: what the fuzzer writes is valid until it mutates something."""
    path = tmp_path / "mutant.yaml"
    outcome = _validate(cli, path, dump(DOCUMENTS[scenario]).encode("utf-8"))
    assert outcome.code == 0, outcome.err
    assert outcome.out.startswith(f"{path}: ok")


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=EXAMPLES_PER_KIND,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_mutated_scenario_is_accepted_or_refused_where_it_is_wrong(kind, data, cli, tmp_path):
    mutant = data.draw(mutants(kind))
    note(f"{mutant.scenario} {mutant.kind} at {'.'.join(map(str, mutant.path))}:\n")
    note(mutant.text.decode("utf-8", errors="backslashreplace"))
    path = tmp_path / "mutant.yaml"
    outcome = _validate(cli, path, mutant.text)
    assert outcome.code in (0, 2), outcome.err
    if outcome.code == 0:
        assert outcome.out.startswith(f"{path}: ok"), outcome.out
        assert kind != "duplicate-key", "a key given twice was accepted"
        assert kind not in NON_FINITE, "a non-finite number was accepted"
        return
    located = re.compile(re.escape(str(path)) + r":\d+:\d+: ")
    unlocated = [line for line in outcome.err_lines if not located.match(line)]
    assert outcome.err_lines, "refused without a word"
    assert not unlocated, f"lines without FILE:LINE:COL: {unlocated}"
