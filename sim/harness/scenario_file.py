"""A scenario file: read, ``--set`` overrides applied, validated, every problem located.

Every problem of a file is reported at once, one line each and in file order:
``file:line:col: path.to.field: message``. A problem that a ``--set`` override caused names the
override instead, since the file never said it: ``--set run.liveness_s=-1: run.liveness_s: ...``.
Engine settings (``settings:``, ``legacy:``) are checked here too, against the engine's own
``Settings``, so that a scenario either starts or is refused before any work.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from engine.located_yaml import (
    Located,
    LocatedYamlError,
    describe,
    did_you_mean,
    field_names,
    in_file_order,
    located_problems,
    position,
    read_text,
    read_yaml,
    yaml_path,
)
from engine.settings import Settings
from engine.traces import TraceError, load_trace
from sim.harness.scenario import Scenario, ScenarioError

__all__ = ["apply_overrides", "load_scenario", "parse_scenario"]

KeyPath = tuple[str | int, ...]  # a place in a scenario: mapping keys and list indexes


@functools.cache
def _vocabulary() -> frozenset[str]:
    """The names a scenario may use anywhere, for "did you mean"."""
    return frozenset(field_names(Scenario.model_json_schema()))


@functools.cache
def _setting_names() -> frozenset[str]:
    return frozenset(Settings.model_fields)


def load_scenario(path: Path, *, overrides: list[str] | None = None) -> Scenario:
    """A scenario file, checked as far as it can be without running it: its fields, its
    settings, and the trace it replays (read from the file's folder when relative)."""
    path = Path(path)
    scenario, root = _parse(read_text(path, ScenarioError), str(path), overrides)
    if scenario.provider.replay is not None and scenario.provider.mock_mode is None:
        folder = path.parent / scenario.provider.replay
        try:
            load_trace(folder)
        except TraceError as exc:
            line, col = position(root, ("provider", "replay"))
            first = str(exc).splitlines()[0]
            raise ScenarioError(
                f"{path}:{line}:{col}: provider.replay: the trace cannot be read: {first}"
            ) from None
    return scenario


def parse_scenario(text: str, source: str, *, overrides: list[str] | None = None) -> Scenario:
    return _parse(text, source, overrides)[0]


def _parse(
    text: str, source: str, overrides: list[str] | None
) -> tuple[Scenario, yaml.Node | None]:
    try:
        document = read_yaml(text, source)
    except LocatedYamlError as exc:
        raise ScenarioError(str(exc)) from None
    data, root = document.data, document.root
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}:1:1: (top level): a scenario is a mapping of fields")
    applied = [(override, apply_overrides(data, override)) for override in overrides or ()]
    problems = _Problems(root, source, applied, list(document.problems))
    scenario = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems.add(exc.errors(), (), _vocabulary())
        settings = data.get("settings")
        if isinstance(settings, dict):  # so that every problem shows at once
            try:
                Settings.for_simulation(**{k: v for k, v in settings.items() if isinstance(k, str)})
            except ValidationError as settings_exc:
                problems.add(settings_exc.errors(), ("settings",), _setting_names())
    else:
        _check_settings(scenario, problems)
    problems.raise_any()
    assert scenario is not None
    return scenario, root


def _check_settings(scenario: Scenario, problems: _Problems) -> None:
    """The engine must accept the scenario's settings, and its ``legacy:`` settings on top."""
    checks: list[tuple[KeyPath, bool]] = [(("settings",), False)]
    if scenario.legacy is not None:
        checks.append((("legacy",), True))
    for prefix, legacy in checks:
        try:
            scenario.engine_settings(legacy=legacy)
        except ValidationError as exc:
            errors = exc.errors()
            if legacy:  # a key the legacy block set is its own; the rest came from settings
                prefix = ("legacy",)
                own = scenario.legacy or {}
                errors = [e for e in errors if not e["loc"] or e["loc"][0] in own]
                errors = errors or exc.errors()
            problems.add(errors, prefix, _setting_names())
            return


class _Problems:
    """A file's problems as they are found: located in the file and reported in file order,
    then those a ``--set`` override caused, by the override's text."""

    def __init__(
        self,
        root: yaml.Node | None,
        source: str,
        applied: list[tuple[str, KeyPath]],
        in_file: list[Located],
    ) -> None:
        self.root, self.source, self.applied = root, source, applied
        self.in_file = in_file
        self.from_overrides: list[str] = []

    def add(self, errors: list[Any], prefix: KeyPath, vocabulary: frozenset[str]) -> None:
        from_file = []
        for error in errors:
            path = yaml_path(prefix + tuple(error["loc"]))
            cause = next((text for text, set_at in self.applied if _related(path, set_at)), None)
            if cause is None:
                from_file.append(error)
            else:
                where, message = describe(error, prefix)
                hint = did_you_mean(error, vocabulary)
                self.from_overrides.append(f"--set {cause}: {where}: {message}{hint}")
        self.in_file += located_problems(
            from_file, prefix, self.root, self.source, vocabulary=vocabulary
        )

    def raise_any(self) -> None:
        lines = [in_file_order(self.in_file)] if self.in_file else []
        lines += dict.fromkeys(self.from_overrides)
        if lines:
            raise ScenarioError("\n".join(lines))


def _related(error_at: KeyPath, set_at: KeyPath) -> bool:
    """An override explains an error at, inside or around what it set."""
    shorter = min(len(error_at), len(set_at))
    return tuple(map(str, error_at[:shorter])) == tuple(map(str, set_at[:shorter]))


def apply_overrides(data: dict[str, Any], override: str) -> KeyPath:
    """Apply one ``--set KEY=VALUE`` and say where it landed: an UPPERCASE key is an engine
    setting, anything else a dotted scenario path (``run.liveness_s=600``, ``faults.0.rate=1``,
    where a number indexes a list). The value is read as YAML. A path that cannot be followed is
    refused by the override's own text."""
    key, sep, raw = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"--set {override}: expected KEY=VALUE")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    if key.isupper():
        settings = data.setdefault("settings", {})
        if not isinstance(settings, dict):
            raise ScenarioError(f"--set {override}: settings: is not a mapping")
        settings[key] = value
        return ("settings", key)
    parts = key.split(".")
    if any(not part for part in parts):
        raise ScenarioError(f"--set {override}: {key}: an empty name in the dotted path")
    target: Any = data
    walked: list[str | int] = []
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(map(str, walked)) or "(top level)"
        if isinstance(target, list):
            if not part.isdigit():
                raise ScenarioError(
                    f"--set {override}: {here}: is a list; index it by number ({here}.0...)"
                )
            index = int(part)
            if index >= len(target):
                held = f"indexes 0..{len(target) - 1}" if target else "it is empty"
                raise ScenarioError(
                    f"--set {override}: {here}: has no entry {index} ({held}); "
                    f"set the whole list instead, e.g. --set '{here}=[...]'"
                )
            step: str | int = index
        elif isinstance(target, dict):
            step = part
            if not last and part not in target:
                if parts[depth + 1].isdigit():
                    raise ScenarioError(
                        f"--set {override}: {'.'.join([*map(str, walked), part])}: "
                        f"has no entry {parts[depth + 1]} (it is not in the file); "
                        f"set the whole list instead"
                    )
                target[part] = {}
        else:
            raise ScenarioError(f"--set {override}: {here}: is a value, not a mapping")
        walked.append(step)
        if last:
            target[step] = value
        else:
            target = target[step]
    return tuple(walked)
