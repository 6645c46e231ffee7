"""What each ``cjsim`` command does, once ``sim/commands/cli.py`` has parsed its arguments.

Kept apart from the entry point so that ``cjsim --help`` (and a mistyped option) answers
without importing the harness, the engine or their libraries. The wall clock reaches the
commands that time what they run as ``wall_clock``, from ``sim/commands/cli.py``: no module here
reads it.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from engine.seeds import SEED_MAX
from sim.commands.cli_parser import EXIT_BAD_INPUT
from sim.commands.out_folder import OutputTaken

# The simulation, its analysis and their libraries (DuckDB, SciPy), the live configuration and
# the comparison of run folders load in the commands that use them: `cjsim validate` and
# `cjsim compare` answer without the simulation, and `cjsim run` without the live side.

__all__ = ["BAD_INPUT", "dispatch", "is_bad_input"]

EXIT_OK, EXIT_FAILED = 0, 1


def _demo(seed: int, increments: int) -> int:
    from sim.commands.demo import run_demo

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


def _note_ignored_settings() -> None:
    """A simulated run depends on its scenario and seed only, so ``CJSIM_<SETTING>`` variables
    (which a live run reads) do not reach it: say so rather than let one seem to be obeyed."""
    from engine.live.environment import setting_variables
    from engine.settings import Settings

    for setting, (variable, _) in setting_variables(os.environ).items():
        if setting in Settings.model_fields:
            print(
                f"cjsim: note: {variable} is ignored: a simulated run depends on its scenario "
                f"and seed only (use --set {setting}=... instead)",
                file=sys.stderr,
            )


def _run(args: argparse.Namespace, wall_clock: Callable[[], float]) -> int:
    from tqdm import tqdm

    from engine.eventlog import LogRecord
    from sim.commands.run_command import RunRequest, run_command

    _note_ignored_settings()
    request = RunRequest(
        path=args.scenario,
        seed=args.seed,
        overrides=tuple(args.overrides),
        out=args.out,
        legacy=args.legacy,
        swarm=args.swarm,
        html=args.html,
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
            wall_clock=wall_clock,
            out=sys.stdout,
            progress=None if bar.disable else progress,
        )
    finally:
        bar.close()


def _sweep(args: argparse.Namespace) -> int:
    from sim.commands.sweep_command import SweepRequest, sweep_command
    from sim.harness.executors import executor_for

    request = SweepRequest(path=args.sweep_file, out=args.out, seeds=args.seeds)
    executor = executor_for(workers=args.workers, dask=args.dask)
    check = getattr(executor, "check", None)
    if check is not None:  # a scheduler that does not answer, before any output is written
        check()
    return sweep_command(request, executor=executor, out=sys.stdout, progress=_progress)


def _live(args: argparse.Namespace) -> int:
    from engine.live.progress import ProgressDisplay
    from engine.live.session import run_live
    from sim.commands.live_command import write_live_results
    from sim.commands.live_start import live_session

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
    return write_live_results(run, sys.stdout, html=args.html)


def _progress(items: Iterable[Any], total: int) -> Iterable[Any]:
    from tqdm import tqdm

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


def _swarm(args: argparse.Namespace, wall_clock: Callable[[], float]) -> int:
    _note_ignored_settings()
    from sim.commands.swarm_command import SwarmRequest, swarm_command

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
        dask=args.dask,
    )
    return swarm_command(request, wall_clock=wall_clock, out=sys.stdout, progress=_progress)


def _schema(*, live: bool, sweep: bool, folder: Path | None) -> int:
    from sim.commands.schemas import (
        SCHEMA_FILES,
        live_schema,
        scenario_schema,
        schema_text,
        sweep_schema,
        write_schemas,
    )

    if folder is None:
        make = live_schema if live else sweep_schema if sweep else scenario_schema
        print(schema_text(make()), end="")
        return EXIT_OK
    if folder.exists() and not folder.is_dir():
        raise OutputTaken(f"{folder}: --write: exists and is not a folder")
    for name in SCHEMA_FILES:
        if (folder / name).exists() and not (folder / name).is_file():
            raise OutputTaken(f"{folder / name}: --write: exists and is not a file")
    for path in write_schemas(folder):
        print(f"wrote {path}")
    return EXIT_OK


def _head(file: Path) -> Any:
    """The file's YAML, or None when it cannot be read (the loader will say why)."""
    from engine.located_yaml import LocatedYamlError, read_text, read_yaml
    from sim.harness.scenario import ScenarioError

    try:
        return read_yaml(read_text(file, ScenarioError), str(file)).data
    except (ScenarioError, LocatedYamlError):
        return None


