"""Stability meetings and unplanned endings (DOMAIN.md sections 5 and 6) on both databases."""

from __future__ import annotations

from datetime import date

import pytest
from typer.testing import CliRunner

from stepdown.db import session_scope
from stepdown.domain.forms import FormError, parse_form
from stepdown.records import get_process
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

MEETING = {
    "done_on": "2026-12-23", "chair": "fostering_team_manager",
    "attendees": ["foster_carer", "supervising_social_worker", "social_worker", "iro"],
    "child_views_recorded": True, "outcome": "stay",
    "actions": [
        {"title": "Arrange respite weekend", "owner": "supervising_social_worker",
         "due": "2027-01-08"},
        {"title": "School meeting on transport", "owner": "virtual_school", "due": "2027-01-16"},
    ],
}


def test_the_48_hour_window_crosses_the_change_to_summer_time(db_url: str, today: str) -> None:
    """48 hours are elapsed time: 10:00 GMT on Saturday is 11:00 BST on Monday."""
    open_stability("ST-1", child="CHILD-1", requested_at="2026-03-28T10:00:00+00:00")
    item = timeline_of("ST-1", today)["stability.meeting"]
    assert item["due"] == "2026-03-30T11:00:00+01:00"
    assert (item["owner"], item["process"], item["ref"]) == ("social_worker", "stability", "ST-1")
    assert timeline_of("ST-1", "2026-03-30")["stability.meeting"]["status"] == "pending"
    assert timeline_of("ST-1", "2026-03-31")["stability.meeting"]["status"] == "overdue"


@pytest.mark.parametrize("by", ["school", "health"])
def test_a_school_or_health_may_request_a_stability_meeting(db_url: str, today: str,
                                                            by: str) -> None:
    """DOMAIN.md section 5: anyone around the child, school and health included, may flag a
    placement at risk: the opening form takes them, and the request is recorded with its
    48-hour meeting. (`stability request --by school` against a served system is in
    tests/test_e2e_processes.py.)"""
    from stepdown.records import declarations

    catalogue = declarations()
    form = catalogue.model(catalogue.process("stability").opening)
    parsed = parse_form(form, {"requested_at": "2027-11-29T10:00:00+00:00", "requested_by": by})
    assert parsed.requested_by == by
    open_stability(f"ST-R-{by}", child=f"CH-{by}", requested_at="2027-11-29T10:00:00+00:00",
                   by=by)
    assert timeline_of(f"ST-R-{by}", today)["stability.meeting"]["due"] == (
        "2027-12-01T10:00:00+00:00")


def test_a_stability_request_by_someone_who_is_not_a_role_is_refused_in_one_line(
    db_url: str, today: str
) -> None:
    from stepdown import cli

    before = snapshot()
    ran = CliRunner().invoke(cli.app, ["stability", "request", "ST-R2", "--child", "CH-R2",
                                       "--requested-at", "2027-11-29T10:00", "--by", "headteacher"])
    assert ran.exit_code == 2
    (line,) = ran.stderr.strip().splitlines()
    assert line.startswith("error: by: must be one of the roles") and "school" in line
    assert snapshot() == before


