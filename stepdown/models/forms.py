"""The forms practitioners fill in: what a flow waits for, and how an obligation is completed.

Each form is a Prefect ``RunInput``: the Prefect UI renders it in the Resume dialog from its
JSON schema, so every field has a plain title and a description, choices are ``Literal`` (a
dropdown) and dates are ``date`` (a date picker). The field names are DOMAIN.md's contract.
Rules that need the case's record (dates within the stage, a ratified care plan) live in
``stepdown.domain.step_down``; the schema carries what can be checked on the form alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stepdown.domain.vocabulary import Role


def _submitted_by_last(schema: dict[str, Any]) -> None:
    """The form's own fields first in the Resume dialog; who submitted it at the end (pydantic
    puts a base class's fields first)."""
    properties = schema.get("properties", {})
    if "submitted_by" in properties:
        properties["submitted_by"] = properties.pop("submitted_by")


class Form(RunInput):
    """What every form carries besides its fields: who submitted it, for the audit trail."""

    model_config = ConfigDict(json_schema_extra=_submitted_by_last)

    submitted_by: str = Field(
        default="",
        max_length=254,
        pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$",
        title="Submitted by (your email, optional)",
        description="Your email in the staff directory: the case's audit trail names you as who "
        "made this change. Left empty, it records only that it came through the UI.",
    )


class Suitability(Form):
    """Record the multi-agency suitability meeting for Step Down."""

    held_on: date = Field(
        title="Date of the suitability meeting",
        description="The day the multi-agency suitability meeting was held. Not before the case "
        "was opened, not in the future.",
    )
    sdq_score: int = Field(
        ge=0,
        le=40,
        title="SDQ score (0-40)",
        description="The child's Strengths and Difficulties Questionnaire total. 0-13 is within "
        "range; 14 or more needs the discussion recorded below. A high score does not by itself "
        "rule out Step Down.",
    )
    care_needs_band: Literal["2.1", "2.2", "other"] = Field(
        title="Care needs band",
        description="The child's assessed care needs band: 2.1, 2.2 or other.",
    )
    care_plan_ratified: bool = Field(
        title="Care plan of fostering ratified by the IRO",
        description="Tick if the IRO has ratified a care plan of fostering. PACT cannot approve "
        "Step Down without it.",
    )
    discussion_notes: str = Field(
        default="",
        max_length=5000,
        title="Discussion of the SDQ score",
        description="Required when the SDQ score is 14 or more: how the meeting weighed the "
        "child's needs. Refer to the child by their case reference only: no names.",
    )


class PactDecision(Form):
    """Record the decision of the senior managers' performance meeting (PACT)."""

    decided_on: date = Field(
        title="Date of the PACT decision",
        description="The day PACT decided. Not before the suitability meeting, not in the future.",
    )
    decision: Literal["proceed", "not_now", "not_suitable"] = Field(
        title="Decision",
        description="proceed: start Preparation (needs a ratified care plan). not_now or "
        "not_suitable: close the case with that outcome.",
    )


class Readiness(Form):
    """Record whether the child is ready to move on to Matching."""

    decided_on: date = Field(
        title="Date of the readiness decision",
        description="The day the child confirmed they feel ready (or Step Down was found not "
        "suitable). Not before Preparation began, not in the future.",
    )
    outcome: Literal["ready", "not_suitable"] = Field(
        title="Outcome",
        description="ready: the child feels ready, start Matching. not_suitable: close the case.",
    )


class MatchingDecision(Form):
    """Record the decision on a proposed match with a foster family."""

    decided_on: date = Field(
        title="Date of the matching decision",
        description="The day the match was approved or declined. Not before Matching began, not "
        "in the future. An approval is the date the match is agreed.",
    )
    outcome: Literal["approved", "declined"] = Field(
        title="Outcome",
        description="approved: start Introductions. declined: stay in Matching and amend the My "
        "Home My Place and Key Criteria.",
    )
    reasons: str = Field(
        default="",
        max_length=5000,
        title="Reasons (required when declined)",
        description="Why the match was declined, to guide the amended search.",
    )


class Move(Form):
    """Record the day the child moved in with their foster family."""

    moved_in_on: date = Field(
        title="Date the child moved in",
        description="The day the child moved to the foster home. It starts Ongoing Support. Not "
        "before Introductions began, not in the future.",
    )


