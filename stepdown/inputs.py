"""Inputs to a case, from the command line or the Prefect UI: resolve, validate, apply.

An input is named by a form (``identification.suitability``) or an obligation key
(``preparation.review#2``). Validation reads the case and the clock and changes nothing;
:func:`apply_input` records the submission and its effects in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from stepdown import clock
from stepdown.domain import process as engine
from stepdown.domain.case import CaseView, Effects
from stepdown.domain.declarations import FormDecl
from stepdown.domain.forms import FormError
from stepdown.models.tables import Person, Process, Submission
from stepdown.records import (
    NotFound,
    apply_effects,
    audit,
    case_view,
    current_policy,
    declarations,
    find_submission,
    record_submission,
)


@dataclass(frozen=True)
class Checked:
    key: str
    spec: FormDecl | None  # a stage decision form, or None for an obligation's completion
    form: Any
    effects: Effects

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.form.model_dump(mode="json"))


def is_form(key: str) -> bool:
    return key in declarations().stage_forms()


def flow_waits_for(case: CaseView, key: str) -> bool:
    """Whether ``key`` is handed to the case's flow run (a stage form, or a completion a stage
    waits for) rather than recorded directly."""
    catalogue = declarations()
    if key in catalogue.stage_forms():
        return True
    obligation = case.obligations.get(key)
    if obligation is None:
        return False
    return (obligation.completion in catalogue.flow_completions()
            or key in catalogue.flow_obligations())


def model_for(case: CaseView, key: str) -> type[Any]:
    """The model a flow waits on for ``key``."""
    catalogue = declarations()
    if key in catalogue.stage_forms():
        return catalogue.model(key)
    obligation = case.obligations.get(key)
    return catalogue.completion_model(obligation.completion if obligation else None)


def check(case: CaseView, key: str, data: Any) -> Checked:
    """Validate an input against the case as it is now; raises FormError or NotFound."""
    today = clock.today()
    catalogue = declarations()
    settings = current_policy().settings
    form = catalogue.stage_forms().get(key)
    if form is not None:
        parsed = engine.check_stage_form(catalogue, case, form, data, today=today,
                                         settings=settings)
        return Checked(key, form, parsed,
                       engine.stage_form_effects(form, parsed, case, settings, catalogue))
    if key not in case.obligations:
        raise NotFound(f"key: {key!r} is not a form or an obligation of {case.ref}")
    done = engine.check_completion(catalogue, case, key, data, today=today, settings=settings)
    return Checked(key, None, done,
                   engine.completion_effects(catalogue, case, key, done, settings))


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
