"""Inputs that cannot be taken back are checked first (issue 8): strict types, no completion
before its earliest date without a reason, one open Step Down case per child, and assignments
that match the staff directory. Every refusal is one line naming the field and changes nothing."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from stepdown.cli import app
from stepdown.db import get_engine, session_scope
from stepdown.domain.case import ObligationView, check_done_on
from stepdown.domain.declarations import load_catalogue
from stepdown.domain.forms import Done, FormError, parse_form
from stepdown.records import get_process, open_process
from stepdown.staff import assign, import_staff
from tests import scenario
from tests.builders import (
    audit_actions,
    open_case,
    open_stability,
    record_ending,
    snapshot,
    submit,
    timeline_of,
)

SUITABILITY = {"held_on": "2026-11-09", "sdq_score": 12, "care_needs_band": "2.1",
               "care_plan_ratified": True}
MEETING = {"done_on": "2026-12-23", "chair": "fostering_team_manager",
           "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
           "child_views_recorded": True, "outcome": "stay",
           "actions": [{"title": "Respite weekend", "owner": "supervising_social_worker",
                        "due": "2027-01-08"}]}
STAFF = """email,role,manager_email,team
tm@la.example,team_manager,,north
sw@la.example,social_worker,tm@la.example,north
iro@la.example,iro,tm@la.example,north
"""

CATALOGUE = load_catalogue()
MODELS = [CATALOGUE.model(key) for key in CATALOGUE.stage_forms()] + [
    CATALOGUE.completion_model(name) for name in (None, *CATALOGUE.completions())]


def refused(ref: str, key: str, data: Any) -> str:
    """Submit an input that must be refused; the one-line error, after checking nothing
    changed in the record."""
    before = snapshot()
    with pytest.raises(FormError) as caught:
        submit(ref, key, data)
    assert snapshot() == before
    assert "\n" not in str(caught.value)
    return str(caught.value)


def case_at(ref: str, steps: int, *, child: str = scenario.CHILD) -> None:
    open_case(ref, child=child, identified=scenario.OPENED)
    for key, data in scenario.STEPS[:steps]:
        submit(ref, key, data)


# ------------------------------------------------------------------------ 1. strict types
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"care_plan_ratified": "yes"}, "care_plan_ratified: must be true or false (got 'yes')"),
        ({"care_plan_ratified": 1}, "care_plan_ratified: must be true or false (got 1)"),
        ({"sdq_score": "16"}, "sdq_score: must be a whole number (got '16')"),
        ({"sdq_score": 12.0}, "sdq_score: must be a whole number (got 12.0)"),
        ({"held_on": "2026-11-09T10:00:00"},
         "held_on: must be a date YYYY-MM-DD (got '2026-11-09T10:00:00')"),
        ({"held_on": 20261109}, "held_on: must be a date YYYY-MM-DD (got 20261109)"),
        ({"discussion_notes": 5}, "discussion_notes: must be text (got 5)"),
    ],
)
def test_a_stage_form_of_the_wrong_type_is_refused_and_changes_nothing(
    db_url: str, today: str, change: dict[str, Any], message: str
) -> None:
    open_case("SD-T1")
    assert refused("SD-T1", "identification.suitability", {**SUITABILITY, **change}) == message


def test_a_completion_and_a_nested_action_are_strict_too(db_url: str, today: str) -> None:
    open_case("SD-T2")
    assert refused("SD-T2", "identification.scayt_referral", {"done_on": "2026-11-10 00:00"}) == (
        "done_on: must be a date YYYY-MM-DD (got '2026-11-10 00:00')")
    open_stability("ST-T2", child="CH-T2", requested_at="2026-12-22T09:15:00+00:00")
    nested = {**MEETING, "actions": [{**MEETING["actions"][0], "due": "2027-01-08T00:00"}]}
    assert refused("ST-T2", "stability.meeting", nested) == (
        "actions.0.due: must be a date YYYY-MM-DD (got '2027-01-08T00:00')")
    assert refused("ST-T2", "stability.meeting", {**MEETING, "child_views_recorded": "true"}) == (
        "child_views_recorded: must be true or false (got 'true')")
    submit("ST-T2", "stability.meeting", MEETING)  # the same meeting, typed right, is accepted
    assert timeline_of("ST-T2", scenario.TODAY)["stability.action#1"]["due"] == "2027-01-08"


def test_iso_date_strings_and_python_dates_are_accepted() -> None:
    assert parse_form(Done, {"done_on": "2026-11-10"}).done_on == date(2026, 11, 10)
    assert parse_form(Done, {"done_on": date(2026, 11, 10)}).done_on == date(2026, 11, 10)
    with pytest.raises(FormError, match="data: must be JSON values only"):
        parse_form(Done, {"done_on": object()})


@pytest.mark.parametrize("model", sorted(
    MODELS,
    key=lambda m: m.__name__))
def test_what_a_flow_hands_on_from_the_ui_passes_the_strict_check(model: type[Any]) -> None:
    """A flow hands on ``received.model_dump(mode="json")``: whatever the UI's form produced
    must parse again, strictly, to the same values."""
    sample: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if not info.is_required():
            continue
        text = json.dumps(model.model_json_schema()["properties"][name])
        if '"format": "date"' in text:
            sample[name] = "2026-11-10"
        elif '"integer"' in text:
            sample[name] = 12
        elif '"boolean"' in text:
            sample[name] = True
        elif '"enum"' in text or '"const"' in text:
            schema = model.model_json_schema()["properties"][name]
            choices = schema.get("enum") or schema.get("items", {}).get("enum") or [
                schema.get("const")]
            if "$ref" in text or not choices or choices == [None]:
                ref = (schema.get("items") or schema)["$ref"].rsplit("/", 1)[-1]
                choices = model.model_json_schema()["$defs"][ref]["enum"]
            sample[name] = [choices[0]] if schema.get("type") == "array" else choices[0]
        elif '"string"' in text:  # a required text field (Early Help's outcomes improved)
            sample[name] = "Attendance restored"
    lax = model.model_validate(sample)  # as Prefect loads the UI's submission
    assert parse_form(model, lax.model_dump(mode="json")) == lax


def test_early_reason_is_an_optional_text_field_with_a_title_for_the_ui() -> None:
    for model in [CATALOGUE.completion_model(n) for n in (None, *CATALOGUE.completions())]:
        field = model.model_json_schema()["properties"]["early_reason"]
        assert field["title"] and field["description"]
        assert {"type": "string", "maxLength": 500} in field["anyOf"]
        assert "early_reason" not in model.model_json_schema().get("required", [])


# ------------------------------------------------------------------ 2. not before the earliest
def test_the_final_review_is_refused_before_its_window(db_url: str, today: str) -> None:
    case_at("SD-E1", 11)  # to the introduction planning meeting (S = 2027-01-25)
    early = {"done_on": "2027-02-22", "outcome": "move"}
    assert refused("SD-E1", "introduction.final_review", early) == (
        "done_on: 2027-02-22 is before the earliest date of introduction.final_review "
        "(2027-03-01); give early_reason to record it early")
    assert refused("SD-E1", "introduction.final_review", {**early, "early_reason": "   "})
    assert refused("SD-E1", "introduction.final_review", {**early, "early_reason": "x" * 501}) == (
        "early_reason: must be at most 500 characters")


def test_an_early_completion_with_a_reason_is_accepted_and_kept_in_the_audit_trail(
    db_url: str, today: str
) -> None:
    case_at("SD-E2", 11)
    submit("SD-E2", "introduction.final_review", {
        "done_on": "2027-02-22", "outcome": "move",
        "early_reason": "The carers' work moves them abroad in March."})
    assert timeline_of("SD-E2", scenario.TODAY)["introduction.final_review"]["status"] == "done"
    early = [detail for action, detail in audit_actions("SD-E2") if action == "input.early"]
    assert early == [{"key": "introduction.final_review", "earliest": "2027-03-01",
                      "reason": "The carers' work moves them abroad in March."}]


def test_a_completion_on_or_after_its_earliest_date_needs_no_reason(
    db_url: str, today: str
) -> None:
    case_at("SD-E3", 11)
    submit("SD-E3", "introduction.final_review", {"done_on": "2027-03-01", "outcome": "move"})
    assert "input.early" not in [action for action, _ in audit_actions("SD-E3")]


def test_an_unplanned_ending_meeting_is_refused_before_a_month_has_passed(
    db_url: str, today: str
) -> None:
    record_ending("UE-E1", child="CH-UE1", ended_on="2027-01-31")
    assert refused("UE-E1", "unplanned_ending.meeting",
                   {"done_on": "2027-02-18", "chair": "iro", "carer_feedback_taken": True,
                    "child_feedback_taken": True}) == (  # 18 days after the ending
        "done_on: 2027-02-18 is before the earliest date of unplanned_ending.meeting "
        "(2027-03-01); give early_reason to record it early")


def test_the_final_monthly_review_cannot_close_the_case_months_early(
    db_url: str, today: str
) -> None:
    """The field trial's mistake: #6 (due 2027-11-17) recorded months early as 'standard'
    would have closed the case and cancelled everything still open."""
    case_at("SD-E4", len(scenario.STEPS) - 1)  # moved in 2027-04-05
    item = timeline_of("SD-E4", scenario.TODAY)["support.monthly_review#6"]
    assert (item["due"], item["earliest"]) == ("2027-11-17", "2027-10-15")  # #5's due date
    message = refused("SD-E4", "support.monthly_review#6",
                      {"done_on": "2027-06-01", "outcome": "standard"})
    assert message.startswith("done_on: 2027-06-01 is before the earliest date of "
                              "support.monthly_review#6 (2027-10-15)")
    with session_scope() as session:
        assert get_process(session, ref="SD-E4").status == "open"
    submit("SD-E4", "support.monthly_review#6", {"done_on": "2027-10-15", "outcome": "standard"})
    with session_scope() as session:
        assert get_process(session, ref="SD-E4").outcome == "stepped_to_standard"


def test_after_continuing_monthly_the_new_final_review_has_its_own_earliest_date(
    db_url: str, today: str
) -> None:
    case_at("SD-E5", len(scenario.STEPS) - 1)
    submit("SD-E5", "support.monthly_review#6",
           {"done_on": "2027-11-17", "outcome": "continue_monthly"})
    items = timeline_of("SD-E5", scenario.TODAY)
    assert items["support.monthly_review#12"]["earliest"] == items["support.monthly_review#11"][
        "due"]
    assert items["support.monthly_review#7"]["earliest"] is None


def test_the_earliest_rule_is_in_the_pure_domain() -> None:
    view = ObligationView("x.review", "pending", date(2027, 1, 1), None,
                          earliest_on=date(2027, 3, 1), due_on=date(2027, 3, 19))
    with pytest.raises(FormError, match="done_on: 2027-02-01 is before the earliest date"):
        check_done_on("x.review", view, Done(done_on=date(2027, 2, 1)), today=date(2027, 12, 1))
    check_done_on("x.review", view, Done(done_on=date(2027, 2, 1), early_reason="Urgent"),
                  today=date(2027, 12, 1))
    check_done_on("x.review", view, Done(done_on=date(2027, 3, 1)), today=date(2027, 12, 1))


# ------------------------------------------------------------------------ 3. one at a time
def test_a_second_open_step_down_case_for_a_child_is_refused(db_url: str, today: str) -> None:
    open_case("SD-0042", child="C-1")
    before = snapshot()
    with pytest.raises(FormError) as caught:
        open_case("SD-0043", child="C-1")
    assert str(caught.value).startswith("child: C-1 already has an open step_down case SD-0042")
    assert snapshot() == before
    open_case("SD-0044", child="C-2")  # another child is another matter


def test_a_child_may_have_a_new_step_down_case_once_the_last_one_closed(
    db_url: str, today: str
) -> None:
    open_case("SD-C1", child="C-3")
    submit("SD-C1", "identification.suitability", SUITABILITY)
    submit("SD-C1", "identification.pact_decision",
           {"decided_on": "2026-11-16", "decision": "not_now"})
    open_case("SD-C2", child="C-3", identified="2027-06-01")
    with session_scope() as session:
        assert get_process(session, ref="SD-C2").status == "open"


def test_stability_and_unplanned_ending_processes_may_overlap(db_url: str, today: str) -> None:
    open_stability("ST-O1", child="C-4", requested_at="2026-12-22T09:15:00+00:00")
    open_stability("ST-O2", child="C-4", requested_at="2027-01-05T09:15:00+00:00")
    record_ending("UE-O1", child="C-4", ended_on="2027-02-01")
    record_ending("UE-O2", child="C-4", ended_on="2027-04-01")
    with session_scope() as session:
        assert all(get_process(session, ref=ref).status == "open"
                   for ref in ("ST-O1", "ST-O2", "UE-O1", "UE-O2"))


def test_the_one_at_a_time_check_runs_where_the_process_is_opened(
    db_url: str, today: str
) -> None:
    open_case("SD-R1", child="C-5")
    with session_scope() as session, pytest.raises(FormError, match="^child: C-5"):
        open_process(session, ref="SD-R2", kind="step_down", child_ref="C-5",
                     stage="identification", opened_on=date(2026, 11, 2), actor="ui",
                     opening={"child_ref": "C-5", "identified_on": "2026-11-02"})


# ------------------------------------------------------------------------ 4. assignments
def _assignments() -> list[tuple[Any, ...]]:
    with get_engine().connect() as connection:
        return [tuple(r) for r in connection.execute(sa.text(
            "SELECT process_id, role, person_id FROM assignment ORDER BY id"))]


def _staffed(ref: str) -> None:
    with session_scope() as session:
        import_staff(session, text=STAFF, actor="test")
    open_case(ref)


def test_an_assignment_must_match_the_directory_role(db_url: str, today: str) -> None:
    _staffed("SD-A1")
    before, rows = snapshot(), _assignments()
    for acting in (None, "  "):
        with session_scope() as session, pytest.raises(FormError) as caught:
            assign(session, ref="SD-A1", role="iro", email="sw@la.example", actor="test",
                   acting=acting)
        assert str(caught.value) == (
            "role: sw@la.example is a social_worker in the staff directory, not a iro: an "
            "assignment must match the directory role, or give --acting REASON")
    assert (snapshot(), _assignments()) == (before, rows)
    with session_scope() as session:
        assign(session, ref="SD-A1", role="iro", email="iro@la.example", actor="test")
    assert len(_assignments()) == 1
    assert "role.acting" not in [action for action, _ in audit_actions("SD-A1")]


def test_acting_in_another_role_is_accepted_with_its_reason_on_record(
    db_url: str, today: str
) -> None:
    _staffed("SD-A2")
    with session_scope() as session:
        assign(session, ref="SD-A2", role="team_manager", email="sw@la.example", actor="test",
               acting="Covering while the team manager is on leave")
    acting = [detail for action, detail in audit_actions("SD-A2") if action == "role.acting"]
    assert acting == [{"role": "team_manager", "person": "sw@la.example",
                       "directory_role": "social_worker",
                       "reason": "Covering while the team manager is on leave"}]


# ------------------------------------------------------------------------ the command line
def test_the_command_line_refuses_with_one_line_and_exit_status_2(
    db_url: str, today: str
) -> None:
    _staffed("SD-CLI")
    for key, data in scenario.STEPS[:11]:
        submit("SD-CLI", key, data)
    runner = CliRunner()
    before, rows = snapshot(), _assignments()
    cases = [
        (["case", "assign", "SD-CLI", "iro", "sw@la.example"],
         "error: role: sw@la.example is a social_worker in the staff directory, not a iro"),
        (["input", "SD-CLI", "introduction.final_review", "--data",
          '{"done_on": "2027-02-22", "outcome": "move"}'],
         "error: done_on: 2027-02-22 is before the earliest date of introduction.final_review"),
        (["input", "SD-CLI", "introduction.sw_check_in#1", "--data",
          '{"done_on": "2027-01-29", "early_reason": 7}'],
         "error: early_reason: must be text (got 7)"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(message), lines
    assert (snapshot(), _assignments()) == (before, rows)
    result = runner.invoke(app, ["case", "assign", "SD-CLI", "iro", "sw@la.example",
                                 "--acting", "No IRO free this week"])
    assert result.exit_code == 0, result.output
    assert "SD-CLI: iro is sw@la.example" in result.stdout


def test_a_policy_names_how_a_final_occurrence_gets_its_earliest_date() -> None:
    from stepdown.domain.policy import PolicyError, default_policy_text, parse_policy

    text = default_policy_text()
    assert parse_policy(text).rule_for_key("support.monthly_review#6").earliest_last == (
        "previous_due")
    with pytest.raises(PolicyError, match="earliest_last must be 'previous_due'"):
        parse_policy(text.replace('earliest_last = "previous_due"', 'earliest_last = "due"'))
