"""Named checks: the rules of the sources that a declaration's data cannot say.

A declaration refers to them by name: ``[[form.refuse]] check = "<name>"`` refuses a form, and
``[[stage.step]] when = "<name>"`` decides whether a stage waits for a step. Each reads the
case (and, through it, the child's other processes) and the policy's settings; their
timescales are policy values, not constants here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from stepdown.domain.calendar import LONDON, Duration
from stepdown.domain.case import CaseView
from stepdown.domain.forms import FormError

Check = Callable[[CaseView, dict[str, Any], dict[str, Any]], None]


def _day(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def ended_on(case: CaseView) -> date:
    return _day(case.forms["unplanned_ending.record"][0]["ended_on"])


def waiver_window(settings: dict[str, Any]) -> timedelta:
    duration = Duration.parse(str(settings.get("waiver_window", "84 days")))
    if duration.unit == "weeks":
        return timedelta(weeks=duration.amount)
    if duration.unit != "days":
        raise ValueError("waiver_window must be in days or weeks")
    return timedelta(days=duration.amount)


STABILITY_MEETINGS = ("stability.meeting", "stability.next_meeting")


def is_stability_meeting(key: str) -> bool:
    """A stability meeting's obligation: the first (``stability.meeting``) or a follow-up
    meeting (``stability.next_meeting``, ``stability.next_meeting#k``), each a stability
    meeting held (001 Appendix 1)."""
    return key.split("#", 1)[0] in STABILITY_MEETINGS


def stability_meeting_days(done: dict[str, list[date]]) -> list[date]:
    """The days a child's stability meetings, first and follow-up, were held."""
    return sorted(day for key, days in done.items() if is_stability_meeting(key) for day in days)


def qualifying_meeting(case: CaseView, settings: dict[str, Any]) -> date | None:
    """The latest stability meeting for the child (a first or a follow-up meeting) held in the
    waiver window (84 days, 001 section 6: "within 12 weeks") up to the ending."""
    end = ended_on(case)
    window = waiver_window(settings)
    held = [d for d in stability_meeting_days(case.child_done) if end - window <= d <= end]
    return max(held) if held else None


def waiver_allowed(case: CaseView, values: dict[str, Any], settings: dict[str, Any]) -> None:
    """A waiver needs a stability meeting for the child in the window before the ending."""
    meeting = case.obligations.get("unplanned_ending.meeting")
    if meeting is not None and meeting.status == "done":
        raise FormError("form", f"the meeting was already held ({meeting.done_on})")
    if qualifying_meeting(case, settings) is None:
        days = waiver_window(settings).days
        raise FormError(
            "decision",
            f"a waiver needs a stability meeting for this child held in the {days} days before "
            f"the ending ({ended_on(case)}); none was, so the meeting must be held")


def waiver_decided_first(case: CaseView, values: dict[str, Any],
                         settings: dict[str, Any]) -> None:
    """With a stability meeting before the ending, the team manager decides on the waiver
    before the meeting is recorded."""
    undecided = (qualifying_meeting(case, settings) is not None
                 and not case.forms.get("unplanned_ending.waiver"))
    if undecided:
        raise FormError("key", "a stability meeting preceded this ending: the reviewing team "
                        "manager decides first whether the meeting is needed "
                        "(unplanned_ending.waiver: waive or hold)")


def after_request(case: CaseView, values: dict[str, Any], settings: dict[str, Any]) -> None:
    """The stability meeting is not held before it was requested (an instant)."""
    assert case.opened_at is not None
    requested = case.opened_at.astimezone(LONDON)
    if _day(values["done_on"]) < requested.date():
        raise FormError("done_on", f"{values['done_on']} is before the meeting was requested "
                        f"({requested:%Y-%m-%d %H:%M}) ({requested.date()})")


def actions_not_before_meeting(case: CaseView, values: dict[str, Any],
                               settings: dict[str, Any]) -> None:
    """An action agreed at a meeting is not due before the meeting."""
    for index, action in enumerate(values.get("actions") or []):
        if _day(action["due"]) < _day(values["done_on"]):
            raise FormError(f"actions.{index}.due",
                            f"{action['due']} is before the meeting ({values['done_on']})")


def next_meeting_after_meeting(case: CaseView, values: dict[str, Any],
                               settings: dict[str, Any]) -> None:
    """The next stability meeting a meeting sets is after it (001 Appendix 1: "a date for
    review within 3 months is set")."""
    if values.get("next_meeting_on") and _day(values["next_meeting_on"]) <= _day(
            values["done_on"]):
        raise FormError("next_meeting_on", f"{values['next_meeting_on']} is not after the "
                        f"meeting ({values['done_on']}): the next meeting is a later date")


CHECKS: dict[str, Check] = {
    "waiver_allowed": waiver_allowed,
    "waiver_decided_first": waiver_decided_first,
    "after_request": after_request,
    "actions_not_before_meeting": actions_not_before_meeting,
    "next_meeting_after_meeting": next_meeting_after_meeting,
}

CONDITIONS: dict[str, Callable[[CaseView, dict[str, Any]], bool]] = {
    "waiver_offered": lambda case, settings: qualifying_meeting(case, settings) is not None,
}
