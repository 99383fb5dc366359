"""The monthly breakdown report (source 001: placement endings are counted and analysed monthly).

For a month: unplanned endings by SSDA903 reason and by placement type, whether a stability
meeting preceded each (a first or a follow-up meeting held for the child in the 84 days up to the
ending, the same window as the waiver), stability meetings requested and held within their
window, follow-up meetings held, the meetings held that month with an exception (minimum
attendance, the child's views, the support plan, the carer's and the child's feedback at an
unplanned ending meeting: each a declared exception with a name, worked out from the meeting's
record) and stability actions, of first and follow-up meetings, overdue at the end of the month
(or on the day asked, if earlier).

The endings are the unplanned-ending processes and the endings read from the authority's SSDA903
data (``placement_ending``), one per child and day: an imported ending with a process is counted
once, with the process's reason and the return's placement code. For an ending known only from
the return, a stability meeting "first" is known when one is on record, or when the system was
recording stability meetings (its first stability request) throughout the 84 days before it;
otherwise it is counted as unknown.
"""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from stepdown.domain.calendar import LONDON, local_date
from stepdown.domain.checks import STABILITY_MEETINGS, stability_meeting_days
from stepdown.domain.declarations import FormDecl
from stepdown.domain.forms import FormError
from stepdown.domain.process import exception_holds
from stepdown.domain.vocabulary import OPEN_STATUSES
from stepdown.models.tables import Obligation, PlacementEnding, Process
from stepdown.records import accepted_forms, current_policy, declarations, stability_meetings

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


def _endings(session: Session, first: date, last: date) -> list[dict[str, Any]]:
    """The month's unplanned endings: its processes, then the endings only the SSDA903 data
    has; one per child and day."""
    imported = {(row.child_ref, row.ended_on): row for row in session.exec(
        select(PlacementEnding).where(PlacementEnding.ended_on >= first,
                                      PlacementEnding.ended_on <= last)).all()}
    endings: list[dict[str, Any]] = []
    seen: set[tuple[str, date]] = set()
    query = select(Process).where(Process.kind == "unplanned_ending",
                                  Process.opened_on >= first, Process.opened_on <= last)
    for process in session.exec(query.order_by(col(Process.opened_on), col(Process.id))).all():
        key = (process.child_ref, process.opened_on)
        if key in seen:  # two processes for one ending (typed in twice): one ending
            continue
        seen.add(key)
        record = accepted_forms(session, process=process)["unplanned_ending.record"][0]
        held_before = [d for d in stability_meetings(session, child_ref=process.child_ref)
                       if process.opened_on - PRECEDED_WITHIN <= d <= process.opened_on]
        row = imported.pop(key, None)
        step_down = bool(record.get("step_down_ref"))
        endings.append({
            "ref": process.ref, "ended_on": str(process.opened_on), "reason": record["reason"],
            "placement_type": row.placement if row is not None else (
                record.get("placement_type") or ("step_down" if step_down else "other")),
            "step_down": step_down,
            "stability_meeting_first": bool(held_before),
            "source": "ssda903" if row is not None else "recorded",
        })
    if imported:
        meetings = _stability_meetings(session, {child for child, _ in imported})
        since = session.exec(select(sa.func.min(Process.opened_on)).where(
            Process.kind == "stability")).first()
        for (child, ended_on), row in sorted(imported.items(), key=lambda kv: kv[0][1]):
            held = any(ended_on - PRECEDED_WITHIN <= d <= ended_on
                       for d in meetings.get(child, ()))
            known = held or (since is not None and ended_on - PRECEDED_WITHIN >= since)
            endings.append({
                "ref": row.process_ref, "ended_on": str(ended_on), "reason": row.reason,
                "placement_type": row.placement, "step_down": False,
                "stability_meeting_first": held if known else None, "source": "ssda903",
            })
        endings.sort(key=lambda e: str(e["ended_on"]))  # stable: processes first on a day
    return endings


def _stability_meetings(session: Session, children: set[str]) -> dict[str, list[date]]:
    """The days stability meetings, first and follow-up, were held, by child, for the children
    given."""
    query = (select(Process.child_ref, Obligation.key, col(Obligation.done_on))
             .join(Process, col(Process.id) == col(Obligation.process_id))
             .where(Process.kind == "stability", Obligation.status == "done",
                    col(Process.child_ref).in_(sorted(children))))
    done: dict[str, dict[str, list[date]]] = {}
    for child, key, done_on in session.exec(query).all():
        if done_on is not None:
            done.setdefault(child, {}).setdefault(key, []).append(done_on)
    return {child: stability_meeting_days(keys) for child, keys in done.items()}


