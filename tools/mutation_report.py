"""The mutation report: which surviving mutants are equivalent, and each module's score.

`nox -s mutants` (noxfile.py) runs mutmut over one module at a time and hands the results here
(docs/decisions/0009-mutation-testing.md). A module's score is the share of its non-equivalent
mutants that a test detected:

    score = detected / (mutants - equivalent),   detected = killed + timeout

A timeout counts as detected: the mutant made a selected test run past mutmut's limit (15 times
its measured time plus a second), which a user would notice as a hang. "No tests" (no selected
test reaches the mutated function) and "suspicious" count against the score like a survivor.

A survivor is equivalent when `tests/equivalent_mutants.toml` names it *and* its mutated line
still reads as recorded there. mutmut numbers mutants by their position in a function, so after
an edit the same name can be another mutant; then it counts as a plain survivor again (listed as
stale) until someone looks at it. The file's entries read:

    ["engine/cj/pair_matching.py"."x_augment__mutmut_56"]
    mutated = "beside_u[around] = None  # marks u's neighbours while u is tried"
    why = "None is stored as False in a bool array: the same assignment."
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Equivalent", "ModuleScore", "load_equivalents", "mutated_line", "score", "text"]

SCORE_MIN = 0.90  # issue 18: at least 90% of the non-equivalent mutants detected
DETECTED = ("killed", "timeout")


@dataclass(frozen=True, slots=True)
class Equivalent:
    """A surviving mutant judged equivalent: the line it writes, and why no test can tell."""

    mutated: str
    why: str


@dataclass(slots=True)
class ModuleScore:
    """One module's counts, from its mutmut run and the equivalent mutants listed for it."""

    module: str
    mutants: int
    detected: int
    equivalent: list[str] = field(default_factory=list)
    undetected: list[str] = field(default_factory=list)  # survived, no tests, suspicious
    stale: list[str] = field(default_factory=list)  # listed, but the mutant now reads otherwise
    gone: list[str] = field(default_factory=list)  # listed, but no longer survives
    wall_s: float = 0.0
    error: str = ""

    @property
    def score(self) -> float:
        judged = self.mutants - len(self.equivalent)
        return self.detected / judged if judged else 1.0


def load_equivalents(path: Path) -> dict[str, dict[str, Equivalent]]:
    """The equivalent mutants listed in ``path``, by module path and mutant name."""
    if not path.is_file():
        return {}
    table: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return {
        module: {
            name: Equivalent(mutated=entry["mutated"], why=entry["why"])
            for name, entry in entries.items()
        }
        for module, entries in table.items()
    }


def mutated_line(diff: str) -> str:
    """The lines a mutant writes (its diff's ``+`` lines, stripped), joined with `` / ``."""
    added = [
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    return " / ".join(added)


def short_name(module: str, name: str) -> str:
    """``engine.cj.completion.x_decide__mutmut_3`` -> ``x_decide__mutmut_3``."""
    return name.removeprefix(module.removesuffix(".py").replace("/", ".") + ".")


def score(module: str, result: dict[str, Any], listed: dict[str, Equivalent]) -> ModuleScore:
    """``module``'s score from its mutmut ``result`` (as the nox session records it)."""
    survivors: list[dict[str, str]] = result["survivors"]
    timeouts = sum(s["status"] == "timeout" for s in survivors)
    scored = ModuleScore(
        module=module,
        mutants=int(result["mutants"]),
        detected=int(result["killed"]) + timeouts,
        wall_s=float(result["wall_s"]),
        error=str(result.get("error", "")),
    )
    surviving = set()
    for survivor in survivors:
        if survivor["status"] in DETECTED:
            continue
        name = short_name(module, survivor["name"])
        surviving.add(name)
        entry = listed.get(name)
        if entry is None:
            scored.undetected.append(name)
        elif entry.mutated == mutated_line(survivor["diff"]):
            scored.equivalent.append(name)
        else:
            scored.undetected.append(name)
            scored.stale.append(name)
    scored.gone = sorted(set(listed) - surviving)
    return scored


def text(
    results: dict[str, dict[str, Any]], equivalents: dict[str, dict[str, Equivalent]]
) -> tuple[str, list[ModuleScore]]:
    """The report's text and each module's score: a table, then every survivor's diff."""
    scores = [score(m, r, equivalents.get(m, {})) for m, r in results.items()]
    lines = [
        f"{'module':<30} {'mutants':>7} {'detected':>8} {'equiv':>5} {'left':>4} "
        f"{'score':>7} {'wall_s':>7}"
    ]
    for s in scores:
        lines.append(
            f"{s.module:<30} {s.mutants:>7} {s.detected:>8} {len(s.equivalent):>5} "
            f"{len(s.undetected):>4} {s.score:>7.1%} {s.wall_s:>7.1f}"
            + (f"  ({s.error})" if s.error else "")
        )
    mutants = sum(s.mutants for s in scores)
    detected = sum(s.detected for s in scores)
    equivalent = sum(len(s.equivalent) for s in scores)
    left = sum(len(s.undetected) for s in scores)
    judged = mutants - equivalent
    lines.append(
        f"{'all':<30} {mutants:>7} {detected:>8} {equivalent:>5} {left:>4} "
        f"{(detected / judged if judged else 1.0):>7.1%} {sum(s.wall_s for s in scores):>7.1f}"
    )
    for s in scores:
        for name in s.stale:
            lines.append(
                f"stale: {s.module} {name} is listed as equivalent but now reads otherwise"
            )
        for name in s.gone:
            lines.append(f"gone: {s.module} {name} is listed as equivalent; it no longer survives")
    for s, result in zip(scores, results.values(), strict=True):
        listed = equivalents.get(s.module, {})
        for survivor in result["survivors"]:
            name = short_name(s.module, survivor["name"])
            status = survivor["status"]
            if name in s.equivalent:
                status = f"equivalent: {listed[name].why}"
            lines += ["", f"## {s.module}: {name} ({status})", survivor["diff"]]
    return "\n".join(lines) + "\n", scores
