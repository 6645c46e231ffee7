"""Everything ``cjsim live`` checks before a session may start, in the order a user needs it.

Bad options, a bad configuration, a folder that holds another run, a missing key and a provider
that cannot serve the run (the preflight) all end here, as one line and exit 2, before anything
is written and before any comparison is sent: a mistake costs neither a folder nor money.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pydantic import ValidationError

from engine.live.cohort import load_cohort
from engine.live.config import LiveConfig, LiveConfigError, load_live_config, settings_problems
from engine.live.database import unreachable_database
from engine.live.providers import check_provider
from engine.live.run_folder import refuse_taken_folder
from engine.live.session import SessionPlan
from engine.located_yaml import place
from sim.commands.live_command import prepare_new_run, prepare_resume

__all__ = ["live_session"]


def _with_caps(config: LiveConfig, args: argparse.Namespace) -> LiveConfig:
    """The configuration with the command line's cap overrides, validated as the file's are."""
    changes = {
        name: value
        for name in ("max_requests", "max_cost_usd", "max_wall_s")
        if (value := getattr(args, name, None)) is not None
    }
    if not changes:
        return config
    data = config.model_dump(mode="json")
    data["caps"] = {**data["caps"], **changes}
    try:
        return LiveConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][-1]).replace("_", "-") if first["loc"] else "caps"
        raise LiveConfigError(f"{option}: {first['msg'].removeprefix('Value error, ')}") from None


def _default_folder(config: LiveConfig, base_dir: Path, *, dry_run: bool) -> Path:
    if config.out:
        return base_dir / config.out
    return Path("runs") / f"live-{config.name}{'-dry-run' if dry_run else ''}"


def live_session(args: argparse.Namespace) -> tuple[LiveConfig, SessionPlan]:
    """The configuration and plan of the session ``args`` ask for; ``LiveConfigError`` (one
    line, exit 2) for anything that stops it from starting."""
    if args.resume is not None:
        for given, option in ((args.config, "CONFIG"), (args.out, "--out")):
            if given is not None:
                raise LiveConfigError(
                    f"{option}: not with --resume: a resumed run keeps its configuration "
                    "and folder (caps can be raised with --max-requests, --max-cost-usd, "
                    "--max-wall-s)"
                )
        if args.dry_run:
            raise LiveConfigError("--dry-run: not with --resume: a run keeps its provider")
        config, plan = prepare_resume(args.resume, retry_errors=args.retry_errors)
        problems = settings_problems(config, None, str(args.resume / "run.json"), os.environ)
        if problems:  # the environment may have changed since the run began
            raise LiveConfigError("\n".join(problems))
        config = _with_caps(config, args)
        if not (args.skip_preflight or plan.manifest.dry_run):
            check_provider(config)
        return config, plan
    if args.retry_errors:
        raise LiveConfigError("--retry-errors: only with --resume RUN_DIR")
    if args.config is None:
        raise LiveConfigError("CONFIG: a live run needs a configuration file, or --resume RUN_DIR")
    config, base_dir = load_live_config(args.config)
    config = _with_caps(config, args)
    cohort = load_cohort(config, base_dir, config_file=args.config)
    folder = args.out or _default_folder(config, base_dir, dry_run=args.dry_run)
    named_by = None
    if args.out is None and config.out:  # the configuration chose the folder: say where
        named_by = f"{place(args.config, ('out',))}: out"
    refuse_taken_folder(folder, named_by=named_by)
    if not (args.skip_preflight or args.dry_run or config.provider.name == "mock"):
        check_provider(config)
    if config.database is not None:  # before the folder is claimed: a dead server is one line
        problem = unreachable_database(config.database)
        if problem is not None:
            raise LiveConfigError(f"{place(args.config, ('database',))}: database: {problem}")
    plan = prepare_new_run(
        config, cohort, base_dir, folder, dry_run=args.dry_run, config_file=args.config
    )
    return config, plan