EXCEPTION_KINDS = ("stability", "unplanned_ending")


def named_exceptions() -> dict[str, FormDecl]:
    """The completion forms of the stability and unplanned ending processes with named
    exceptions (the meetings), by form key."""
    return {key: form for key, form in declarations().completions().items()
            if form.process in EXCEPTION_KINDS and any(e.name for e in form.exceptions)}


def exception_label(form: str, name: str) -> str:
    """``stability_meeting``, ``minimum_attendance``: "stability meeting: minimum attendance"."""
    return f"{form.replace('_', ' ')}: {name.replace('_', ' ')}"


def _exceptions(session: Session, first: date, last: date) -> dict[str, Any]:
    """The meetings held in the month whose record shows an exception, each exception by its
    declared name; and the stability meetings that left the support plan review unrecorded."""
    forms = named_exceptions()
    settings = current_policy().settings
    counts: Counter[str] = Counter({f"{key}.{e.name}": 0 for key, form in forms.items()
                                    for e in form.exceptions if e.name})
    meetings: list[dict[str, Any]] = []
    unrecorded = 0
    query = (select(Obligation, Process)
             .join(Process, col(Process.id) == col(Obligation.process_id))
             .where(col(Process.kind).in_(EXCEPTION_KINDS), Obligation.status == "done",
                    col(Obligation.done_on) >= first, col(Obligation.done_on) <= last,
                    col(Obligation.completion).in_(sorted(forms)))
             .order_by(col(Obligation.done_on), col(Obligation.id)))
    for row, process in session.exec(query).all():
        form, values = forms[str(row.completion)], dict(row.data or {})

        def when(condition: Any, values: dict[str, Any] = values) -> bool:
            return condition is None or bool(condition.holds(values, done=set(), forms=set(),
                                                             settings=settings))

        names = [e.name for e in form.exceptions if e.name and exception_holds(e, values, when)]
        if row.key.split("#", 1)[0] in STABILITY_MEETINGS and values.get(
                "support_plan_reviewed") is None:
            unrecorded += 1
        counts.update(f"{form.key}.{name}" for name in names)
        if names:
            meetings.append({"ref": process.ref, "key": row.key, "done_on": str(row.done_on),
                             "exceptions": names})
    return {"meetings_with_exceptions": len(meetings), "by_exception": dict(sorted(counts.items())),
            "support_plan_review_not_recorded": unrecorded, "meetings": meetings}


def _follow_ups(session: Session, first: date, last: date) -> dict[str, int]:
    """Follow-up stability meetings held in the month, and what they decided."""
    query = (select(Obligation)
             .join(Process, col(Process.id) == col(Obligation.process_id))
             .where(Process.kind == "stability", Obligation.status == "done",
                    col(Obligation.key).startswith("stability.next_meeting"),
                    col(Obligation.done_on) >= first, col(Obligation.done_on) <= last))
    outcomes = [str((row.data or {}).get("outcome")) for row in session.exec(query).all()]
    return {"held": len(outcomes), "placement_stable": outcomes.count("stable"),
            "move": outcomes.count("planned_move") + outcomes.count("urgent_move")}


