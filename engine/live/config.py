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
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.cj.grade_scales import SCALES
from engine.field_docs import describe_fields
from engine.live.environment import environment_problems, from_environment
from engine.located_yaml import (
    LocatedYamlError,
    field_names,
    in_file_order,
    locate_all,
    located_problems,
    read_text,
    read_yaml,
)
from engine.numbers import NumbersAreNotBooleans
from engine.randomness import SEED_MAX
from engine.settings import (
    DURATION_S_MAX,
    PRICE_PER_MTOK_MAX,
    Settings,
    SettingsBlockJsonSchema,
)

__all__ = [
    "Assessment",
    "LiveConfig",
    "LiveConfigError",
    "load_live_config",
    "settings_problems",
]


class LiveConfigError(ValueError):
    """A live configuration (or the essays it names) that cannot be run; one located line."""


class _Model(NumbersAreNotBooleans):
    # NaN and infinity are never meaningful here; every field's docstring is its description
    # in the JSON Schema (``cjsim schema --live``), read only when a schema is made
    # (engine/field_docs.py).
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, json_schema_extra=describe_fields
    )


#: What a block of ``settings:`` may hold: every engine setting, with its own description.
SETTINGS_SCHEMA = SettingsBlockJsonSchema()


class ProviderConfig(_Model):
    """Who judges: the provider and model, how long a call may take, and the client-side rate
    limits the LPS paces itself to (below the provider's own)."""

    name: Literal["anthropic", "openai", "mock"] = "mock"
    """The provider: anthropic, openai, or mock (the engine's mock provider; what --dry-run
    uses)."""
    model: str = Field("mock-cj-judge", min_length=1)
    """The provider's model id, e.g. claude-haiku-4-5-20251001 or gpt-5.1."""
    reasoning_effort: Literal["none", "low", "medium", "high"] | None = None
    """Reasoning effort asked of models that support it; none: the provider's default."""
    base_url: str | None = None
    """The API's base URL; none: ANTHROPIC_BASE_URL / OPENAI_BASE_URL from the environment,
    else the SDK's default."""
    timeout_s: float = Field(120.0, gt=0, le=3600)
    """Seconds the SDK waits for one answer before the call fails as a timeout."""
    requests_per_minute: float | None = Field(None, ge=1, le=1_000_000)
    """Client-side request limit (requests per minute, at least 1); none: no client-side
    limit."""
    tokens_per_minute: float | None = Field(None, ge=1, le=1_000_000_000)
    """Client-side token limit (input plus output tokens per minute); none: no client-side
    limit."""
    mock_mode: Literal[
        "default", "cj_generic_batch", "eng5_anchor_gpt51_low", "eng5_lower5_gpt51_low"
    ] = "default"
    """What --dry-run (and name: mock) answers with: one of the engine's mock profiles."""


class Assessment(_Model):
    """What the judge is told before the two essays. Each part is given inline or as a file
    (relative to the configuration); the assignment is required, since without it the prompt
    asks the model to judge against an assignment it was never shown."""

    assignment: str | None = Field(None, min_length=1)
    """The student assignment, inline."""
    assignment_file: str | None = Field(None, min_length=1)
    """A file holding the student assignment, relative to the configuration's folder."""
    criteria: str | None = Field(None, min_length=1)
    """The assessment criteria, inline."""
    criteria_file: str | None = Field(None, min_length=1)
    """A file holding the assessment criteria, relative to the configuration's folder."""
    instructions: str | None = Field(None, min_length=1)
    """The judge's instructions, inline."""
    instructions_file: str | None = Field(None, min_length=1)
    """A file holding the judge's instructions, relative to the configuration's folder."""

    @model_validator(mode="after")
    def _one_source_each(self) -> Assessment:
        for part in ("assignment", "criteria", "instructions"):
            if getattr(self, part) is not None and getattr(self, f"{part}_file") is not None:
                raise ValueError(f"{part}_file: give {part} or {part}_file, not both")
        if self.assignment is None and self.assignment_file is None:
            raise ValueError(
                "assignment: the student assignment is required: assignment (inline) or "
                "assignment_file"
            )
        return self


class Caps(_Model):
    """Hard limits, checked before every provider call. A call that would pass one is held,
    not sent: calls in flight finish, and the run stops with its batch open, ready to
    resume (see engine/live/caps.py)."""

    max_requests: int | None = Field(None, ge=1, le=10_000_000)
    """Provider calls the whole run may make, across resumes; none: no limit."""
    max_cost_usd: float | None = Field(None, gt=0, le=1_000_000)
    """Estimated cost (USD) the whole run may reach, across resumes, from usage and pricing;
    none: no limit."""
    max_wall_s: float | None = Field(None, gt=0, le=DURATION_S_MAX)
    """Seconds of wall time one session may run; none: no limit."""


