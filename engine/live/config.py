"""A live run's configuration: ``cjsim live CONFIG.yaml``.

The YAML names the assessment (the student assignment, the assessment criteria and the judge
instructions, inline or as files: the block every comparison of the batch shares, and so the
block the providers cache), the essays (a folder of ``.txt``/``.md`` files, one student each),
the graded anchors (a CSV of ``file,grade`` rows, optionally ``ref``), the grade scale, the
provider and model, the budget and engine settings, the hard caps that stop spending, and where
the run is stored. Relative paths are read from the configuration file's folder. Every problem
is one located line (``file:line:col: path: message``, or ``anchors.csv:line: message``).

API keys are never part of a configuration: the SDKs read ``ANTHROPIC_API_KEY`` and
``OPENAI_API_KEY`` from the environment, so a configuration can be shared and committed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.cj.grade_scales import SCALES
from engine.live.environment import environment_problems, from_environment
from engine.located_yaml import (
    LocatedYamlError,
    field_names,
    locate_all,
    read_text,
    read_yaml,
)
from engine.randomness import SEED_MAX
from engine.settings import Settings

__all__ = [
    "Assessment",
    "LiveConfig",
    "LiveConfigError",
    "load_live_config",
    "settings_problems",
]


class LiveConfigError(ValueError):
    """A live configuration (or the essays it names) that cannot be run; one located line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ProviderConfig(_Model):
    name: Literal["anthropic", "openai", "mock"] = "mock"
    model: str = Field("mock-cj-judge", min_length=1)
    reasoning_effort: Literal["none", "low", "medium", "high"] | None = None
    # Else the SDK's default, or ANTHROPIC_BASE_URL / OPENAI_BASE_URL from the environment.
    base_url: str | None = None
    timeout_s: float = Field(120.0, gt=0, le=3600)
    # What `--dry-run` (and `name: mock`) answers with: the engine's mock profiles.
    # Client-side limits, below the provider's own: the LPS paces itself to them.
    requests_per_minute: float | None = Field(None, gt=0, allow_inf_nan=False)
    tokens_per_minute: float | None = Field(None, gt=0, allow_inf_nan=False)
    mock_mode: Literal[
        "default", "cj_generic_batch", "eng5_anchor_gpt51_low", "eng5_lower5_gpt51_low"
    ] = "default"


class Assessment(_Model):
    """What the judge is told before the two essays. Each part is given inline or as a file
    (relative to the configuration); the assignment is required, since without it the prompt
    asks the model to judge against an assignment it was never shown."""

    assignment: str | None = Field(None, min_length=1)
    assignment_file: str | None = Field(None, min_length=1)
    criteria: str | None = Field(None, min_length=1)
    criteria_file: str | None = Field(None, min_length=1)
    instructions: str | None = Field(None, min_length=1)
    instructions_file: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_source_each(self) -> Assessment:
        for part in ("assignment", "criteria", "instructions"):
            if getattr(self, part) is not None and getattr(self, f"{part}_file") is not None:
                raise ValueError(f"give {part} or {part}_file, not both")
        if self.assignment is None and self.assignment_file is None:
            raise ValueError(
                "the student assignment is required: assignment (inline) or assignment_file"
            )
        return self


class Caps(_Model):
    """Hard limits, checked before every provider call. A call that would pass one is refused
    (its comparison fails with ``quota_exhausted``) and the run winds down."""

    max_requests: int | None = Field(None, ge=1)
    max_cost_usd: float | None = Field(None, gt=0)
    max_wall_s: float | None = Field(None, gt=0)


class Pricing(_Model):
    """USD per million tokens, for the cost estimate (check your provider's price list).
    Cache prices default to the input price (Anthropic bills cache writes at 1.25x input and
    reads at 0.1x; OpenAI bills cached input at a discount and writes at the input price)."""

    input_per_mtok: float = Field(ge=0, allow_inf_nan=False)
    output_per_mtok: float = Field(ge=0, allow_inf_nan=False)
    cache_write_per_mtok: float | None = Field(None, ge=0, allow_inf_nan=False)
    cache_read_per_mtok: float | None = Field(None, ge=0, allow_inf_nan=False)


