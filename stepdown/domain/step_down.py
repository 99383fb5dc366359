"""Step Down to foster care (DOMAIN.md section 4, source 000): what each input means for a case.

Pure functions over a snapshot of a case: which inputs are acceptable now (one-line errors naming
the field and the rule) and what an accepted input changes (an obligation done, a stage ended and
the next begun, the case closed). The records layer applies these; flows only orchestrate.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from stepdown.domain import case as common
from stepdown.domain.case import CaseView, Effects, check_date
from stepdown.models.forms import (
    Done,
    FormError,
    FormSpec,
    MatchingDecision,
    PactDecision,
    Readiness,
    Suitability,
    SupportOutcome,
    parse_form,
)

STAGES = ("identification", "preparation", "matching", "introduction", "support")
SDQ_DISCUSSION_FROM = 14  # 000 Stage 1: a score of 14 and above needs the discussion recorded


def check_stage_form(case: CaseView, spec: FormSpec, data: Any, *, today: date) -> Any:
    """The parsed form if it is acceptable for the case now; else a FormError."""
    common.check_stage(case, spec.key)
    form = parse_form(spec.model, data)
    stage_start = case.stage_starts[spec.stage]
    if case.forms.get(spec.key) and spec.key != "matching.decision":
        raise FormError("form", f"{spec.key} is already recorded for {case.ref}")
    not_before, what = stage_start, f"{spec.stage} began"
    needs_discussion = isinstance(form, Suitability) and form.sdq_score >= SDQ_DISCUSSION_FROM
    if needs_discussion and not form.discussion_notes.strip():
        raise FormError(
            "discussion_notes",
            f"is required when sdq_score is {SDQ_DISCUSSION_FROM} or more (got {form.sdq_score})",
        )
    if isinstance(form, PactDecision):
        suitability = case.forms.get("identification.suitability")
        if not suitability:
            raise FormError("form", "identification.suitability must be recorded before PACT")
        not_before = date.fromisoformat(str(suitability[-1]["held_on"]))
        what = "the suitability meeting"
        checklist = case.obligations.get("identification.care_plan_ratified")
        ratified = bool(suitability[-1].get("care_plan_ratified")) or (
            checklist is not None and checklist.status == "done")
        if form.decision == "proceed" and not ratified:
            raise FormError(
                "decision",
                "proceed needs a care plan of fostering ratified by the IRO "
                "(care_plan_ratified is false)",
            )
    declined = isinstance(form, MatchingDecision) and form.outcome == "declined"
    if declined and not form.reasons.strip():
        raise FormError("reasons", "is required when the outcome is declined")
    value = getattr(form, spec.date_field)
    check_date(spec.date_field, value, not_before=not_before, what=what, today=today)
    return form


def stage_form_effects(spec: FormSpec, form: Any) -> Effects:
    """An accepted stage form: the obligation it completes and the stage it ends or begins."""
    on: date = getattr(form, spec.date_field)
    data = form.model_dump(mode="json")
    effects = Effects()
    if isinstance(form, Suitability):
        effects.done.append((spec.key, on, data))
        if form.care_plan_ratified:
            effects.done.append(("identification.care_plan_ratified", on, {"done_on": str(on)}))
    elif isinstance(form, PactDecision):
        effects.done.append((spec.key, on, data))
        if form.decision == "proceed":
            effects.start_stage = ("preparation", on)
        else:
            effects.close = (form.decision, on)
    elif isinstance(form, Readiness):
        effects.done.append((spec.key, on, data))
        if form.outcome == "ready":
            effects.start_stage = ("matching", on)
        else:
            effects.close = ("not_suitable", on)
    elif isinstance(form, MatchingDecision):
        if form.outcome == "approved":
            effects.done.append((spec.key, on, data))
            effects.start_stage = ("introduction", on)
    else:  # Move
        effects.done.append((spec.key, on, data))
        effects.start_stage = ("support", on)
    return effects


def check_completion(case: CaseView, key: str, data: Any, *, today: date) -> Done:
    form = common.check_completion(case, key, data, today=today)
    common.check_done_on(key, case.obligations[key], form, today=today)
    return form


def completion_effects(key: str, form: Done) -> Effects:
    effects = common.completion_effects(key, form)
    if isinstance(form, SupportOutcome) and form.outcome == "standard":
        effects.close = ("stepped_to_standard", form.done_on)
    return effects


def next_stage(stage: str) -> str | None:
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None
