"""The harness's layout: ``sim/`` is four sub-packages by purpose, and only the command line
reaches the live adapters (DESIGN.md, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[1] / "sim"
PACKAGES = ("adapters", "harness", "reports", "commands")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((SIM / package).glob("*.py"))


def test_sim_holds_only_its_sub_packages():
    loose = sorted(p.name for p in SIM.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside a sub-package: {loose}"
    packages = sorted(p.name for p in SIM.iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(PACKAGES)


@pytest.mark.parametrize("package", ["adapters", "harness", "reports"])
def test_only_the_command_line_reaches_the_live_adapters(package):
    reaching = [
        f"{path.relative_to(SIM.parent)}: {module}"
        for path in _modules(package)
        for module in sorted(_imports(path))
        if module == "engine.live" or module.startswith("engine.live.")
    ]
    assert reaching == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        # The adapters are configured by scenario models, nothing more of the harness.
        ("adapters", ("sim.commands", "sim.reports", "sim.harness.runner", "sim.harness.swarm")),
        ("harness", ("sim.commands",)),
        ("reports", ("sim.commands",)),
    ],
)
def test_sub_packages_import_downwards(package, forbidden):
    upward = [
        f"{path.relative_to(SIM.parent)}: {module}"
        for path in _modules(package)
        for module in sorted(_imports(path))
        if module.startswith(forbidden)
    ]
    assert upward == []
