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
# The unplanned ending meeting records both feedbacks (001 section 6: "will always include").
FEEDBACK = {"carer_feedback_taken": True, "child_feedback_taken": True}


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
                                                    "chair": "team_manager", **FEEDBACK})
    with pytest.raises(FormError, match="decision: a waiver needs a stability meeting"):
        submit("UE-1", "unplanned_ending.waiver", {"decided_on": "2027-02-01",
                                                   "decision": "waive"})
    submit("UE-1", "unplanned_ending.meeting", {"done_on": "2027-03-02", "chair": "iro",
                                                **FEEDBACK})
    # Minutes: 5 working days after Tue 2 March.
    assert timeline_of("UE-1", today)["unplanned_ending.minutes"]["due"] == "2027-03-09"


def test_a_waiver_is_granted_after_a_recent_stability_meeting(db_url: str, today: str) -> None:
    open_stability("ST-9", child="CHILD-9", requested_at="2026-12-22T09:15:00+00:00")
    submit("ST-9", "stability.meeting", MEETING)  # held 2026-12-23
    # 84 days after 23 December is 17 March: an ending on 17 March still qualifies.
    record_ending("UE-9", child="CHILD-9", ended_on="2027-03-17", reason="ALLEG")
    with pytest.raises(FormError, match="decides first whether the meeting is needed"):
        submit("UE-9", "unplanned_ending.meeting", {"done_on": "2027-04-20", "chair": "iro",
                                                    **FEEDBACK})
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


# ------------------------------------------------------------------ the follow-up meetings
FOLLOW_UP = {
    "chair": "team_manager",
    "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
    "child_views_recorded": True, "support_plan_reviewed": True,
}


def test_a_follow_up_recorded_with_its_date_alone_is_a_meeting_whose_gaps_are_exceptions(
    db_url: str, today: str
) -> None:
    """Every obligation can be completed with its done_on (DOMAIN.md section 1): a follow-up
    meeting so recorded is accepted as a meeting that found the placement still at risk (stay),
    minuted by the team manager within 3 working days, with its next meeting within 3 months;
    who attended and the child's views, not recorded, are exceptions."""
    open_stability("ST-F0", child="CH-F0", requested_at="2027-05-27T10:00:00+01:00")
    submit("ST-F0", "stability.meeting", {**MEETING, "done_on": "2027-05-28", "actions": []})
    submit("ST-F0", "stability.next_meeting", {"done_on": "2027-08-26"})
    items = timeline_of("ST-F0", "2027-08-27")
    assert items["stability.next_meeting"]["status"] == "done"
    # Thu 26 Aug + 3 working days: Fri 27, Mon 30 Aug a bank holiday, Tue 31, Wed 1 Sep.
    minutes = items["stability.follow_up_minutes"]
    assert (minutes["due"], minutes["owner"]) == ("2027-09-01", "team_manager")
    assert items["stability.next_meeting#2"]["due"] == "2027-11-26"  # 3 months on, a Friday
    exceptions = [d["exception"] for a, d in audit_actions("ST-F0") if a == "exception.reported"]
    assert exceptions == [
        "minimum attendance not met: foster_carer, supervising_social_worker, social_worker "
        "absent (Improving Placement Stability, Appendix 1)",
        "the child's views were not available (Improving Placement Stability, section 5)"]


