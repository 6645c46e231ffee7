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

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.cj.grade_scales import SCALES
from engine.cj.intake import AnchorInput, BatchRequest, EssayInput, LLMChoice
from engine.cj.prompts import AssessmentContext
from engine.located_yaml import (
    LocatedYamlError,
    field_names,
    locate,
    locate_all,
    read_text,
    read_yaml,
)
from engine.randomness import SEED_MAX
from engine.settings import Settings

__all__ = [
    "Assessment",
    "LiveCohort",
    "LiveConfig",
    "LiveConfigError",
    "load_cohort",
    "load_live_config",
]

ESSAY_SUFFIXES = (".txt", ".md")


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
        return Settings(**overrides)


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
    try:
        config.engine_settings(mock=config.provider.name == "mock")
    except ValidationError as exc:
        raise LiveConfigError(locate(exc.errors()[0], ("settings",), root, source)) from None
    return config, path.parent


@dataclass(frozen=True, slots=True)
class LiveCohort:
    """The essays of a live run: students from the folder, anchors from the CSV."""

    students: tuple[EssayInput, ...]
    anchors: tuple[AnchorInput, ...]
    context: AssessmentContext = field(default_factory=AssessmentContext)

    def batch_request(self, config: LiveConfig, *, bos_batch_id: str) -> BatchRequest:
        provider = config.provider
        return BatchRequest(
            bos_batch_id=bos_batch_id,
            students=self.students,
            anchors=self.anchors,
            context=self.context,
            grade_scale=config.grade_scale,
            max_comparisons_override=config.budget,
            llm=LLMChoice(
                provider=provider.name,
                model=provider.model,
                reasoning_effort=provider.reasoning_effort,
            ),
        )


def _essay_id(path: Path) -> str:
    """A file's stem as an essay id: letters, digits, ``-``, ``_`` and ``.`` only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("_") or "essay"


def _read_text(path: Path, what: str = "the essay") -> str:
    text = read_text(path, LiveConfigError)
    if not text.strip():
        raise LiveConfigError(f"{path}:1:1: {what} is empty")
    return text


def _context(assessment: Assessment, base_dir: Path) -> AssessmentContext:
    def part(name: str) -> str:
        inline = getattr(assessment, name)
        if inline is not None:
            return str(inline).strip()
        file = getattr(assessment, f"{name}_file")
        return "" if file is None else _read_text(base_dir / file, f"assessment.{name}").strip()

    return AssessmentContext(
        student_prompt=part("assignment"),
        assessment_criteria=part("criteria"),
        judge_instructions=part("instructions"),
    )


def _students(folder: Path) -> tuple[EssayInput, ...]:
    if not folder.is_dir():
        raise LiveConfigError(f"{folder}: essays: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in ESSAY_SUFFIXES)
    if not files:
        raise LiveConfigError(f"{folder}: essays: no .txt or .md files")
    students: list[EssayInput] = []
    seen: dict[str, Path] = {}
    for file in files:
        essay_id = _essay_id(file)
        if essay_id in seen:
            raise LiveConfigError(f"{file}: essay id {essay_id!r} is also {seen[essay_id].name}")
        seen[essay_id] = file
        students.append(EssayInput(essay_id=essay_id, text=_read_text(file)))
    return tuple(students)


def _anchors(csv_path: Path, grade_scale: str) -> tuple[AnchorInput, ...]:
    grades = SCALES[grade_scale].grades
    try:
        handle = csv_path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise LiveConfigError(f"{csv_path}:1: cannot read the file: {exc.strerror}") from None
    anchors: list[AnchorInput] = []
    with handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        if not {"file", "grade"} <= columns:
            raise LiveConfigError(f"{csv_path}:1: the header must name the columns file,grade")
        for row in reader:
            line = reader.line_num
            file = (row.get("file") or "").strip()
            grade = (row.get("grade") or "").strip()
            if not file:
                raise LiveConfigError(f"{csv_path}:{line}: file is empty")
            if grade not in grades:
                raise LiveConfigError(
                    f"{csv_path}:{line}: grade {grade!r} is not on {grade_scale} "
                    f"({', '.join(grades)})"
                )
            text_path = csv_path.parent / file
            ref = (row.get("ref") or "").strip() or _essay_id(text_path)
            if any(a.anchor_ref_id == ref for a in anchors):
                raise LiveConfigError(f"{csv_path}:{line}: anchor ref {ref!r} appears twice")
            anchors.append(AnchorInput(anchor_ref_id=ref, grade=grade, text=_read_text(text_path)))
    if not anchors:
        raise LiveConfigError(f"{csv_path}:1: no anchors")
    return tuple(anchors)


def load_cohort(config: LiveConfig, base_dir: Path) -> LiveCohort:
    students = _students(base_dir / config.essays)
    anchors = (
        () if config.anchors is None else _anchors(base_dir / config.anchors, config.grade_scale)
    )
    return LiveCohort(
        students=students, anchors=anchors, context=_context(config.assessment, base_dir)
    )
