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
