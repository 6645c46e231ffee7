"""Issue 14's hostile corpus: every command, every kind of input, each refused where it is wrong.

Each case is one command line (with the files and environment it needs) that a user could
type. It must exit 2 with a line that starts at the problem's place, ``FILE:LINE:COL: field``
for a file, or the option, variable or argument by name; no traceback on either stream; no
work started first (``cli`` replaces every command's real work with a tripwire); refused
within 10 s; and nothing on disk created or changed.

``at`` is a regular expression that some line of stderr must match from its start (several:
lines in that order); the tokens ``{tmp}``, ``{bad}``, ``{live}``, ``{livedir}``, ``{storm}``
and ``{generic}`` stand for paths and are escaped. ``says`` must appear in the first such line.
A case marked ``pending`` fails today because of a bug outside the tests; it is a strict xfail,
so it fails loudly the day the bug is fixed, and its mark can go.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.bad_input.conftest import REFUSE_WITHIN_S, ROOT

SCENARIOS = ROOT / "scenarios"
LIVE_EXAMPLE = ROOT / "examples" / "live"
LIVE_TEXT = (LIVE_EXAMPLE / "eng5_sample.yaml").read_text(encoding="utf-8")
ANCHORS_TEXT = (LIVE_EXAMPLE / "anchors.csv").read_text(encoding="utf-8")
TRACE = ROOT / "traces" / "cj_lps_roundtrip_mock_20251205"
CALLBACK_LINES = (TRACE / "llm_callbacks.jsonl").read_text(encoding="utf-8").splitlines()
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256))
HUGE = str(10**30)


class Fifo:
    """A named pipe in place of a file: opening it waits for a writer that never comes."""


Content = str | bytes | Fifo


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    at: tuple[str, ...]
    says: str = ""
    files: Mapping[str, Content] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    live: bool = False  # the example live run (configuration, essays, anchors) in {livedir}


def case(
    name: str,
    argv: list[str],
    at: str | tuple[str, ...],
    says: str = "",
    *,
    files: Mapping[str, Content] | None = None,
    env: Mapping[str, str] | None = None,
    live: bool = False,
    pending: str | None = None,
) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=f"pending: {pending}")] if pending else []
    return pytest.param(
        Case(tuple(argv), (at,) if isinstance(at, str) else at, says, files or {}, env or {}, live),
        id=name,
        marks=marks,
    )


def scenario(name: str, document: str | bytes, at: str, says: str = "", **kw: Any) -> Any:
    """``cjsim validate`` of one scenario file, ``{bad}``."""
    return case(name, ["validate", "{bad}"], at, says, files={"bad.yaml": document}, **kw)


def position(text: str, needle: str) -> str:
    """``LINE:COL`` (1-based) of the first ``needle`` in ``text`` outside a comment."""
    for number, line in enumerate(text.splitlines(), start=1):
        col = line.find(needle)
        if col >= 0 and "#" not in line[:col]:
            return f"{number}:{col + 1}"
    raise AssertionError(f"{needle!r} is not in the text")


def live_text(*edits: tuple[str, str]) -> str:
    """The example live configuration with each ``(old, new)`` replaced once."""
    text = LIVE_TEXT
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def live_config(name: str, text: str, at: str, says: str = "", **kw: Any) -> Any:
    """``cjsim live --dry-run`` of an edited example configuration, ``{live}``."""
    files = {"live/eng5_sample.yaml": text, **kw.pop("files", {})}
    argv = ["live", "{live}", "--dry-run", "--out", "{tmp}/out", *kw.pop("extra", [])]
    return case(name, argv, at, says, files=files, live=True, **kw)


def live_at(text: str, needle: str, field_path: str) -> str:
    return "{live}:" + position(text, needle) + ": " + re.escape(field_path)


def anchors(name: str, csv: str | bytes, at: str, says: str = "", **kw: Any) -> Any:
    """``cjsim validate`` of the example live configuration with another anchors CSV."""
    files = {"live/anchors.csv": csv}
    return case(name, ["validate", "{live}"], at, says, files=files, live=True, **kw)


# ------------------------------------------------------------------------------------------
# Scenario files: syntax, encodings, shapes
# ------------------------------------------------------------------------------------------

LAUGHS = "name: x\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
LAUGHS_IN_A_FIELD = LAUGHS.replace("i: &i", "description: &i")
DEEP = "name: x\ndescription: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_BLOCK = "name: x\ndescription:\n" + "".join("  " * depth + "a:\n" for depth in range(1, 1000))

SYNTAX = [
    scenario("tab-indent", "name: x\nrun:\n\tbatches: 2\n", r"{bad}:3:1: "),
    scenario("unclosed-brace", "name: x\nrun: {batches: 2\n", r"{bad}:3:1: "),
    scenario("unclosed-bracket", "name: x\nfaults: [{kind: timeout}\n", r"{bad}:3:1: "),
    scenario("unclosed-quote", 'name: "x\nseed: 1\n', r"{bad}:3:1: "),
    scenario("over-indented-key", "name: x\n  seed: 1\n", r"{bad}:2:7: "),
    scenario("empty-file", "", r"{bad}:1:1: name: ", "required"),
    scenario("comment-only", "# nothing here\n", r"{bad}:1:1: name: ", "required"),
    scenario("top-level-list", "- name: x\n", r"{bad}:1:1: "),
    scenario("top-level-scalar", "storm\n", r"{bad}:1:1: "),
    scenario("two-documents", "name: x\n---\nname: y\n", r"{bad}:2:1: "),
    scenario("python-tag", "name: !!python/object/apply:os.system [echo]\n", r"{bad}:1:7: "),
    scenario("unhashable-key", "name: x\n? [a, b]\n: 1\n", r"{bad}:2:\d+: "),
    scenario(
        "null-key",
        "name: x\n~: 1\n",
        r"{bad}:2:1: ",
    ),
    scenario(
        "boolean-key",
        "name: x\nyes: 1\n",
        r"{bad}:2:1: ",
    ),
    scenario("integer-key", "name: x\n5: 1\n", r"{bad}:2:1: 5: "),
    scenario("alias-bomb-unknown-keys", LAUGHS, r"{bad}:\d+:\d+: ", "alias"),
    scenario(
        "alias-bomb-in-a-field",
        LAUGHS_IN_A_FIELD,
        r"{bad}:\d+:\d+: ",
        "alias",
    ),
    scenario(
        "nesting-5000-deep",
        DEEP,
        r"{bad}:2:214: ",
        "deep",
    ),
    scenario(
        "nesting-1000-deep-block",
        DEEP_BLOCK,
        r"{bad}:\d+:\d+: ",
        "deep",
    ),
    scenario("nul-character", "name: x\nseed: 1\x00\n", r"{bad}:\d+:\d+: "),
    scenario(
        "control-character",
        "name: x\nseed: 1\x01\n",
        r"{bad}:2:8: ",
    ),
    scenario(
        "latin-1",
        b"name: x\ndescription: caf\xe9\n",
        r"{bad}:2:17: ",
        "UTF-8",
    ),
    scenario("utf-16", "name: x\n".encode("utf-16"), r"{bad}:1:1: "),
    scenario("bom-then-typo", b"\xef\xbb\xbfname: x\nsed: 1\n", r"{bad}:2:1: sed: ", "'seed'"),
    scenario("bom-shifts-no-column", b"\xef\xbb\xbfnme: x\n", r"{bad}:1:1: nme: ", "'name'"),
    scenario("crlf-lines", "name: x\r\nrun:\r\n  batches: 0\r\n", r"{bad}:3:3: run\.batches: "),
    case("a-folder", ["validate", "{tmp}"], r"{tmp}:1:1: "),
    case(
        "a-named-pipe",
        ["validate", "{tmp}/pipe.yaml"],
        r"{tmp}/pipe\.yaml:1:1: ",
        files={"pipe.yaml": Fifo()},
    ),
    scenario(
        "a-30-mb-file",
        "name: x\ndescription: " + "x" * (30 * 2**20) + "\n",
        r"{bad}:1:1: ",
    ),
    case("missing-file", ["validate", "{tmp}/nope.yaml"], r"{tmp}/nope\.yaml:1:1: "),
    case(
        "run-missing-file",
        ["run", "{tmp}/nope.yaml", "--out", "{tmp}/out"],
        r"{tmp}/nope\.yaml:1:1: ",
    ),
    case(
        "swarm-missing-file",
        ["swarm", "{tmp}/nope.yaml", "--seeds", "2", "--out", "{tmp}/out"],
        r"{tmp}/nope\.yaml:1:1: ",
    ),
    case(
        "run-binary",
        ["run", "{bad}", "--out", "{tmp}/out"],
        r"{bad}:1:1: ",
        "binary",
        files={"bad.yaml": ELF},
    ),
    case(
        "swarm-bad-scenario",
        ["swarm", "{bad}", "--seeds", "2", "--out", "{tmp}/out"],
        r"{bad}:2:1: budget: ",
        files={"bad.yaml": "name: x\nbudget: 0\n"},
    ),
    case(
        "run-two-files-worth-of-errors",
        ["run", "{bad}", "--out", "{tmp}/out"],
        (r"{bad}:2:1: sed: ", r"{bad}:3:1: budget: "),
        "'seed'",
        files={"bad.yaml": "name: x\nsed: 1\nbudget: -3\n"},
    ),
]

# ------------------------------------------------------------------------------------------
# Scenario files: every level, every kind of field
# ------------------------------------------------------------------------------------------

STUDENTS = "name: x\ncohort:\n  students:\n    "
FAULT = "name: x\nfaults:\n  - {kind: http_429, "

FIELDS = [
    scenario("name-number", "name: 5\n", r"{bad}:1:1: name: "),
    scenario("name-pattern", 'name: "bad name!"\n', r"{bad}:1:1: name: "),
    scenario("seed-text", "name: x\nseed: abc\n", r"{bad}:2:1: seed: "),
    scenario("seed-fraction", "name: x\nseed: 1.5\n", r"{bad}:2:1: seed: "),
    scenario("seed-huge", f"name: x\nseed: {HUGE}\n", r"{bad}:2:1: seed: "),
    scenario("epoch-text", "name: x\nepoch: not a date\n", r"{bad}:2:1: epoch: "),
    scenario("epoch-naive", "name: x\nepoch: 2025-12-01T09:00:00\n", r"{bad}:2:1: epoch: "),
    scenario("cohort-number", "name: x\ncohort: 5\n", r"{bad}:2:1: cohort: "),
    scenario("cohort-list", "name: x\ncohort: []\n", r"{bad}:2:1: cohort: "),
    scenario(
        "students-text", "name: x\ncohort:\n  students: many\n", r"{bad}:3:3: cohort\.students: "
    ),
    scenario(
        "students-count-1e9",
        STUDENTS + "count: 1000000000\n",
        r"{bad}:4:5: cohort\.students\.count: ",
        "less than or equal to",
    ),
    scenario("students-count-huge", STUDENTS + f"count: {HUGE}\n", r"{bad}:4:5: cohort\."),
    scenario("students-count-negative", STUDENTS + "count: -1\n", r"{bad}:4:5: cohort\."),
    scenario("students-count-nan", STUDENTS + "count: .nan\n", r"{bad}:4:5: cohort\."),
    scenario("students-count-overflow", STUDENTS + "count: 1.0e+400\n", r"{bad}:4:5: cohort\."),
    scenario(
        "quality-enum",
        STUDENTS + "quality: {distribution: gaussian}\n",
        r"{bad}:4:15: cohort\.students\.quality\.distribution: ",
    ),
    scenario("quality-sd-negative", STUDENTS + "quality: {sd: -1}\n", r"{bad}:4:15: cohort\."),
    scenario("quality-mean-inf", STUDENTS + "quality: {mean: .inf}\n", r"{bad}:4:15: cohort\."),
    scenario(
        "quality-uniform-reversed",
        STUDENTS + "quality: {distribution: uniform, low: 2, high: 1}\n",
        r"{bad}:4:46: cohort\.students\.quality\.high: ",
        "low <= high",
    ),
    scenario("students-words-zero", STUDENTS + "words: 0\n", r"{bad}:4:5: cohort\."),
    scenario("students-prefix", STUDENTS + "prefix: Bad Prefix\n", r"{bad}:4:5: cohort\."),
    scenario(
        "students-ids-repeated",
        STUDENTS + "ids: [a, a]\n",
        r"{bad}:4:14: cohort\.students\.ids\.1: ",
        "'a'",
    ),
    scenario(
        "students-ids-vs-count",
        STUDENTS + "ids: [a, b]\n    count: 3\n",
        r"{bad}:5:5: cohort\.students\.count: ",
    ),
    scenario(
        "grade-scale-unknown",
        "name: x\ncohort:\n  grade_scale: nope\n",
        r"{bad}:3:3: cohort\.grade_scale: ",
    ),
    scenario(
        "anchors-unknown-set", "name: x\ncohort:\n  anchors: eng6\n", r"{bad}:3:3: cohort\.anchors"
    ),
    scenario(
        "anchor-grade-off-scale",
        "name: x\ncohort:\n  anchors: [{ref: a, grade: Z}]\n",
        r"{bad}:3:22: cohort\.anchors\.0\.grade: ",
        "'Z'",
    ),
    scenario(
        "anchor-ref-pattern",
        'name: x\ncohort:\n  anchors: [{ref: "bad ref!", grade: A}]\n',
        r"{bad}:3:14: cohort\.anchors\.0\.ref: ",
    ),
    scenario(
        "anchor-words-1e9",
        "name: x\ncohort:\n  anchors: [{ref: a, grade: A, words: 1000000000}]\n",
        r"{bad}:3:\d+: cohort\.anchors\.0\.words: ",
    ),
    scenario(
        "budget-1e12",
        "name: x\nbudget: 1000000000000\n",
        r"{bad}:2:1: budget: ",
        "less than or equal to",
    ),
    scenario("budget-zero", "name: x\nbudget: 0\n", r"{bad}:2:1: budget: "),
    # YAML 1.1 reads yes, on and true as booleans, and pydantic's lax mode would take one for 1.
    scenario("budget-yes", "name: x\nbudget: yes\n", r"{bad}:2:1: budget: "),
    scenario("seed-on", "name: x\nseed: on\n", r"{bad}:2:1: seed: "),
    scenario(
        "fault-rate-true",
        FAULT + "rate: true}\n",
        r"{bad}:3:22: faults\.0\.rate: ",
    ),
    scenario(
        "setting-workers-true",
        "name: x\nsettings:\n  LPS_WORKERS: true\n",
        r"{bad}:3:3: settings\.LPS_WORKERS: ",
    ),
    scenario("budget-text", "name: x\nbudget: lots\n", r"{bad}:2:1: budget: "),
    scenario("budget-inf", "name: x\nbudget: .inf\n", r"{bad}:2:1: budget: "),
    scenario("budget-minus-inf", "name: x\nbudget: -.inf\n", r"{bad}:2:1: budget: "),
    scenario("settings-list", "name: x\nsettings: []\n", r"{bad}:2:1: settings: "),
    scenario(
        "setting-negative",
        "name: x\nsettings:\n  MAX_PAIRWISE_COMPARISONS: -5\n",
        r"{bad}:3:3: settings\.MAX_PAIRWISE_COMPARISONS: ",
    ),
    scenario(
        "setting-near-name",
        "name: x\nsettings:\n  MAX_PAIRWISE_COMPARISON: 5\n",
        r"{bad}:3:3: settings\.MAX_PAIRWISE_COMPARISON: ",
        "did you mean 'MAX_PAIRWISE_COMPARISONS'",
    ),
    scenario(
        "setting-lower-case",
        "name: x\nsettings:\n  max_pairwise_comparisons: 5\n",
        r"{bad}:3:3: settings\.max_pairwise_comparisons: ",
        "did you mean 'MAX_PAIRWISE_COMPARISONS'",
    ),
    scenario(
        "setting-enum",
        "name: x\nsettings:\n  QUEUE_PROCESSING_MODE: serial\n",
        r"{bad}:3:3: settings\.QUEUE_PROCESSING_MODE: ",
    ),
    scenario(
        "setting-inf-interval",
        "name: x\nsettings:\n  BATCH_MONITOR_INTERVAL_S: .inf\n",
        r"{bad}:3:3: settings\.BATCH_MONITOR_INTERVAL_S: ",
    ),
    scenario(
        "setting-nan",
        "name: x\nsettings:\n  QUEUE_REQUEST_TTL_HOURS: .nan\n",
        r"{bad}:3:3: settings\.QUEUE_REQUEST_TTL_HOURS: ",
    ),
    scenario(
        "setting-workers-1e9",
        "name: x\nsettings:\n  LPS_WORKERS: 1000000000\n",
        r"{bad}:3:3: settings\.LPS_WORKERS: ",
    ),
    scenario("legacy-text", "name: x\nlegacy: yes please\n", r"{bad}:2:1: legacy: "),
    scenario(
        "legacy-unknown-setting",
        "name: x\nlegacy:\n  NOT_A_SETTING: 1\n",
        r"{bad}:3:3: legacy\.NOT_A_SETTING: ",
    ),
    scenario("provider-text", "name: x\nprovider: openai\n", r"{bad}:2:1: provider: "),
    scenario(
        "provider-effort",
        "name: x\nprovider:\n  reasoning_effort: extreme\n",
        r"{bad}:3:3: provider\.reasoning_effort: ",
    ),
    scenario(
        "provider-bias", "name: x\nprovider:\n  position_bias: 99\n", r"{bad}:3:3: provider\."
    ),
    scenario(
        "latency-median-zero",
        "name: x\nprovider:\n  latency_ms: {distribution: lognormal, median: 0}\n",
        r"{bad}:3:41: provider\.latency_ms\.median: ",
    ),
    scenario(
        "latency-median-nan",
        "name: x\nprovider:\n  latency_ms: {median: .nan}\n",
        r"{bad}:3:16: provider\.latency_ms\.median: ",
    ),
    scenario(
        "mock-mode", "name: x\nprovider:\n  mock_mode: nope\n", r"{bad}:3:3: provider\.mock_mode"
    ),
    scenario(
        "rate-limit-empty",
        "name: x\nprovider:\n  rate_limit: {}\n",
        r"{bad}:3:3: provider\.rate_limit: ",
        "requests_per_minute",
    ),
    scenario(
        "rate-limit-zero",
        "name: x\nprovider:\n  rate_limit: {requests_per_minute: 0}\n",
        r"{bad}:3:16: provider\.rate_limit\.requests_per_minute: ",
    ),
    scenario(
        "rate-limit-inf",
        "name: x\nprovider:\n  rate_limit: {tokens_per_minute: .inf}\n",
        r"{bad}:3:16: provider\.rate_limit\.tokens_per_minute: ",
    ),
    scenario(
        "rate-limit-with-mock",
        "name: x\nprovider:\n  mock_mode: default\n  rate_limit: {requests_per_minute: 5}\n",
        r"{bad}:4:3: provider\.rate_limit: ",
    ),
    scenario(
        "replay-missing-trace",
        "name: x\nprovider:\n  replay: no_such_trace\n",
        r"{bad}:3:3: provider\.replay: ",
    ),
    case(
        "run-replay-missing-trace",
        ["run", "{bad}", "--out", "{tmp}/out"],
        r"{bad}:3:3: provider\.replay: ",
        files={"bad.yaml": "name: x\nprovider:\n  replay: no_such_trace\n"},
    ),
    case(
        "replay-broken-trace",
        ["validate", "{bad}"],
        r"{bad}:3:3: provider\.replay: ",
        files={
            "bad.yaml": "name: x\nprovider:\n  replay: trace\n",
            "trace/llm_callbacks.jsonl": CALLBACK_LINES[0] + "\n{oops\n",
        },
    ),
    scenario("faults-mapping", "name: x\nfaults: {}\n", r"{bad}:2:1: faults: "),
    scenario("fault-text", "name: x\nfaults: [http_429]\n", r"{bad}:2:10: faults\.0: "),
    scenario(
        "fault-kind-unknown",
        "name: x\nfaults: [{kind: meteor}]\n",
        r"{bad}:2:11: faults\.0\.kind: ",
    ),
    scenario(
        "fault-kind-typo", "name: x\nfaults: [{kind: http_249}]\n", r"{bad}:2:11: faults\.0\.kind"
    ),
    scenario(
        "fault-kind-missing",
        "name: x\nfaults: [{rate: 0.5}]\n",
        r"{bad}:2:10: faults\.0\.kind: ",
        "required",
    ),
    scenario("fault-rate-above-1", FAULT + "rate: 1.5}\n", r"{bad}:3:22: faults\.0\.rate: "),
    scenario("fault-rate-negative", FAULT + "rate: -0.1}\n", r"{bad}:3:22: faults\.0\.rate: "),
    scenario("fault-rate-nan", FAULT + "rate: .nan}\n", r"{bad}:3:22: faults\.0\.rate: "),
    scenario("fault-rate-text", FAULT + "rate: half}\n", r"{bad}:3:22: faults\.0\.rate: "),
    scenario("fault-count-zero", FAULT + "count: 0}\n", r"{bad}:3:22: faults\.0\.count: "),
    scenario(
        "fault-window-reversed",
        FAULT + "window_s: [300, 100]}\n",
        r"{bad}:3:22: faults\.0\.window_s: ",
    ),
    scenario("fault-window-short", FAULT + "window_s: [0]}\n", r"{bad}:3:22: faults\.0\.window"),
    scenario(
        "fault-window-inf", FAULT + "window_s: [0, .inf]}\n", r"{bad}:3:\d+: faults\.0\.window_s"
    ),
    scenario(
        "fault-window-text", FAULT + "window_s: 0-300}\n", r"{bad}:3:22: faults\.0\.window_s: "
    ),
    scenario("fault-at-negative", FAULT + "at_s: -5}\n", r"{bad}:3:22: faults\.0\.at_s: "),
    scenario(
        "orphan-without-at",
        "name: x\nfaults:\n  - {kind: orphan_callback}\n",
        r"{bad}:3:5: faults\.0\.at_s: ",
        "at_s",
    ),
    scenario(
        "burst-without-window",
        "name: x\nfaults:\n  - {kind: callback_burst}\n",
        r"{bad}:3:5: faults\.0\.window_s: ",
        "window_s",
    ),
    scenario(
        "retry-after-twice",
        FAULT + "retry_after_s: 1, retry_after_ms: 5}\n",
        r"{bad}:3:40: faults\.0\.retry_after_ms: ",
    ),
    scenario("hang-zero", FAULT + "hang_s: 0}\n", r"{bad}:3:22: faults\.0\.hang_s: "),
    scenario("hang-overflow", FAULT + "hang_s: 1.0e+400}\n", r"{bad}:3:22: faults\.0\.hang_s: "),
    scenario(
        "target-batch-zero",
        FAULT + "target: {batch: 0}}\n",
        r"{bad}:3:31: faults\.0\.target\.batch: ",
    ),
    scenario("malformed-kind", FAULT + "malformed: weird}\n", r"{bad}:3:22: faults\.0\.malformed"),
    scenario(
        "fault-key-near-rate",
        FAULT + "rat: 0.5}\n",
        r"{bad}:3:22: faults\.0\.rat: ",
        "did you mean 'rate'",
    ),
    scenario("run-batches-51", "name: x\nrun: {batches: 51}\n", r"{bad}:2:7: run\.batches: "),
    scenario("run-batches-1e9", "name: x\nrun: {batches: 1000000000}\n", r"{bad}:2:7: run\."),
    scenario(
        "run-fault-phase-1e12",
        "name: x\nrun: {fault_phase_s: 1000000000000}\n",
        r"{bad}:2:7: run\.fault_phase_s: ",
    ),
    scenario("run-liveness-zero", "name: x\nrun: {liveness_s: 0}\n", r"{bad}:2:7: run\."),
    scenario(
        "run-interval-1e30",
        f"name: x\nrun: {{batches: 2, batch_interval_s: {HUGE}}}\n",
        r"{bad}:2:19: run\.batch_interval_s: ",
    ),
    scenario(
        "run-reorder-spread-1e30",
        f"name: x\nrun: {{reorder_spread_s: {HUGE}}}\n",
        r"{bad}:2:7: run\.reorder_spread_s: ",
    ),
    scenario(
        "run-skew-limit-2", "name: x\nrun: {position_skew_limit: 2}\n", r"{bad}:2:7: run\.position"
    ),
    scenario(
        "run-redeliveries-negative",
        "name: x\nrun: {consumer_redeliveries: -1}\n",
        r"{bad}:2:7: run\.consumer_redeliveries: ",
    ),
    scenario(
        "run-store-latency-nan",
        "name: x\nrun: {store_latency_ms: .nan}\n",
        r"{bad}:2:7: run\.store_latency_ms: ",
    ),
    scenario(
        "invariant-unknown",
        "name: x\nexpect:\n  invariants: {hold: [no_such_invariant]}\n",
        r"{bad}:3:16: expect\.invariants\.hold: ",
    ),
    scenario(
        "invariants-text",
        "name: x\nexpect:\n  invariants: {hold: some}\n",
        r"{bad}:3:16: expect\.invariants\.hold",
    ),
    scenario(
        "report-check-without-comparison",
        "name: x\nexpect:\n  report: [{path: x}]\n",
        r"{bad}:3:12: expect\.report\.0: ",
    ),
    scenario(
        "report-check-nan",
        "name: x\nexpect:\n  report: [{path: x, lt: .nan}]\n",
        r"{bad}:3:\d+: expect\.report\.0\.lt: ",
    ),
    scenario("expect-legacy-number", "name: x\nexpect_legacy: 5\n", r"{bad}:2:1: expect_legacy"),
    scenario("description-list", "name: x\ndescription: [a, b]\n", r"{bad}:2:1: description: "),
]

NEAR_NAMES = [
    scenario("nmae", "nmae: x\n", r"{bad}:1:1: nmae: ", "did you mean 'name'"),
    scenario("budgit", "name: x\nbudgit: 5\n", r"{bad}:2:1: budgit: ", "did you mean 'budget'"),
    scenario("faluts", "name: x\nfaluts: []\n", r"{bad}:2:1: faluts: ", "did you mean 'faults'"),
    scenario("cohrt", "name: x\ncohrt: {}\n", r"{bad}:2:1: cohrt: ", "did you mean 'cohort'"),
    scenario("run-batchs", "name: x\nrun: {batchs: 2}\n", r"{bad}:2:7: run\.batchs: ", "'batches'"),
    scenario(
        "cohort-studnets",
        "name: x\ncohort:\n  studnets: {count: 3}\n",
        r"{bad}:3:3: cohort\.studnets: ",
        "did you mean 'students'",
    ),
    scenario(
        "provider-modle",
        "name: x\nprovider:\n  modle: gpt\n",
        r"{bad}:3:3: provider\.modle: ",
        "did you mean 'model'",
    ),
]

DUPLICATES = [
    scenario(
        "duplicate-in-flow-mapping",
        "name: x\nfaults:\n  - {kind: http_429, kind: http_500}\n",
        r"{bad}:3:22: kind: ",
        "duplicate",
    ),
    scenario(
        "duplicate-block",
        "name: x\ncohort: {}\nseed: 1\ncohort: {}\n",
        r"{bad}:4:1: cohort: ",
        "first at line 2",
    ),
    scenario(
        "two-duplicates-both-reported",
        "name: x\nseed: 1\nseed: 2\nbudget: 3\nbudget: 4\n",
        (r"{bad}:3:1: seed: ", r"{bad}:5:1: budget: "),
    ),
    scenario(
        "duplicate-and-unknown-both-reported",
        "name: x\nseed: 1\nseed: 2\nbudgit: 3\n",
        (r"{bad}:3:1: seed: ", r"{bad}:4:1: budgit: "),
    ),
    scenario(
        "settings-and-fields-both-reported",
        "name: x\nsettings:\n  NOT_A_SETTING: 1\nrun: {batches: 0}\n",
        (r"{bad}:3:3: settings\.NOT_A_SETTING: ", r"{bad}:4:7: run\.batches: "),
    ),
]

# ------------------------------------------------------------------------------------------
# Options of run, swarm and demo, and the command line itself
# ------------------------------------------------------------------------------------------

RUN = ["run", "{storm}", "--out", "{tmp}/out"]
SWARM = ["swarm", "{storm}", "--seeds", "2", "--out", "{tmp}/out"]
USED_RUN = {"used/report.json": "{}\n", "used/events.jsonl": ""}

OPTIONS = [
    case("seed-text", [*RUN, "--seed", "abc"], r".*--seed"),
    case("seed-empty", [*RUN, "--seed", ""], r".*--seed"),
    case("seed-hex", [*RUN, "--seed", "0x10"], r".*--seed"),
    case("seed-2-64-equals", [*RUN, f"--seed={2**64}"], r".*--seed"),
    case("first-seed-negative", [*SWARM, "--first-seed", "-1"], r".*--first-seed"),
    case("set-without-equals", [*RUN, "--set", "foo"], r"--set foo: "),
    case("set-without-key", [*RUN, "--set", "=1"], r"--set =1: "),
    case("set-empty-segment", [*RUN, "--set", "run..x=1"], r"--set run\.\.x=1: "),
    case(
        "set-fault-past-the-end",
        ["run", "{generic}", "--out", "{tmp}/out", "--set", "faults.7.rate=1"],
        r"--set faults\.7\.rate=1: ",
    ),
    case("set-fault-70-of-19", [*RUN, "--set", "faults.70.rate=1"], r"--set faults\.70\.rate=1: "),
    case("set-unknown-path", [*RUN, "--set", "unknown.path=1"], r"--set unknown\.path=1: "),
    case(
        "set-setting-negative",
        [*RUN, "--set", "MAX_PAIRWISE_COMPARISONS=-5"],
        r"--set MAX_PAIRWISE_COMPARISONS=-5: ",
    ),
    case("set-no-such-setting", [*RUN, "--set", "NOT_A_SETTING=1"], r"--set NOT_A_SETTING=1: "),
    case(
        "set-setting-near-name",
        [*RUN, "--set", "MAX_PAIRWISE_COMPARISON=5"],
        r"--set MAX_PAIRWISE_COMPARISON=5: ",
        "did you mean 'MAX_PAIRWISE_COMPARISONS'",
    ),
    case(
        "set-field-near-name",
        [*RUN, "--set", "run.livenes_s=5"],
        r"--set run\.livenes_s=5: ",
        "did you mean 'liveness_s'",
    ),
    case("set-nan", [*RUN, "--set", "run.liveness_s=.nan"], r"--set run\.liveness_s=\.nan: "),
    case("set-text", [*RUN, "--set", "run.liveness_s=abc"], r"--set run\.liveness_s=abc: "),
    case("set-seed-negative", [*RUN, "--set", "seed=-1"], r"--set seed=-1: "),
    case("set-name-empty", [*RUN, "--set", "name="], r"--set name=: "),
    case(
        "set-students-1e9",
        [*RUN, "--set", "cohort.students.count=1000000000"],
        r"--set cohort\.students\.count=1000000000: ",
    ),
    case("set-budget-yes", [*RUN, "--set", "budget=yes"], r"--set budget=yes: "),
    case("set-budget-1e12", [*RUN, "--set", "budget=1000000000000"], r"--set budget="),
    case("set-fault-kind", [*RUN, "--set", "faults.0.kind=meteor"], r"--set faults\.0\.kind="),
    case("set-inside-a-value", [*RUN, "--set", "run.liveness_s.x=1"], r"--set run\.liveness_s\.x"),
    case("swarm-set-without-equals", [*SWARM, "--set", "foo"], r"--set foo: "),
    case(
        "swarm-set-out-of-range",
        [*SWARM, "--set", "run.liveness_s=-1"],
        r"--set run\.liveness_s=-1: ",
    ),
    case(
        "run-out-of-an-earlier-run",
        ["run", "{storm}", "--out", "{tmp}/used"],
        r"{tmp}/used: --out: ",
        "earlier run",
        files=USED_RUN,
    ),
    case(
        "run-out-name-too-long",
        ["run", "{storm}", "--out", "{tmp}/" + "o" * 300],
        r"{tmp}/o+: --out: ",
    ),
    case(
        "run-name-too-long-for-its-folder",
        ["run", "{bad}"],
        r"{bad}:1:1: name: ",
        files={"bad.yaml": "name: " + "n" * 300 + "\n"},
    ),
    case(
        "run-out-a-file",
        ["run", "{storm}", "--out", "{tmp}/a-file"],
        r"{tmp}/a-file: --out: ",
        files={"a-file": "mine"},
    ),
    case(
        "swarm-out-a-file",
        ["swarm", "{storm}", "--seeds", "2", "--out", "{tmp}/a-file"],
        r"{tmp}/a-file: --out: ",
        files={"a-file": "mine"},
    ),
    case(
        "swarm-out-of-an-earlier-swarm",
        ["swarm", "{storm}", "--seeds", "2", "--out", "{tmp}/used"],
        r"{tmp}/used: --out: ",
        "earlier run",
        files={"used/swarm.json": "{}\n"},
    ),
    case("swarm-workers-zero", [*SWARM, "--workers", "0"], r".*--workers"),
    case("swarm-workers-text", [*SWARM, "--workers", "abc"], r".*--workers"),
    case("swarm-seeds-zero", ["swarm", "{storm}", "--seeds", "0"], r".*--seeds"),
    case("swarm-seeds-negative", ["swarm", "{storm}", "--seeds", "-3"], r".*--seeds"),
    case("swarm-seeds-text", ["swarm", "{storm}", "--seeds", "abc"], r".*--seeds"),
    case("swarm-seeds-missing", ["swarm", "{storm}"], r".*--seeds"),
    case("demo-increments-zero", ["demo", "--increments", "0"], r".*--increments"),
    case("demo-increments-negative", ["demo", "--increments", "-5"], r".*--increments"),
    case("demo-increments-text", ["demo", "--increments", "abc"], r".*--increments"),
    case(
        "demo-increments-1e9",
        ["demo", "--increments", "1000000000"],
        r".*--increments",
    ),
    case("demo-seed-2-64", ["demo", "--seed", str(2**64)], r".*--seed"),
    case("demo-seed-text", ["demo", "--seed", "abc"], r".*--seed"),
    case(
        "command-near-name",
        ["runn", "{storm}"],
        r".*'runn'",
        "did you mean 'run'",
    ),
    case(
        "option-near-name",
        [*RUN, "--sed", "5"],
        r".*--sed",
        "did you mean '--seed'",
    ),
    case("run-without-scenario", ["run"], r".*scenario"),
    case("schema-unknown-option", ["schema", "--bogus"], r".*--bogus"),
    case(
        "schema-write-a-file",
        ["schema", "--write", "{tmp}/a-file"],
        r"{tmp}/a-file: --write: ",
        files={"a-file": "mine"},
    ),
    case(
        "schema-write-over-a-folder",
        ["schema", "--write", "{tmp}/out"],
        r"{tmp}/out/scenario\.schema\.json: --write: ",
        files={"out/scenario.schema.json/keep.txt": "mine"},
    ),
    case("schema-extra-argument", ["schema", "extra"], r".*extra"),
    case("trace-without-action", ["trace"], r".*ACTION"),
    case("compare-one-run", ["compare", "{tmp}"], r".*RUN_B"),
]

# ------------------------------------------------------------------------------------------
# Live runs: configuration, essays, anchors, options, environment, resume
# ------------------------------------------------------------------------------------------

NO_BUDGET = live_text(("budget: 45                  # all 45 pairs of 10 essays\n", ""))
PRICING_BLOCK = LIVE_TEXT[LIVE_TEXT.index("pricing:") : LIVE_TEXT.index("# database:")]
WITH_DATABASE = LIVE_TEXT + "database: notadb://x\n"
WITH_SQLITE_NOWHERE = LIVE_TEXT + "database: sqlite+aiosqlite:////no/such/folder/cj.sqlite\n"
PRICE = "input_per_mtok: 1.00"
CSV_ROWS = ANCHORS_TEXT.splitlines()
MANIFEST = {
    "run_id": "0123456789abcdef",
    "name": "eng5_sample",
    "dry_run": True,
    "config": yaml.safe_load(NO_BUDGET),
    "config_dir": "{livedir}",
    "database": "sqlite:///cj.sqlite",
    "bos_batch_id": "eng5_sample-0123456789abcdef",
}
STOPPED_RUN = {"stopped/run.json": json.dumps(MANIFEST, indent=2)}


def _edited(old: str, new: str) -> str:
    return live_text((old, new))


LIVE = [
    live_config(
        "database-unknown-scheme",
        WITH_DATABASE,
        live_at(WITH_DATABASE, "database:", "database"),
    ),
    live_config(
        "database-folder-missing",
        WITH_SQLITE_NOWHERE,
        live_at(WITH_SQLITE_NOWHERE, "database:", "database"),
    ),
    live_config(
        "essays-missing",
        _edited("essays: essays", "essays: nowhere"),
        r"{live}:14:1: essays: ",
    ),
    live_config(
        "essays-empty-folder",
        _edited("essays: essays", "essays: none_here"),
        r"{live}:14:1: essays: ",
        files={"live/none_here/notes.pdf": "not an essay"},
    ),
    live_config(
        "essay-empty",
        LIVE_TEXT,
        r"{livedir}/essays/student_01\.txt:1:1: ",
        "empty",
        files={"live/essays/student_01.txt": "  \n"},
    ),
    live_config(
        "essay-latin-1",
        LIVE_TEXT,
        r"{livedir}/essays/student_02\.txt:1:6: ",
        "UTF-8",
        files={"live/essays/student_02.txt": b"A caf\xe9 essay.\n"},
    ),
    live_config(
        "essay-binary",
        LIVE_TEXT,
        r"{livedir}/essays/student_03\.txt:1:1: ",
        "binary",
        files={"live/essays/student_03.txt": ELF},
    ),
    live_config(
        "essay-ids-collide",
        LIVE_TEXT,
        r"{livedir}/essays/student_01\.txt:1:1: |{livedir}/essays/student_01\.md:1:1: ",
        files={"live/essays/student_01.md": "Another essay.\n"},
    ),
    live_config(
        "anchors-csv-missing",
        _edited("anchors: anchors.csv", "anchors: missing.csv"),
        r"{live}:15:1: anchors: ",
    ),
    live_config(
        "assignment-file-missing",
        _edited("assignment_file: assessment/assignment.md", "assignment_file: missing.md"),
        r"{live}:8:3: assessment\.assignment_file: ",
    ),
    live_config(
        "criteria-file-empty",
        LIVE_TEXT,
        r"{livedir}/assessment/criteria\.md:1:1: ",
        "empty",
        files={"live/assessment/criteria.md": "\n\n"},
    ),
    live_config(
        "assessment-missing",
        live_text(("assessment:", "assessmnt:")),
        (r"{live}:4:1: assessment: ", r"{live}:7:1: assessmnt: "),
    ),
    live_config(
        "assignment-twice",
        _edited("  criteria_file:", "  assignment: Write.\n  criteria_file:"),
        r"{live}:8:3: assessment\.assignment_file: ",
        "not both",
    ),
    live_config(
        "essays-key-near-name",
        _edited("essays: essays", "essay: essays"),
        r"{live}:14:1: essay: ",
        "did you mean 'essays'",
    ),
    live_config(
        "caps-key-near-name",
        _edited("max_requests: 120", "max_request: 120"),
        r"{live}:27:3: caps\.max_request: ",
        "did you mean 'max_requests'",
    ),
    live_config(
        "provider-unknown", _edited("name: anthropic", "name: gemini"), r"{live}:18:3: provider\."
    ),
    live_config(
        "timeout-zero", _edited("timeout_s: 120", "timeout_s: 0"), r"{live}:20:3: provider\."
    ),
    live_config(
        "timeout-huge", _edited("timeout_s: 120", f"timeout_s: {HUGE}"), r"{live}:20:3: provider"
    ),
    live_config("metrics-port-70000", _edited("port: 0", "port: 70000"), r"{live}:37:1: metrics"),
    live_config("metrics-port-negative", _edited("port: 0", "port: -1"), r"{live}:37:1: metrics"),
    live_config("budget-1e12", _edited("budget: 45", "budget: 1000000000000"), r"{live}:21:1: bu"),
    live_config(
        "budget-true",
        _edited("budget: 45", "budget: true"),
        r"{live}:21:1: budget: ",
    ),
    live_config("seed-negative", _edited("seed: 42", "seed: -1"), r"{live}:6:1: seed: "),
    live_config("name-pattern", _edited("name: eng5_sample", "name: a b"), r"{live}:4:1: name: "),
    live_config(
        "price-negative",
        _edited(PRICE, "input_per_mtok: -1"),
        r"{live}:31:3: pricing\.input_per_mtok: ",
    ),
    live_config(
        "price-nan",
        _edited("output_per_mtok: 5.00", "output_per_mtok: .nan"),
        r"{live}:32:3: pricing\.output_per_mtok: ",
    ),
    live_config(
        "price-text", _edited(PRICE, "input_per_mtok: cheap"), r"{live}:31:3: pricing\.input_"
    ),
    live_config(
        "price-missing",
        _edited("  output_per_mtok: 5.00\n", ""),
        r"{live}:30:1: pricing\.output_per_mtok: ",
        "required",
    ),
    live_config(
        "pricing-number", _edited(PRICING_BLOCK, "pricing: 5\n"), r"{live}:30:1: pricing: "
    ),
    live_config(
        "cost-cap-without-pricing",
        _edited(PRICING_BLOCK, ""),
        r"{live}:28:3: caps\.max_cost_usd: ",
        "pricing",
    ),
    live_config(
        "cap-requests-zero", _edited("max_requests: 120", "max_requests: 0"), r"{live}:27:3: caps"
    ),
    live_config(
        "cap-wall-negative", _edited("max_wall_s: 1800", "max_wall_s: -1"), r"{live}:29:3: caps"
    ),
    live_config(
        "setting-negative",
        _edited("  QUEUE_PROCESSING_MODE: serial_bundle\n", "  LPS_WORKERS: -1\n"),
        r"{live}:23:3: settings\.LPS_WORKERS: ",
    ),
    live_config(
        "settings-two-problems",
        _edited(
            "  QUEUE_PROCESSING_MODE: serial_bundle\n  LLM_BATCHING_MODE: serial_bundle\n",
            "  LPS_WORKERS: -1\n  NOT_A_SETTING: 1\n",
        ),
        (r"{live}:23:3: settings\.LPS_WORKERS: ", r"{live}:24:3: settings\.NOT_A_SETTING: "),
    ),
    live_config("config-top-level-list", "- name: x\n", r"{live}:1:1: "),
    live_config("config-binary", ELF, r"{live}:1:1: ", "binary"),
    live_config(
        "out-of-an-earlier-run",
        LIVE_TEXT,
        r"{tmp}/out: --out: ",
        files={"out/run.json": "{}\n"},
    ),
    live_config("out-a-file", LIVE_TEXT, r"{tmp}/out: --out: ", files={"out": "mine"}),
    case(
        "config-out-a-file",
        ["live", "{live}", "--dry-run"],
        r"{live}:38:1: out: ",
        files={"live/eng5_sample.yaml": LIVE_TEXT + "out: taken\n", "live/taken": "mine"},
        live=True,
    ),
    case(
        "config-missing",
        ["live", "{tmp}/nope.yaml", "--dry-run", "--out", "{tmp}/out"],
        r"{tmp}/nope\.yaml:1:1: ",
    ),
    live_config("progress-unknown", LIVE_TEXT, r".*--progress", extra=["--progress", "fancy"]),
    live_config("max-requests-text", LIVE_TEXT, r".*--max-requests", extra=["--max-requests", "x"]),
    live_config("max-cost-nan", LIVE_TEXT, r"--max-cost-usd: ", extra=["--max-cost-usd", "nan"]),
    live_config(
        "max-cost-negative", LIVE_TEXT, r"--max-cost-usd: ", extra=["--max-cost-usd", "-1"]
    ),
    live_config("max-wall-zero", LIVE_TEXT, r"--max-wall-s: ", extra=["--max-wall-s", "0"]),
    live_config("retry-errors-alone", LIVE_TEXT, r"--retry-errors: ", extra=["--retry-errors"]),
    case("live-without-config", ["live", "--dry-run"], r"CONFIG: "),
    case(
        "resume-with-config",
        ["live", "{live}", "--resume", "{tmp}/stopped"],
        r"CONFIG: ",
        files=STOPPED_RUN,
        live=True,
    ),
    case(
        "resume-with-out",
        ["live", "--resume", "{tmp}/stopped", "--out", "{tmp}/o"],
        r"--out: ",
        files=STOPPED_RUN,
        live=True,
    ),
    case(
        "resume-with-dry-run",
        ["live", "--resume", "{tmp}/stopped", "--dry-run"],
        r"--dry-run: ",
        files=STOPPED_RUN,
        live=True,
    ),
    case(
        "resume-not-a-run",
        ["live", "--resume", "{tmp}/notarun"],
        r"{tmp}/notarun(/run\.json)?:( --resume:|1:1:) ",
        files={"notarun/notes.txt": "mine"},
    ),
    case(
        "resume-a-file",
        ["live", "--resume", "{tmp}/a-file"],
        r"{tmp}/a-file(/run\.json)?:( --resume:|1:1:) ",
        files={"a-file": "mine"},
    ),
    case(
        "resume-nothing-there",
        ["live", "--resume", "{tmp}/nope"],
        r"{tmp}/nope(/run\.json)?:( --resume:|1:1:) ",
    ),
    case(
        "resume-manifest-not-json",
        ["live", "--resume", "{tmp}/broken"],
        r"{tmp}/broken/run\.json:1:2: ",
        files={"broken/run.json": "{not json"},
    ),
    case(
        "resume-manifest-a-list",
        ["live", "--resume", "{tmp}/broken"],
        r"{tmp}/broken/run\.json:1:1: ",
        files={"broken/run.json": "[]\n"},
    ),
    case(
        "resume-manifest-nested-deep",
        ["live", "--resume", "{tmp}/broken"],
        r"{tmp}/broken/run\.json:1:\d+: ",
        files={"broken/run.json": "[" * 100_000 + "]" * 100_000},
    ),
    case(
        "resume-manifest-config-invalid",
        ["live", "--resume", "{tmp}/broken"],
        r"{tmp}/broken/run\.json:\d+:\d+: config\.budget: ",
        files={
            "broken/run.json": json.dumps(
                {**MANIFEST, "config": {**MANIFEST["config"], "budget": -1}}, indent=2
            )
        },
    ),
    case(
        "resume-manifest-missing-field",
        ["live", "--resume", "{tmp}/broken"],
        r"{tmp}/broken/run\.json:1:1: ",
        "run_id",
        files={"broken/run.json": json.dumps({k: v for k, v in MANIFEST.items() if k != "run_id"})},
    ),
    case(
        "resume-bad-variable",
        ["live", "--resume", "{tmp}/stopped"],
        r"CJSIM_LPS_WORKERS: ",
        files=STOPPED_RUN,
        env={"CJSIM_LPS_WORKERS": "0"},
        live=True,
    ),
    live_config(
        "variable-not-a-number",
        NO_BUDGET,
        r"CJSIM_MAX_PAIRWISE_COMPARISONS: ",
        env={"CJSIM_MAX_PAIRWISE_COMPARISONS": "abc"},
    ),
    live_config(
        "variable-near-name",
        LIVE_TEXT,
        r"CJSIM_MAX_PAIRWISE_COMPARISSONS: ",
        "did you mean CJSIM_MAX_PAIRWISE_COMPARISONS",
        env={"CJSIM_MAX_PAIRWISE_COMPARISSONS": "5"},
    ),
    live_config(
        "variable-out-of-range", LIVE_TEXT, r"CJSIM_LPS_WORKERS: ", env={"CJSIM_LPS_WORKERS": "0"}
    ),
    live_config(
        "variable-enum",
        NO_BUDGET,
        r"CJSIM_BUNDLE_FAILURE_POLICY: ",
        env={"CJSIM_BUNDLE_FAILURE_POLICY": "some"},
    ),
    live_config("variable-nan", LIVE_TEXT, r"CJSIM_BT_ALPHA: ", env={"CJSIM_BT_ALPHA": "nan"}),
    live_config(
        "variable-inf",
        LIVE_TEXT,
        r"CJSIM_BATCH_MONITOR_INTERVAL_S: ",
        env={"CJSIM_BATCH_MONITOR_INTERVAL_S": "inf"},
    ),
    case(
        "validate-live-settings",
        ["validate", "{live}"],
        r"{live}:23:3: settings\.LPS_WORKERS: ",
        files={
            "live/eng5_sample.yaml": _edited(
                "QUEUE_PROCESSING_MODE: serial_bundle", "LPS_WORKERS: 0"
            )
        },
        live=True,
    ),
]

CSV_BOM = "\ufeff" + "\n".join([*CSV_ROWS[:2], CSV_ROWS[2].replace(",C+,", ",Z,"), *CSV_ROWS[3:]])

ANCHORS = [
    anchors("csv-bom-bad-grade", CSV_BOM.encode(), r"{livedir}/anchors\.csv:3:22: grade: ", "'Z'"),
    anchors("csv-header", "path,mark\nanchors/anchor_a.txt,A\n", r"{livedir}/anchors\.csv:1:1: "),
    anchors("csv-empty-file", "", r"{livedir}/anchors\.csv:1:1: "),
    anchors("csv-header-only", "file,grade\n", r"{livedir}/anchors\.csv:\d+:1: ", "no anchors"),
    anchors(
        "csv-empty-file-name", "file,grade\n,A\n", r"{livedir}/anchors\.csv:2:1: file: ", "empty"
    ),
    anchors(
        "csv-missing-essay",
        "file,grade\nanchors/nope.txt,A\n",
        r"{livedir}/anchors\.csv:2:1: file: ",
    ),
    anchors(
        "csv-duplicate-ref",
        "file,grade,ref\nanchors/anchor_a.txt,A,r1\nanchors/anchor_c.txt,C+,r1\n",
        r"{livedir}/anchors\.csv:3:\d+: ref: ",
        "twice",
    ),
    anchors(
        "csv-every-bad-row",
        "file,grade\nanchors/anchor_a.txt,Z\n,A\nanchors/anchor_c.txt,Q\n",
        (
            r"{livedir}/anchors\.csv:2:22: grade: ",
            r"{livedir}/anchors\.csv:3:1: file: ",
            r"{livedir}/anchors\.csv:4:22: grade: ",
        ),
    ),
    anchors(
        "csv-latin-1",
        b"file,grade\nanchors/caf\xe9.txt,A\n",
        r"{livedir}/anchors\.csv:2:12: ",
    ),
    anchors("csv-binary", ELF, r"{livedir}/anchors\.csv:1:1: ", "binary"),
    anchors(
        "csv-unclosed-quote",
        'file,grade\n"anchors/anchor_a.txt,A\n',
        r"{livedir}/anchors\.csv:2:1: ",
        "quote",
    ),
]

# ------------------------------------------------------------------------------------------
# Traces, run folders and promotion
# ------------------------------------------------------------------------------------------

CALLBACKS = "trace/llm_callbacks.jsonl"
GOOD_LINE = CALLBACK_LINES[0]
COHORT = {
    "name": "sample",
    "seed": 1,
    "grade_scale": "eng5_np_legacy_9_step",
    "anchors": [],
    "students": [{"id": "s1", "words": 10}, {"id": "s2", "words": 10}],
    "provider": {"name": "openai", "model": "m", "reasoning_effort": None},
    "budget": 1,
    "settings": {},
}


def _trace(lines: list[str]) -> dict[str, str | bytes]:
    return {CALLBACKS: "\n".join(lines) + "\n"}


def _promotable(cohort: Any) -> dict[str, str | bytes]:
    text = cohort if isinstance(cohort, str) else json.dumps(cohort)
    return {**_trace([GOOD_LINE]), "trace/cohort.json": text}


TRACE_JSONL = r"{tmp}/trace/llm_callbacks\.jsonl"

TRACES = [
    case(
        "trace-missing",
        ["trace", "summarize", "{tmp}/nope"],
        r"{tmp}/nope:1:1: ",
    ),
    case(
        "trace-empty-folder",
        ["trace", "summarize", "{tmp}/trace"],
        TRACE_JSONL + ":1:1: ",
        files={"trace/notes.txt": "x"},
    ),
    case("trace-a-file", ["trace", "summarize", "{bad}"], r"{bad}:1:1: ", files={"bad.yaml": "x"}),
    case(
        "trace-bad-json",
        ["trace", "summarize", "{tmp}/trace"],
        TRACE_JSONL + ":2:2: ",
        files=_trace([GOOD_LINE, "{oops"]),
    ),
    case(
        "trace-not-an-envelope",
        ["trace", "summarize", "{tmp}/trace"],
        TRACE_JSONL + r":2:\d+: ",
        files=_trace([GOOD_LINE, "{}"]),
    ),
    case(
        "trace-a-list",
        ["trace", "summarize", "{tmp}/trace"],
        TRACE_JSONL + ":2:1: ",
        files=_trace([GOOD_LINE, "[1, 2]"]),
    ),
    case(
        "trace-nan-confidence",
        ["trace", "summarize", "{tmp}/trace"],
        TRACE_JSONL + r":2:\d+: ",
        files=_trace([GOOD_LINE, re.sub(r'"confidence":[0-9.]+', '"confidence":NaN', GOOD_LINE)]),
    ),
    case(
        "trace-latin-1",
        ["trace", "summarize", "{tmp}/trace"],
        TRACE_JSONL + r":\d+:\d+: ",
        files={CALLBACKS: (GOOD_LINE + "\n").encode() + b'{"caf\xe9": 1}\n'},
    ),
    case(
        "trace-binary",
        ["trace", "summarize", "{tmp}/trace"],
        TRACE_JSONL + ":1:1: ",
        files={CALLBACKS: ELF},
    ),
    case(
        "trace-named-pipe",
        ["trace", "summarize", "{tmp}/trace"],
        TRACE_JSONL + ":1:1: ",
        files={CALLBACKS: Fifo()},
    ),
    case(
        "trace-summary-not-json",
        ["trace", "summarize", "{tmp}/trace"],
        r"{tmp}/trace/summary\.json:1:\d+: ",
        files={**_trace([GOOD_LINE]), "trace/summary.json": "{nope"},
    ),
    case(
        "trace-published-not-json",
        ["trace", "summarize", "{tmp}/trace", "--check"],
        r"{tmp}/trace/published\.json:2:\d+: ",
        files={**_trace([GOOD_LINE]), "trace/published.json": "{\n  oops\n}\n"},
    ),
    case("promote-missing", ["promote", "{tmp}/nope"], r"{tmp}/nope:1:1: "),
    case(
        "promote-broken-trace",
        ["promote", "{tmp}/trace"],
        TRACE_JSONL + ":2:2: ",
        files=_trace([GOOD_LINE, "{oops"]),
    ),
    case(
        "promote-without-cohort",
        ["promote", "{tmp}/trace"],
        r"{tmp}/trace/cohort\.json:1:1: ",
        files=_trace([GOOD_LINE]),
    ),
    case(
        "promote-cohort-not-json",
        ["promote", "{tmp}/trace"],
        r"{tmp}/trace/cohort\.json:1:2: ",
        files=_promotable("{oops"),
    ),
    case(
        "promote-cohort-a-list",
        ["promote", "{tmp}/trace"],
        r"{tmp}/trace/cohort\.json:1:1: ",
        files=_promotable([]),
    ),
    case(
        "promote-cohort-without-name",
        ["promote", "{tmp}/trace"],
        r"{tmp}/trace/cohort\.json:1:1: ",
        "name",
        files=_promotable({k: v for k, v in COHORT.items() if k != "name"}),
    ),
    case(
        "promote-cohort-students-text",
        ["promote", "{tmp}/trace"],
        r"{tmp}/trace/cohort\.json:1:\d+: ",
        "students",
        files=_promotable({**COHORT, "students": "many"}),
    ),
    case(
        "promote-cohort-bad-name",
        ["promote", "{tmp}/trace"],
        r"{tmp}/trace/cohort\.json:1:\d+: ",
        "name",
        files=_promotable({**COHORT, "name": "a b!"}),
    ),
    case(
        "promote-out-a-folder",
        ["promote", "{tmp}/trace", "--out", "{tmp}/taken"],
        r"{tmp}/taken: --out: ",
        files={**_promotable(COHORT), "taken/keep.txt": "mine"},
    ),
]

RUN_FOLDER = "run_a"


def _run_folder(**files: Content) -> dict[str, Content]:
    return {f"{RUN_FOLDER}/{name}": content for name, content in files.items()}


COMPARE = [
    case(
        "compare-missing", ["compare", "{tmp}/a", "{tmp}/b"], (r"{tmp}/a:1:1: ", r"{tmp}/b:1:1: ")
    ),
    case(
        "compare-empty-folder",
        ["compare", "{tmp}/run_a", "{tmp}/run_a"],
        r"{tmp}/run_a/analysis\.json:1:1: ",
        files=_run_folder(**{"notes.txt": "x"}),
    ),
    case(
        "compare-analysis-not-json",
        ["compare", "{tmp}/run_a", "{tmp}/run_a"],
        r"{tmp}/run_a/analysis\.json:1:2: ",
        files=_run_folder(**{"analysis.json": "{oops", "report.json": "{}"}),
    ),
    case(
        "compare-analysis-a-list",
        ["compare", "{tmp}/run_a", "{tmp}/run_a"],
        r"{tmp}/run_a/analysis\.json:1:1: ",
        files=_run_folder(**{"analysis.json": "[]", "report.json": "{}"}),
    ),
    case(
        "compare-analysis-wrong-section",
        ["compare", "{tmp}/run_a", "{tmp}/run_a"],
        r"{tmp}/run_a/analysis\.json:1:\d+: ",
        files=_run_folder(
            **{"analysis.json": '{"error_rate_by_provider": "x"}', "report.json": "{}"}
        ),
    ),
    case(
        "compare-a-file",
        ["compare", "{bad}", "{bad}"],
        r"{bad}:1:1: ",
        files={"bad.yaml": "x"},
    ),
    case("diff-missing", ["diff", "{tmp}/a", "{tmp}/b"], (r"{tmp}/a:1:1: ", r"{tmp}/b:1:1: ")),
    case(
        "diff-bad-line",
        ["diff", "{tmp}/run_a", "{tmp}/run_a"],
        r"{tmp}/run_a/events\.jsonl:1:2: ",
        files=_run_folder(**{"events.jsonl": "{oops\n"}),
    ),
    case(
        "diff-a-list",
        ["diff", "{tmp}/run_a", "{tmp}/run_a"],
        r"{tmp}/run_a/events\.jsonl:1:1: ",
        files=_run_folder(**{"events.jsonl": "[1]\n"}),
    ),
    case(
        "diff-latin-1",
        ["diff", "{tmp}/run_a", "{tmp}/run_a"],
        r"{tmp}/run_a/events\.jsonl:\d+:\d+: ",
        files=_run_folder(**{"events.jsonl": b'{"kind": "caf\xe9"}\n'}),
    ),
    case(
        "diff-named-pipe",
        ["diff", "{tmp}/run_a", "{tmp}/run_a"],
        r"{tmp}/run_a/events\.jsonl:1:1: ",
        files=_run_folder(**{"events.jsonl": Fifo()}),
    ),
    case(
        "diff-binary",
        ["diff", "{tmp}/run_a", "{tmp}/run_a"],
        r"{tmp}/run_a/events\.jsonl:1:1: ",
        files=_run_folder(**{"events.jsonl": ELF}),
    ),
]

CORPUS = [
    *SYNTAX,
    *FIELDS,
    *NEAR_NAMES,
    *DUPLICATES,
    *OPTIONS,
    *LIVE,
    *ANCHORS,
    *TRACES,
    *COMPARE,
]


# ------------------------------------------------------------------------------------------
# The test
# ------------------------------------------------------------------------------------------


def _places(tmp_path: Path) -> dict[str, str]:
    return {
        "{bad}": str(tmp_path / "bad.yaml"),
        "{live}": str(tmp_path / "live" / "eng5_sample.yaml"),
        "{livedir}": str(tmp_path / "live"),
        "{storm}": str(SCENARIOS / "storm.yaml"),
        "{generic}": str(SCENARIOS / "profile_cj_generic.yaml"),
        "{tmp}": str(tmp_path),
    }


def _fill(text: str, places: dict[str, str], *, pattern: bool = False) -> str:
    for token, path in places.items():
        text = text.replace(token, re.escape(path) if pattern else path)
    return text


def _tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a digest of its content: what a refusal may not change."""

    def digest(path: Path) -> str:
        if path.is_dir():
            return "folder"
        if not path.is_file():  # a named pipe: reading it would wait forever
            return "special"
        return hashlib.sha256(path.read_bytes()).hexdigest()

    return {str(path.relative_to(root)): digest(path) for path in sorted(root.rglob("*"))}


