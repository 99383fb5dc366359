"""The case record on SQLite and PostgreSQL: a whole Step Down case, refusals, the audit trail."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from stepdown.db import get_engine, session_scope
from stepdown.domain.forms import FormError
from stepdown.records import NotFound, get_process, stage_runs
from tests import scenario
from tests.builders import open_case, snapshot, submit, timeline_of


def test_a_whole_case_is_scheduled_to_the_day(db_url: str, today: str) -> None:
    """Every stage's obligations fall on the dates DOMAIN.md gives, holidays and month ends
    included, and the case closes as stepped to standard."""
    open_case("SD-1", child=scenario.CHILD, identified=scenario.OPENED)
    for key, data in scenario.STEPS:
        submit("SD-1", key, data)
    items = timeline_of("SD-1", scenario.TODAY)
    for key, (due, earliest) in scenario.EXPECTED.items():
        assert key in items, f"{key} missing from the timeline"
        assert (items[key]["due"], items[key]["earliest"]) == (due, earliest), key
    for key in scenario.ABSENT:
        assert key not in items
    for key, status in scenario.STATUS.items():
        assert items[key]["status"] == status, key
    assert all(item["process"] == "step_down" for item in items.values())
    with session_scope() as session:
        process = get_process(session, ref="SD-1")
        assert (process.status, process.outcome) == ("closed", "stepped_to_standard")
        runs = {run.stage: (str(run.started_on), str(run.ended_on)) for run in
                stage_runs(session, process=process)}
    assert runs == {
        "identification": ("2026-11-02", "2026-11-16"),
        "preparation": ("2026-11-16", "2027-01-04"),
        "matching": ("2027-01-04", "2027-01-18"),
        "introduction": ("2027-01-18", "2027-04-05"),
        "support": ("2027-04-05", "2027-11-17"),
    }


def test_overdue_is_judged_as_of_the_day_asked(db_url: str, today: str) -> None:
    open_case("SD-2", identified="2026-11-02")
    for key, data in scenario.STEPS[:4]:  # up to the preparation planning meeting
        submit("SD-2", key, data)
    on_due_day = timeline_of("SD-2", "2026-11-30")
    after = timeline_of("SD-2", "2026-12-01")
    assert on_due_day["preparation.sw_visit#1"]["status"] == "pending"
    assert after["preparation.sw_visit#1"]["status"] == "overdue"
    assert after["preparation.planning_meeting"]["status"] == "done"
    assert after["identification.mhmp_sent"]["status"] == "pending"  # undated: never overdue


SUITABILITY = {"held_on": "2026-11-09", "sdq_score": 12, "care_needs_band": "2.1",
               "care_plan_ratified": False}


@pytest.mark.parametrize(
    ("key", "data", "message"),
    [
        ("identification.suitability", {**SUITABILITY, "sdq_score": 41},
         "sdq_score: must be at most 40"),
        ("identification.suitability", {**SUITABILITY, "sdq_score": -1},
         "sdq_score: must be at least 0"),
        ("identification.suitability", {**SUITABILITY, "sdq_score": 14},
         "discussion_notes: is required when sdq_score is 14 or more"),
        ("identification.suitability", {**SUITABILITY, "sdq_score": 20,
                                         "discussion_notes": "   "},
         "discussion_notes: is required"),
        ("identification.suitability", {**SUITABILITY, "held_on": "2026-11-01"},
         "held_on: 2026-11-01 is before identification began (2026-11-02)"),
        ("identification.suitability", {**SUITABILITY, "held_on": "2027-12-02"},
         "held_on: 2027-12-02 is in the future"),
        ("identification.suitability", {**SUITABILITY, "care_needs_band": "3"},
         "care_needs_band: must be one of"),
        ("identification.suitability", {k: v for k, v in SUITABILITY.items() if k != "held_on"},
         "held_on: is required"),
        ("identification.suitability", {**SUITABILITY, "colour": "red"},
         "colour: is not a field of this form"),
        ("identification.suitability", [1, 2], "data: must be a JSON object"),
        ("identification.pact_decision", {"decided_on": "2026-11-16", "decision": "proceed"},
         "identification.suitability must be recorded before PACT"),
        ("preparation.readiness", {"decided_on": "2026-11-16", "outcome": "ready"},
         "preparation.readiness belongs to preparation; SD-3 is in identification"),
        ("no.such_form", {"done_on": "2026-11-10"}, "key: 'no.such_form' is not a form"),
        ("preparation.planning_meeting", {"done_on": "2026-11-10"},
         "is not a form or an obligation of SD-3"),
        ("identification.mhmp_sent", {"done_on": "2026-11-01"},
         "done_on: 2026-11-01 is before identification.mhmp_sent opened (2026-11-02)"),
        ("identification.mhmp_sent", {"done_on": "10/11/2026"},
         "done_on: must be a date YYYY-MM-DD"),
    ],
)
def test_bad_input_is_refused_with_one_line_and_changes_nothing(
    db_url: str, today: str, key: str, data: object, message: str
) -> None:
    open_case("SD-3", identified="2026-11-02")
    before = snapshot()
    with pytest.raises((FormError, NotFound)) as refused:
        submit("SD-3", key, data)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert snapshot() == before


def test_proceed_needs_a_ratified_care_plan(db_url: str, today: str) -> None:
    open_case("SD-4")
    submit("SD-4", "identification.suitability", SUITABILITY)
    before = snapshot()
    with pytest.raises(FormError, match="decision: proceed needs a care plan of fostering"):
        submit("SD-4", "identification.pact_decision",
               {"decided_on": "2026-11-16", "decision": "proceed"})
    assert snapshot() == before
    # Ratified later (the checklist item), PACT can proceed; a decision before the meeting cannot.
    submit("SD-4", "identification.care_plan_ratified", {"done_on": "2026-11-12"})
    with pytest.raises(FormError, match="decided_on: 2026-11-08 is before the suitability"):
        submit("SD-4", "identification.pact_decision",
               {"decided_on": "2026-11-08", "decision": "proceed"})
    submit("SD-4", "identification.pact_decision",
           {"decided_on": "2026-11-16", "decision": "proceed"})
    assert timeline_of("SD-4", today)["preparation.planning_meeting"]["due"] == "2026-11-30"


def test_done_twice_and_closed_cases_are_refused(db_url: str, today: str) -> None:
    open_case("SD-5")
    submit("SD-5", "identification.mhmp_sent", {"done_on": "2026-11-03"})
    with pytest.raises(FormError, match="already done"):
        submit("SD-5", "identification.mhmp_sent", {"done_on": "2026-11-04"})
    submit("SD-5", "identification.suitability", SUITABILITY)
    submit("SD-5", "identification.pact_decision",
           {"decided_on": "2026-11-16", "decision": "not_now"})
    items = timeline_of("SD-5", today)
    assert items["identification.child_views"]["status"] == "cancelled"
    assert items["identification.mhmp_sent"]["status"] == "done"
    with pytest.raises(FormError, match="SD-5 is closed \\(not_now\\)"):
        submit("SD-5", "identification.child_views", {"done_on": "2026-11-20"})


def test_a_second_process_with_the_same_ref_is_refused(db_url: str, today: str) -> None:
    open_case("SD-6")
    before = snapshot()
    with pytest.raises(FormError, match="ref: a process 'SD-6' already exists"):
        open_case("SD-6")
    assert snapshot() == before


def test_the_audit_trail_is_append_only(db_url: str, today: str) -> None:
    """The database itself refuses to change or remove an audit event."""
    open_case("SD-7")
    engine = get_engine()
    for statement in ("UPDATE audit_event SET action = 'x'", "DELETE FROM audit_event"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    with engine.connect() as conn:
        actions = [row[0] for row in conn.execute(sa.text(
            "SELECT action FROM audit_event ORDER BY id"))]
    assert actions[0] == "process.opened"
    assert "obligation.created" in actions


def test_every_form_is_kept_as_submitted_with_its_channel(db_url: str, today: str) -> None:
    open_case("SD-8")
    # Types are strict (a "9" for a number is refused: tests/test_input_rules.py), so what
    # differs between the submission and its validated values is the defaults filled in.
    submit("SD-8", "identification.suitability", {**SUITABILITY, "sdq_score": 9})
    with get_engine().connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT form, data, \"values\", channel, status FROM submission ORDER BY id")).all()
    form, data, values, channel, status = rows[-1]
    data = data if isinstance(data, dict) else __import__("json").loads(data)
    values = values if isinstance(values, dict) else __import__("json").loads(values)
    assert (form, channel, status) == ("identification.suitability", "cli", "accepted")
    assert data == {**SUITABILITY, "sdq_score": 9}  # as submitted, not as validated
    assert "discussion_notes" not in data and values["discussion_notes"] == ""


def test_a_local_authority_policy_file_changes_the_timescales(
    db_url: str, today: str, tmp_path, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    """STEPDOWN_POLICY points at an edited copy of the policy: the case follows it."""
    from stepdown.domain.policy import default_policy_text

    text = default_policy_text().replace(
        'key = "preparation.planning_meeting"\nprocess = "step_down"\nstage = "preparation"\n'
        'owner = "social_worker"\ntitle = "Preparation planning meeting"\ndue = "stage + 14 days"',
        'key = "preparation.planning_meeting"\nprocess = "step_down"\nstage = "preparation"\n'
        'owner = "social_worker"\ntitle = "Preparation planning meeting"\n'
        'due = "stage + 10 working days"')
    assert "stage + 10 working days" in text
    local = tmp_path / "our-policy.toml"
    local.write_text(text)
    monkeypatch.setenv("STEPDOWN_POLICY", str(local))
    open_case("SD-9")
    submit("SD-9", "identification.suitability", {**SUITABILITY, "care_plan_ratified": True})
    submit("SD-9", "identification.pact_decision",
           {"decided_on": "2026-12-21", "decision": "proceed"})
    items = timeline_of("SD-9", today)
    # 10 working days after Mon 2026-12-21: 22 23 24 29 30 31 (25, 28 Dec and 1 Jan are
    # bank holidays) 4 5 6 7 January.
    assert items["preparation.planning_meeting"]["due"] == "2027-01-07"
    assert items["preparation.sw_visit#1"]["due"] == "2027-01-04"  # still 14 days
