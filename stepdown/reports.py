"""The monthly breakdown report (source 001: placement endings are counted and analysed monthly).

For a month: unplanned endings by SSDA903 reason and by placement type, whether a stability
meeting preceded each (held for the child in the 84 days up to the ending, the same window as the
waiver), stability meetings requested and held within their window, and stability actions
overdue at the end of the month (or on the day asked, if earlier).
"""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from stepdown.domain.calendar import LONDON, local_date
from stepdown.domain.forms import FormError
from stepdown.domain.vocabulary import OPEN_STATUSES
from stepdown.models.tables import Obligation, Process
from stepdown.records import accepted_forms, stability_meetings

PRECEDED_WITHIN = timedelta(days=84)


def month_bounds(month: str) -> tuple[date, date]:
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except ValueError:
        raise FormError("month", f"must be YYYY-MM (got {month!r})") from None
    return first, date(year, number, calendar.monthrange(year, number)[1])


def previous_month(today: date) -> str:
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def _in(day: date | None, first: date, last: date) -> bool:
    return day is not None and first <= day <= last


def _counts(values: Any) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def breakdowns(session: Session, *, month: str, as_of: date) -> dict[str, Any]:
    first, last = month_bounds(month)
    cutoff = min(last, as_of)
    endings: list[dict[str, Any]] = []
    query = select(Process).where(Process.kind == "unplanned_ending",
                                  Process.opened_on >= first, Process.opened_on <= last)
    for process in session.exec(query.order_by(col(Process.opened_on), col(Process.id))).all():
        record = accepted_forms(session, process=process)["unplanned_ending.record"][0]
        held_before = [d for d in stability_meetings(session, child_ref=process.child_ref)
                       if process.opened_on - PRECEDED_WITHIN <= d <= process.opened_on]
        endings.append({
            "ref": process.ref, "ended_on": str(process.opened_on), "reason": record["reason"],
            "placement_type": "step_down" if record.get("step_down_ref") else "other",
            "stability_meeting_first": bool(held_before),
        })

    requests = list(session.exec(select(Process).where(Process.kind == "stability")).all())
    meetings = {
        o.process_id: o for o in session.exec(select(Obligation).where(
            Obligation.key == "stability.meeting",
            col(Obligation.process_id).in_([p.id for p in requests]))).all()
    }
    requested = held = within = late = missed = 0
    for process in requests:
        meeting = meetings.get(process.id) if process.id is not None else None
        if meeting is None or meeting.due_at is None:
            continue
        requested += _in(process.opened_on, first, last)
        due_day = local_date(meeting.due_at)
        if meeting.status == "done" and _in(meeting.done_on, first, last):
            held += 1
            assert meeting.done_on is not None
            if meeting.done_on <= due_day:
                within += 1
            else:
                late += 1
        elif _in(due_day, first, last) and due_day < cutoff and (
                meeting.status in OPEN_STATUSES
                or (meeting.done_on is not None and meeting.done_on > cutoff)):
            missed += 1

    overdue = []
    actions = (select(Obligation, Process)
               .join(Process, col(Process.id) == col(Obligation.process_id))
               .where(col(Obligation.key).startswith("stability.action#"),
                      col(Obligation.due_on) < cutoff)
               .order_by(col(Obligation.due_on), col(Obligation.id)))
    for action, case in session.exec(actions).all():
        still_open = action.status in OPEN_STATUSES or (
            action.status == "done" and action.done_on is not None and action.done_on > cutoff)
        if still_open and action.due_on is not None:
            overdue.append({"ref": case.ref, "key": action.key, "owner": action.owner_role,
                            "due": str(action.due_on), "days_late": (cutoff - action.due_on).days,
                            "status": "escalated" if action.status == "escalated" else "overdue"})

    with_meeting = sum(1 for e in endings if e["stability_meeting_first"])
    return {
        "month": month,
        "as_of": str(cutoff),
        "timezone": str(LONDON),
        "unplanned_endings": {
            "total": len(endings),
            "by_reason": _counts(e["reason"] for e in endings),
            "by_placement_type": _counts(e["placement_type"] for e in endings),
            "stability_meeting_first": with_meeting,
            "no_stability_meeting_first": len(endings) - with_meeting,
            "endings": endings,
        },
        "stability_meetings": {
            "requested": requested,
            "held": held,
            "held_within_window": within,
            "held_late": late,
            "window_passed_not_held": missed,
        },
        "overdue_actions": {"total": len(overdue), "actions": overdue},
    }


def table_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report as rows of (measure, value), for a Prefect table artifact or the terminal."""
    endings, meetings = report["unplanned_endings"], report["stability_meetings"]
    rows = [
        {"measure": "Unplanned endings", "value": endings["total"]},
        *({"measure": f"  reason {code}", "value": n} for code, n in endings["by_reason"].items()),
        *({"measure": f"  placement {kind}", "value": n}
          for kind, n in endings["by_placement_type"].items()),
        {"measure": "  with a stability meeting first (84 days)",
         "value": endings["stability_meeting_first"]},
        {"measure": "  without a stability meeting first",
         "value": endings["no_stability_meeting_first"]},
        {"measure": "Stability meetings requested", "value": meetings["requested"]},
        {"measure": "Stability meetings held", "value": meetings["held"]},
        {"measure": "  held within the window", "value": meetings["held_within_window"]},
        {"measure": "  held late", "value": meetings["held_late"]},
        {"measure": "Window passed, meeting not held", "value": meetings["window_passed_not_held"]},
        {"measure": "Stability actions overdue", "value": report["overdue_actions"]["total"]},
    ]
    return rows
