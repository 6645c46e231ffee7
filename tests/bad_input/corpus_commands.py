"""Hostile command lines: the options of run, swarm and demo; traces, run folders and
promotion.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.bad_input.corpus_cases import (
    CALLBACK_LINES,
    ELF,
    Content,
    Fifo,
    case,
)

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
