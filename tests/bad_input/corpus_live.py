"""Hostile live runs: configuration, essays, anchors, options, environment, resume."""

from __future__ import annotations

import json

import yaml

from tests.bad_input.corpus_cases import (
    ANCHORS_TEXT,
    ELF,
    HUGE,
    LIVE_TEXT,
    anchors,
    case,
    live_at,
    live_config,
    live_text,
)

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
    live_config(
        "setting-lower-case",
        _edited(
            "  QUEUE_PROCESSING_MODE: serial_bundle\n", "  queue_processing_mode: serial_bundle\n"
        ),
        r"{live}:23:3: settings\.queue_processing_mode: ",
        "did you mean 'QUEUE_PROCESSING_MODE'",
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
