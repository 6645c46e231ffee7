"""The ``cjsim`` command line's grammar: every command, option and bound, and its help.

Bad arguments exit 2 with the usage and one line naming the option, with a "did you mean"
for a misspelt command or option. Counts are bounded here (``--seeds``, ``--workers``,
``--increments``) so that a typo cannot exhaust memory before the first seed starts.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from engine.seeds import SEED_MAX

__all__ = ["EXIT_BAD_INPUT", "INCREMENTS_MAX", "SEEDS_MAX", "WORKERS_MAX", "build_parser"]

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but bad arguments exit 2 with one line and the command's usage, and a
    misspelt command or option gets a "did you mean" (Python 3.11's argparse gives none)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}{self._near(message)}\n")

    def _near(self, message: str) -> str:
        if "invalid choice: " in message:
            given = message.split("invalid choice: ", 1)[1].split(" ", 1)[0].strip("'")
            choices = [a.choices for a in self._actions if isinstance(a.choices, dict)]
            names = [name for group in choices for name in group]
        elif message.startswith("unrecognized arguments: "):
            given = message.removeprefix("unrecognized arguments: ").split(" ", 1)[0]
            names = sorted(_option_strings(self))
        else:
            return ""
        near = difflib.get_close_matches(given, names, n=1, cutoff=0.6)
        return f" (did you mean {near[0]!r}?)" if near else ""


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every option of ``parser`` and of its subcommands."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action.choices, dict):
            for sub in action.choices.values():
                if isinstance(sub, argparse.ArgumentParser):
                    found |= _option_strings(sub)
    return found


def _seed(text: str) -> int:
    """A root seed from the command line: an integer in 0..2^64-1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..2^64-1")
    return value


