"""The stability process (DOMAIN.md section 5; source 001 section 5 and Appendix 1, source 004).

Anyone around the child may flag that a placement is at risk; the meeting follows within 48 hours
(policy), chaired by a team manager. Its actions become obligations of their owners. A meeting
without the minimum attendance is accepted and reported as an exception; an urgent move needs an
immediate safeguarding concern.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from stepdown.domain import case as common
from stepdown.domain.calendar import LONDON
from stepdown.domain.case import CaseView, Effects, check_date
from stepdown.models.forms import Done, FormError, FormSpec, StabilityMeeting

MINIMUM_ATTENDANCE = ("foster_carer", "supervising_social_worker", "social_worker")  # 001 App. 1


def check_stage_form(case: CaseView, spec: FormSpec, data: Any, *, today: date) -> Any:
    common.check_stage(case, spec.key)  # every stage form belongs to another process
    raise AssertionError(spec.key)


def stage_form_effects(spec: FormSpec, form: Any) -> Effects:  # pragma: no cover - no forms
    raise AssertionError(spec.key)


def check_completion(case: CaseView, key: str, data: Any, *, today: date) -> Done:
    form = common.check_completion(case, key, data, today=today)
    if not isinstance(form, StabilityMeeting):
        common.check_done_on(key, case.obligations[key], form, today=today)
        return form
    assert case.opened_at is not None
    requested = case.opened_at.astimezone(LONDON)
    check_date("done_on", form.done_on, not_before=requested.date(),
               what=f"the meeting was requested ({requested:%Y-%m-%d %H:%M})", today=today)
    common.check_not_early(key, case.obligations[key], form)
    if form.outcome == "urgent_move" and not form.safeguarding_concern:
        raise FormError("safeguarding_concern", "an urgent move needs an immediate safeguarding "
                        "concern (Placement Stability guidance): it must be true for outcome "
                        "urgent_move")
    for index, action in enumerate(form.actions):
        if action.due < form.done_on:
            raise FormError(f"actions.{index}.due",
                            f"{action.due} is before the meeting ({form.done_on})")
    return form


def completion_effects(key: str, form: Done) -> Effects:
    effects = common.completion_effects(key, form)
    if isinstance(form, StabilityMeeting):
        missing = [role for role in MINIMUM_ATTENDANCE if role not in form.attendees]
        if missing:
            effects.exceptions.append(
                f"minimum attendance not met: {', '.join(missing)} absent "
                "(Improving Placement Stability, Appendix 1)")
        if not form.child_views_recorded:
            effects.exceptions.append("the child's views were not available "
                                      "(Improving Placement Stability, section 5)")
        effects.start_stage = ("follow_up", form.done_on)
    return effects
