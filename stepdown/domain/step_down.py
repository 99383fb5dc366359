"""Step Down to foster care (DOMAIN.md section 4, source 000): what each input means for a case.

Pure functions over a snapshot of a case: which inputs are acceptable now (one-line errors naming
the field and the rule) and what an accepted input changes (an obligation done, a stage ended and
the next begun, the case closed). The records layer applies these; flows only orchestrate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from stepdown.models.forms import (
    COMPLETIONS,
    STAGE_FORMS,
    Done,
    FormError,
    FormSpec,
    MatchingDecision,
    PactDecision,
    Readiness,
    ReviewOutcome,
    Suitability,
    SupportOutcome,
    parse_form,
)

STAGES = ("identification", "preparation", "matching", "introduction", "support")
SDQ_DISCUSSION_FROM = 14  # 000 Stage 1: a score of 14 and above needs the discussion recorded


@dataclass(frozen=True)
class ObligationView:
    key: str
    status: str
    opened_on: date
    completion: str | None
    done_on: date | None = None


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


@dataclass
class Effects:
    """What an accepted input changes."""

    done: list[tuple[str, date, dict[str, Any]]] = field(default_factory=list)
    start_stage: tuple[str, date] | None = None
    close: tuple[str, date] | None = None


def _check_date(name: str, value: date, *, not_before: date | None, what: str, today: date) -> None:
    if not_before is not None and value < not_before:
        raise FormError(name, f"{value} is before {what} ({not_before})")
    if value > today:
        raise FormError(name, f"{value} is in the future (today is {today})")


def _check_open(case: CaseView) -> None:
    if case.status != "open":
        raise FormError("ref", f"{case.ref} is closed ({case.outcome}); it takes no more input")


def check_stage_form(case: CaseView, spec: FormSpec, data: Any, *, today: date) -> Any:
    """The parsed form if it is acceptable for the case now; else a FormError."""
    _check_open(case)
    if spec.process != case.kind:
        raise FormError("form", f"{spec.key} is a {spec.process} form; {case.ref} is {case.kind}")
    if spec.stage != case.stage:
        raise FormError(
            "form", f"{spec.key} belongs to {spec.stage}; {case.ref} is in {case.stage}"
        )
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
    _check_date(spec.date_field, value, not_before=not_before, what=what, today=today)
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


def completion_model(case: CaseView, key: str) -> type[Done]:
    obligation = case.obligations.get(key)
    return COMPLETIONS[obligation.completion if obligation else None]


def check_completion(case: CaseView, key: str, data: Any, *, today: date) -> Done:
    """The parsed completion of obligation ``key`` if acceptable now; else a FormError."""
    _check_open(case)
    obligation = case.obligations.get(key)
    if obligation is None:
        raise FormError("key", f"{key} is not an obligation of {case.ref} (yet)")
    if key in STAGE_FORMS:
        raise FormError("key", f"{key} is a form: submit its fields, not done_on")
    if obligation.status == "done":
        raise FormError("key", f"{key} is already done (on {obligation.done_on})")
    if obligation.status in ("cancelled", "waived"):
        raise FormError("key", f"{key} is {obligation.status}")
    form = parse_form(completion_model(case, key), data)
    if isinstance(form, ReviewOutcome) and form.outcome == "extend" and not form.extend_weeks:
        raise FormError("extend_weeks", "is required when the outcome is extend")
    _check_date("done_on", form.done_on, not_before=obligation.opened_on,
                what=f"{key} opened", today=today)
    return form


def completion_effects(key: str, form: Done) -> Effects:
    effects = Effects(done=[(key, form.done_on, form.model_dump(mode="json"))])
    if isinstance(form, SupportOutcome) and form.outcome == "standard":
        effects.close = ("stepped_to_standard", form.done_on)
    return effects


def next_stage(stage: str) -> str | None:
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None
