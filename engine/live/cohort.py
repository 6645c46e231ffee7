"""A live run's essays: the students' folder, the anchors' CSV and the assessment's texts.

Every problem names its file and, where a line says it, the line: a CSV saved by a spreadsheet
(with a byte-order mark) reads like any other; a binary or non-UTF-8 essay is named as such.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from engine.cj.grade_scales import SCALES
from engine.cj.intake import AnchorInput, BatchRequest, EssayInput, LLMChoice
from engine.cj.prompts import AssessmentContext
from engine.live.config import Assessment, LiveConfig, LiveConfigError
from engine.located_yaml import place, read_text

__all__ = ["LiveCohort", "load_cohort"]

ESSAY_SUFFIXES = (".txt", ".md")
T = TypeVar("T")


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
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in ESSAY_SUFFIXES)
    students: list[EssayInput] = []
    seen: dict[str, Path] = {}
    for file in files:
        essay_id = _essay_id(file)
        if essay_id in seen:
            raise LiveConfigError(
                f"{file}:1:1: essay id {essay_id!r} is also the id of {seen[essay_id].name}"
            )
        seen[essay_id] = file
        students.append(EssayInput(essay_id=essay_id, text=_read_text(file)))
    return tuple(students)


def _anchors(csv_path: Path, grade_scale: str) -> tuple[AnchorInput, ...]:
    """The graded anchors of a ``file,grade[,ref]`` CSV; every bad row is reported at once,
    each at its line and column."""
    grades = SCALES[grade_scale].grades
    # strict: an unclosed quote is an error at its line, not a field that swallows the file.
    reader = csv.reader(io.StringIO(read_text(csv_path, LiveConfigError)), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error as exc:
        raise LiveConfigError(f"{csv_path}:1:1: not a CSV file: {exc}") from None
    if not {"file", "grade"} <= set(header):
        raise LiveConfigError(
            f"{csv_path}:1:1: header: must name the columns file,grade (got {','.join(header)!r})"
        )
    anchors: list[AnchorInput] = []
    problems: list[str] = []
    while True:
        try:
            row = next(reader, None)
        except csv.Error as exc:
            hint = " (a quote that is never closed)" if "end of data" in str(exc) else ""
            problems.append(f"{csv_path}:{reader.line_num}:1: not a CSV row: {exc}{hint}")
            break
        if row is None:
            break
        if not any(cell.strip() for cell in row):
            continue
        line = reader.line_num
        cells = dict(zip(header, row, strict=False))

        def where(column: str, row: list[str] = row, line: int = line) -> str:
            index = header.index(column) if column in header else 0
            col = 1 + sum(len(cell) + 1 for cell in row[:index])
            return f"{csv_path}:{line}:{col}: {column}"

        file = cells.get("file", "").strip()
        grade = cells.get("grade", "").strip()
        if not file:
            problems.append(f"{where('file')}: is empty")
            continue
        if grade not in grades:
            problems.append(
                f"{where('grade')}: {grade!r} is not on {grade_scale} ({', '.join(grades)})"
            )
            continue
        text_path = csv_path.parent / file
        ref = cells.get("ref", "").strip() or _essay_id(text_path)
        if any(a.anchor_ref_id == ref for a in anchors):
            problems.append(f"{where('ref')}: anchor ref {ref!r} appears twice")
            continue
        try:
            text = _read_text(text_path)
        except LiveConfigError as exc:
            problems.append(f"{where('file')}: {exc}")
            continue
        anchors.append(AnchorInput(anchor_ref_id=ref, grade=grade, text=text))
    if problems:
        raise LiveConfigError("\n".join(problems))
    if not anchors:
        raise LiveConfigError(f"{csv_path}:2:1: no anchors: give one file,grade row per anchor")
    return tuple(anchors)


def load_cohort(
    config: LiveConfig, base_dir: Path, *, config_file: Path | None = None
) -> LiveCohort:
    """The essays, anchors and assessment texts ``config`` names, every problem reported at
    once. A path that is not there is located at the configuration's key that names it (given
    ``config_file``), else at the path itself."""

    def missing(loc: tuple[str, ...], path: Path, what: str) -> str:
        where = f"{path}:1:1" if config_file is None else place(config_file, loc)
        return f"{where}: {'.'.join(loc)}: {path} {what}"

    problems: list[str] = []
    essays = base_dir / config.essays
    students: tuple[EssayInput, ...] = ()
    if not essays.is_dir():
        problems.append(missing(("essays",), essays, "is not a folder"))
    elif not any(p.suffix.lower() in ESSAY_SUFFIXES for p in essays.iterdir()):
        problems.append(missing(("essays",), essays, "holds no .txt or .md files"))
    else:
        students = _collect(problems, lambda: _students(essays), ())
    anchors: tuple[AnchorInput, ...] = ()
    if config.anchors is not None:
        csv_path = base_dir / config.anchors
        if not csv_path.is_file():
            problems.append(missing(("anchors",), csv_path, "is not a file"))
        else:
            anchors = _collect(problems, lambda: _anchors(csv_path, config.grade_scale), ())
    for name in ("assignment", "criteria", "instructions"):
        file = getattr(config.assessment, f"{name}_file")
        if file is not None and not (base_dir / file).is_file():
            problems.append(
                missing(("assessment", f"{name}_file"), base_dir / file, "is not a file")
            )
    context = AssessmentContext()
    if not problems:
        context = _collect(problems, lambda: _context(config.assessment, base_dir), context)
    if problems:
        raise LiveConfigError("\n".join(problems))
    return LiveCohort(students=students, anchors=anchors, context=context)


def _collect(problems: list[str], read: Callable[[], T], instead: T) -> T:
    """What ``read`` returns, or ``instead`` with its problem added to ``problems``."""
    try:
        return read()
    except LiveConfigError as exc:
        problems.append(str(exc))
        return instead