def test_a_follow_up_meeting_is_a_meeting_with_minutes_actions_a_check_and_the_next_date(
    db_url: str, today: str
) -> None:
    """001 Appendix 1: each stability meeting is minuted within 3 working days, its actions
    are obligations, the IRO checks within 6 weeks, and a date for review within 3 months is
    set. Dates across the Spring and Summer bank holidays of 2027 (Mon 31 May, Mon 30 Aug)."""
    open_stability("ST-F1", child="CH-F1", requested_at="2027-05-27T10:00:00+01:00")
    submit("ST-F1", "stability.meeting", {**MEETING, "done_on": "2027-05-28", "actions": []})
    items = timeline_of("ST-F1", "2027-06-01")
    # Fri 28 May + 3 working days: Mon 31 May is a bank holiday, so 1, 2, 3 June.
    assert items["stability.minutes"]["due"] == "2027-06-03"
    # 28 May + 3 months = Sat 28 August: back to Friday 27 August (the bank holiday is after).
    follow_up = items["stability.next_meeting"]
    assert (follow_up["due"], follow_up["owner"], follow_up["status"]) == (
        "2027-08-27", "social_worker", "pending")
    assert "stability.follow_up_minutes" not in items  # nothing until the meeting is held

    # The follow-up is recorded with the first meeting's fields.
    submit("ST-F1", "stability.next_meeting", {
        **FOLLOW_UP, "done_on": "2027-08-26", "outcome": "stay", "chair": "fostering_team_manager",
        "next_meeting_on": "2027-11-13",
        "actions": [{"title": "Respite weekend", "owner": "supervising_social_worker",
                     "due": "2027-08-30"},
                    {"title": "Therapy referral", "owner": "social_worker", "due": "2027-09-10"}]})
    items = timeline_of("ST-F1", "2027-09-01")
    assert items["stability.next_meeting"]["status"] == "done"
    # Thu 26 Aug + 3 working days: Fri 27, (Mon 30 Aug bank holiday), Tue 31, Wed 1 September;
    # owned by that meeting's chair.
    minutes = items["stability.follow_up_minutes"]
    assert (minutes["due"], minutes["owner"]) == ("2027-09-01", "fostering_team_manager")
    # Each action is an obligation, numbered by the meeting: due on the bank holiday Monday,
    # it moves back to Friday 27 August (after the meeting).
    first, second = items["stability.follow_up_action#1.1"], items["stability.follow_up_action#1.2"]
    assert (first["due"], first["owner"], first["title"]) == (
        "2027-08-27", "supervising_social_worker", "Respite weekend")
    assert (second["due"], second["owner"]) == ("2027-09-10", "social_worker")
    assert items["stability.follow_up_iro_check"]["due"] == "2027-10-07"  # 26 Aug + 42 days
    assert items["stability.follow_up_iro_check"]["owner"] == "iro"
    assert items["stability.follow_up_child_chronology"]["owner"] == "social_worker"
    assert items["stability.follow_up_carer_chronology"]["owner"] == "supervising_social_worker"
    # The next meeting: the date this meeting set, Sat 13 November, is earlier than 3 months
    # (26 November): back to Friday 12 November.
    assert items["stability.next_meeting#2"]["due"] == "2027-11-12"
    # The first meeting's own obligations are untouched.
    assert items["stability.minutes"]["due"] == "2027-06-03"

    # The second follow-up finds the placement stable: no further meeting, the cycle ends.
    submit("ST-F1", "stability.next_meeting#2", {
        **FOLLOW_UP, "done_on": "2027-11-11", "outcome": "stable"})
    items = timeline_of("ST-F1", today)
    assert items["stability.next_meeting#2"]["status"] == "done"
    assert "stability.next_meeting#3" not in items
    # Its minutes and IRO check are still owed (Thu 11 Nov + 3 working days; + 42 days).
    assert items["stability.follow_up_minutes#2"]["due"] == "2027-11-16"
    assert items["stability.follow_up_iro_check#2"]["due"] == "2027-12-23"
    with session_scope() as session:
        process = get_process(session, ref="ST-F1")
        assert (process.status, process.stage) == ("open", "follow_up")


def test_a_follow_up_across_christmas_and_without_a_date_set(db_url: str, today: str) -> None:
    """Held Thu 24 December 2026: its minutes cross Christmas Day and the substitute Boxing
    Day (Mon 28 December); with no date set, the next is 3 months later."""
    open_stability("ST-F2", child="CH-F2", requested_at="2026-09-23T10:00:00+01:00")
    submit("ST-F2", "stability.meeting", {**MEETING, "done_on": "2026-09-24", "actions": []})
    assert timeline_of("ST-F2", today)["stability.next_meeting"]["due"] == "2026-12-24"
    submit("ST-F2", "stability.next_meeting", {**FOLLOW_UP, "done_on": "2026-12-24",
                                               "outcome": "stay"})
    items = timeline_of("ST-F2", today)
    assert items["stability.follow_up_minutes"]["due"] == "2026-12-31"  # 29, 30, 31 Dec
    assert items["stability.follow_up_minutes"]["owner"] == "team_manager"
    assert items["stability.next_meeting#2"]["due"] == "2027-03-24"  # 24 Dec + 3 months
    assert "stability.follow_up_action#1.1" not in items  # no actions agreed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outcome": "stable", "next_meeting_on": "2027-10-01"},
         "next_meeting_on: must be empty for outcome stable: a stable placement has no next "
         "stability meeting"),
        ({"outcome": "urgent_move"}, "safeguarding_concern: an urgent move needs an immediate"),
        ({"next_meeting_on": "2027-08-26"},
         "next_meeting_on: 2027-08-26 is not after the meeting (2027-08-26)"),
        ({"actions": [{"title": "Respite", "owner": "social_worker", "due": "2027-08-20"}]},
         "actions.0.due: 2027-08-20 is before the meeting (2027-08-26)"),
        ({"outcome": "better"}, "outcome: must be one of"),
        ({"done_on": "2027-05-27"},
         "done_on: 2027-05-27 is before stability.next_meeting opened (2027-05-28)"),
    ],
)
def test_bad_follow_up_meetings_are_refused_in_one_line_and_change_nothing(
    db_url: str, today: str, change: dict, message: str  # type: ignore[type-arg]
) -> None:
    open_stability("ST-F3", child="CH-F3", requested_at="2027-05-27T10:00:00+01:00")
    submit("ST-F3", "stability.meeting", {**MEETING, "done_on": "2027-05-28", "actions": []})
    before = snapshot()
    with pytest.raises(FormError) as refused:
        submit("ST-F3", "stability.next_meeting",
               {**FOLLOW_UP, "done_on": "2027-08-26", "outcome": "stay", **change})
    assert str(refused.value).startswith(message)
    assert len(str(refused.value).splitlines()) == 1
    assert snapshot() == before