class Done(Form):
    """Record that an obligation was done."""

    done_on: date = Field(
        title="Date done",
        description="The day it happened. Not before the obligation opened, not in the future.",
    )
    early_reason: str | None = Field(
        default=None,
        max_length=500,
        title="Why before its earliest date (only if early)",
        description="Needed only when the date done is before the earliest date on the timeline: "
        "say why it could not wait. It is kept in the audit trail. Refer to the child by their "
        "case reference only: no names.",
    )


class ReviewOutcome(Done):
    """Record the final review of the introductions plan: move, or extend the plan."""

    outcome: Literal["move", "extend"] = Field(
        title="Outcome",
        description="move: plan the move. extend: extend the introductions plan and review again.",
    )
    extend_weeks: int | None = Field(
        default=None,
        ge=1,
        le=12,
        title="Extension in weeks (when extending)",
        description="How many weeks the plan is extended; the next review falls that many weeks "
        "after this review's due date.",
    )


class SupportOutcome(Done):
    """Record the final monthly support review: continue monthly, or step to standard reviews."""

    outcome: Literal["continue_monthly", "standard"] = Field(
        title="Outcome",
        description="continue_monthly: six more monthly reviews. standard: enhanced support ends "
        "and the case closes (stepped to standard reviews).",
    )


class Action(BaseModel):
    """An action agreed at a stability meeting: it becomes an obligation of its owner."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(
        min_length=1,
        max_length=200,
        title="Action",
        description="What is to be done, in a few words. Refer to the child by reference only.",
    )
    owner: Role = Field(title="Owner", description="The role responsible for the action.")
    due: date = Field(title="Due by", description="The date agreed at the meeting.")


class StabilityMeeting(Done):
    """Record the stability meeting: who came, the child's views, the outcome and the actions."""

    chair: Literal["team_manager", "fostering_team_manager"] = Field(
        title="Chair",
        description="The social work team manager or the fostering team manager "
        "(Improving Placement Stability, Appendix 1).",
    )
    attendees: list[Role] = Field(
        title="Attendees (roles)",
        description="Everyone who attended, by role. The foster carer, supervising social worker "
        "and social worker are the minimum: without them the meeting is recorded and reported as "
        "an exception.",
    )
    child_views_recorded: bool = Field(
        title="Child's views recorded",
        description="The child's views were available to the meeting "
        "(Improving Placement Stability, section 5).",
    )
    outcome: Literal["stay", "planned_move", "urgent_move"] = Field(
        title="Outcome",
        description="stay: the placement continues with support. planned_move: a move needs "
        "authorisation by HARP or the Head of Service first. urgent_move: only for an immediate "
        "safeguarding concern (Placement Stability guidance).",
    )
    safeguarding_concern: bool = Field(
        default=False,
        title="Immediate safeguarding concern",
        description="Required for an urgent move (Placement Stability guidance).",
    )
    actions: list[Action] = Field(
        default_factory=list,
        title="Actions agreed",
        description="Each becomes an obligation of its owner, chased and escalated if it drifts.",
    )
    next_meeting_on: date | None = Field(
        default=None,
        title="Next meeting (if set earlier than 3 months)",
        description="The next meeting is due within 3 months, or on this date if earlier.",
    )


class MoveAuthorisation(Done):
    """Record the authorisation of a planned move (HARP or the Head of Service, source 004)."""

    authorised_by: Literal["harp", "head_of_service"] = Field(
        title="Authorised by",
        description="HARP or the relevant Head of Service (Placement Stability guidance).",
    )
    decision: Literal["authorised", "declined"] = Field(
        title="Decision", description="Whether the move is authorised."
    )


class UnplannedEndingMeeting(Done):
    """Record the unplanned ending meeting: for learning, not blame (source 001, section 6)."""

    chair: Role = Field(
        title="Chair (role)",
        description="An Independent Reviewing Officer chairs it "
        "(Improving Placement Stability, Appendix 2): iro.",
    )
    carer_feedback_taken: bool = Field(
        default=True,
        title="Foster carer's feedback taken",
        description="The meeting always includes feedback from the foster carer.",
    )
    child_feedback_taken: bool = Field(
        default=True,
        title="Child's feedback taken",
        description="The meeting always includes feedback from the child or young person.",
    )


class Waiver(Form):
    """The reviewing team manager's decision whether an unplanned ending meeting is needed."""

    decided_on: date = Field(
        title="Date of the decision",
        description="Not before the placement ended, not in the future.",
    )
    decision: Literal["waive", "hold"] = Field(
        title="Decision",
        description="waive: no meeting is needed, because a stability meeting was held in the 12 "
        "weeks before the ending. hold: hold the unplanned ending meeting.",
    )


