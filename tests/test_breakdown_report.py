"""The monthly breakdown report, for a month with several processes, figures worked by hand."""

from __future__ import annotations

from stepdown import clock
from stepdown.db import session_scope
from stepdown.reports import breakdowns, previous_month, table_rows
from tests import scenario
from tests.builders import open_case, open_stability, record_ending, submit

ATTENDED = ["foster_carer", "supervising_social_worker", "social_worker"]


def _meeting(done_on: str, actions: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {"done_on": done_on, "chair": "team_manager", "attendees": ATTENDED,
            "child_views_recorded": True, "outcome": "stay", "actions": actions or []}


def test_june_2027_figures(db_url: str, today: str) -> None:
    # A: request in May, meeting 1 June within its window (due 1 June 09:00), an action due
    # 10 June never done; ends 15 June (CARPL) after that meeting.
    open_stability("ST-A", child="CH-A", requested_at="2027-05-30T09:00:00+01:00")
    submit("ST-A", "stability.meeting", _meeting("2027-06-01", [
        {"title": "Carer support call", "owner": "supervising_social_worker",
         "due": "2027-06-10"}]))
    record_ending("UE-A", child="CH-A", ended_on="2027-06-15", reason="CARPL")
    # B: a Step Down placement (moved in 5 April) ends 1 June (CARPL), no stability meeting.
    open_case("SD-B", child="CH-B", identified=scenario.OPENED)
    for key, data in scenario.STEPS[:-1]:
        submit("SD-B", key, data)
    assert record_ending("UE-B", child="CH-B", ended_on="2027-06-01", reason="CARPL") == "SD-B"
    # C: a stability meeting in January, more than 84 days before its ending on 20 June (ALLEG).
    open_stability("ST-C", child="CH-C", requested_at="2027-01-04T10:00:00+00:00")
    submit("ST-C", "stability.meeting", _meeting("2027-01-05"))
    record_ending("UE-C", child="CH-C", ended_on="2027-06-20", reason="ALLEG")
    # D: requested 28 June, due 30 June 10:00: its window has not passed by the month's end.
    open_stability("ST-D", child="CH-D", requested_at="2027-06-28T10:00:00+01:00")
    # E: requested 7 June (due 9 June), held late on 11 June; one action done on time, one due
    # 25 June done 2 July (overdue at the end of June).
    open_stability("ST-E", child="CH-E", requested_at="2027-06-07T12:00:00+01:00")
    submit("ST-E", "stability.meeting", _meeting("2027-06-11", [
        {"title": "Review contact plan", "owner": "social_worker", "due": "2027-06-14"},
        {"title": "Education plan meeting", "owner": "virtual_school", "due": "2027-06-25"}]))
    submit("ST-E", "stability.action#1", {"done_on": "2027-06-14"})
    submit("ST-E", "stability.action#2", {"done_on": "2027-07-02"})
    # F: requested 20 June (due 22 June), never held.
    open_stability("ST-F", child="CH-F", requested_at="2027-06-20T10:00:00+01:00")

    with session_scope() as session:
        report = breakdowns(session, month="2027-06", as_of=clock.today())
    endings = report["unplanned_endings"]
    assert endings["total"] == 3
    assert endings["by_reason"] == {"ALLEG": 1, "CARPL": 2}
    assert endings["by_placement_type"] == {"other": 2, "step_down": 1}
    assert (endings["stability_meeting_first"], endings["no_stability_meeting_first"]) == (1, 2)
    assert [(e["ref"], e["stability_meeting_first"]) for e in endings["endings"]] == [
        ("UE-B", False), ("UE-A", True), ("UE-C", False)]
    assert report["stability_meetings"] == {
        "requested": 3, "held": 2, "held_within_window": 1, "held_late": 1,
        "window_passed_not_held": 1,
    }
    overdue = report["overdue_actions"]
    assert overdue["total"] == 2
    assert [(a["ref"], a["key"], a["owner"], a["due"], a["days_late"])
            for a in overdue["actions"]] == [
        ("ST-A", "stability.action#1", "supervising_social_worker", "2027-06-10", 20),
        ("ST-E", "stability.action#2", "virtual_school", "2027-06-25", 5),
    ]
    rows = {row["measure"]: row["value"] for row in table_rows(report)}
    assert rows["Unplanned endings"] == 3 and rows["  reason CARPL"] == 2
    assert rows["Stability actions overdue"] == 2


def test_a_month_with_nothing_in_it_and_the_default_month(db_url: str, today: str) -> None:
    with session_scope() as session:
        report = breakdowns(session, month="2027-02", as_of=clock.today())
    assert report["unplanned_endings"]["total"] == 0
    assert report["overdue_actions"]["total"] == 0
    assert previous_month(clock.today()) == "2027-11"
    assert previous_month(__import__("datetime").date(2027, 1, 15)) == "2026-12"


FOLLOW_UP = {"chair": "team_manager", "attendees": ATTENDED, "child_views_recorded": True,
             "support_plan_reviewed": True, "actions": []}
FEEDBACK = {"carer_feedback_taken": True, "child_feedback_taken": True}


def test_september_2027_exceptions_follow_ups_and_their_actions(db_url: str, today: str) -> None:
    """The month's meetings with an exception, as the stability meeting's minimum attendance
    is (001 Appendix 1), and the unplanned ending meeting's feedback not taken (001 section
    6: "will always include feedback from the foster carer and the child")."""
    # G: first meeting 2 June (no support plan review recorded); follow-up Thu 2 September,
    # without the supervising social worker, finds the placement stable; its action due Mon
    # 13 September is still open at the month's end.
    open_stability("ST-G", child="CH-G", requested_at="2027-06-01T09:00:00+01:00")
    submit("ST-G", "stability.meeting", _meeting("2027-06-02"))
    submit("ST-G", "stability.next_meeting", {
        **FOLLOW_UP, "done_on": "2027-09-02", "outcome": "stable",
        "attendees": ["foster_carer", "social_worker"],
        "actions": [{"title": "Carer support call", "owner": "supervising_social_worker",
                     "due": "2027-09-13"}]})
    # H: first meeting in June; its follow-up 14 September decides a planned move, the
    # support plan not reviewed; the child leaves on 24 September (CREQB): a stability meeting
    # came first (the follow-up, 10 days before; the first meeting is 97 days before).
    open_stability("ST-H", child="CH-H", requested_at="2027-06-18T09:00:00+01:00")
    submit("ST-H", "stability.meeting", _meeting("2027-06-19"))
    submit("ST-H", "stability.next_meeting", {
        **FOLLOW_UP, "done_on": "2027-09-14", "outcome": "planned_move",
        "move_planned_on": "2027-09-24", "support_plan_reviewed": False})
    record_ending("UE-H", child="CH-H", ended_on="2027-09-24", reason="CREQB")
    # I: an ending in July; its meeting on Fri 3 September took the carer's feedback, not the
    # child's. J: an ending in July, its meeting on 6 September took both.
    record_ending("UE-I", child="CH-I", ended_on="2027-07-30", reason="CHILD")
    submit("UE-I", "unplanned_ending.meeting", {"done_on": "2027-09-03", "chair": "iro",
                                                **FEEDBACK, "child_feedback_taken": False})
    record_ending("UE-J", child="CH-J", ended_on="2027-07-30", reason="CHILD")
    submit("UE-J", "unplanned_ending.meeting", {"done_on": "2027-09-06", "chair": "iro",
                                                **FEEDBACK})

    with session_scope() as session:
        report = breakdowns(session, month="2027-09", as_of=clock.today())
        june = breakdowns(session, month="2027-06", as_of=clock.today())
    assert report["follow_up_meetings"] == {"held": 2, "placement_stable": 1, "move": 1}
    exceptions = report["exceptions"]
    assert exceptions["meetings_with_exceptions"] == 3
    assert exceptions["by_exception"] == {
        "stability_follow_up_meeting.child_views": 0,
        "stability_follow_up_meeting.minimum_attendance": 1,
        "stability_follow_up_meeting.support_plan": 1,
        "stability_meeting.child_views": 0, "stability_meeting.minimum_attendance": 0,
        "stability_meeting.support_plan": 0,
        "unplanned_ending_meeting.carer_feedback": 0,
        "unplanned_ending_meeting.child_feedback": 1}
    assert [(m["ref"], m["key"], m["exceptions"]) for m in exceptions["meetings"]] == [
        ("ST-G", "stability.next_meeting", ["minimum_attendance"]),
        ("UE-I", "unplanned_ending.meeting", ["child_feedback"]),
        ("ST-H", "stability.next_meeting", ["support_plan"])]
    assert exceptions["support_plan_review_not_recorded"] == 0
    assert june["exceptions"]["support_plan_review_not_recorded"] == 2  # G's and H's firsts
    assert june["exceptions"]["meetings_with_exceptions"] == 0
    ending = report["unplanned_endings"]["endings"][0]
    assert (ending["ref"], ending["stability_meeting_first"]) == ("UE-H", True)
    assert [(a["ref"], a["key"], a["due"], a["days_late"])
            for a in report["overdue_actions"]["actions"]] == [
        ("ST-G", "stability.follow_up_action#1.1", "2027-09-13", 17)]
    rows = {row["measure"]: row["value"] for row in table_rows(report)}
    assert rows["Follow-up stability meetings held"] == 2
    assert rows["Meetings with an exception"] == 3
    assert rows["  unplanned ending meeting: child feedback"] == 1
    assert rows["  stability follow up meeting: minimum attendance"] == 1
    assert "CH-" not in str(report)  # case references only
