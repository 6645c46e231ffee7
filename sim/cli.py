"""The ``cjsim`` command.

This is the one module of the harness allowed to read the wall clock: it times what it runs
for the user (``wall_seconds``), outside the event log. Exit codes: 0 when a run meets its
expectations, 1 when one fails, 2 on bad input (one located line, no traceback).
"""

from __future__ import annotations

import argparse
import difflib
import gc
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from engine.eventlog import LogRecord
from engine.live.config import LiveConfigError
from engine.located_yaml import LocatedYamlError, read_text, read_yaml
from engine.randomness import SEED_MAX
from engine.store.errors import StoreError
from engine.traces import TraceError
from sim.compare import RunFolderError, compare_runs, first_divergence, render_divergence
from sim.demo import run_demo
from sim.out_folder import OutputTaken
from sim.promote import promote
from sim.run_command import RunRequest, run_command
from sim.scenario import ScenarioError
from sim.scenario_file import load_scenario

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


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


def _build_parser() -> argparse.ArgumentParser:
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
    swarm.add_argument(
        "--workers",
        type=_count(1, WORKERS_MAX),
        default=os.cpu_count() or 1,
        metavar="K",
        help=f"worker processes, 1..{WORKERS_MAX} (default: CPU count)",
    )
    swarm.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default: runs/swarm-<scenario>[-legacy])",
    )
    swarm.add_argument("--no-shrink", action="store_true", help="skip shrinking")
    _common_run_arguments(swarm, seed=False)

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
        "configurations. With --write DIR, write both (scenario.schema.json, "
        "live.schema.json) into DIR, as shipped in schemas/. A YAML file that opens with "
        "`# yaml-language-server: $schema=PATH` gets completion and checking in editors.",
    )
    schema.add_argument(
        "--live", action="store_true", help="the schema of a live configuration instead"
    )
    schema.add_argument(
        "--write", type=Path, metavar="DIR", help="write both schema files into DIR"
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


def _demo(seed: int, increments: int) -> int:
    result = run_demo(seed=seed, increments=increments)
    print(f"cjsim demo (seed {result.seed}): {result.increments} concurrent increments per counter")
    print(
        f"  without row lock: {result.without_lock:>4} / {result.increments}"
        f"  ({result.increments - result.without_lock} lost updates)"
    )
    print(f"  with row lock:    {result.with_lock:>4} / {result.increments}")
    print(f"  virtual time {result.virtual_seconds:.3f} s, {result.events} events")
    print(f"  fingerprint {result.fingerprint}")
    return EXIT_OK


def _set_start_up_aside() -> None:
    """``cjsim run`` runs once per process, and what start-up built (imported libraries,
    parsers) lives until exit. One collection of start-up's garbage, then ``gc.freeze``, keeps
    every full collection during the simulation from walking those objects again: a full
    collection landing inside a short run cost a third of its wall time. Start-up is not the
    simulation's time, and the simulation's own objects are collected as before."""
    gc.collect()
    gc.freeze()


def _run(args: argparse.Namespace) -> int:
    request = RunRequest(
        path=args.scenario,
        seed=args.seed,
        overrides=tuple(args.overrides),
        out=args.out,
        legacy=args.legacy,
        swarm=args.swarm,
    )
    bar = tqdm(
        total=None, unit="cmp", desc="comparisons", file=sys.stderr, disable=None, leave=False
    )

    def progress(record: LogRecord) -> None:
        """The bar follows the run's comparisons and its virtual clock."""
        if record.kind == "cj.batch.created":
            bar.total = (bar.total or 0) + int(record.fields.get("budget") or 0)
        elif record.kind == "cj.callback.applied":
            bar.update(1)
            bar.set_postfix_str(f"virtual {record.t:,.0f} s", refresh=False)

    try:
        return run_command(
            request,
            wall_clock=time.perf_counter,
            out=sys.stdout,
            progress=None if bar.disable else progress,
        )
    finally:
        bar.close()


def _live(args: argparse.Namespace) -> int:
    from engine.live.progress import ProgressDisplay
    from engine.live.session import run_live
    from sim.live_command import write_live_results
    from sim.live_start import live_session

    config, plan = live_session(args)
    cohort = plan.cohort
    mode = (
        "mock (dry run)"
        if plan.manifest.dry_run
        else f"{config.provider.name} {config.provider.model}"
    )
    if plan.resuming:
        print(f"cjsim live --resume {plan.folder}: session {plan.number}, {mode}")
    else:
        essays = 0 if cohort is None else len(cohort.students) + len(cohort.anchors)
        print(f"cjsim live {args.config}: {essays} essays, {mode}, output {plan.folder}")
    display = ProgressDisplay(args.progress, sys.stderr)
    try:
        run = run_live(config, plan, progress=display.update, notice=display.notice)
    finally:
        display.close()
    return write_live_results(run, sys.stdout)


def _progress(items: Iterable[Any], total: int) -> Iterable[Any]:
    bar: Iterable[Any] = tqdm(
        items,
        total=total,
        desc="seeds",
        unit="seed",
        file=sys.stderr,
        disable=None,
        dynamic_ncols=True,
    )
    return bar


def _swarm(args: argparse.Namespace) -> int:
    from sim.swarm_command import SwarmRequest, swarm_command

    if args.first_seed + args.seeds - 1 > SEED_MAX:
        print(
            f"cjsim swarm: error: --seeds: seeds {args.first_seed}.. would pass 2^64-1",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    request = SwarmRequest(
        path=args.scenario,
        seeds=range(args.first_seed, args.first_seed + args.seeds),
        workers=args.workers,
        overrides=tuple(args.overrides),
        out=args.out,
        legacy=args.legacy,
        shrink=not args.no_shrink,
    )
    return swarm_command(request, wall_clock=time.perf_counter, out=sys.stdout, progress=_progress)


def _schema(*, live: bool, folder: Path | None) -> int:
    from sim.schemas import (
        LIVE_SCHEMA_FILE,
        SCENARIO_SCHEMA_FILE,
        live_schema,
        scenario_schema,
        schema_text,
        write_schemas,
    )

    if folder is None:
        print(schema_text(live_schema() if live else scenario_schema()), end="")
        return EXIT_OK
    if folder.exists() and not folder.is_dir():
        raise OutputTaken(f"{folder}: --write: exists and is not a folder")
    for name in (SCENARIO_SCHEMA_FILE, LIVE_SCHEMA_FILE):
        if (folder / name).exists() and not (folder / name).is_file():
            raise OutputTaken(f"{folder / name}: --write: exists and is not a file")
    for path in write_schemas(folder):
        print(f"wrote {path}")
    return EXIT_OK


def _is_live_config(file: Path) -> bool:
    """A live configuration names its essays; a scenario never does. Unreadable files are left
    to the scenario loader, which says what is wrong with them."""
    try:
        head = read_yaml(read_text(file, ScenarioError), str(file)).data
    except (ScenarioError, LocatedYamlError):
        return False
    return isinstance(head, dict) and "essays" in head


def _validate_one(file: Path) -> str:
    """One line saying what ``file`` is; raises the loader's located error."""
    if _is_live_config(file):
        from engine.live.cohort import load_cohort
        from engine.live.config import load_live_config

        config, base_dir = load_live_config(file)
        cohort = load_cohort(config, base_dir, config_file=file)
        essays = len(cohort.students) + len(cohort.anchors)
        return f"{file}: ok (live configuration {config.name}, {essays} essays)"
    scenario = load_scenario(file)
    return f"{file}: ok ({scenario.name}, {len(scenario.faults)} faults)"


def _validate(files: Sequence[Path]) -> int:
    worst = EXIT_OK
    for file in files:
        try:
            print(_validate_one(file))
        except BAD_INPUT as exc:
            print(exc, file=sys.stderr)
            worst = EXIT_BAD_INPUT
    return worst


#: Errors of the user's input: one located line each, exit 2.
BAD_INPUT = (ScenarioError, TraceError, RunFolderError, LiveConfigError, StoreError, OutputTaken)


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        return _dispatch(args, argv)
    except BAD_INPUT as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `cjsim ... | head`: the reader has what it wanted
        # Python would complain again while flushing stdout at exit; point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception:  # a bug of ours: the traceback is for us, and the user is told so
        traceback.print_exc()
        print(
            "cjsim: internal error: the traceback above is a bug in cjsim, not a problem with "
            "your input; please report it with the command you ran",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _dispatch(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    if args.command in (None, "demo"):
        return _demo(getattr(args, "seed", 42), getattr(args, "increments", 64))
    if args.command == "run":
        if argv is None:  # the process's own command line, not a caller in-process
            _set_start_up_aside()
        return _run(args)
    if args.command == "swarm":
        return _swarm(args)
    if args.command == "validate":
        return _validate(args.files)
    if args.command == "trace":
        from sim.trace_command import trace_summarize

        return trace_summarize(args.folder, check=args.check, as_json=args.json, out=sys.stdout)
    if args.command == "live":
        return _live(args)
    if args.command == "promote":
        target = promote(args.trace, args.out)
        print(f"wrote {target}")
        print(f"  run it: cjsim run {target}")
        return EXIT_OK
    if args.command == "compare":
        print(compare_runs(args.run_a, args.run_b), end="")
        return EXIT_OK
    if args.command == "diff":
        divergence = first_divergence(args.run_a, args.run_b)
        print(render_divergence(divergence, args.run_a, args.run_b), end="")
        return EXIT_OK if divergence is None else EXIT_FAILED
    if args.command == "schema":
        return _schema(live=args.live, folder=args.write)
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