def _prepare(case: Case, tmp_path: Path, places: dict[str, str]) -> None:
    if case.live:
        shutil.copytree(LIVE_EXAMPLE, tmp_path / "live")
    for name, content in case.files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Fifo):
            os.mkfifo(target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(_fill(content, places), encoding="utf-8", newline="")


@pytest.mark.parametrize("case", CORPUS)
def test_hostile_input_is_refused_where_it_is_wrong(case, cli, tmp_path, monkeypatch):
    places = _places(tmp_path)
    _prepare(case, tmp_path, places)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # a default output folder would land here, and be seen
    before = _tree(tmp_path)

    outcome = cli(*(_fill(arg, places) for arg in case.argv))

    assert outcome.work_started is None, f"{outcome.work_started} began before a refusal"
    assert not outcome.timed_out, f"neither refused nor started within {REFUSE_WITHIN_S} s"
    assert "Traceback" not in outcome.err + outcome.out, outcome.err
    assert outcome.code == 2, outcome.err
    if not outcome.err.startswith("usage:"):  # argparse's usage may wrap; problems may not
        assert not [line for line in outcome.err_lines if line[:1].isspace()], outcome.err
    lines = iter(outcome.err_lines)
    for index, pattern in enumerate(case.at):
        expected = _fill(pattern, places, pattern=True)
        hit = next((line for line in lines if re.match(expected, line)), None)
        assert hit is not None, f"no line (in order) matches {expected!r}:\n{outcome.err}"
        if index == 0:
            assert case.says in hit
    assert _tree(tmp_path) == before, "a refused command created or changed files"


def test_the_corpus_is_at_least_a_hundred_cases_across_every_command():
    commands = {param.values[0].argv[0] for param in CORPUS}
    assert len(CORPUS) >= 100
    assert commands >= {
        "run",
        "swarm",
        "validate",
        "schema",
        "trace",
        "compare",
        "diff",
        "live",
        "promote",
        "demo",
    }