def _is_sweep(file: Path) -> bool:
    """A sweep file names its axes or its scenarios; a scenario never does."""
    head = _head(file)
    return isinstance(head, dict) and ("axes" in head or "scenarios" in head)


def _is_live_config(file: Path) -> bool:
    """A live configuration names its essays; a scenario never does. Unreadable files are left
    to the scenario loader, which says what is wrong with them."""
    head = _head(file)
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
    if _is_sweep(file):
        from sim.harness.sweep_spec import load_sweep, runs

        sweep = load_sweep(file)
        return f"{file}: ok (sweep {sweep.name}, {sum(1 for _ in runs(sweep, file))} runs)"
    from sim.harness.scenario_file import load_scenario

    scenario = load_scenario(file)
    faults = len(scenario.faults)
    return f"{file}: ok ({scenario.name}, {faults} fault{'' if faults == 1 else 's'})"


def _validate(files: Sequence[Path]) -> int:
    worst = EXIT_OK
    for file in files:
        try:
            print(_validate_one(file))
        except Exception as exc:
            if not is_bad_input(exc):
                raise
            print(exc, file=sys.stderr)
            worst = EXIT_BAD_INPUT
    return worst


#: Errors of the user's input (one located line each, exit 2), by the module that defines each.
BAD_INPUT = (
    ("sim.harness.scenario", "ScenarioError"),
    ("engine.traces", "TraceError"),
    ("sim.reports.compare", "RunFolderError"),
    ("engine.live.config", "LiveConfigError"),
    ("engine.store.errors", "StoreError"),
    ("sim.commands.out_folder", "OutputTaken"),
    ("sim.harness.dask_executor", "DaskError"),
)


def is_bad_input(exc: BaseException) -> bool:
    """Whether ``exc`` is one of ``BAD_INPUT``. Only the modules already loaded are asked: an
    error whose module was never imported cannot have been raised, and importing the live
    configuration (~1 s) to learn that a scenario's error is not one of its own would slow
    every command that fails."""
    for module_name, type_name in BAD_INPUT:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, type_name)):
            return True
    return False


def dispatch(
    args: argparse.Namespace, argv: Sequence[str] | None, *, wall_clock: Callable[[], float]
) -> int:
    """Run the command ``args`` name; its exit code. Bad input raises one of ``BAD_INPUT``
    (``is_bad_input``)."""
    if args.command in (None, "demo"):
        return _demo(getattr(args, "seed", 42), getattr(args, "increments", 64))
    if args.command == "run":
        if argv is None:  # the process's own command line, not a caller in-process
            _set_start_up_aside()
        return _run(args, wall_clock)
    if args.command == "swarm":
        return _swarm(args, wall_clock)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "validate":
        return _validate(args.files)
    if args.command == "trace":
        from sim.commands.trace_command import trace_summarize

        return trace_summarize(args.folder, check=args.check, as_json=args.json, out=sys.stdout)
    if args.command == "live":
        return _live(args)
    if args.command == "promote":
        from sim.commands.promote import promote

        target = promote(args.trace, args.out)
        print(f"wrote {target}")
        print(f"  run it: cjsim run {target}")
        return EXIT_OK
    if args.command == "compare":
        from sim.reports.compare import compare_runs

        print(compare_runs(args.run_a, args.run_b), end="")
        return EXIT_OK
    if args.command == "report":
        from sim.commands.report_command import report_command

        report_command(args.runs, args.out, sys.stdout)
        return EXIT_OK
    if args.command == "show":
        from sim.commands.report_command import show_command

        show_command(args.run, sys.stdout)
        return EXIT_OK
    if args.command == "diff":
        from sim.reports.compare import first_divergence, render_divergence

        divergence = first_divergence(args.run_a, args.run_b)
        print(render_divergence(divergence, args.run_a, args.run_b), end="")
        return EXIT_OK if divergence is None else EXIT_FAILED
    if args.command == "schema":
        return _schema(live=args.live, sweep=args.sweep, folder=args.write)
    raise AssertionError(f"unhandled command {args.command!r}")
