"""The grade scales anchors are graded on, lowest grade first, with population priors."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCALES", "GradeScale", "UnknownGrade", "scale_named"]


class UnknownGrade(ValueError):
    """A grade or scale name that the scale does not know."""


@dataclass(frozen=True, slots=True)
class GradeScale:
    scale_id: str
    grades: tuple[str, ...]  # lowest first
    priors: tuple[float, ...]
    below_lowest_grade: str | None  # awarded under the lowest anchor grade's range

    def __post_init__(self) -> None:
        assert len(self.grades) == len(self.priors), self.scale_id
        assert abs(sum(self.priors) - 1.0) < 1e-9, self.scale_id

    def index(self, grade: str) -> int:
        try:
            return self.grades.index(grade)
        except ValueError:
            raise UnknownGrade(
                f"grade {grade!r} is not on scale {self.scale_id} ({', '.join(self.grades)})"
            ) from None


def _uniform(count: int) -> tuple[float, ...]:
    return (1.0 / count,) * count


SCALES: dict[str, GradeScale] = {
    scale.scale_id: scale
    for scale in (
        GradeScale(
            "swedish_8_anchor",
            ("F", "E", "D", "D+", "C", "C+", "B", "A"),
            (0.02, 0.08, 0.15, 0.20, 0.25, 0.15, 0.10, 0.05),
            None,
        ),
        GradeScale(
            "eng5_np_legacy_9_step",
            ("F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A"),
            _uniform(9),
            "F",
        ),
        GradeScale(
            "eng5_np_national_9_step",
            tuple(str(step) for step in range(1, 10)),
            _uniform(9),
            "0",
        ),
    )
}


def scale_named(scale_id: str) -> GradeScale:
    try:
        return SCALES[scale_id]
    except KeyError:
        raise UnknownGrade(
            f"unknown grade scale {scale_id!r}; known: {', '.join(sorted(SCALES))}"
        ) from None