def test_the_window_is_policy_24_hours_is_the_alternative(
    db_url: str, today: str, tmp_path, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    from stepdown.domain.policy import default_policy_text

    text = default_policy_text().replace("requested_at + 48 hours", "requested_at + 24 hours")
    (tmp_path / "p.toml").write_text(text)
    monkeypatch.setenv("STEPDOWN_POLICY", str(tmp_path / "p.toml"))
    open_stability("ST-2", child="CHILD-2", requested_at="2026-10-24T18:30:00+01:00")
    # 24 elapsed hours across the end of summer time: 18:30 BST -> 17:30 GMT next day.
    assert timeline_of("ST-2", today)["stability.meeting"]["due"] == "2026-10-25T17:30:00+00:00"


def test_the_meeting_sets_minutes_actions_checks_and_the_next_meeting(
    db_url: str, today: str
) -> None:
    open_stability("ST-3", child="CHILD-3", requested_at="2026-12-22T09:15:00+00:00")
    submit("ST-3", "stability.meeting", {**MEETING, "next_meeting_on": "2027-02-10"})
    items = timeline_of("ST-3", today)
    assert items["stability.meeting"]["status"] == "done"
    # Minutes: 3 working days after Wed 23 Dec, across Christmas: 24, 29, 30 December.
    assert (items["stability.minutes"]["due"], items["stability.minutes"]["owner"]) == (
        "2026-12-30", "fostering_team_manager")  # the chair
    assert (items["stability.action#1"]["due"], items["stability.action#1"]["owner"],
            items["stability.action#1"]["title"]) == (
        "2027-01-08", "supervising_social_worker", "Arrange respite weekend")
    # Agreed for Saturday 16 January: a day-based deadline moves back to Friday.
    assert (items["stability.action#2"]["due"], items["stability.action#2"]["owner"]) == (
        "2027-01-15", "virtual_school")
    assert items["stability.iro_check"]["due"] == "2027-02-03"  # + 42 days
    assert items["stability.next_meeting"]["due"] == "2027-02-10"  # earlier than 3 months
    assert "stability.move_authorisation" not in items  # outcome stay
    with session_scope() as session:
        assert get_process(session, ref="ST-3").stage == "follow_up"


def test_next_meeting_within_three_months_and_a_planned_move_needs_authorisation(
    db_url: str, today: str
) -> None:
    open_stability("ST-4", child="CHILD-4", requested_at="2026-11-30T16:00:00+00:00")
    submit("ST-4", "stability.meeting", {**MEETING, "done_on": "2026-11-30",
                                         "outcome": "planned_move", "actions": [],
                                         "move_planned_on": "2026-12-11"})
    items = timeline_of("ST-4", today)
    # 30 November + 3 months = 28 February (clamped), a Sunday: due Friday 26 February.
    assert items["stability.next_meeting"]["due"] == "2027-02-26"
    assert "stability.move_authorisation" not in items  # the placement process authorises
    # The planned move opens the child's placement process <ref>-MOVE (DOMAIN.md sections 5, 8):
    # its authorisation is due on the planned date and chased like any obligation.
    with session_scope() as session:
        move = get_process(session, ref="ST-4-MOVE")
        assert (move.kind, move.child_ref, move.stage, move.opened_on) == (
            "placement", "CHILD-4", "authorisation", date(2026, 11, 30))
    authorisation = timeline_of("ST-4-MOVE", today)["placement.authorisation"]
    assert (authorisation["owner"], authorisation["due"]) == ("head_of_service", "2026-12-11")
    submit("ST-4-MOVE", "placement.authorisation",
           {"decided_on": "2026-12-04", "route": "harp", "decision": "approved"})
    assert timeline_of("ST-4-MOVE", today)["placement.authorisation"]["status"] == "done"
    with session_scope() as session:
        assert get_process(session, ref="ST-4-MOVE").stage == "move"


def test_an_urgent_move_opens_an_emergency_placement_whose_approval_needs_both_conditions(
    db_url: str, today: str
) -> None:
    open_stability("ST-4U", child="CHILD-4U", requested_at="2026-11-30T16:00:00+00:00")
    submit("ST-4U", "stability.meeting", {**MEETING, "done_on": "2026-11-30",
                                          "outcome": "urgent_move", "actions": [],
                                          "safeguarding_concern": True})
    # No planned date: the authorisation is due at once, on the meeting's day.
    assert timeline_of("ST-4U-MOVE", today)["placement.authorisation"]["due"] == "2026-11-30"
    before = snapshot()
    with pytest.raises(FormError, match="^alternatives_considered: an emergency move needs "
                                        "a full understanding of the alternative placement "
                                        "options"):
        submit("ST-4U-MOVE", "placement.authorisation",
               {"decided_on": "2026-12-01", "route": "head_of_service", "decision": "approved",
                "safeguarding_concern": True})
    assert snapshot() == before
    submit("ST-4U-MOVE", "placement.authorisation",
           {"decided_on": "2026-12-01", "route": "head_of_service", "decision": "approved",
            "safeguarding_concern": True, "alternatives_considered": True})
    assert timeline_of("ST-4U-MOVE", today)["placement.authorisation"]["status"] == "done"


def test_a_meeting_without_the_minimum_attendance_is_recorded_as_an_exception(
    db_url: str, today: str
) -> None:
    open_stability("ST-5", child="CHILD-5", requested_at="2026-12-22T09:15:00+00:00")
    submit("ST-5", "stability.meeting",
           {**MEETING, "attendees": ["social_worker", "iro"], "child_views_recorded": False})
    assert timeline_of("ST-5", today)["stability.meeting"]["status"] == "done"
    exceptions = [d["exception"] for a, d in audit_actions("ST-5") if a == "exception.reported"]
    assert exceptions == [
        "minimum attendance not met: foster_carer, supervising_social_worker absent "
        "(Improving Placement Stability, Appendix 1)",
        "the child's views were not available (Improving Placement Stability, section 5)",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"done_on": "2026-12-21"},
         "done_on: 2026-12-21 is before the meeting was requested (2026-12-22 09:15)"),
        ({"actions": [{"title": "Respite", "due": "2027-01-08"}]}, "actions.0.owner: is required"),
        ({"actions": [{"title": "Respite", "owner": "social_worker", "due": "2026-12-20"}]},
         "actions.0.due: 2026-12-20 is before the meeting (2026-12-23)"),
        ({"outcome": "urgent_move"}, "safeguarding_concern: an urgent move needs an immediate"),
        ({"chair": "iro"}, "chair: must be one of"),
        ({"attendees": ["headteacher"]}, "attendees.0: must be one of"),
    ],
)
def test_bad_meeting_records_are_refused_and_change_nothing(
    db_url: str, today: str, change: dict, message: str  # type: ignore[type-arg]
) -> None:
    open_stability("ST-6", child="CHILD-6", requested_at="2026-12-22T09:15:00+00:00")
    before = snapshot()
    with pytest.raises(FormError) as refused:
        submit("ST-6", "stability.meeting", {**MEETING, **change})
    assert message in str(refused.value)
    assert snapshot() == before


