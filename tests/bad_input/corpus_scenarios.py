"""Hostile scenario files: syntax and encodings, every level and kind of field, near names,
duplicate keys.
"""

from __future__ import annotations

from tests.bad_input.corpus_cases import (
    CALLBACK_LINES,
    ELF,
    HUGE,
    Fifo,
    case,
    scenario,
)

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
