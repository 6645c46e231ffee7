"""An AST scan for the calls that would make a run depend on anything but its seed."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

#: Paths (relative to the repository root) allowed to touch the wall clock and asyncio:
#: the live adapters, and the command front, which times runs for the user outside the log.
#: Nothing else: the provider adapters (engine/lps/providers/) take their time from the
#: Runtime they are given, like the rest of the engine.
EXEMPT = (
    "engine/live/",
    "sim/commands/cli.py",
)

FORBIDDEN_MODULES = {
    "time": "wall-clock time; use Runtime.now()",
    "asyncio": "asyncio; use the Runtime port",
    "secrets": "OS randomness; use engine.randomness.Streams",
}
RANDOM_OWNER = "engine/randomness.py"  # the one module that builds generators
NUMPY_RANDOM_ALLOWED = {"Generator", "PCG64", "SeedSequence"}
CLOCK_ATTRS = {"now", "utcnow", "today", "fromtimestamp"}


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    col: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.problem}"


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def scan_source(source: str, path: str) -> list[Violation]:
    tree = ast.parse(source, filename=path)
    found: list[Violation] = []

    def flag(node: ast.AST, problem: str) -> None:
        found.append(Violation(path, node.lineno, node.col_offset + 1, problem))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in FORBIDDEN_MODULES:
                    flag(node, f"imports {alias.name}: {FORBIDDEN_MODULES[root]}")
                if root == "random" and path != RANDOM_OWNER:
                    flag(node, "imports random: use engine.randomness.Streams")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            root = module.split(".")[0]
            names = {alias.name for alias in node.names}
            if root in FORBIDDEN_MODULES:
                flag(node, f"imports from {module}: {FORBIDDEN_MODULES[root]}")
            if root == "random" and path != RANDOM_OWNER:
                flag(node, "imports from random: use engine.randomness.Streams")
            if module == "uuid" and names & {"uuid1", "uuid4"}:
                flag(node, "imports uuid1/uuid4: use Streams.ids()")
            if module == "os" and "urandom" in names:
                flag(node, "imports os.urandom: use engine.randomness.Streams")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if isinstance(node.func, ast.Name) and node.func.id == "hash":
                flag(node, "calls builtin hash(): salted per process; use stable_hash64")
            elif name in ("uuid.uuid4", "uuid.uuid1"):
                flag(node, f"calls {name}: use Streams.ids()")
            elif name == "os.urandom":
                flag(node, "calls os.urandom: use engine.randomness.Streams")
            elif name.split(".")[-1] in CLOCK_ATTRS and (
                name.startswith(("datetime.", "date.")) or ".datetime." in name
            ):
                flag(node, f"calls {name}: wall-clock time; use Runtime.utcnow()")
        elif isinstance(node, ast.Attribute):
            name = _dotted(node)
            parts = name.split(".")
            if (
                len(parts) >= 3
                and parts[-2] == "random"
                and parts[0] in ("np", "numpy")
                and parts[-1] not in NUMPY_RANDOM_ALLOWED
            ):
                flag(node, f"uses {name}: numpy's global generator; use Streams.numpy()")
    return found


def scan_tree(root: Path, packages: tuple[str, ...] = ("engine", "sim")) -> list[Violation]:
    violations: list[Violation] = []
    for package in packages:
        for file in sorted((root / package).rglob("*.py")):
            relative = file.relative_to(root).as_posix()
            if relative.startswith(EXEMPT):
                continue
            violations.extend(scan_source(file.read_text(encoding="utf-8"), relative))
    return violations