def test_the_first_meeting_cannot_find_the_placement_stable_nor_set_a_past_next_date(
    db_url: str, today: str
) -> None:
    """stable ends a cycle of follow-ups; the first meeting is held because the placement is
    at risk, so its outcomes are stay, planned_move and urgent_move (DOMAIN.md section 5)."""
    open_stability("ST-F4", child="CH-F4", requested_at="2026-12-22T09:15:00+00:00")
    before = snapshot()
    with pytest.raises(FormError, match="^outcome: must be one of"):
        submit("ST-F4", "stability.meeting", {**MEETING, "outcome": "stable"})
    with pytest.raises(FormError, match="^next_meeting_on: 2026-12-22 is not after the "
                                        "meeting \\(2026-12-23\\)"):
        submit("ST-F4", "stability.meeting", {**MEETING, "next_meeting_on": "2026-12-22"})
    assert snapshot() == before


def test_a_follow_up_meetings_exceptions_are_the_first_meetings(db_url: str, today: str) -> None:
    """Minimum attendance and the child's views (001 Appendix 1, section 5), and the support
    plan not reviewed (004: "at this meeting and at all subsequent placement support
    meetings"), are reported; the meeting is recorded."""
    open_stability("ST-F5", child="CH-F5", requested_at="2027-05-27T10:00:00+01:00")
    submit("ST-F5", "stability.meeting", {**MEETING, "done_on": "2027-05-28", "actions": [],
                                          "support_plan_reviewed": False})
    submit("ST-F5", "stability.next_meeting", {
        **FOLLOW_UP, "done_on": "2027-08-26", "outcome": "stay",
        "attendees": ["social_worker", "foster_carer"], "child_views_recorded": False,
        "support_plan_reviewed": False})
    assert timeline_of("ST-F5", today)["stability.next_meeting"]["status"] == "done"
    exceptions = [d["exception"] for a, d in audit_actions("ST-F5") if a == "exception.reported"]
    assert exceptions == [
        "the support plan was not reviewed at the meeting (Placement Stability guidance)",
        "minimum attendance not met: supervising_social_worker absent "
        "(Improving Placement Stability, Appendix 1)",
        "the child's views were not available (Improving Placement Stability, section 5)",
        "the support plan was not reviewed at the meeting (Placement Stability guidance)",
    ]


def test_a_support_plan_review_left_unrecorded_is_no_exception(db_url: str, today: str) -> None:
    """The field is optional (DOMAIN.md's form keeps its fields): left out it is null, not
    true, and is counted as not recorded in the monthly figures, not as an exception."""
    open_stability("ST-F6", child="CH-F6", requested_at="2026-12-22T09:15:00+00:00")
    submit("ST-F6", "stability.meeting", MEETING)
    assert [a for a, _ in audit_actions("ST-F6") if a == "exception.reported"] == []
    with session_scope() as session:
        from stepdown.records import obligations

        row = next(o for o in obligations(session, process=get_process(session, ref="ST-F6"))
                   if o.key == "stability.meeting")
        assert row.data is not None and row.data["support_plan_reviewed"] is None


