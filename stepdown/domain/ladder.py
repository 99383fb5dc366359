"""The follow-up and escalation ladder (DOMAIN.md section 3; source 001 Appendix 1).

For an obligation due on D and still open: a reminder on the working day before D, "due today" on
D, an overdue flag on F (the first working day after D), and on F + 5 working days the escalation:
the owner's manager is alerted and takes it over. An hour-based deadline is flagged to its owner
and the chair within an hour of its breach, at any hour of any day, instead of the three day-based
rungs. Pure: rungs and the instants they fire at, from a due date.

Escalation needs its flag (DOMAIN.md section 3, a rule): an obligation escalates only
when its owner was flagged overdue (or told of the breach) at least ``escalate_after`` working days
before. A sweep that catches up after missed days, or meets an obligation recorded after the fact
that is already overdue, may skip the reminder and "due today", never the flag: the escalation is
counted from the day the flag really went out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time

from stepdown.domain.calendar import (
    LONDON,
    add_working_days,
    local_date,
    next_working_day,
    previous_working_day,
)
from stepdown.domain.vocabulary import (
    BREACH,
    DUE_TODAY,
    ESCALATION,
    OVERDUE_RUNG,
    REMINDER,
    RUNGS,
)

ESCALATE_AFTER = 5  # working days after the overdue flag (001 Appendix 1)

# The rungs are named once, in vocabulary; these names are kept for the modules that use them.
OVERDUE = OVERDUE_RUNG
ORDER = RUNGS


@dataclass(frozen=True)
class Rung:
    name: str
    on: date  # the working day it belongs to
    at: datetime  # the instant it fires (the start of that day, or the breach itself)


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, LONDON)


def flag_day(due: date) -> date:
    """F: the first working day after the due date."""
    return next_working_day(due + (date.resolution))


def flag_rung(due_at: datetime | None) -> str:
    """The rung that flags the owner: the breach of an hour-based deadline, else the overdue."""
    return BREACH if due_at is not None else OVERDUE


def rungs(due_on: date | None, due_at: datetime | None = None,
          escalate_after: int = ESCALATE_AFTER, flagged_on: date | None = None) -> list[Rung]:
    """Every rung of an obligation's ladder, in the order they fire; none if undated.
    ``escalate_after``: working days from the overdue flag to the escalation (the policy's
    ``[settings] escalate_after``). ``flagged_on``: the day the flag really went out, when it
    did; the escalation is counted from it when it was later than planned (a catch-up)."""
    if due_at is not None:
        day = local_date(due_at)
        escalate = (add_working_days(flagged_on, escalate_after)
                    if flagged_on is not None and flagged_on > day  # told late: count from then
                    else add_working_days(flag_day(day), escalate_after))
        return [Rung(BREACH, day, due_at), Rung(ESCALATION, escalate, _start(escalate))]
    if due_on is None:
        return []
    before = previous_working_day(due_on - date.resolution)
    flag = flag_day(due_on)
    escalate = add_working_days(max(flag, flagged_on) if flagged_on is not None else flag,
                                escalate_after)
    return [Rung(REMINDER, before, _start(before)), Rung(DUE_TODAY, due_on, _start(due_on)),
            Rung(OVERDUE, flag, _start(flag)), Rung(ESCALATION, escalate, _start(escalate))]


def next_rung(due_on: date | None, due_at: datetime | None, fired: Mapping[str, date],
              escalate_after: int = ESCALATE_AFTER) -> Rung | None:
    """The first rung not yet fired. ``fired``: each rung fired, with the day it fired."""
    flagged_on = fired.get(flag_rung(due_at))
    return next((r for r in rungs(due_on, due_at, escalate_after, flagged_on)
                 if r.name not in fired), None)


def due_now(due_on: date | None, due_at: datetime | None, fired: Mapping[str, date],
            cutoff: datetime, only: Collection[str] | None = None,
            escalate_after: int = ESCALATE_AFTER) -> tuple[Rung | None, list[Rung]]:
    """The rung to fire by ``cutoff`` (the latest one passed) and the earlier ones it supersedes
    (a sweep that catches up after missed days tells a person once, at the most advanced rung).
    Never the escalation before the flag has gone out: a catch-up flags, and the escalation
    follows ``escalate_after`` working days after that day.
    ``only``: the rungs this sweep may fire (out of hours, the breach); the others wait."""
    flagged_on = fired.get(flag_rung(due_at))
    passed = [r for r in rungs(due_on, due_at, escalate_after, flagged_on)
              if r.name not in fired and r.at <= cutoff and (only is None or r.name in only)
              and (r.name != ESCALATION or flagged_on is not None)]
    if not passed:
        return None, []
    return passed[-1], passed[:-1]