class LiveConfig(_Model):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(42, ge=0, le=SEED_MAX)
    assessment: Assessment
    essays: str = Field(min_length=1)
    anchors: str | None = None
    grade_scale: str = "eng5_np_legacy_9_step"
    provider: ProviderConfig = ProviderConfig()
    budget: int | None = Field(None, ge=1, le=100_000)
    settings: dict[str, Any] = Field(default_factory=dict)
    caps: Caps = Caps()
    pricing: Pricing | None = None
    # Default: a SQLite file in the output folder. PostgreSQL: postgresql://user@host/db
    database: str | None = None
    out: str | None = None  # default: runs/live-<name>
    metrics_port: int | None = Field(None, ge=0, le=65535)  # 0: any free port; None: off

    @model_validator(mode="after")
    def _consistent(self) -> LiveConfig:
        if self.grade_scale not in SCALES:
            known = ", ".join(sorted(SCALES))
            raise ValueError(f"unknown grade scale {self.grade_scale!r}; known: {known}")
        if self.caps.max_cost_usd is not None and self.pricing is None:
            raise ValueError("caps.max_cost_usd needs pricing (input_per_mtok, output_per_mtok)")
        return self

    def engine_settings(self, *, mock: bool) -> Settings:
        """The engine's settings: ``CJSIM_*`` from the environment, then this file's."""
        return Settings(**self.settings_overrides(mock=mock))

    def settings_overrides(self, *, mock: bool) -> dict[str, Any]:
        """The settings this file gives (they win over the environment's)."""
        overrides: dict[str, Any] = {**self.settings, "USE_MOCK_LLM": mock}
        if mock:
            overrides.setdefault("MOCK_MODE", self.provider.mock_mode)
        if self.budget is not None:
            overrides.setdefault("MAX_PAIRWISE_COMPARISONS", self.budget)
        provider = self.provider
        for key, value in (
            ("LPS_CLIENT_REQUESTS_PER_MINUTE", provider.requests_per_minute),
            ("LPS_CLIENT_TOKENS_PER_MINUTE", provider.tokens_per_minute),
        ):
            if value is not None:
                overrides.setdefault(key, value)
        if self.pricing is not None and not mock:  # the mock costs nothing
            for key, price in (
                ("PRICE_INPUT_PER_MTOK", self.pricing.input_per_mtok),
                ("PRICE_OUTPUT_PER_MTOK", self.pricing.output_per_mtok),
                ("PRICE_CACHE_WRITE_PER_MTOK", self.pricing.cache_write_per_mtok),
                ("PRICE_CACHE_READ_PER_MTOK", self.pricing.cache_read_per_mtok),
            ):
                overrides.setdefault(key, price)
        return overrides


def load_live_config(path: Path) -> tuple[LiveConfig, Path]:
    """The configuration and the folder its relative paths are read from."""
    path = Path(path)
    source = str(path)
    text = read_text(path, LiveConfigError)
    try:
        data, root = read_yaml(text, source)
    except LocatedYamlError as exc:
        raise LiveConfigError(str(exc)) from None
    if not isinstance(data, dict):
        raise LiveConfigError(f"{source}:1:1: (top level): a live configuration is a mapping")
    try:
        config = LiveConfig.model_validate(data)
    except ValidationError as exc:
        vocabulary = field_names(LiveConfig.model_json_schema())
        raise LiveConfigError(
            locate_all(exc.errors(), (), root, source, vocabulary=vocabulary)
        ) from None
    problems = settings_problems(config, root, source, os.environ)
    if problems:
        raise LiveConfigError("\n".join(problems))
    return config, path.parent


def settings_problems(
    config: LiveConfig, root: yaml.Node | None, source: str, environ: Mapping[str, str]
) -> list[str]:
    """What the engine refuses of this file's settings (located in it) and of the
    environment's ``CJSIM_*`` variables (named), one line each."""
    overrides = config.settings_overrides(mock=config.provider.name == "mock")
    problems = environment_problems(overrides, environ)
    try:
        Settings(**overrides)
    except ValidationError as exc:
        in_file = [error for error in exc.errors() if not from_environment(error, overrides)]
        if in_file:
            vocabulary = set(Settings.model_fields)
            problems.insert(
                0, locate_all(in_file, ("settings",), root, source, vocabulary=vocabulary)
            )
    return problems