def test_a_move_at_a_follow_up_opens_the_placement_process_numbered_by_the_meeting(
    db_url: str, today: str
) -> None:
    open_stability("ST-F7", child="CH-F7", requested_at="2027-02-22T09:00:00+00:00")
    submit("ST-F7", "stability.meeting", {**MEETING, "done_on": "2027-02-23", "actions": [],
                                          "next_meeting_on": "2027-04-20"})
    assert timeline_of("ST-F7", today)["stability.next_meeting"]["due"] == "2027-04-20"
    # The first follow-up (the second meeting) decides a planned move: ST-F7-MOVE-2.
    submit("ST-F7", "stability.next_meeting", {
        **FOLLOW_UP, "done_on": "2027-04-20", "outcome": "planned_move",
        "move_planned_on": "2027-05-31"})
    with session_scope() as session:
        move = get_process(session, ref="ST-F7-MOVE-2")
        assert (move.kind, move.child_ref, move.stage, move.opened_on) == (
            "placement", "CH-F7", "authorisation", date(2027, 4, 20))
        with pytest.raises(LookupError):
            get_process(session, ref="ST-F7-MOVE")
    # Planned for the Spring bank holiday: the authorisation is due the Friday before.
    assert timeline_of("ST-F7-MOVE-2", today)["placement.authorisation"]["due"] == "2027-05-28"
    # The cycle goes on while the move is made in a planned way (001 Appendix 1): the next
    # follow-up, the third meeting, decides an urgent move: ST-F7-MOVE-3, an emergency.
    assert timeline_of("ST-F7", today)["stability.next_meeting#2"]["due"] == "2027-07-20"
    submit("ST-F7", "stability.next_meeting#2", {
        **FOLLOW_UP, "done_on": "2027-05-04", "outcome": "urgent_move",
        "safeguarding_concern": True})
    with session_scope() as session:
        urgent = get_process(session, ref="ST-F7-MOVE-3")
        assert urgent.stage == "authorisation"
    from stepdown.records import accepted_forms

    with session_scope() as session:
        opening = accepted_forms(session, process=get_process(session, ref="ST-F7-MOVE-3"))[
            "placement.open"][0]
    assert (opening["emergency"], opening["opened_by"], opening["planned_on"]) == (
        True, "ST-F7", "2027-05-04")


def test_the_monthly_supervision_check_runs_until_the_cycle_ends(db_url: str, today: str) -> None:
    """001 Appendix 1: team managers "check progress in monthly supervision": a month after
    the first meeting, then a month after each check, until a follow-up finds the placement
    stable; a check due after that is cancelled."""
    open_stability("ST-F8", child="CH-F8", requested_at="2027-04-29T10:00:00+01:00")
    submit("ST-F8", "stability.meeting", {**MEETING, "done_on": "2027-04-30", "actions": []})
    items = timeline_of("ST-F8", "2027-05-04")
    check = items["stability.supervision_check#1"]
    # 30 April + 1 month = Sun 30 May: back to Friday 28 May (Mon 31 May is a bank holiday).
    assert (check["due"], check["owner"]) == ("2027-05-28", "team_manager")
    assert "stability.supervision_check#2" not in items
    submit("ST-F8", "stability.supervision_check#1", {"done_on": "2027-05-27"})
    # 27 May + 1 month = Sun 27 June: Friday 25 June.
    assert timeline_of("ST-F8", today)["stability.supervision_check#2"]["due"] == "2027-06-25"
    submit("ST-F8", "stability.supervision_check#2", {"done_on": "2027-06-25"})
    assert timeline_of("ST-F8", today)["stability.supervision_check#3"]["due"] == "2027-07-23"
    # The follow-up on 20 July finds the placement stable: check #3, due 23 July, after the
    # cycle ended, is cancelled and no fourth follows.
    submit("ST-F8", "stability.next_meeting", {**FOLLOW_UP, "done_on": "2027-07-20",
                                               "outcome": "stable"})
    items = timeline_of("ST-F8", today)
    assert items["stability.supervision_check#3"]["status"] == "cancelled"
    assert "stability.supervision_check#4" not in items
    assert items["stability.supervision_check#1"]["status"] == "done"


