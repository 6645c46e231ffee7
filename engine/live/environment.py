"""Engine settings from the environment, checked by the variable's own name.

A live run reads ``CJSIM_<SETTING>`` variables first and its configuration file second (the
file wins). A variable is a user's input like any other: one that names no setting (a typo
such as ``CJSIM_MAX_PAIRWISE_COMPARISSONS``, which pydantic-settings would silently ignore) or
holds a value the engine refuses is reported as ``CJSIM_NAME: problem``, never blamed on a line
of the configuration file. Simulated runs never read the environment (``Settings.for_simulation``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from engine.located_yaml import describe
from engine.settings import Settings

__all__ = [
    "HARNESS_VARIABLES",
    "PREFIX",
    "environment_problems",
    "from_environment",
    "setting_variables",
]

PREFIX = "CJSIM_"

#: Variables of the harness and its tests, not engine settings.
HARNESS_VARIABLES = frozenset(
    {"CJSIM_SLOW", "CJSIM_BASELINE_SET", "CJSIM_TEST_POSTGRES_URL", "CJSIM_FUZZ_EXAMPLES"}
)


def setting_variables(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Setting name (as pydantic-settings matches it, case-insensitively) -> (variable, value)."""
    found = {}
    for variable in sorted(environ):
        upper = variable.upper()
        if upper.startswith(PREFIX) and upper not in HARNESS_VARIABLES:
            found[upper.removeprefix(PREFIX)] = (variable, environ[variable])
    return found


def environment_problems(overrides: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """One line per ``CJSIM_*`` variable that names no setting or whose value is refused.

    A variable the configuration overrides is never read, so its value is not judged."""
    names = sorted(Settings.model_fields)
    problems = []
    for name, (variable, value) in setting_variables(environ).items():
        if name not in Settings.model_fields:
            near = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
            hint = f" (did you mean {PREFIX}{near[0]}?)" if near else ""
            problems.append(f"{variable}: not a cjsim setting{hint}")
            continue
        if name in overrides:
            continue
        try:
            Settings.for_simulation(**{name: value})
        except ValidationError as exc:
            for error in exc.errors():
                _, message = describe(error)
                problems.append(f"{variable}: {message} (from the environment)")
    return problems


def from_environment(error: Any, overrides: Mapping[str, Any]) -> bool:
    """Whether a settings error concerns a value the environment gave, not the file."""
    return bool(error["loc"]) and str(error["loc"][0]) not in overrides
