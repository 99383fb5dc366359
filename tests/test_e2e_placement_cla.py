"""End to end: placement moves, a looked-after child's reviews and the step down to Early Help
(DOMAIN.md sections 8 to 10) through a running `stepdown serve`, driven from the command line,
with dates worked by hand.

Working days exclude England and Wales bank holidays: Mon 31 May 2027 (Spring bank holiday);
Mon 30 Aug 2027 (Summer bank holiday);
Fri 25 Dec 2026, Mon 28 Dec 2026 (Boxing Day's substitute), Fri 1 Jan 2027; Mon 27 and Tue 28
Dec 2027 (substitutes for a weekend Christmas)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import System, served

pytestmark = pytest.mark.e2e

TODAY = "2027-12-01"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    yield from served(tmp_path_factory, "stepdown-placements", TODAY)


def _timeline(system: System, ref: str) -> dict[str, dict[str, Any]]:
    return {i["key"]: i for i in system.ok("case", "timeline", ref, "--json").json()
            if i["ref"] == ref}


def _show(system: System, ref: str) -> dict[str, Any]:
    return dict(system.ok("case", "show", ref, "--json").json())


def _refused(system: System, *args: str) -> str:
    result = system.cli(*args)
    assert result.code == 2, f"{args} -> {result.code}: {result.stdout} {result.stderr}"
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip().removeprefix("error: ")


def _until(system: System, ref: str, check: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        shown = _show(system, ref)
        if check(shown):
            return shown
        time.sleep(1)
    raise AssertionError(f"{ref}: {what} never happened: {shown}")


def _open_placement(system: System, ref: str, child: str, today: str, **data: Any) -> None:
    # A move is planned ahead: the process opens on the day it is recorded (``today``).
    result = system.cli("open", "placement", ref, "--child", child, "--data", json.dumps(data),
                        env={"STEPDOWN_TODAY": today})
    assert result.code == 0, result.stderr
    system.wait_for_form(ref, "placement.authorisation")


def test_a_planned_move_across_the_august_bank_holiday_pulls_the_review_forward(
    system: System
) -> None:
    child = "CH-P1"
    # The child's looked-after reviews: L = Tue 4 May 2027.
    system.ok("open", "cla", "CLA-P1", "--child", child, "--data",
              '{"looked_after_on": "2027-05-04"}')
    system.wait_for_form("CLA-P1", "cla.review#1")
    assert _refused(system, "open", "cla", "CLA-P1B", "--child", child, "--data",
                    '{"looked_after_on": "2027-05-10"}') == (
        f"child: {child} already has an open cla case CLA-P1: a child has one cla case at a "
        "time (close CLA-P1 first)")
    assert _refused(system, "input", "CLA-P1", "cla.review#1", "--data",
                    '{"done_on": "2027-05-03"}') == (
        "done_on: 2027-05-03 is before cla.review#1 opened (2027-05-04)")
    assert _refused(system, "input", "CLA-P1", "cla.review#1", "--data",
                    '{"done_on": "2027-07-15", "chair": "team_manager"}') == (
        "chair: must be iro: the Independent Reviewing Officer chairs the looked-after review "
        "(got 'team_manager')")
    items = _timeline(system, "CLA-P1")
    # L + 20 working days: the early May bank holiday (3 May) is before L, and the Spring bank
    # holiday (Mon 31 May) is skipped, so the 20th working day is Wed 2 June.
    assert items["cla.review#1"]["due"] == "2027-06-02"
    assert items["cla.pep#1"]["due"] == "2027-06-02"
    assert items["cla.care_plan_shared#1"]["due"] == "2027-05-25"  # 5 working days before
    system.ok("input", "CLA-P1", "cla.review#1", "--data", '{"done_on": "2027-07-15"}')
    system.ok("input", "CLA-P1", "cla.pep#1", "--data", '{"done_on": "2027-07-20"}')
    items = _timeline(system, "CLA-P1")
    assert items["cla.review#2"]["due"] == "2027-10-15"  # 3 months after the first
    assert items["cla.pep#2"]["due"] == "2027-12-31"  # the end of the term after the summer's
    assert items["cla.care_plan#1"]["due"] == "2027-07-29"  # 10 working days after
    assert items["cla.review_outcomes#1"]["due"] == "2027-08-12"  # 20 working days after
    # Before the second review: with its care plan shared, 5 working days before, Fri 8 Oct.
    assert items["cla.permanence_meeting"]["due"] == "2027-10-08"
    assert items["cla.care_plan_shared#2"]["due"] == "2027-10-08"
    # No placement process yet: the child is visited on the cla timetable, within a week of L.
    assert (items["cla.visit#1"]["due"], items["cla.visit#1"]["status"]) == ("2027-05-11",
                                                                            "overdue")

    # A planned move for Fri 27 Aug 2027, recorded on Mon 16 Aug; out of the area.
    _open_placement(system, "PL-P1", child, "2027-08-16", planned_on="2027-08-27",
                    out_of_area=True)
    items = _timeline(system, "PL-P1")
    for key in ("placement.authorisation", "placement.planning_meeting",
                "placement.support_plan", "placement.virtual_school_consulted",
                "placement.telling_the_child_agreed",
                "placement.child_told"):
        assert items[key]["due"] == "2027-08-27", key
    assert items["placement.support_plan"]["owner"] == "supervising_social_worker"
    assert "placement.irs_informed" not in items  # after the move

    assert _refused(system, "input", "PL-P1", "placement.move", "--data",
                    '{"moved_on": "2027-08-27"}') == (
        "form: placement.move: the move can only be recorded once it is authorised by HARP or "
        "the Head of Service (placement.authorisation) (PL-P1 is in authorisation)")
    system.ok("input", "PL-P1", "placement.authorisation", "--data", json.dumps(
        {"decided_on": "2027-08-20", "route": "harp", "decision": "approved"}))
    system.wait_for_form("PL-P1", "placement.move")
    assert _refused(system, "input", "PL-P1", "placement.move", "--data",
                    '{"moved_on": "2027-08-19"}') == (
        "moved_on: 2027-08-19 is before the move was authorised (2027-08-20)")
    assert _refused(system, "input", "PL-P1", "placement.end", "--data", json.dumps(
        {"ended_on": "2027-09-01", "reason": "CARPL", "planned": False})) == (
        "form: placement.end: the placement can only end after the move is recorded "
        "(placement.move) (PL-P1 is in move)")
    system.ok("input", "PL-P1", "placement.move", "--data", '{"moved_on": "2027-08-27"}')
    shown = system.wait_for_form("PL-P1", "placement.end")
    assert shown["stage"] == "placement"
    items = _timeline(system, "PL-P1")
    assert items["placement.irs_informed"]["due"] == "2027-08-31"  # Fri + 1 working day: Tue
    assert items["placement.delegated_authority"]["due"] == "2027-09-06"  # + 5 working days
    assert items["placement.other_la_informed"]["due"] == "2027-08-27"  # on the day
    assert items["placement.visit#1"]["due"] == "2027-09-03"  # within a week
    system.ok("input", "PL-P1", "placement.visit#1", "--data", '{"done_on": "2027-09-02"}')
    assert _timeline(system, "PL-P1")["placement.visit#2"]["due"] == "2027-10-14"  # 6 weeks

    # The move pulls the next review and the next PEP forward to M + 20 working days (Mon 27
    # Sep 2027, counting past the bank holiday), and the timeline says why.
    items = _timeline(system, "CLA-P1")
    for key in ("cla.review#2", "cla.pep#2"):
        assert items[key]["due"] == "2027-09-27", key
        assert "brought forward" in items[key]["title"] and "PL-P1" in items[key]["title"]
        assert "2027-08-27" in items[key]["title"]
    assert items["cla.care_plan_shared#2"]["due"] == "2027-09-20"
    assert items["cla.permanence_meeting"]["due"] == "2027-09-20"  # with the review
    # The placement's visits are the child's now: the cla visit is cancelled, saying why.
    assert items["cla.visit#1"]["status"] == "cancelled"
    assert items["cla.visit#1"]["title"].endswith(
        "(paused from 2027-08-27: PL-P1 is in its placement stage)")
    assert "cla.visit#2" not in items
    audit = system.ok("case", "audit", "CLA-P1", "--json").json()
    assert any(e["action"] == "obligation.rescheduled" and e["detail"].get("key") ==
               "cla.review#2" and "brought forward" in e["detail"].get("because", "")
               for e in audit)
    # The child's timeline of the move shows the child's other open process.
    whole = system.ok("case", "timeline", "PL-P1", "--json").json()
    assert {"PL-P1", "CLA-P1"} <= {i["ref"] for i in whole}

    # A second move (Fri 8 Oct 2027) ends the first placement: its visits are cancelled.
    _open_placement(system, "PL-P2", child, "2027-10-01", planned_on="2027-10-08")
    system.ok("input", "PL-P2", "placement.authorisation", "--data", json.dumps(
        {"decided_on": "2027-10-04", "route": "head_of_service", "decision": "approved"}))
    system.wait_for_form("PL-P2", "placement.move")
    system.ok("input", "PL-P2", "placement.move", "--data", '{"moved_on": "2027-10-08"}')
    first = _until(system, "PL-P1", lambda s: s["status"] == "closed", "closed by the new move")
    assert (first["outcome"], first["closed_on"]) == ("ended", "2027-10-08")
    assert _timeline(system, "PL-P1")["placement.visit#2"]["status"] == "cancelled"
    first = _until(system, "PL-P1", lambda s: s["flow_runs"][-1]["state"] == "Cancelled",
                   "its waiting flow run cancelled")
    # The review stays due within 20 working days of the first move.
    assert _timeline(system, "CLA-P1")["cla.review#2"]["due"] == "2027-09-27"

    # The foster placement ends unplanned on Fri 5 Nov 2027: the unplanned-ending process opens.
    system.wait_for_form("PL-P2", "placement.end")
    system.ok("input", "PL-P2", "placement.end", "--data", json.dumps(
        {"ended_on": "2027-11-05", "reason": "CARPL", "planned": False}))
    ending = _until(system, "UE-CH-P1-20271105",
                    lambda s: s["waiting_for"] == "unplanned_ending.meeting",
                    "the unplanned ending meeting waited for")
    assert (ending["process"], ending["child"]) == ("unplanned_ending", child)
    meeting = _timeline(system, "UE-CH-P1-20271105")["unplanned_ending.meeting"]
    assert (meeting["earliest"], meeting["due"]) == ("2027-12-06", "2027-12-17")
    second = _show(system, "PL-P2")
    assert (second["status"], second["outcome"], second["closed_on"]) == (
        "closed", "ended", "2027-11-05")
    # No placement of the child is running: a new placement began on 5 Nov, so the cla visits
    # start again, within a week: Fri 12 Nov 2027.
    visit = _timeline(system, "CLA-P1")["cla.visit#2"]
    assert (visit["due"], visit["status"]) == ("2027-11-12", "overdue")

    # Taking the child's work over: every process, open first, what each waits for and what
    # comes next (as of today, 1 Dec 2027).
    summary = system.ok("child", child, "--json").json()
    assert [(p["ref"], p["status"], p["outcome"], p["closed_on"])
            for p in summary["processes"]] == [
        ("CLA-P1", "open", None, None), ("UE-CH-P1-20271105", "open", None, None),
        ("PL-P1", "closed", "ended", "2027-10-08"), ("PL-P2", "closed", "ended", "2027-11-05")]
    cla, ending, *closed = summary["processes"]
    assert cla["waiting_for"] == _show(system, "CLA-P1")["waiting_for"] == "cla.review#2"
    # Becoming looked after on Tue 4 May: the IRS told Wed 5 May; the planning meeting and
    # the support plan within 5 days (Sun 9 May: Fri 7 May).
    assert [(i["key"], i["due"], i["status"]) for i in cla["next"]] == [
        ("cla.irs_informed", "2027-05-05", "overdue"),
        ("cla.placement_planning_meeting", "2027-05-07", "overdue"),
        ("cla.support_plan", "2027-05-07", "overdue")]
    assert ending["waiting_for"] == "unplanned_ending.meeting"
    assert [(i["key"], i["earliest"], i["due"], i["status"]) for i in ending["next"]
            if i["key"] == "unplanned_ending.meeting"] == [
        ("unplanned_ending.meeting", "2027-12-06", "2027-12-17", "pending")]
    assert all(p["next"] == [] for p in closed)
    text = system.ok("child", child).stdout.splitlines()
    assert text[0] == f"child {child} as of 2027-12-01: 2 open, 2 closed"
    assert "  waiting for: unplanned_ending.meeting" in text
    # The ending's timeline is the child's: the open CLA's obligations are on it.
    refs = {i["ref"] for i in system.ok("case", "timeline", "UE-CH-P1-20271105", "--json").json()}
    assert refs == {"UE-CH-P1-20271105", "CLA-P1"}


def test_an_emergency_move_at_christmas(system: System) -> None:
    _open_placement(system, "PL-P3", "CH-P2", "2026-12-24", planned_on="2026-12-24",
                    emergency=True)
    items = _timeline(system, "PL-P3")
    assert items["placement.authorisation"]["due"] == "2026-12-24"
    assert "placement.child_told" not in items  # planned moves only
    assert "placement.planning_meeting" not in items  # an emergency's is counted from the move
    approve = {"decided_on": "2026-12-24", "route": "head_of_service", "decision": "approved",
               "safeguarding_concern": True}
    assert _refused(system, "input", "PL-P3", "placement.authorisation", "--data",
                    json.dumps(approve)) == (
        "alternatives_considered: an emergency move needs a full understanding of the "
        "alternative placement options (Placement Stability guidance): it must be true to "
        "approve it")
    system.ok("input", "PL-P3", "placement.authorisation", "--data", json.dumps(
        {**approve, "alternatives_considered": True}))
    system.wait_for_form("PL-P3", "placement.move")
    system.ok("input", "PL-P3", "placement.move", "--data", '{"moved_on": "2026-12-24"}')
    system.wait_for_form("PL-P3", "placement.end")
    items = _timeline(system, "PL-P3")
    assert items["placement.planning_meeting"]["due"] == "2026-12-29"  # M + 5 days, a Tuesday
    assert items["placement.support_plan"]["due"] == "2026-12-29"  # with the meeting
    assert items["placement.irs_informed"]["due"] == "2026-12-29"  # past 25 and 28 December
    assert items["placement.delegated_authority"]["due"] == "2027-01-05"  # past New Year's Day
    assert items["placement.visit#1"]["due"] == "2026-12-31"
    assert "placement.other_la_informed" not in items  # in the area
    assert "placement.telling_the_child_agreed" not in items  # planned moves only (004 H4)
    # The planning meeting held Tue 29 Dec: minuted within 5 working days (002 3.9), past New
    # Year's Day: Wed 30, Thu 31, Mon 4, Tue 5, Wed 6 Jan 2027.
    system.ok("input", "PL-P3", "placement.planning_meeting", "--data",
              '{"done_on": "2026-12-29"}')
    items = _timeline(system, "PL-P3")
    assert items["placement.planning_minutes"]["due"] == "2027-01-06"


def test_reviews_counted_from_recorded_dates_across_a_month_end(system: System) -> None:
    # L = Fri 29 Oct 2027; the first review held late, on Tue 30 Nov 2027.
    system.ok("open", "cla", "CLA-P3", "--child", "CH-P3", "--data",
              '{"looked_after_on": "2027-10-29"}')
    system.wait_for_form("CLA-P3", "cla.review#1")
    assert _timeline(system, "CLA-P3")["cla.review#1"]["due"] == "2027-11-26"
    system.ok("input", "CLA-P3", "cla.review#1", "--data", '{"done_on": "2027-11-30"}')
    system.wait_for_form("CLA-P3", "cla.review#2")
    items = _timeline(system, "CLA-P3")
    assert items["cla.review#1"]["status"] == "done"
    assert items["cla.review#2"]["due"] == "2028-02-29"  # 30 Nov + 3 months, clamped (leap)
    assert items["cla.care_plan_shared#2"]["due"] == "2028-02-22"
    assert items["cla.permanence_meeting"]["due"] == "2028-02-22"  # with the care plan
    assert items["cla.care_plan#1"]["due"] == "2027-12-14"
    assert items["cla.review_outcomes#1"]["due"] == "2027-12-30"  # past 27 and 28 December
    assert _refused(system, "open", "cla", "CLA-P4", "--child", "CH-P4", "--data",
                    '{"looked_after_on": "2027-12-02"}') == (
        "looked_after_on: 2027-12-02 is in the future (today is 2027-12-01)")
    assert system.cli("case", "show", "CLA-P4").code == 2  # nothing recorded


def test_a_looked_after_child_entered_months_after_the_fact(system: System) -> None:
    """A child looked after since Fri 27 Aug 2027, entered on 1 Dec 2027 (DOMAIN.md section 1:
    recorded after the fact). Worked by hand: the IRS told 1 working day after L, past the
    Summer bank holiday (Mon 30 Aug), Tue 31 Aug; the placement planning meeting and the
    support plan within 5 days, Wed 1 Sep; delegated authority 5 working days, Mon 6 Sep; the
    first visit within a week, Fri 3 Sep; the first review, PEP and health assessment 20
    working days, Mon 27 Sep, the care plan shared and the child consulted 5 working days
    before, Mon 20 Sep; the chronology a month after, Mon 27 Sep; the Permanence Panel nine
    months after, Sat 27 May 2028, so Fri 26 May."""
    child = "CH-P5"
    system.ok("open", "cla", "CLA-P5", "--child", child, "--data",
              '{"looked_after_on": "2027-08-27"}')
    system.wait_for_form("CLA-P5", "cla.review#1")
    items = _timeline(system, "CLA-P5")
    assert {key: items[key]["due"] for key in (
        "cla.irs_informed", "cla.placement_planning_meeting", "cla.support_plan",
        "cla.delegated_authority", "cla.visit#1", "cla.review#1", "cla.pep#1",
        "cla.health_assessment", "cla.care_plan_shared#1", "cla.child_consulted#1",
        "cla.chronology#1", "cla.permanence_panel", "cla.information_pack")} == {
        "cla.irs_informed": "2027-08-31", "cla.placement_planning_meeting": "2027-09-01",
        "cla.support_plan": "2027-09-01", "cla.delegated_authority": "2027-09-06",
        "cla.visit#1": "2027-09-03", "cla.review#1": "2027-09-27", "cla.pep#1": "2027-09-27",
        "cla.health_assessment": "2027-09-27", "cla.care_plan_shared#1": "2027-09-20",
        "cla.child_consulted#1": "2027-09-20", "cla.chronology#1": "2027-09-27",
        "cla.permanence_panel": "2028-05-26", "cla.information_pack": None}
    assert items["cla.support_plan"]["owner"] == "supervising_social_worker"
    assert items["cla.child_consulted#1"]["owner"] == "iro"
    assert items["cla.irs_informed"]["status"] == "overdue"  # as of today, 1 Dec 2027
    assert items["cla.information_pack"]["status"] == "pending"  # undated: never overdue

    # What happened is recorded now, on the days it happened.
    assert _refused(system, "input", "CLA-P5", "cla.placement_planning_meeting", "--data",
                    '{"done_on": "2027-08-26"}') == (
        "done_on: 2027-08-26 is before cla.placement_planning_meeting opened (2027-08-27)")
    system.ok("input", "CLA-P5", "cla.placement_planning_meeting", "--data",
              '{"done_on": "2027-09-01"}')
    # Its minutes 5 working days after: Wed 8 Sep.
    assert _timeline(system, "CLA-P5")["cla.placement_planning_minutes"]["due"] == "2027-09-08"
    system.ok("input", "CLA-P5", "cla.visit#1", "--data", '{"done_on": "2027-09-02"}')
    assert _timeline(system, "CLA-P5")["cla.visit#2"]["due"] == "2027-10-14"  # 6 weeks
    # Visited late, Mon 15 Nov: 6 weeks later is Mon 27 Dec, a bank holiday: Fri 24 Dec.
    system.ok("input", "CLA-P5", "cla.visit#2", "--data", '{"done_on": "2027-11-15"}')
    assert _timeline(system, "CLA-P5")["cla.visit#3"]["due"] == "2027-12-24"
    system.ok("input", "CLA-P5", "cla.review#1", "--data", '{"done_on": "2027-10-04"}')
    system.wait_for_form("CLA-P5", "cla.review#2")
    items = _timeline(system, "CLA-P5")
    # The second review 3 months after, Tue 4 Jan 2028. Before it, 5 working days back past
    # Mon 3 Jan and Mon 27 and Tue 28 Dec (bank holidays): Thu 23 Dec 2027.
    assert items["cla.review#2"]["due"] == "2028-01-04"
    for key in ("cla.permanence_meeting", "cla.care_plan_shared#2", "cla.child_consulted#2"):
        assert items[key]["due"] == "2027-12-23", key
    assert "cla.permanence_minutes" not in items  # until the meeting is held
    assert _refused(system, "input", "CLA-P5", "cla.permanence_panel", "--data",
                    '{"done_on": "2027-11-30", "outcome": "matched"}').startswith("outcome: ")
    system.ok("input", "CLA-P5", "cla.permanence_panel", "--data",
              '{"done_on": "2027-11-30", "outcome": "long_term_matched"}')
    system.ok("input", "CLA-P5", "cla.information_pack", "--data", '{"done_on": "2027-08-27"}')
    items = _timeline(system, "CLA-P5")
    assert (items["cla.permanence_panel"]["status"], items["cla.information_pack"]["status"]) == (
        "done", "done")

    # A placement process: a planned move on Fri 26 Nov 2027, recorded on Mon 22 Nov.
    _open_placement(system, "PL-P5", child, "2027-11-22", planned_on="2027-11-26")
    system.ok("input", "PL-P5", "placement.authorisation", "--data", json.dumps(
        {"decided_on": "2027-11-23", "route": "harp", "decision": "approved"}))
    system.wait_for_form("PL-P5", "placement.move")
    system.ok("input", "PL-P5", "placement.move", "--data", '{"moved_on": "2027-11-26"}')
    system.wait_for_form("PL-P5", "placement.end")
    assert _timeline(system, "PL-P5")["placement.visit#1"]["due"] == "2027-12-03"
    items = _timeline(system, "CLA-P5")
    # Its visits are the child's: the cla visit is cancelled and says why; no other is due.
    assert items["cla.visit#3"]["status"] == "cancelled"
    assert items["cla.visit#3"]["title"].endswith(
        "(paused from 2027-11-26: PL-P5 is in its placement stage)")
    assert "cla.visit#4" not in items
    # The move brings the second review to 20 working days after it, Fri 24 Dec 2027, and the
    # permanence meeting, the care plan shared and the consultation with it: Fri 17 Dec.
    assert items["cla.review#2"]["due"] == "2027-12-24"
    for key in ("cla.permanence_meeting", "cla.care_plan_shared#2", "cla.child_consulted#2"):
        assert items[key]["due"] == "2027-12-17", key
    audit = system.ok("case", "audit", "CLA-P5", "--json").json()
    assert any(e["action"] == "obligation.cancelled" and e["detail"].get("key") ==
               "cla.visit#3" and "PL-P5" in e["detail"].get("because", "") for e in audit)

    # The placement ends, planned, on Tue 30 Nov: the next placement starts, and the cla
    # visit is due within a week of it, Tue 7 Dec.
    system.ok("input", "PL-P5", "placement.end", "--data", json.dumps(
        {"ended_on": "2027-11-30", "reason": "CARPL", "planned": True}))
    _until(system, "PL-P5", lambda s: s["status"] == "closed", "closed by its end")
    visit = _timeline(system, "CLA-P5")["cla.visit#4"]
    assert (visit["due"], visit["status"]) == ("2027-12-07", "pending")


# ----------------------------------------------------------------------------- Early Help
# DOMAIN.md section 10. H = Mon 21 Dec 2026: H + 7 days is Mon 28 Dec (Boxing Day's substitute),
# so the transfer meeting is due Thu 24 Dec; H + 5 working days skips 25 and 28 December.
EARLY_HELP = {"held_on": "2026-12-21", "from": "cin",
              "lead_practitioner": "Families First, North locality", "plan_agreed": True,
              "consent_support": True, "consent_information_sharing": True,
              "disabled_short_breaks": False, "outcome": "transfer"}


def test_early_help_a_transfer_reviewed_until_it_closes_to_universal_services(
    system: System
) -> None:
    assert _refused(system, "open", "early_help", "EH-X", "--child", "CH-EH0", "--data",
                    json.dumps({**EARLY_HELP, "consent_information_sharing": False})) == (
        "consent_information_sharing: must be true to transfer to Early Help: the family "
        "consents to information being shared (Step down to Early Help)")
    assert system.cli("case", "show", "EH-X").code == 2  # nothing recorded

    system.ok("open", "early_help", "EH-E1", "--child", "CH-EH1", "--data",
              json.dumps(EARLY_HELP))
    system.wait_for_form("EH-E1", "early_help.transfer_meeting")
    items = _timeline(system, "EH-E1")
    assert items["early_help.transfer_meeting"]["due"] == "2026-12-24"
    assert items["early_help.closure_letter"]["due"] == "2026-12-30"
    assert items["early_help.management_oversight"]["owner"] == "team_manager"
    system.ok("input", "EH-E1", "early_help.transfer_meeting", "--data",
              '{"done_on": "2026-12-24"}')
    system.wait_for_form("EH-E1", "early_help.review#1")
    assert _show(system, "EH-E1")["stage"] == "early_help"
    assert _timeline(system, "EH-E1")["early_help.review#1"]["due"] == "2027-02-04"
    assert _refused(system, "input", "EH-E1", "early_help.review#1", "--data",
                    '{"done_on": "2026-12-23", "outcome": "continue_level3"}') == (
        "done_on: 2026-12-23 is before early_help.review#1 opened (2026-12-24)")
    assert _refused(system, "input", "EH-E1", "early_help.review#1", "--data",
                    '{"done_on": "2027-02-08", "outcome": "level1"}').startswith("outcome: ")
    system.ok("input", "EH-E1", "early_help.review#1", "--data",
              '{"done_on": "2027-02-08", "outcome": "step_to_level2"}')
    system.wait_for_form("EH-E1", "early_help.review#2")
    assert _timeline(system, "EH-E1")["early_help.review#2"]["due"] == "2027-03-22"
    system.ok("input", "EH-E1", "early_help.review#2", "--data",
              '{"done_on": "2027-03-19", "outcome": "universal"}')
    closed = _until(system, "EH-E1", lambda s: s["status"] == "closed", "closed to universal")
    assert closed["outcome"] == "universal"
    assert "early_help.review#3" not in _timeline(system, "EH-E1")


def test_early_help_a_disabled_childs_reviews_are_six_monthly(system: System) -> None:
    system.ok("open", "early_help", "EH-E2", "--child", "CH-EH2", "--data",
              json.dumps({**EARLY_HELP, "disabled_short_breaks": True}))
    system.wait_for_form("EH-E2", "early_help.transfer_meeting")
    system.ok("input", "EH-E2", "early_help.transfer_meeting", "--data",
              '{"done_on": "2026-12-24"}')
    system.wait_for_form("EH-E2", "early_help.review#1")
    assert _timeline(system, "EH-E2")["early_help.review#1"]["due"] == "2027-06-24"
    system.ok("input", "EH-E2", "early_help.review#1", "--data",
              '{"done_on": "2027-06-24", "outcome": "continue_level3"}')
    system.wait_for_form("EH-E2", "early_help.review#2")
    assert _timeline(system, "EH-E2")["early_help.review#2"]["due"] == "2027-12-24"


def test_early_help_a_step_down_to_universal_services_closes_with_its_record(
    system: System
) -> None:
    system.ok("open", "early_help", "EH-E3", "--child", "CH-EH3", "--data", json.dumps(
        {**EARLY_HELP, "outcome": "universal", "consent_support": False}))
    items = _timeline(system, "EH-E3")
    assert set(items) == {"early_help.meeting_record", "early_help.closure_record",
                          "early_help.closure_letter", "early_help.management_oversight"}
    closure = {"done_on": "2026-12-29", "outcomes_improved": "Attendance restored",
               "family_aware": True, "professionals_aware": True, "contingency_plan": True}
    assert _refused(system, "input", "EH-E3", "early_help.closure_record", "--data",
                    json.dumps(closure)).startswith("form: the closure letter is recorded first")
    system.ok("input", "EH-E3", "early_help.closure_letter", "--data", '{"done_on": "2026-12-23"}')
    system.ok("input", "EH-E3", "early_help.management_oversight", "--data",
              '{"done_on": "2026-12-24"}')
    system.ok("input", "EH-E3", "early_help.closure_record", "--data", json.dumps(closure))
    shown = _show(system, "EH-E3")
    assert (shown["status"], shown["outcome"], shown["closed_on"]) == (
        "closed", "universal", "2026-12-29")
