"""``cjsim swarm``: run the seeds, list the failures, shrink one, print the distribution.

Without ``--legacy`` the exit code is 1 when any seed broke an invariant or crashed. With
``--legacy`` the swarm measures the original system: it reports how many seeds broke each
invariant and exits 0, unless the harness itself failed on a seed (``harness_error``): a
legacy seed is never judged against what the scenario expected of it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sim.commands.out_folder import output_folder
from sim.commands.run_command import RunRequest, reproduce_command
from sim.harness.executors import executor_for
from sim.harness.scenario_file import load_scenario
from sim.harness.swarm import swarm_seeds
from sim.harness.swarm_result import WORKER_DIED, SeedResult, SwarmSummary, summarize
from sim.harness.swarm_shrink import Failure, self_contained, shrink, write_scenario
from sim.harness.swarm_variant import swarm_variant

__all__ = ["SwarmRequest", "swarm_command"]

EXIT_OK, EXIT_FAILED = 0, 1
LISTED_FAILURES_MAX = 10
SWARM_FILE = "swarm.json"


@dataclass(frozen=True, slots=True)
class SwarmRequest:
    path: Path
    seeds: range
    workers: int
    overrides: tuple[str, ...]
    out: Path | None
    legacy: bool
    shrink: bool
    dask: str | None = None  # a Dask scheduler's address, or local:N


def swarm_command(
    request: SwarmRequest,
    *,
    wall_clock: Callable[[], float],
    out: TextIO,
    progress: Callable[[Iterable[Any], int], Iterable[Any]],
) -> int:
    """Run the swarm, write ``swarm.json`` (and a shrunk failure), print, return the exit code.
    ``ScenarioError`` propagates to the caller (exit 2)."""
    scenario = load_scenario(request.path, overrides=list(request.overrides))  # fail fast
    default = Path("runs") / f"swarm-{scenario.name}{'-legacy' if request.legacy else ''}"
    folder = output_folder(request.out, default, (SWARM_FILE,))
    mode = "legacy (the original system; a measurement)" if request.legacy else "fixed engine"
    out.write(
        f"cjsim swarm {request.path}: seeds {request.seeds.start}..{request.seeds.stop - 1}, "
        f"{request.workers} workers, {mode}\n"
    )
    out.flush()
    started = wall_clock()
    results = swarm_seeds(
        request.path,
        request.seeds,
        workers=request.workers,
        legacy=request.legacy,
        overrides=request.overrides,
        progress=progress,
        executor=executor_for(workers=request.workers, dask=request.dask),
    )
    elapsed_s = wall_clock() - started
    summary = summarize(results)
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "scenario": str(request.path),
        "legacy": request.legacy,
        "overrides": list(request.overrides),
        "summary": summary.as_dict(),
        "results": [result.as_dict() for result in results],
    }
    # Written whole and renamed into place: a swarm killed while writing leaves the old file.
    partial = folder / f"{SWARM_FILE}.partial"
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    partial.replace(folder / SWARM_FILE)

    failed = [result for result in results if not result.ok]
    _list_failures(request, failed, folder, out)
    shrinkable = [r for r in failed if r.error_kind != WORKER_DIED]
    if request.shrink and shrinkable:
        _shrink_one(request, shrinkable[0], folder, out)
    _print_summary(request, summary, elapsed_s, folder, out)
    if request.legacy:
        return EXIT_FAILED if summary.harness_errors else EXIT_OK
    return EXIT_FAILED if summary.failed else EXIT_OK


def _list_failures(
    request: SwarmRequest, failed: list[SeedResult], folder: Path, out: TextIO
) -> None:
    replay = RunRequest(
        path=request.path,
        seed=None,
        overrides=request.overrides,
        out=None,
        legacy=request.legacy,
        swarm=True,
    )
    for result in failed[:LISTED_FAILURES_MAX]:
        what = result.error if result.crashed else "broke " + ", ".join(result.broken)
        out.write(f"  seed {result.seed}: {what}\n")
        out.write(f"    reproduce: {reproduce_command(replay, result.seed)}\n")
    if len(failed) > LISTED_FAILURES_MAX:
        more = len(failed) - LISTED_FAILURES_MAX
        out.write(f"  ... and {more} more seeds (every one in {folder / SWARM_FILE})\n")


def _shrink_one(request: SwarmRequest, first: SeedResult, folder: Path, out: TextIO) -> None:
    base_dir = request.path.resolve().parent
    scenario = load_scenario(request.path, overrides=list(request.overrides))
    variant = self_contained(swarm_variant(scenario, first.seed), base_dir)
    failure = Failure.of(first)
    smallest, runs = shrink(variant, first.seed, request.legacy, failure, base_dir=None)
    smallest = smallest.model_copy(
        update={
            "description": f"Seed {first.seed} of the swarm of {request.path}, shrunk: it "
            f"{failure.describe()}{' under --legacy' if request.legacy else ''}."
        }
    )
    target = (folder / f"minimal-seed{first.seed}.yaml").resolve()
    command = ["cjsim", "run", str(target), "--seed", str(first.seed)]
    if request.legacy:
        command.append("--legacy")
    write_scenario(
        smallest,
        target,
        f"Shrunk from seed {first.seed} of {request.path} ({runs} runs); "
        f"{failure.describe()}.\nReproduce: {shlex.join(command)}",
    )
    out.write(
        f"  shrunk seed {first.seed} ({failure.describe()}) in {runs} runs: "
        f"{len(variant.faults)} faults -> {len(smallest.faults)}, "
        f"{variant.run.batches} batches -> {smallest.run.batches}, "
        f"{len(variant.settings)} settings -> {len(smallest.settings)}\n"
    )
    out.write(f"    minimal scenario: {target}\n")
    out.write(f"    reproduce: {shlex.join(command)}\n")


def _print_summary(
    request: SwarmRequest, summary: SwarmSummary, elapsed_s: float, folder: Path, out: TextIO
) -> None:
    def share(count: int) -> str:
        return f"{100 * count / summary.seeds:5.1f}%" if summary.seeds else ""

    rows: list[tuple[str, str, str]] = [
        ("seeds", str(summary.seeds), ""),
        ("held", str(summary.held), share(summary.held)),
        ("failed (broke an invariant or crashed)", str(summary.failed), share(summary.failed)),
    ]
    rows += [(f"  {name}", str(count), share(count)) for name, count in summary.broken.items()]
    rows.append(("harness errors", str(summary.harness_errors), share(summary.harness_errors)))
    width = max(len(row[0]) for row in rows)
    count_width = max(len(row[1]) for row in rows)
    out.write(f"\nsummary ({'legacy' if request.legacy else 'fixed engine'}):\n")
    for label, count, percent in rows:
        out.write(f"  {label.ljust(width)}  {count.rjust(count_width)}  {percent}".rstrip() + "\n")
    per_seed_s = elapsed_s / summary.seeds if summary.seeds else 0.0
    out.write(
        f"  {'wall time'.ljust(width)}  {elapsed_s:.1f} s ({per_seed_s:.2f} s per seed, "
        f"{request.workers} workers)\n"
    )
    out.write(f"  results: {folder / SWARM_FILE}\n")