def test_an_urgent_move_with_a_safeguarding_concern_is_accepted(db_url: str, today: str) -> None:
    open_stability("ST-7", child="CHILD-7", requested_at="2026-12-22T09:15:00+00:00")
    submit("ST-7", "stability.meeting",
           {**MEETING, "outcome": "urgent_move", "safeguarding_concern": True})
    assert timeline_of("ST-7", today)["stability.meeting"]["status"] == "done"


def test_the_unplanned_ending_meeting_window_from_a_month_end(db_url: str, today: str) -> None:
    """Ended 31 January: one month is 28 February (a Sunday: the window opens Monday 1 March);
    42 days is Sunday 14 March (due Friday 12 March)."""
    assert record_ending("UE-1", child="CHILD-8", ended_on="2027-01-31") is None
    item = timeline_of("UE-1", today)["unplanned_ending.meeting"]
    assert (item["earliest"], item["due"], item["owner"]) == ("2027-03-01", "2027-03-12", "iro")
    with pytest.raises(FormError, match="chair: must be iro"):
        submit("UE-1", "unplanned_ending.meeting", {"done_on": "2027-03-02",
                                                    "chair": "team_manager"})
    with pytest.raises(FormError, match="decision: a waiver needs a stability meeting"):
        submit("UE-1", "unplanned_ending.waiver", {"decided_on": "2027-02-01",
                                                   "decision": "waive"})
    submit("UE-1", "unplanned_ending.meeting", {"done_on": "2027-03-02", "chair": "iro"})
    # Minutes: 5 working days after Tue 2 March.
    assert timeline_of("UE-1", today)["unplanned_ending.minutes"]["due"] == "2027-03-09"