class Pricing(_Model):
    """USD per million tokens, for the cost estimate (check your provider's price list).
    Cache prices default to the input price (Anthropic bills cache writes at 1.25x input and
    reads at 0.1x; OpenAI bills cached input at a discount and writes at the input price)."""

    input_per_mtok: float = Field(ge=0, le=PRICE_PER_MTOK_MAX)
    """Price of uncached input tokens, USD per million."""
    output_per_mtok: float = Field(ge=0, le=PRICE_PER_MTOK_MAX)
    """Price of output tokens, USD per million."""
    cache_write_per_mtok: float | None = Field(None, ge=0, le=PRICE_PER_MTOK_MAX)
    """Price of input tokens written to the prompt cache, USD per million; none: the input
    price."""
    cache_read_per_mtok: float | None = Field(None, ge=0, le=PRICE_PER_MTOK_MAX)
    """Price of input tokens read from the prompt cache, USD per million; none: the input
    price."""


class LiveConfig(_Model):
    """A live run: ``cjsim live CONFIG.yaml``. Relative paths are read from this file's
    folder."""

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    """The run's name (letters, digits, _ . -): its default folder is runs/live-<name>."""
    description: str = ""
    """Free text about the run."""
    seed: int = Field(42, ge=0, le=SEED_MAX)
    """The run's root seed, 0..2^64-1: each session's random streams derive from it."""
    assessment: Assessment
    """The assignment, criteria and judge instructions every comparison shares."""
    essays: str = Field(min_length=1)
    """A folder of .txt/.md files, one student each; the file name is the essay id."""
    anchors: str | None = None
    """A CSV of graded anchors, file,grade[,ref] per row (paths relative to the CSV); none:
    no anchors."""
    grade_scale: str = "eng5_np_legacy_9_step"
    """The grade scale of the anchors and of the projected grades."""
    provider: ProviderConfig = ProviderConfig()
    """Who judges: provider, model, timeout and client-side rate limits."""
    budget: int | None = Field(None, ge=1, le=100_000)
    """The batch's comparison budget (MAX_PAIRWISE_COMPARISONS unless settings say
    otherwise); none: the engine's default."""
    settings: Annotated[dict[str, Any], SETTINGS_SCHEMA] = Field(default_factory=dict)
    """Engine settings by name (see engine/settings.py); they win over CJSIM_* variables."""
    caps: Caps = Caps()
    """Hard limits on requests, estimated cost and wall time."""
    pricing: Pricing | None = None
    """Token prices for the cost estimate; required by caps.max_cost_usd."""
    database: str | None = None
    """Where the run's state lives: a PostgreSQL URL (postgresql://user@host/db, its password
    never recorded); none: a SQLite file in the output folder."""
    out: str | None = None
    """The run's folder; none: runs/live-<name> (runs/live-<name>-dry-run for a dry run)."""
    metrics_port: int | None = Field(None, ge=0, le=65535)
    """Serve Prometheus metrics on 127.0.0.1 at this port during the run; 0: any free port;
    none: off."""
    metrics_linger_s: float = Field(0.0, ge=0, le=600)
    """Seconds the metrics stay served after the run ends, so a scraper gets the final numbers
    (say two scrape intervals); 0: they stop with the run."""

    @field_validator("database")
    @classmethod
    def _storable(cls, url: str | None) -> str | None:
        from engine.live.database import database_problem  # sqlalchemy only when asked

        problem = None if url is None else database_problem(url)
        if problem is not None:
            raise ValueError(problem)
        return url

    @model_validator(mode="after")
    def _consistent(self) -> LiveConfig:
        if self.grade_scale not in SCALES:
            known = ", ".join(sorted(SCALES))
            raise ValueError(
                f"grade_scale: unknown grade scale {self.grade_scale!r}; known: {known}"
            )
        if self.caps.max_cost_usd is not None and self.pricing is None:
            raise ValueError("caps.max_cost_usd: needs pricing (input_per_mtok, output_per_mtok)")
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
        document = read_yaml(text, source)
    except LocatedYamlError as exc:
        raise LiveConfigError(str(exc)) from None
    data, root = document.data, document.root
    if not isinstance(data, dict):
        raise LiveConfigError(f"{source}:1:1: (top level): a live configuration is a mapping")
    try:
        config = LiveConfig.model_validate(data)
    except ValidationError as exc:
        vocabulary = field_names(LiveConfig.model_json_schema())
        # A database URL may hold a password: its problem is told without repeating it.
        errors = [
            {k: v for k, v in e.items() if k != "input"} if e["loc"][:1] == ("database",) else e
            for e in exc.errors()
        ]
        found = located_problems(errors, (), root, source, vocabulary=vocabulary)
        raise LiveConfigError(in_file_order(document.problems + found)) from None
    problems = settings_problems(config, root, source, os.environ)
    if document.problems:
        problems.insert(0, in_file_order(document.problems))
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
    # A name must be exact (the environment's may differ in case, the file's not): newer
    # pydantic-settings would match ``max_pairwise_comparisons`` to the setting silently.
    in_file: list[Any] = [
        {"type": "extra_forbidden", "loc": (key,), "msg": "unknown key", "input": value}
        for key, value in config.settings.items()
        if key not in Settings.model_fields
    ]
    try:
        Settings(**{k: v for k, v in overrides.items() if k in Settings.model_fields})
    except ValidationError as exc:
        in_file += [error for error in exc.errors() if not from_environment(error, overrides)]
    if in_file:
        vocabulary = set(Settings.model_fields)
        problems.insert(0, locate_all(in_file, ("settings",), root, source, vocabulary=vocabulary))
    return problems