def _count(low: int, high: int) -> Callable[[str], int]:
    """An integer option in ``low..high``: bounds keep a typo (``--seeds 10000000000``) from
    running for days or exhausting memory before the first seed starts."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low:,}..{high:,}")
        return value

    return parse


SEEDS_MAX = 1_000_000  # a swarm beyond this belongs on a cluster (issue 17), not one command
WORKERS_MAX = 256
INCREMENTS_MAX = 100_000


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cjsim",
        description="Deterministic simulation harness for an LLM-driven Comparative Judgement "
        "pipeline: the real engine, in virtual time, under faults, with invariants checked. "
        "With no command, runs the built-in demo.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="run one scenario and write its report",
        description="Run a scenario YAML with the real engine in virtual time. Prints a summary "
        "and writes DIR/report.json and DIR/events.jsonl. Exit 0 when the scenario's "
        "expectations hold, 1 when one fails (with the first event that broke it and the "
        "command that reproduces the run), 2 on bad input.",
    )
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    _common_run_arguments(run)
    run.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: runs/<scenario>-seed<N>)"
    )
    run.add_argument(
        "--swarm",
        action="store_true",
        help="run the seed's swarm variant (as `cjsim swarm` ran it)",
    )
    _no_html_argument(run)

    swarm = commands.add_parser(
        "swarm",
        help="run many seeds, each a fault storm of its own, and shrink the first failure",
        description="Run N seeds; each draws a storm: fault kinds from the whole catalogue at "
        "mild to storm intensity on top of the scenario's own faults, 1..8 concurrent batches, "
        "a scaled cohort, a jittered bus and random engine settings (`cjsim run FILE --seed S "
        "--swarm` replays one). A seed fails when an invariant breaks or the run crashes. "
        "Prints failing seeds with their reproduction commands, shrinks the first failure to a "
        "self-contained scenario in DIR, and ends with a summary table (how many seeds broke "
        "each invariant). Exit 0 only when every seed held; with --legacy the swarm measures "
        "the original system and exits 0 unless the harness itself failed.",
    )
    swarm.add_argument("scenario", type=Path, help="scenario YAML file")
    swarm.add_argument(
        "--seeds",
        type=_count(1, SEEDS_MAX),
        required=True,
        metavar="N",
        help=f"how many seeds (1..{SEEDS_MAX:,})",
    )
    swarm.add_argument(
        "--first-seed", type=_seed, default=1, metavar="S", help="first seed (default 1)"
    )
    _executor_arguments(swarm)
    swarm.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default: runs/swarm-<scenario>[-legacy])",
    )
    swarm.add_argument("--no-shrink", action="store_true", help="skip shrinking")
    _common_run_arguments(swarm, seed=False)

    sweep = commands.add_parser(
        "sweep",
        help="the validation plan over many seeds: arms side by side with bootstrap intervals",
        description="Run every scenario x arm x seed of a sweep file (scenarios, a grid of axes "
        "of settings or scenario fields, seeds, the report.json figures to compare; see "
        "scenarios/sweeps/). Rows are appended to DIR/parts/*.parquet as runs finish, with "
        "DIR/sweep.duckdb a view over them; running the same sweep again into the same folder "
        "skips the runs already recorded (resume), and Ctrl-C keeps every finished row. Prints "
        "each arm's mean with a 95%% bootstrap interval and, for pairs of arms, the paired "
        "difference over common seeds and how many seeds went each way. Exit 0 when every run "
        "held its invariants, 1 when one broke or crashed, 2 on bad input, 130 interrupted.",
    )
    sweep.add_argument("sweep_file", type=Path, metavar="SWEEP", help="sweep YAML file")
    sweep.add_argument(
        "--seeds",
        type=_count(1, SEEDS_MAX),
        metavar="N",
        help=f"seeds per arm, 1..{SEEDS_MAX:,} (default: the file's seeds.count)",
    )
    sweep.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: runs/sweep-<name>)"
    )
    _executor_arguments(sweep)

    validate = commands.add_parser(
        "validate", help="check scenario files and live configurations without running them"
    )
    validate.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="scenario YAML, or live run configuration (one that names its essays)",
    )

    schema = commands.add_parser(
        "schema",
        help="print (or write) the JSON Schemas, for editors and validators",
        description="Print the JSON Schema of scenario files, or with --live of live run "
        "configurations, or with --sweep of sweep files. With --write DIR, write all three "
        "(scenario.schema.json, live.schema.json, sweep.schema.json) into DIR, as shipped in "
        "schemas/. A YAML file that opens with `# yaml-language-server: $schema=PATH` gets "
        "completion and checking in editors.",
    )
    which = schema.add_mutually_exclusive_group()
    which.add_argument(
        "--live", action="store_true", help="the schema of a live configuration instead"
    )
    which.add_argument("--sweep", action="store_true", help="the schema of a sweep file instead")
    schema.add_argument(
        "--write", type=Path, metavar="DIR", help="write every schema file into DIR"
    )

    trace = commands.add_parser("trace", help="work with recorded traces")
    trace_commands = trace.add_subparsers(
        dest="trace_command", metavar="ACTION", parser_class=_Parser, required=True
    )
    summarize = trace_commands.add_parser(
        "summarize",
        help="recompute a trace's summary.json",
        description="Recompute the original summariser's figures for a trace folder and print "
        "them as a table (--json: as JSON). With --check, compare them with the folder's "
        "summary.json and published.json (if any) and exit 1 on a difference.",
    )
    summarize.add_argument("folder", type=Path, help="trace folder (holds llm_callbacks.jsonl)")
    summarize.add_argument(
        "--check", action="store_true", help="compare with summary.json and published.json"
    )
    summarize.add_argument(
        "--json", action="store_true", help="print the summary as JSON instead of a table"
    )

    compare = commands.add_parser(
        "compare",
        help="the validation plan of two runs, side by side",
        description="Print the task document's validation plan for two `cjsim run` output "
        "folders side by side: provider error rates by provider and error type, A/B positions "
        "of anchors and students, completion logs against the store's counts, callback "
        "dispositions and queue outcomes. For example, one scenario run with "
        "--set QUEUE_PROCESSING_MODE=per_request and again with serial_bundle.",
    )
    compare.add_argument("run_a", type=Path, metavar="RUN_A", help="run folder A")
    compare.add_argument("run_b", type=Path, metavar="RUN_B", help="run folder B")

    report = commands.add_parser(
        "report",
        help="write a run's HTML page, or the comparison page of several runs",
        description="Write one self-contained HTML file (charts and their tables, no network "
        "needed; it prints well and reads without JavaScript). One RUN_DIR gives its run page: "
        "verdict, ranking with intervals, projected grades and misfit, scores, win rates, A/B "
        "positions, a timeline with fault windows, latencies, callbacks and cost. Two or more "
        "give the comparison page: headline figures side by side with their differences, "
        "timelines on one axis, rankings joined with Kendall tau. Never writes over a file: "
        "the default (RUN_DIR/report.html, or compare-A-vs-B.html next to the first run) "
        "moves to the next free name when taken.",
    )
    report.add_argument(
        "runs", type=Path, nargs="+", metavar="RUN_DIR", help="`cjsim run`/`live` output folder"
    )
    report.add_argument("--out", type=Path, metavar="FILE.html", help="the file to write (new)")

    show = commands.add_parser(
        "show",
        help="print a run's headline figures and ranking",
        description="Print a run folder's verdict and headline figures, then its ranking: "
        "rank, essay, anchor grade, BT score with its 95%% interval, projected grade and "
        "confidence, read from the run's outcomes.duckdb.",
    )
    show.add_argument("run", type=Path, metavar="RUN_DIR", help="`cjsim run`/`live` output folder")

    diff = commands.add_parser(
        "diff",
        help="the first event at which two runs' event logs diverge",
        description="Walk two runs' events.jsonl in step and name the first event at which "
        "they differ, with the fields that changed. Exit 0 when the logs are identical, 1 when "
        "they diverge.",
    )
    diff.add_argument("run_a", type=Path, metavar="RUN_A", help="run folder A")
    diff.add_argument("run_b", type=Path, metavar="RUN_B", help="run folder B")

    live = commands.add_parser(
        "live",
        help="run the engine for real: a real provider, a real database, recorded",
        description="Judge a folder of essays (and CSV-listed graded anchors) with Anthropic or "
        "OpenAI through the real engine, on a real clock, storing state in SQLite (default) or "
        "PostgreSQL. Before the first comparison, one free call checks the key, the model and "
        "the endpoint. Hard caps on requests, estimated cost and wall time are checked before "
        "every call. Every callback is recorded into DIR/trace as it arrives; at the end DIR "
        "holds report.json and the DuckDB analysis, as a simulated run does. A folder that "
        "holds a run is never overwritten: continue that run with --resume DIR. API keys come "
        "from ANTHROPIC_API_KEY / OPENAI_API_KEY and never reach a file. Ctrl-C (or a cap) "
        "stops sending and lets calls in flight finish; the run can then be resumed. A second "
        "Ctrl-C stops waiting. Exit codes: 0 the batch completed and every invariant held; 1 "
        "an invariant failed; 2 bad input, configuration or preflight; 100 the batch ended "
        "FAILED, or a cap or Ctrl-C stopped it before it finished.",
    )
    live.add_argument(
        "config", type=Path, nargs="?", help="live run configuration YAML (not with --resume)"
    )
    live.add_argument(
        "--dry-run",
        action="store_true",
        help="run the whole flow against the mock provider: no key, no network, no cost",
    )
    live.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder, which must not hold another run (default: the config's out, "
        "else runs/live-<name>, or runs/live-<name>-dry-run for a dry run)",
    )
    live.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue the interrupted run in RUN_DIR: what was judged is kept and not paid "
        "again, what was in flight is sent again once; caps count the whole run",
    )
    live.add_argument(
        "--retry-errors",
        action="store_true",
        help="with --resume: compare again, within the budget, the comparisons that ended in "
        "error (only while the batch is open)",
    )
    live.add_argument(
        "--skip-preflight",
        action="store_true",
        help="do not check the key, model and endpoint before the first comparison",
    )
    live.add_argument(
        "--progress",
        choices=("auto", "rich", "plain", "none"),
        default="auto",
        help="progress display: a bar on a terminal (rich), one line per wave or 30 s "
        "(plain: the default when stderr is not a terminal or CI is set), or none",
    )
    _no_html_argument(live)
    live.add_argument(
        "--max-requests", type=int, metavar="N", help="override caps.max_requests (whole run)"
    )
    live.add_argument(
        "--max-cost-usd", type=float, metavar="USD", help="override caps.max_cost_usd (whole run)"
    )
    live.add_argument(
        "--max-wall-s", type=float, metavar="S", help="override caps.max_wall_s (this session)"
    )

    promote = commands.add_parser(
        "promote",
        help="write a scenario that replays a live run's trace",
        description="Turn a live run's trace folder into a scenario YAML whose simulated "
        "provider answers recorded pairs as recorded. Default output: replay_<name>.yaml next "
        "to the trace folder.",
    )
    promote.add_argument("trace", type=Path, metavar="TRACE_DIR", help="a live run's trace folder")
    promote.add_argument("--out", type=Path, metavar="FILE", help="scenario file to write")

    demo = commands.add_parser(
        "demo",
        help="run the built-in demo: concurrent counter updates with and without a row lock",
        description="Sixty-four concurrent read-increment-write transactions on the simulated "
        "store, first without a row lock (updates are lost), then with one (none are).",
    )
    demo.add_argument("--seed", type=_seed, default=42, help="root seed (default: 42)")
    demo.add_argument(
        "--increments",
        type=_count(1, INCREMENTS_MAX),
        default=64,
        help=f"concurrent increments per counter, 1..{INCREMENTS_MAX:,} (default: 64)",
    )
    return parser


def _dask_address(text: str) -> str:
    """A scheduler's address (``tcp://host:port``, ``host:port``...) or ``local:N``."""
    if text.startswith("local:"):
        count = text.removeprefix("local:")
        if not count.isdigit() or not 1 <= int(count) <= WORKERS_MAX:
            raise argparse.ArgumentTypeError(
                f"local:N needs N, the local workers, in 1..{WORKERS_MAX} (got {text!r})"
            )
        return f"local:{int(count)}"
    if not re.fullmatch(r"([a-z]+://)?[^\s/:]+(:\d{1,5})?", text):
        raise argparse.ArgumentTypeError(
            f"not a Dask scheduler address (tcp://HOST:PORT) or local:N: {text!r}"
        )
    return text


def _executor_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=_count(1, WORKERS_MAX),
        default=os.cpu_count() or 1,
        metavar="K",
        help=f"local worker processes, 1..{WORKERS_MAX} (default: CPU count; 1 runs here)",
    )
    where.add_argument(
        "--dask",
        type=_dask_address,
        metavar="ADDRESS",
        help="run on Dask distributed (cjsim[dask]): a scheduler's address (tcp://host:8786), "
        "or local:N for a local cluster of N worker processes",
    )


def _no_html_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-html",
        dest="html",
        action="store_false",
        help="do not write report.html (the run's page; `cjsim report DIR` writes it later)",
    )


def _common_run_arguments(parser: argparse.ArgumentParser, *, seed: bool = True) -> None:
    if seed:
        parser.add_argument(
            "--seed", type=_seed, help="root seed, 0..2^64-1 (default: the scenario's)"
        )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an engine setting (UPPER_CASE, e.g. "
        "LEGACY_COUNTERS_WITHOUT_LOCK=true) or a scenario field "
        "(dotted, e.g. run.liveness_s=3600); repeatable",
    )
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="run with the original system's behaviour: every fix's legacy "
        "toggle on (or the scenario's own `legacy:` settings)",
    )
