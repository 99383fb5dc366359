"""Inputs to a case, from the command line or the Prefect UI: resolve, validate, apply.

An input is named by a form (``identification.suitability``) or an obligation key
(``preparation.review#2``). Validation reads the case and the clock and changes nothing;
:func:`apply_input` records the submission and its effects in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from sqlmodel import Session, select

from stepdown import clock
from stepdown.domain import stability, step_down, unplanned_ending
from stepdown.domain.case import CaseView, Effects, completion_model, early_effects
from stepdown.models.forms import FLOW_COMPLETIONS, STAGE_FORMS, Done, FormError, FormSpec
from stepdown.models.tables import Person, Process, Submission
from stepdown.records import (
    NotFound,
    apply_effects,
    audit,
    case_view,
    find_submission,
    record_submission,
)


@dataclass(frozen=True)
class Checked:
    key: str
    spec: FormSpec | None  # a stage decision form, or None for an obligation's completion
    form: Any
    effects: Effects

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.form.model_dump(mode="json"))


RULES: dict[str, ModuleType] = {
    "step_down": step_down,
    "stability": stability,
    "unplanned_ending": unplanned_ending,
}


def is_form(key: str) -> bool:
    return key in STAGE_FORMS


def flow_waits_for(case: CaseView, key: str) -> bool:
    """Whether ``key`` is handed to the case's flow run (a stage form, or a completion that
    decides a stage) rather than recorded directly."""
    if is_form(key):
        return True
    obligation = case.obligations.get(key)
    return obligation is not None and obligation.completion in FLOW_COMPLETIONS


def model_for(case: CaseView, key: str) -> type[Any]:
    """The RunInput model a flow waits on for ``key``."""
    if is_form(key):
        return STAGE_FORMS[key].model
    return completion_model(case, key)


def check(case: CaseView, key: str, data: Any) -> Checked:
    """Validate an input against the case as it is now; raises FormError or NotFound."""
    today = clock.today()
    rules = RULES[case.kind]
    if is_form(key):
        spec = STAGE_FORMS[key]
        form = rules.check_stage_form(case, spec, data, today=today)
        return Checked(key, spec, form, rules.stage_form_effects(spec, form))
    if key not in case.obligations:
        raise NotFound(f"key: {key!r} is not a form or an obligation of {case.ref}")
    done: Done = rules.check_completion(case, key, data, today=today)
    effects = rules.completion_effects(key, done)
    effects.early.extend(early_effects(key, case.obligations[key], done))
    return Checked(key, None, done, effects)


def apply_input(session: Session, *, process: Process, key: str, data: Any, channel: str,
                flow_run_id: str | None = None, input_key: str | None = None) -> Submission:
    """Validate and apply an input; a rejected one from a flow is recorded as rejected.

    Idempotent by ``input_key``: a flow re-run after a crash gets the recorded result back.
    """
    received = None
    if input_key is not None:
        received = find_submission(session, process=process, input_key=input_key,
                                   flow_run_id=flow_run_id)
        if received is not None and received.status in ("accepted", "rejected", "corrected"):
            return received
    try:
        checked = check(case_view(session, process=process), key, data)
        who = submitter(session, checked.data)
    except (FormError, NotFound) as exc:
        if input_key is None:
            raise
        if received is not None:
            received.status, received.error = "rejected", str(exc)[:500]
            session.add(received)
            return received
        return record_submission(session, process=process, form=key, data=data,
                                 channel=channel, flow_run_id=flow_run_id, input_key=input_key,
                                 status="rejected", error=str(exc)[:500])
    if received is not None:
        received.status, received.values = "accepted", checked.data
        session.add(received)
        audit(session, process=process, actor=who or received.channel, action="input.accepted",
              form=key, input_key=input_key, channel=received.channel)
        submission = received
    else:
        submission = record_submission(session, process=process, form=key, data=data,
                                       values=checked.data, channel=channel,
                                       flow_run_id=flow_run_id, input_key=input_key,
                                       actor=who)
    apply_effects(session, process=process, effects=checked.effects,
                  actor=who or submission.channel)
    return submission


def submitter(session: Session, values: dict[str, Any]) -> str | None:
    """The person a form says submitted it (``submitted_by``), who must be in the staff
    directory: the actor of the input in the audit trail. None if the form names nobody."""
    email = str(values.get("submitted_by") or "").lower()
    if not email:
        return None
    if len(email) > 64:  # the audit trail's actor column
        raise FormError("submitted_by", "must be at most 64 characters")
    if session.exec(select(Person.id).where(Person.email == email)).first() is None:
        raise FormError("submitted_by", f"{email} is not in the staff directory")
    return email
