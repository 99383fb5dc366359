"""What every process shares: a read-only view of a case, the effects of an input, and the
rules every obligation's completion follows (open case, open obligation, a date not before the
obligation opened, not before its earliest date unless the form says why, not in the
future)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from stepdown.domain.forms import Done, FormError


@dataclass(frozen=True)
class ObligationView:
    key: str
    status: str
    opened_on: date
    completion: str | None
    done_on: date | None = None
    earliest_on: date | None = None
    due_on: date | None = None
    # False for an obligation opened on a provisional first day (a move recorded without the day
    # it was put forward): its completion is not refused for being before that day.
    bounded: bool = True


@dataclass
class CaseView:
    """What validation needs to know of a case, read from the record."""

    ref: str
    kind: str
    stage: str
    status: str
    outcome: str | None
    stage_starts: dict[str, date]
    forms: dict[str, list[dict[str, Any]]]
    obligations: dict[str, ObligationView]
    waiting_for: str | None = None
    opening: str = ""  # the key of the process's opening form
    opened_at: datetime | None = None  # an hour-based start (a stability request)
    # The child's other processes: the days their obligations were done, by key (the
    # stability meetings held before an unplanned ending).
    child_done: dict[str, list[date]] = field(default_factory=dict)
    child: str = ""  # the child's opaque reference
    stages: tuple[str, ...] = ()  # the process's stages, in order (its declaration's)
    # The process opened on a day that is not a practice date (records.provisional_start): its
    # first stage's forms are not refused for being before that day.
    provisional_start: bool = False


@dataclass
class Effects:
    """What an accepted input changes."""

    done: list[tuple[str, date, dict[str, Any]]] = field(default_factory=list)
    statuses: list[tuple[str, str]] = field(default_factory=list)  # (key, waived|cancelled)
    start_stage: tuple[str, date] | None = None
    close: tuple[str, date] | None = None
    exceptions: list[str] = field(default_factory=list)  # accepted, but reported
    early: list[tuple[str, date, str]] = field(default_factory=list)  # (key, earliest, reason)
    # Processes the input opens for the child: (kind, ref, opening values, opened on).
    opens: list[tuple[str, str, dict[str, Any], date]] = field(default_factory=list)
    # The child's other open processes the input ends: (kind, stage or None, outcome, on).
    ends: list[tuple[str, str | None, str, date]] = field(default_factory=list)


def check_date(name: str, value: date, *, not_before: date | None, what: str, today: date) -> None:
    if not_before is not None and value < not_before:
        raise FormError(name, f"{value} is before {what} ({not_before})")
    if value > today:
        raise FormError(name, f"{value} is in the future (today is {today})")


def check_open(case: CaseView) -> None:
    if case.status != "open":
        raise FormError("ref", f"{case.ref} is closed ({case.outcome}); it takes no more input")


def check_stage(case: CaseView, key: str, process: str, stage: str | None,
                not_yet: str = "") -> None:
    """A stage's decision form is taken only while the case is in that stage."""
    check_open(case)
    if process != case.kind:
        raise FormError("form", f"{key} is a {process} form; {case.ref} is {case.kind}")
    if (not_yet and stage in case.stages and case.stage in case.stages
            and case.stages.index(case.stage) < case.stages.index(stage)):
        raise FormError("form", f"{key}: {not_yet} ({case.ref} is in {case.stage})")
    if stage != case.stage:
        raise FormError("form", f"{key} belongs to {stage}; {case.ref} is in {case.stage}")


def check_obligation_open(case: CaseView, key: str) -> ObligationView:
    """The obligation ``key`` if it can be completed now; else a FormError."""
    check_open(case)
    obligation = case.obligations.get(key)
    if obligation is None:
        raise FormError("key", f"{key} is not an obligation of {case.ref} (yet)")
    if obligation.status == "done":
        raise FormError("key", f"{key} is already done (on {obligation.done_on})")
    if obligation.status in ("cancelled", "waived"):
        raise FormError("key", f"{key} is {obligation.status}")
    return obligation


def check_done_on(key: str, obligation: ObligationView, form: Done, *, today: date) -> None:
    check_date("done_on", form.done_on,
               not_before=obligation.opened_on if obligation.bounded else None,
               what=f"{key} opened", today=today)
    check_not_early(key, obligation, form)


def early_reason(form: Done) -> str:
    return (form.early_reason or "").strip()


def check_not_early(key: str, obligation: ObligationView, form: Done) -> None:
    """Not before the obligation's earliest date, unless the form says why: a review held
    before its window, or an outcome that closes the case months early, cannot be taken back."""
    earliest = obligation.earliest_on
    if earliest is not None and form.done_on < earliest and not early_reason(form):
        raise FormError("done_on", f"{form.done_on} is before the earliest date of {key} "
                        f"({earliest}); give early_reason to record it early")


def early_effects(key: str, obligation: ObligationView, form: Done) -> list[tuple[str, date, str]]:
    """The audit note of a completion accepted before its earliest date (with its reason)."""
    earliest = obligation.earliest_on
    if earliest is not None and form.done_on < earliest:
        return [(key, earliest, early_reason(form))]
    return []
