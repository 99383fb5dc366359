"""The unplanned ending process (DOMAIN.md section 6; source 001 section 6 and Appendix 2).

A meeting one month to six weeks after the ending, chaired by an IRO, for learning and not blame.
If a stability meeting for the same child was held in the 12 weeks before the ending, the
reviewing team manager may decide that no meeting is needed (a waiver); otherwise it is refused.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from stepdown.domain import case as common
from stepdown.domain.case import CaseView, Effects, check_date
from stepdown.models.forms import (
    Done,
    FormError,
    FormSpec,
    UnplannedEndingMeeting,
    Waiver,
    parse_form,
)

WAIVER_WINDOW = timedelta(days=84)  # 001 section 6: "within 12 weeks of the ending"


def ended_on(case: CaseView) -> date:
    return date.fromisoformat(str(case.forms["unplanned_ending.record"][0]["ended_on"]))


def qualifying_meeting(case: CaseView) -> date | None:
    """The latest stability meeting for the child held in the 84 days up to the ending."""
    end = ended_on(case)
    held = [d for d in case.context.get("stability_meetings", [])
            if end - WAIVER_WINDOW <= d <= end]
    return max(held) if held else None


def check_stage_form(case: CaseView, spec: FormSpec, data: Any, *, today: date) -> Any:
    common.check_stage(case, spec.key)
    form = parse_form(spec.model, data)
    assert isinstance(form, Waiver)
    if case.forms.get(spec.key):
        raise FormError("form", f"{spec.key} is already recorded for {case.ref}")
    meeting = case.obligations.get("unplanned_ending.meeting")
    if meeting is not None and meeting.status == "done":
        raise FormError("form", f"the meeting was already held ({meeting.done_on})")
    if qualifying_meeting(case) is None:
        raise FormError(
            "decision",
            f"a waiver needs a stability meeting for this child held in the 84 days before the "
            f"ending ({ended_on(case)}); none was, so the meeting must be held",
        )
    check_date("decided_on", form.decided_on, not_before=ended_on(case),
               what="the placement ended", today=today)
    return form


def stage_form_effects(spec: FormSpec, form: Any) -> Effects:
    assert isinstance(form, Waiver)
    if form.decision == "hold":
        return Effects()
    return Effects(statuses=[("unplanned_ending.meeting", "waived")],
                   close=("meeting_waived", form.decided_on))


def check_completion(case: CaseView, key: str, data: Any, *, today: date) -> Done:
    form = common.check_completion(case, key, data, today=today)
    undecided = qualifying_meeting(case) is not None and not case.forms.get(
        "unplanned_ending.waiver")
    if isinstance(form, UnplannedEndingMeeting) and undecided:
        raise FormError("key", "a stability meeting preceded this ending: the reviewing team "
                        "manager decides first whether the meeting is needed "
                        "(unplanned_ending.waiver: waive or hold)")
    if isinstance(form, UnplannedEndingMeeting) and form.chair != "iro":
        raise FormError("chair", f"must be iro: an Independent Reviewing Officer chairs the "
                        "unplanned ending meeting (Improving Placement Stability, Appendix 2; "
                        f"got {form.chair!r})")
    common.check_done_on(key, case.obligations[key], form, today=today)
    return form


def completion_effects(key: str, form: Done) -> Effects:
    effects = common.completion_effects(key, form)
    if isinstance(form, UnplannedEndingMeeting):
        effects.start_stage = ("follow_up", form.done_on)
    return effects