@dataclass(frozen=True)
class FormSpec:
    """A stage decision form: which process and stage it belongs to, and its model."""

    key: str
    process: str
    stage: str
    model: type[RunInput]
    date_field: str
    description: str


STAGE_FORMS: dict[str, FormSpec] = {
    spec.key: spec
    for spec in (
        FormSpec("identification.suitability", "step_down", "identification", Suitability,
                 "held_on", "The multi-agency suitability meeting (Step Down practice standards, "
                 "stage 1): SDQ 0-13 is "
                 "within range; 14 or more needs the discussion recorded."),
        FormSpec("identification.pact_decision", "step_down", "identification", PactDecision,
                 "decided_on", "The senior managers' performance meeting (PACT; Step Down "
                 "practice standards, stage 1) "
                 "decides whether Step Down proceeds. Proceed needs a care plan of fostering "
                 "ratified by the IRO."),
        FormSpec("preparation.readiness", "step_down", "preparation", Readiness, "decided_on",
                 "Preparation ends when the child confirms they feel ready (Step Down practice "
                 "standards, stage 2)."),
        FormSpec("matching.decision", "step_down", "matching", MatchingDecision, "decided_on",
                 "A proposed match is approved or declined (Step Down practice standards, "
                 "stage 3). A decline keeps the "
                 "case in Matching."),
        FormSpec("introduction.move", "step_down", "introduction", Move, "moved_in_on",
                 "The child moves in (Step Down practice standards, stage 4); Ongoing Support "
                 "starts that day."),
        FormSpec("unplanned_ending.waiver", "unplanned_ending", "meeting", Waiver, "decided_on",
                 "A stability meeting was held in the 12 weeks before this ending, so the team "
                 "manager of the reviewing team may decide that no unplanned ending meeting is "
                 "needed (Improving Placement Stability, section 6)."),
    )
}

COMPLETIONS: dict[str | None, type[Done]] = {
    None: Done,
    "review_outcome": ReviewOutcome,
    "support_outcome": SupportOutcome,
    "stability_meeting": StabilityMeeting,
    "move_authorisation": MoveAuthorisation,
    "unplanned_ending_meeting": UnplannedEndingMeeting,
}

# Completions a flow run waits for (the rest are recorded directly).
FLOW_COMPLETIONS = frozenset({"support_outcome", "stability_meeting", "unplanned_ending_meeting"})

REASONS = ("CARPL", "CLOSE", "ALLEG", "STAND", "APPRR", "CREQB", "CREQO", "CHILD", "LAREQ",
           "PLACE", "CUSTOD", "OTHER")  # SSDA903 reasons for a change of placement


class FormError(ValueError):
    """Bad input: one line naming the field and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        self.field, self.rule = field, rule
        super().__init__(f"{field}: {rule}")


def _rule_text(error: dict[str, Any]) -> str:
    kind, ctx, given = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this form"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')} (got {given!r})"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')} (got {given!r})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {given!r})"
    if kind.startswith("date"):
        return f"must be a date YYYY-MM-DD (got {given!r})"
    if kind.startswith("int"):
        return f"must be a whole number (got {given!r})"
    if kind == "string_pattern_mismatch" and error["loc"][-1:] == ("submitted_by",):
        return "must be an email address in the staff directory, or empty"  # no echo: a name
    if kind.startswith("bool"):
        return f"must be true or false (got {given!r})"
    if kind == "string_type":
        return f"must be text (got {given!r})"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    return str(error.get("msg", "is not valid")).rstrip(".")


def _as_json(value: Any) -> str:
    if isinstance(value, date):  # a caller in Python may hand a date: it is exact, so keep it
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def parse_form(model: type[RunInput], data: Any) -> RunInput:
    """The form's data as its model, or a one-line :class:`FormError`.

    Strict, as JSON: a bool is true or false (not "yes"), a number is a number (not "16"), a
    date is a "YYYY-MM-DD" string (not a timestamp). A wrong guess at a type would otherwise be
    recorded as a fact, and some inputs (an outcome that closes a case) cannot be taken back.
    """
    if not isinstance(data, dict):
        raise FormError("data", "must be a JSON object of the form's fields")
    try:
        text = json.dumps(data, default=_as_json)
    except (TypeError, ValueError) as exc:
        raise FormError("data", f"must be JSON values only ({exc})") from None
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "data"
        raise FormError(field, _rule_text(first)) from None
