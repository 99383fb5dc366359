"""A placement move as the sources set it (issue 23, items 2-5), on the case record (SQLite and
PostgreSQL):
- a move out of a foster home after a stability meeting's planned or urgent move, or an
  emergency move out of one, opens the unplanned-ending meeting (001 section 6, Appendix 1);
- the monthly figures count an ending under the ended placement's type;
- the other authority is told from the authorisation, on the move's working day, never before
  the move (002 3.32);
- an emergency is authorised by the Head of Service alone (004).

Bank holidays (England and Wales): Good Friday 26 Mar 2027 and Easter Monday 29 Mar 2027;
Mon 30 Aug 2027 (Summer); Christmas 2027 falls on a weekend, so Mon 27 and Tue 28 Dec 2027 are
the substitute days."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from stepdown.db import session_scope
from stepdown.domain.forms import FormError
from stepdown.records import get_process, list_processes, open_with_links, with_defaults
from stepdown.reports import breakdowns
from tests.builders import audit_actions, open_stability, snapshot, submit, timeline_of
from tests.test_stability_and_endings import MEETING


def _open(ref: str, child: str, opened_on: str, **opening: Any) -> None:
    with session_scope() as session:
        open_with_links(session, ref=ref, kind="placement", child_ref=child,
                        opening=with_defaults("placement", opening), actor="cli",
                        opened_on=date.fromisoformat(opened_on))


def _authorise(ref: str, on: str, route: str = "harp", **extra: Any) -> None:
    submit(ref, "placement.authorisation", {"decided_on": on, "route": route,
                                            "decision": "approved", **extra})


def _refs(child: str) -> list[str]:
    with session_scope() as session:
        return sorted(p.ref for p in list_processes(session, child_ref=child))


def _opening(ref: str) -> dict[str, Any]:
    from stepdown.records import accepted_forms

    with session_scope() as session:
        return accepted_forms(session, process=get_process(session, ref=ref))[
            "unplanned_ending.record"][0]


# ---------------------------------------------------------------- item 2: the unplanned ending
def test_an_urgent_move_after_a_stability_meeting_opens_the_unplanned_ending_meeting(
        db_url: str, today: str) -> None:
    """Stability meeting Tue 2 Nov 2027 with urgent_move; authorised and made Wed 3 Nov. The
    foster placement ended in an unplanned way: the meeting is due between 3 Dec (a month) and
    Wed 15 Dec (42 days), and the team manager decides first whether to waive it (a stability
    meeting was held 1 day before the ending)."""
    child = "CH-U2"
    open_stability("ST-U2", child=child, requested_at="2027-11-01T10:00:00+00:00")
    submit("ST-U2", "stability.meeting", {**MEETING, "done_on": "2027-11-02", "actions": [],
                                          "outcome": "urgent_move", "safeguarding_concern": True})
    _authorise("ST-U2-MOVE", "2027-11-03", route="head_of_service", safeguarding_concern=True,
               alternatives_considered=True)
    submit("ST-U2-MOVE", "placement.move", {"moved_on": "2027-11-03", "end_reason": "CREQB"})
    ending = f"UE-{child}-20271103"
    assert ending in _refs(child)
    record = _opening(ending)
    assert (record["ended_on"], record["reason"], record["placement_type"]) == (
        "2027-11-03", "CREQB", "foster")
    items = timeline_of(ending, "2027-11-03")
    meeting = items["unplanned_ending.meeting"]
    assert (meeting["earliest"], meeting["due"]) == ("2027-12-03", "2027-12-15")
    assert any(a == "process.linked" and d.get("opened") == ending
               for a, d in audit_actions("ST-U2-MOVE"))
    # The team manager may waive it: the stability meeting was held the day before.
    submit(ending, "unplanned_ending.waiver", {"decided_on": "2027-11-04", "decision": "waive"})
    assert timeline_of(ending, "2027-11-04")["unplanned_ending.meeting"]["status"] == "waived"


def test_a_planned_move_after_a_stability_meeting_opens_it_too(db_url: str, today: str) -> None:
    child = "CH-P2"
    open_stability("ST-P2", child=child, requested_at="2027-10-04T10:00:00+00:00")
    submit("ST-P2", "stability.meeting", {**MEETING, "done_on": "2027-10-05", "actions": [],
                                          "outcome": "planned_move",
                                          "move_planned_on": "2027-10-29"})
    _authorise("ST-P2-MOVE", "2027-10-12")
    submit("ST-P2-MOVE", "placement.move", {"moved_on": "2027-10-29"})
    record = _opening(f"UE-{child}-20271029")
    assert (record["reason"], record["placement_type"]) == ("OTHER", "foster")


def test_an_emergency_move_out_of_a_foster_placement_opens_it(db_url: str, today: str) -> None:
    """The child's foster placement is on record; an emergency move out of it (not after a
    stability meeting) is an unplanned ending of it. Out of a residential one, it is not."""
    for child, kind, opens in (("CH-E1", "foster", True), ("CH-E2", "residential", False)):
        _open(f"PL-{child}-A", child, "2027-05-03", planned_on="2027-05-03", placement_type=kind)
        _authorise(f"PL-{child}-A", "2027-05-03")
        submit(f"PL-{child}-A", "placement.move", {"moved_on": "2027-05-03"})
        _open(f"PL-{child}-B", child, "2027-09-06", planned_on="2027-09-06", emergency=True)
        _authorise(f"PL-{child}-B", "2027-09-06", route="head_of_service",
                   safeguarding_concern=True, alternatives_considered=True)
        submit(f"PL-{child}-B", "placement.move", {"moved_on": "2027-09-07",
                                                    "end_reason": "ALLEG"})
        assert (f"UE-{child}-20270907" in _refs(child)) is opens, child
        with session_scope() as session:
            assert get_process(session, ref=f"PL-{child}-A").outcome == "ended"


def test_a_planned_move_without_a_stability_meeting_opens_nothing(db_url: str,
                                                                  today: str) -> None:
    child = "CH-N2"
    _open("PL-N2-A", child, "2027-05-03", planned_on="2027-05-03")
    _authorise("PL-N2-A", "2027-05-03")
    submit("PL-N2-A", "placement.move", {"moved_on": "2027-05-03"})
    _open("PL-N2-B", child, "2027-09-01", planned_on="2027-09-06")
    _authorise("PL-N2-B", "2027-09-02")
    submit("PL-N2-B", "placement.move", {"moved_on": "2027-09-06"})
    assert _refs(child) == ["PL-N2-A", "PL-N2-B"]


# ---------------------------------------------------------------- item 3: the figures
def test_an_ending_recorded_with_placement_end_counts_under_its_placement_type(
        db_url: str, today: str) -> None:
    """A foster placement ended Wed 10 Nov 2027, CREQB, not planned: {'foster': 1}."""
    _open("PL-F3", "CH-F3", "2027-05-03", planned_on="2027-05-03")
    _authorise("PL-F3", "2027-05-03")
    submit("PL-F3", "placement.move", {"moved_on": "2027-05-03"})
    submit("PL-F3", "placement.end", {"ended_on": "2027-11-10", "reason": "CREQB",
                                      "planned": False})
    with session_scope() as session:
        report = breakdowns(session, month="2027-11", as_of=date(2027, 12, 1))
    endings = report["unplanned_endings"]
    assert (endings["by_placement_type"], endings["by_reason"]) == ({"foster": 1}, {"CREQB": 1})


# ---------------------------------------------------------------- item 4: the other authority
@pytest.mark.parametrize(("moved_on", "due"), [
    ("2027-08-27", "2027-08-27"),  # a Friday: that day
    ("2027-08-28", "2027-08-31"),  # a Saturday: Mon 30 Aug is the Summer bank holiday
    ("2027-03-26", "2027-03-30"),  # Good Friday: Easter Monday too, so Tue 30 Mar
    ("2027-12-25", "2027-12-29"),  # Christmas Day, a Saturday: 27 and 28 Dec are holidays
])
def test_the_other_authority_is_told_from_the_authorisation_never_before_the_move(
        db_url: str, monkeypatch: pytest.MonkeyPatch, moved_on: str, due: str) -> None:
    monkeypatch.setenv("STEPDOWN_TODAY", "2028-01-10")
    ref = f"PL-O{moved_on}"
    _open(ref, f"CH-O{moved_on}", "2027-03-01", planned_on=moved_on, out_of_area=True)
    assert "placement.other_la_informed" not in timeline_of(ref, "2027-03-01")
    _authorise(ref, "2027-03-02")
    before_move = timeline_of(ref, "2027-03-02")["placement.other_la_informed"]
    assert (before_move["due"], before_move["status"]) == (due, "pending")  # told in advance
    submit(ref, "placement.move", {"moved_on": moved_on})
    after = timeline_of(ref, moved_on)["placement.other_la_informed"]
    assert (after["due"], after["status"]) == (due, "pending")
    assert date.fromisoformat(after["due"]) >= date.fromisoformat(moved_on)


def test_a_move_on_another_day_than_planned_moves_the_other_authoritys_deadline(
        db_url: str, today: str) -> None:
    _open("PL-O2", "CH-O2", "2027-08-02", planned_on="2027-08-20", out_of_area=True)
    _authorise("PL-O2", "2027-08-05")
    submit("PL-O2", "placement.other_la_informed", {"done_on": "2027-08-06"})  # in advance
    assert timeline_of("PL-O2", "2027-08-06")["placement.other_la_informed"]["status"] == "done"
    _open("PL-O3", "CH-O3", "2027-08-02", planned_on="2027-08-20", out_of_area=True)
    _authorise("PL-O3", "2027-08-05")
    submit("PL-O3", "placement.move", {"moved_on": "2027-08-23"})
    assert timeline_of("PL-O3", "2027-08-23")["placement.other_la_informed"]["due"] == (
        "2027-08-23")


# ---------------------------------------------------------------- item 5: the Head of Service
def test_an_emergency_cannot_be_authorised_through_harp(db_url: str, today: str) -> None:
    _open("PL-H5", "CH-H5", "2027-09-06", planned_on="2027-09-06", emergency=True)
    before = snapshot()
    with pytest.raises(FormError, match=r"^route: an emergency move is authorised by the Head "
                                        r"of Service, not HARP \(Placement Stability guidance; "
                                        r"got 'harp'\)$"):
        _authorise("PL-H5", "2027-09-06", safeguarding_concern=True,
                   alternatives_considered=True)
    assert snapshot() == before
    with pytest.raises(FormError, match=r"^alternatives_considered: an emergency move needs a "
                                        r"full understanding of the alternative placement"):
        _authorise("PL-H5", "2027-09-06", route="head_of_service", safeguarding_concern=True)
    _authorise("PL-H5", "2027-09-06", route="head_of_service", safeguarding_concern=True,
               alternatives_considered=True)
    assert timeline_of("PL-H5", "2027-09-06")["placement.authorisation"]["status"] == "done"


# ---------------------------------------------------------------- 002 3.9, 004 H4
def test_the_planning_meetings_minutes_and_the_talk_about_telling_the_child(
        db_url: str, today: str) -> None:
    """A planned move for Fri 27 Aug 2027: the social worker, supervising social worker and
    foster carer agree when and how the child is told, by the planned day (004 H4). The
    planning meeting held Tue 24 Aug is minuted within 5 working days: Wed 25, Thu 26, Fri 27,
    Tue 31 Aug (Mon 30 Aug is the Summer bank holiday), Wed 1 Sep (002 3.9)."""
    _open("PL-M9", "CH-M9", "2027-08-02", planned_on="2027-08-27")
    items = timeline_of("PL-M9", "2027-08-02")
    talk = items["placement.telling_the_child_agreed"]
    assert (talk["due"], talk["owner"]) == ("2027-08-27", "social_worker")
    assert "placement.planning_minutes" not in items  # not until the meeting is held
    submit("PL-M9", "placement.planning_meeting", {"done_on": "2027-08-24"})
    minutes = timeline_of("PL-M9", "2027-08-24")["placement.planning_minutes"]
    assert (minutes["due"], minutes["owner"]) == ("2027-09-01", "social_worker")
    _open("PL-M10", "CH-M10", "2027-08-02", planned_on="2027-08-27", emergency=True)
    assert "placement.telling_the_child_agreed" not in timeline_of("PL-M10", "2027-08-02")


def test_the_support_plan_is_due_at_the_planning_meeting_when_it_is_held_early(
        db_url: str, today: str) -> None:
    """004 H3: the initial support plan is "completed by the Supervising Social Worker ... at
    the Placement Planning meeting": a move planned for Wed 1 Sep 2027 whose meeting was held
    Wed 25 Aug has its support plan due that day, not the planned day."""
    _open("PL-S1", "CH-S1", "2027-08-02", planned_on="2027-09-01")
    assert timeline_of("PL-S1", "2027-08-02")["placement.support_plan"]["due"] == "2027-09-01"
    submit("PL-S1", "placement.planning_meeting", {"done_on": "2027-08-25"})
    plan = timeline_of("PL-S1", "2027-08-25")["placement.support_plan"]
    assert (plan["due"], plan["owner"]) == ("2027-08-25", "supervising_social_worker")