def test_a_waiver_is_granted_after_a_recent_stability_meeting(db_url: str, today: str) -> None:
    open_stability("ST-9", child="CHILD-9", requested_at="2026-12-22T09:15:00+00:00")
    submit("ST-9", "stability.meeting", MEETING)  # held 2026-12-23
    # 84 days after 23 December is 17 March: an ending on 17 March still qualifies.
    record_ending("UE-9", child="CHILD-9", ended_on="2027-03-17", reason="ALLEG")
    with pytest.raises(FormError, match="decides first whether the meeting is needed"):
        submit("UE-9", "unplanned_ending.meeting", {"done_on": "2027-04-20", "chair": "iro"})
    submit("UE-9", "unplanned_ending.waiver", {"decided_on": "2027-03-19", "decision": "waive"})
    items = timeline_of("UE-9", today)
    assert items["unplanned_ending.meeting"]["status"] == "waived"
    assert "unplanned_ending.minutes" not in items
    with session_scope() as session:
        process = get_process(session, ref="UE-9")
        assert (process.status, process.outcome) == ("closed", "meeting_waived")


def test_a_waiver_is_refused_when_the_stability_meeting_was_too_long_before(
    db_url: str, today: str
) -> None:
    open_stability("ST-10", child="CHILD-10", requested_at="2026-12-22T09:15:00+00:00")
    submit("ST-10", "stability.meeting", MEETING)  # held 2026-12-23
    record_ending("UE-10", child="CHILD-10", ended_on="2027-03-18")  # 85 days later
    before = snapshot()
    with pytest.raises(FormError, match="held in the 84 days before the ending \\(2027-03-18\\)"):
        submit("UE-10", "unplanned_ending.waiver", {"decided_on": "2027-03-19",
                                                    "decision": "waive"})
    assert snapshot() == before


def test_a_step_down_placement_that_breaks_down_tells_the_whole_story(
    db_url: str, today: str
) -> None:
    child = scenario.CHILD
    open_case("SD-BD", child=child, identified=scenario.OPENED)
    for key, data in scenario.STEPS[:-1]:  # moved in on 2027-04-05
        submit("SD-BD", key, data)
    open_stability("ST-BD", child=child, requested_at="2027-05-10T14:00:00+01:00",
                   by="supervising_social_worker")
    submit("ST-BD", "stability.meeting", {**MEETING, "done_on": "2027-05-12", "actions": [
        {"title": "Extra SCAYT+ session", "owner": "scayt", "due": "2027-05-19"}]})
    assert record_ending("UE-BD", child=child, ended_on="2027-06-01", reason="CARPL") == "SD-BD"
    with session_scope() as session:
        case = get_process(session, ref="SD-BD")
        assert (case.status, case.outcome, str(case.closed_on)) == (
            "closed", "disrupted", "2027-06-01")
    items = timeline_of("SD-BD", today)
    assert items["stability.meeting"]["ref"] == "ST-BD"
    assert items["stability.meeting"]["process"] == "stability"
    assert items["stability.meeting"]["due"] == "2027-05-12T14:00:00+01:00"
    assert items["stability.action#1"]["status"] == "overdue"  # its own process: still chased
    assert items["unplanned_ending.meeting"]["ref"] == "UE-BD"
    assert items["unplanned_ending.meeting"]["due"] == "2027-07-13"  # 06-01 + 42 days
    # The disrupted case's open obligations are cancelled; what was done stays done.
    assert items["support.monthly_review#6"]["status"] == "cancelled"
    assert items["support.weekly_review#6"]["status"] == "cancelled"
    assert items["introduction.move"]["status"] == "done"