def breakdowns(session: Session, *, month: str, as_of: date) -> dict[str, Any]:
    first, last = month_bounds(month)
    cutoff = min(last, as_of)
    endings = _endings(session, first, last)

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
               .where(sa.or_(col(Obligation.key).startswith("stability.action#"),
                             col(Obligation.key).startswith("stability.follow_up_action#")),
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
    unknown = sum(1 for e in endings if e["stability_meeting_first"] is None)
    return {
        "month": month,
        "as_of": str(cutoff),
        "timezone": str(LONDON),
        "unplanned_endings": {
            "total": len(endings),
            "by_reason": _counts(e["reason"] for e in endings),
            "by_placement_type": _counts(e["placement_type"] for e in endings),
            "stability_meeting_first": with_meeting,
            "no_stability_meeting_first": len(endings) - with_meeting - unknown,
            "stability_meeting_first_unknown": unknown,
            "step_down": sum(1 for e in endings if e["step_down"]),
            "from_ssda903": sum(1 for e in endings if e["source"] == "ssda903"),
            "endings": endings,
        },
        "stability_meetings": {
            "requested": requested,
            "held": held,
            "held_within_window": within,
            "held_late": late,
            "window_passed_not_held": missed,
        },
        "follow_up_meetings": _follow_ups(session, first, last),
        "exceptions": _exceptions(session, first, last),
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
        {"measure": "  stability meeting first not known",
         "value": endings["stability_meeting_first_unknown"]},
        {"measure": "  of them read from the SSDA903 data", "value": endings["from_ssda903"]},
        {"measure": "Stability meetings requested", "value": meetings["requested"]},
        {"measure": "Stability meetings held", "value": meetings["held"]},
        {"measure": "  held within the window", "value": meetings["held_within_window"]},
        {"measure": "  held late", "value": meetings["held_late"]},
        {"measure": "Window passed, meeting not held", "value": meetings["window_passed_not_held"]},
        {"measure": "Follow-up stability meetings held",
         "value": report["follow_up_meetings"]["held"]},
        {"measure": "  placement found stable",
         "value": report["follow_up_meetings"]["placement_stable"]},
        {"measure": "  a move decided", "value": report["follow_up_meetings"]["move"]},
        {"measure": "Meetings with an exception",
         "value": report["exceptions"]["meetings_with_exceptions"]},
        *({"measure": f"  {exception_label(*key.split('.', 1))}", "value": n}
          for key, n in report["exceptions"]["by_exception"].items()),
        {"measure": "Stability meetings: support plan review not recorded",
         "value": report["exceptions"]["support_plan_review_not_recorded"]},
        {"measure": "Stability actions overdue", "value": report["overdue_actions"]["total"]},
    ]
    return rows


# ------------------------------------------------------------------------------ months
def months(first: str, last: str, *, most: int = 60) -> list[str]:
    """The months from ``first`` to ``last``, both included (YYYY-MM)."""
    bounds = []
    for name, month in (("from", first), ("to", last)):
        try:
            bounds.append(month_bounds(month)[0])
        except FormError as exc:
            raise FormError(name, exc.rule) from None
    start, end = bounds
    if end < start:
        raise FormError("to", f"{last} is before --from {first}")
    out = []
    year, number = start.year, start.month
    while (year, number) <= (end.year, end.month):
        out.append(f"{year:04d}-{number:02d}")
        year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    if len(out) > most:
        raise FormError("to", f"at most {most} months at once (got {len(out)})")
    return out


def shift(month: str, by: int) -> str:
    first, _ = month_bounds(month)
    index = first.year * 12 + first.month - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def side_by_side(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Months side by side: one row per measure (as :func:`table_rows` names them), one column
    per month; a measure a month does not have (a reason not seen then) is 0 there."""
    by_month = {r["month"]: {row["measure"]: row["value"] for row in table_rows(r)}
                for r in reports}
    measures: list[str] = []
    for report in reports:  # the order of the first month that has each measure
        for row in table_rows(report):
            if row["measure"] not in measures:
                measures.append(row["measure"])
    return [{"measure": m, **{month: values.get(m, 0) for month, values in by_month.items()}}
            for m in measures]


def trend(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chart-friendly: one row per month, the same columns in every row (a count by reason for
    every SSDA903 reason, by placement type for every type seen in these months)."""
    from stepdown.ssda903 import REASONS

    places = sorted({p for r in reports for p in r["unplanned_endings"]["by_placement_type"]})
    rows = []
    for report in reports:
        endings = report["unplanned_endings"]
        rows.append({
            "month": report["month"],
            "unplanned_endings": endings["total"],
            "stability_meeting_first": endings["stability_meeting_first"],
            "no_stability_meeting_first": endings["no_stability_meeting_first"],
            "stability_meeting_first_unknown": endings["stability_meeting_first_unknown"],
            **{f"reason_{code}": endings["by_reason"].get(code, 0) for code in REASONS},
            **{f"placement_{p}": endings["by_placement_type"].get(p, 0) for p in places},
            "stability_meetings_held": report["stability_meetings"]["held"],
            "follow_up_meetings_held": report["follow_up_meetings"]["held"],
            "meetings_with_exceptions": report["exceptions"]["meetings_with_exceptions"],
            **{f"exception_{key.replace('.', '_')}": n
               for key, n in report["exceptions"]["by_exception"].items()},
            "stability_actions_overdue": report["overdue_actions"]["total"],
        })
    return rows


def last_months(session: Session, *, month: str, as_of: date,
                count: int = 12) -> list[dict[str, Any]]:
    """The reports of the ``count`` months up to and including ``month``, oldest first."""
    return [breakdowns(session, month=m, as_of=as_of)
            for m in months(shift(month, 1 - count), month)]
