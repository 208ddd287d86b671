"""Reference data cannot empty the gate by accident (spec §17).

A full load of the inventory or the GUID list replaces what every decision reads: a file whose
rows are mostly bad, a truncated file or an empty one would leave devices out, and an AD1 of a
hub the inventory no longer knows is forwarded to no DNO. So a load is refused, and nothing
changes, when

* more than ``max_rejected_share`` of its rows are rejected (a full load only: a rejected row
  there is a device dropped; a change file's rejected row changes nothing), or
* it would leave fewer than ``max_shrink`` of the devices (entries) in force, or none at all.

``force`` puts it in force anyway; the reasons it overrode are kept in the audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ReferenceLimits:
    max_rejected_share: float = 0.01
    max_shrink: float = 0.90
    force: bool = False


@dataclass(slots=True)
class Judgement:
    """What a load was judged on: its figures, and the limits it went past (its reasons)."""

    figures: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


class LoadRefused(Exception):  # noqa: N818 - a decision, not a fault
    """A load went past the limits and was not forced: nothing it held is in force."""

    def __init__(self, what: str, judgement: Judgement) -> None:
        self.what = what
        self.judgement = judgement
        super().__init__(
            f"the {what} was refused and nothing changed: "
            + "; ".join(judgement.reasons)
            + ". Check it; to go ahead anyway, do it again with force "
            "(API ?force=true, command line --force)."
        )


def _share(part: int, whole: int) -> float:
    return 0.0 if whole == 0 else part / whole


def judge_rejected(
    limits: ReferenceLimits, judgement: Judgement, rows_read: int, rows_rejected: int
) -> None:
    """Add the rejected-rows figures, and a reason when over the limit."""
    share = _share(rows_rejected, rows_read)
    judgement.figures.update(
        rows_read=rows_read,
        rows_rejected=rows_rejected,
        rejected_share=round(share, 6),
        max_rejected_share=limits.max_rejected_share,
    )
    if share > limits.max_rejected_share:
        judgement.reasons.append(
            f"{rows_rejected:,} of its {rows_read:,} rows were rejected ({share:.2%}), "
            f"more than the {limits.max_rejected_share:.2%} allowed"
        )


def judge_shrink(
    limits: ReferenceLimits, judgement: Judgement, noun: str, in_force: int, after: int
) -> None:
    """Add the before and after figures, and a reason when ``after`` is none at all or fewer
    than ``max_shrink`` of ``in_force``."""
    judgement.figures.update(
        {
            f"{noun}_in_force": in_force,
            f"{noun}_after": after,
            "max_shrink": limits.max_shrink,
        }
    )
    if after == 0:
        judgement.reasons.append(f"it holds no {noun} ({in_force:,} in force)")
    elif after < limits.max_shrink * in_force:
        judgement.reasons.append(
            f"it would leave {after:,} of the {in_force:,} {noun} in force "
            f"({_share(after, in_force):.2%}), fewer than the {limits.max_shrink:.0%} required"
        )


def enforce(limits: ReferenceLimits, what: str, judgement: Judgement) -> None:
    """Raise ``LoadRefused`` when the judgement has reasons and the load is not forced."""
    if judgement.reasons and not limits.force:
        raise LoadRefused(what, judgement)