def test_a_follow_up_meeting_in_the_12_weeks_before_an_ending_allows_the_waiver(
    db_url: str, today: str
) -> None:
    """001 section 6: "If a stability meeting has been held within 12 weeks of the ending": a
    follow-up meeting is a stability meeting held."""
    open_stability("ST-F9", child="CH-F9", requested_at="2027-01-04T10:00:00+00:00")
    submit("ST-F9", "stability.meeting", {**MEETING, "done_on": "2027-01-05", "actions": []})
    submit("ST-F9", "stability.next_meeting", {**FOLLOW_UP, "done_on": "2027-04-05",
                                               "outcome": "stay"})
    # The first meeting is 150 days before the ending; the follow-up 70.
    record_ending("UE-F9", child="CH-F9", ended_on="2027-06-14", reason="CREQB")
    submit("UE-F9", "unplanned_ending.waiver", {"decided_on": "2027-06-15", "decision": "waive"})
    assert timeline_of("UE-F9", today)["unplanned_ending.meeting"]["status"] == "waived"


# ------------------------------------------------------------------ unplanned ending feedback
@pytest.mark.parametrize(("missing", "exception"), [
    ("carer_feedback_taken", "the foster carer's feedback was not recorded as taken"),
    ("child_feedback_taken", "the child's feedback was not recorded as taken")])
def test_feedback_left_out_is_not_assumed_but_reported_as_an_exception(
    db_url: str, today: str, missing: str, exception: str
) -> None:
    """001 section 6: the meeting "will always include feedback from the foster carer and the
    child". Left out, it is recorded as not given (never defaulted to true) and reported; the
    meeting itself is accepted (DOMAIN.md section 6: it takes done_on and chair)."""
    record_ending("UE-FB1", child="CH-FB1", ended_on="2027-01-29", reason="CHILD")
    data = {"done_on": "2027-03-03", "chair": "iro", **FEEDBACK}
    del data[missing]
    before = snapshot()
    with pytest.raises(FormError, match=f"^{missing}: must be true or false"):
        submit("UE-FB1", "unplanned_ending.meeting", {**data, missing: "yes"})
    assert snapshot() == before
    submit("UE-FB1", "unplanned_ending.meeting", data)
    assert timeline_of("UE-FB1", today)["unplanned_ending.meeting"]["status"] == "done"
    exceptions = [d["exception"] for a, d in audit_actions("UE-FB1") if a == "exception.reported"]
    assert exceptions == [f"{exception} (Improving Placement Stability, section 6)"]


def test_a_meeting_recorded_with_done_on_and_chair_alone_reports_both_feedbacks(
    db_url: str, today: str
) -> None:
    record_ending("UE-FB4", child="CH-FB4", ended_on="2027-01-29", reason="CHILD")
    submit("UE-FB4", "unplanned_ending.meeting", {"done_on": "2027-03-03", "chair": "iro"})
    exceptions = [d["exception"] for a, d in audit_actions("UE-FB4") if a == "exception.reported"]
    assert exceptions == [
        "the foster carer's feedback was not recorded as taken (Improving Placement Stability, "
        "section 6)",
        "the child's feedback was not recorded as taken (Improving Placement Stability, "
        "section 6)"]


def test_feedback_not_taken_is_recorded_and_reported_as_an_exception(
    db_url: str, today: str
) -> None:
    # Ended Fri 29 January: the window is Mon 1 March (29 Feb does not exist) to 12 March.
    record_ending("UE-FB2", child="CH-FB2", ended_on="2027-01-29", reason="CHILD")
    submit("UE-FB2", "unplanned_ending.meeting", {
        "done_on": "2027-03-03", "chair": "iro", "carer_feedback_taken": False,
        "child_feedback_taken": False})
    items = timeline_of("UE-FB2", today)
    assert items["unplanned_ending.meeting"]["status"] == "done"
    assert items["unplanned_ending.minutes"]["due"] == "2027-03-10"
    exceptions = [d["exception"] for a, d in audit_actions("UE-FB2") if a == "exception.reported"]
    assert exceptions == [
        "the foster carer's feedback was not recorded as taken (Improving Placement Stability, "
        "section 6)",
        "the child's feedback was not recorded as taken (Improving Placement Stability, "
        "section 6)"]
    record_ending("UE-FB3", child="CH-FB3", ended_on="2027-01-29", reason="CHILD")
    submit("UE-FB3", "unplanned_ending.meeting", {"done_on": "2027-03-03", "chair": "iro",
                                                  **FEEDBACK})
    assert [a for a, _ in audit_actions("UE-FB3") if a == "exception.reported"] == []
