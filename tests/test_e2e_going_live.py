"""End to end: issue 23's items 1-7 through the command line against one `stepdown serve`, with
a real SMTP server for what the sweep sends, and every date worked by hand from the sources.

England and Wales bank holidays on the way: Mon 31 Aug 2026 (Summer); Good Friday 26 Mar and
Easter Monday 29 Mar 2027; Mon 3 May 2027 (Early May); Mon 30 Aug 2027 (Summer); Christmas 2027
on a Saturday, so Mon 27 and Tue 28 Dec 2027 are the substitute days.

The system's today is Wed 1 Dec 2027. What an officer types on another day is typed with that
day as STEPDOWN_TODAY (the going-live cases, on Mon 7 Dec 2026; a move planned ahead). The sweep
reaches every case of the system: each test looks only at its own references and people (the
looked-after review's case has a team of its own, "south")."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from tests import scenario
from tests.e2e import Result, System, served
from tests.servers import SMTPSink

pytestmark = pytest.mark.e2e

TODAY = "2027-12-01"
GOING_LIVE = "2026-12-07"  # a Monday: the authority loads its open cases

STAFF = """email,role,manager_email,team,name,teams_channel
hos@la.example,head_of_service,,north,Hana Head,
tm@la.example,team_manager,hos@la.example,north,Tia Manager,
sw@la.example,social_worker,tm@la.example,north,Sam Worker,
iro@la.example,iro,tm@la.example,north,Ira Officer,
ftm@la.example,fostering_team_manager,hos@la.example,fostering,Fran Manager,
ssw@la.example,supervising_social_worker,ftm@la.example,fostering,Sol Supervisor,
tm2@la.example,team_manager,hos@la.example,south,Tom Manager,
sw2@la.example,social_worker,tm2@la.example,south,Sue Worker,
iro2@la.example,iro,tm2@la.example,south,Ian Officer,
"""

# A digest's sections (stepdown.notifications.render.SECTIONS), by the start of their heading.
SECTIONS = {"ESCALATED TO YOU": "escalation", "OVERDUE": "overdue", "DEADLINE PASSED": "breach",
            "DUE TODAY": "due_today", "DUE NEXT WORKING DAY": "reminder",
            "NOBODY ASSIGNED": "unassigned"}
ITEM = re.compile(r"^- (\S+)  .*\[([^\]]+)\]$")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SMTPSink]:
    sink = SMTPSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, smtp: SMTPSink) -> Iterator[System]:
    yield from served(tmp_path_factory, "stepdown-going-live", TODAY,
                      env={"STEPDOWN_EMAIL_URL": smtp.url, "STEPDOWN_DELIVERY_BACKOFF": "0.01"})


@pytest.fixture(scope="module")
def staffed(system: System) -> System:
    staff = system.home / "staff.csv"
    staff.write_text(STAFF)
    assert "9 created" in system.ok("staff", "import", str(staff)).stdout
    return system


# ------------------------------------------------------------------------------------ helpers
def _on(system: System, today: str | None, *args: str) -> Result:
    """``stepdown ARGS`` typed on ``today`` (default: the system's today); it must succeed."""
    result = system.cli(*args, env={"STEPDOWN_TODAY": today} if today else None)
    assert result.code == 0, f"stepdown {' '.join(args)} -> {result.code}: {result.stderr}"
    return result


def _input(system: System, ref: str, key: str, data: dict[str, Any],
           today: str | None = None) -> None:
    _on(system, today, "input", ref, key, "--data", json.dumps(data))


def _timeline(system: System, ref: str, as_of: str | None = None) -> dict[str, dict[str, Any]]:
    """The process's own obligations (the child's other processes left out), by key."""
    args = ("case", "timeline", ref, "--json") + (("--as-of", as_of) if as_of else ())
    return {i["key"]: i for i in system.ok(*args).json() if i["ref"] == ref}


def _show(system: System, ref: str) -> dict[str, Any]:
    return dict(system.ok("case", "show", ref, "--json").json())


def _state(system: System, ref: str) -> tuple[Any, Any, Any]:
    """What a refused command must leave as it was: the case's own timeline, its row in the
    case list (stage, status, what it waits for) and its audit trail."""
    return (_timeline(system, ref),
            [row for row in system.ok("case", "list", "--json").json() if row["ref"] == ref],
            system.ok("case", "audit", ref, "--json").json())


def _refused(system: System, ref: str, *args: str, today: str | None = None) -> str:
    """A command refused as bad input: exit 2, one line on stderr, ``ref``'s record as it was.
    Returns the reason."""
    before = _state(system, ref)
    result = system.cli(*args, env={"STEPDOWN_TODAY": today} if today else None)
    assert result.code == 2, f"{args} -> {result.code}: {result.stdout} {result.stderr}"
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert _state(system, ref) == before, f"stepdown {' '.join(args)} changed {ref}"
    return result.stderr.strip().removeprefix("error: ")


def _escalations(system: System, ref: str) -> dict[str, str]:
    """Each obligation of ``ref`` escalated by a sweep, with the sweep's day (the audit trail)."""
    return {e["detail"]["key"]: e["detail"]["on"]
            for e in system.ok("case", "audit", ref, "--json").json()
            if e["action"] == "obligation.escalated"}


def _sweep(system: System, smtp: SMTPSink, day: str,
           today: str | None = None) -> tuple[str, list[EmailMessage]]:
    """A real sweep of ``day``: its summary line and the emails it delivered."""
    start = len(smtp.messages)
    out = _on(system, today, "sweep", "--as-of", day).stdout.strip()
    assert out.startswith(f"sweep {day}: ") and "0 to retry, 0 failed" in out, out
    return out, smtp.messages[start:]


def _digest_items(messages: list[EmailMessage]) -> set[tuple[str, str, str, str]]:
    """(recipient, section, ref, key) of every item of every digest in ``messages``."""
    found = set()
    for message in messages:
        if not str(message["Subject"]).startswith("stepdown digest "):
            continue
        section = None
        for line in message.get_content().splitlines():
            section = next((name for head, name in SECTIONS.items() if line.startswith(head)),
                           section)
            match = ITEM.match(line)
            if match and section:
                found.add((str(message["To"]), section, match[1], match[2]))
    return found


def _open_placement(system: System, ref: str, child: str, today: str | None,
                    **opening: Any) -> None:
    _on(system, today, "open", "placement", ref, "--child", child, "--data", json.dumps(opening))
    system.wait_for_form(ref, "placement.authorisation")


def _authorise(system: System, ref: str, on: str, route: str = "harp", **extra: Any) -> None:
    _input(system, ref, "placement.authorisation",
           {"decided_on": on, "route": route, "decision": "approved", **extra})
    system.wait_for_form(ref, "placement.move")


def _move(system: System, ref: str, on: str, **extra: Any) -> None:
    _input(system, ref, "placement.move", {"moved_on": on, **extra})
    system.wait_for_form(ref, "placement.end")


# ------------------------------------------------------------------------- items 6 and 7: going live
GOING_LIVE_REFS = ("PL-G1", "SD-G5", "CLA-G4")


@pytest.fixture(scope="module")
def went_live(staffed: System) -> System:
    """Mon 7 Dec 2026: the authority enters three of its open cases, each begun months before,
    with the dates things happened, and puts its people on them. Every command is accepted
    (exit 0)."""
    system, day = staffed, GOING_LIVE
    # A placement planned for Tue 1 Sep 2026 and made that day; the Head of Service authorised
    # it on Thu 20 Aug, its planning meeting was held on Tue 25 Aug.
    _open_placement(system, "PL-G1", "CH-G1", day, planned_on="2026-09-01")
    _input(system, "PL-G1", "placement.authorisation", {
        "decided_on": "2026-08-20", "route": "head_of_service", "decision": "approved"}, day)
    _input(system, "PL-G1", "placement.planning_meeting", {"done_on": "2026-08-25"}, day)
    system.wait_for_form("PL-G1", "placement.move")
    _input(system, "PL-G1", "placement.move", {"moved_on": "2026-09-01"}, day)
    system.wait_for_form("PL-G1", "placement.end")
    # A Step Down case identified on Wed 1 Jul 2026, in Preparation since PACT (Mon 13 Jul).
    _on(system, day, "case", "open", "SD-G5", "--child", "CH-G5", "--identified", "2026-07-01")
    for key, data in [
        ("identification.suitability", {"held_on": "2026-07-06", "sdq_score": 12,
                                        "care_needs_band": "2.1", "care_plan_ratified": True}),
        ("identification.scayt_referral", {"done_on": "2026-07-07"}),
        ("identification.pact_decision", {"decided_on": "2026-07-13", "decision": "proceed"}),
        ("preparation.planning_meeting", {"done_on": "2026-07-24"}),
        ("preparation.sw_visit#1", {"done_on": "2026-08-17"}),
    ]:
        _input(system, "SD-G5", key, data, day)
    system.wait_for_form("SD-G5", "preparation.readiness")
    # A child looked after since Mon 1 Jun 2026.
    _on(system, day, "open", "cla", "CLA-G4", "--child", "CH-G4", "--data",
        '{"looked_after_on": "2026-06-01"}')
    system.wait_for_form("CLA-G4", "cla.review#1")
    for ref, role, email in [
        ("PL-G1", "social_worker", "sw@la.example"),
        ("PL-G1", "supervising_social_worker", "ssw@la.example"),
        ("SD-G5", "social_worker", "sw@la.example"),
        ("CLA-G4", "iro", "iro@la.example"),
        ("CLA-G4", "social_worker", "sw@la.example"),
        ("CLA-G4", "supervising_social_worker", "ssw@la.example"),
    ]:
        _on(system, day, "case", "assign", ref, role, email)
    return system


def test_going_live_a_placement_and_a_step_down_case_entered_months_after_the_fact(
        went_live: System) -> None:
    """Item 6. Recorded on Mon 7 Dec 2026, the placement opens on its planned day (Tue 1 Sep),
    not the day it was typed in, so the Head of Service's decision of 20 Aug and the planning
    meeting of 25 Aug were accepted; its deadlines run from the move."""
    system, day = went_live, GOING_LIVE
    assert _show(system, "PL-G1")["opened_on"] == "2026-09-01"
    items = _timeline(system, "PL-G1", as_of=day)
    assert {k: (items[k]["status"], items[k]["done_on"]) for k in (
        "placement.authorisation", "placement.planning_meeting")} == {
        "placement.authorisation": ("done", "2026-08-20"),
        "placement.planning_meeting": ("done", "2026-08-25")}
    # M = Tue 1 Sep 2026 (the Summer bank holiday, Mon 31 Aug, is before it). 002 3.24: the IRS
    # within 1 working day, Wed 2 Sep; 3.25: delegated authority within 5 working days, across
    # the weekend, Tue 8 Sep; 3.31: the visit within a week, Tue 8 Sep.
    assert {k: items[k]["due"] for k in (
        "placement.irs_informed", "placement.delegated_authority", "placement.visit#1")} == {
        "placement.irs_informed": "2026-09-02", "placement.delegated_authority": "2026-09-08",
        "placement.visit#1": "2026-09-08"}
    # Still refused after the fact: a day after the day it is typed in, and a day before what
    # it follows.
    assert _refused(system, "PL-G1", "input", "PL-G1", "placement.irs_informed", "--data",
                    '{"done_on": "2026-12-08"}', today=day) == (
        "done_on: 2026-12-08 is in the future (today is 2026-12-07)")
    assert _refused(system, "PL-G1", "input", "PL-G1", "placement.irs_informed", "--data",
                    '{"done_on": "2026-08-31"}', today=day) == (
        "done_on: 2026-08-31 is before placement.irs_informed opened (2026-09-01)")
    # Given the day the move was put forward (Mon 17 Aug), that day bounds the authorisation,
    # and the approval bounds the move.
    _open_placement(system, "PL-G3", "CH-G3", day, planned_on="2026-09-01",
                    proposed_on="2026-08-17")
    assert _show(system, "PL-G3")["opened_on"] == "2026-08-17"
    assert _refused(system, "PL-G3", "input", "PL-G3", "placement.authorisation", "--data",
                    json.dumps({"decided_on": "2026-08-14", "route": "harp",
                                "decision": "approved"}), today=day) == (
        "decided_on: 2026-08-14 is before authorisation began (2026-08-17)")
    _input(system, "PL-G3", "placement.authorisation",
           {"decided_on": "2026-08-20", "route": "harp", "decision": "approved"}, day)
    system.wait_for_form("PL-G3", "placement.move")
    assert _refused(system, "PL-G3", "input", "PL-G3", "placement.move", "--data",
                    '{"moved_on": "2026-08-19"}', today=day) == (
        "moved_on: 2026-08-19 is before the move was authorised (2026-08-20)")

    # The Step Down case: PACT on Mon 13 Jul (P) started Preparation.
    items = _timeline(system, "SD-G5", as_of=day)
    assert {k: (items[k]["due"], items[k]["status"], items[k]["done_on"]) for k in (
        "identification.pact_decision", "preparation.planning_meeting",
        "preparation.sw_visit#1")} == {
        "identification.pact_decision": (None, "done", "2026-07-13"),
        "preparation.planning_meeting": ("2026-07-27", "done", "2026-07-24"),  # P + 14 days
        "preparation.sw_visit#1": ("2026-07-27", "done", "2026-08-17")}  # P + 14 days, late
    assert {k: items[k]["due"] for k in (
        "scayt.initial_consultation", "preparation.preparation_plan", "preparation.review#1",
        "preparation.sw_visit#2")} == {
        "scayt.initial_consultation": "2026-07-21",  # the referral (Tue 7 Jul) + 14 days
        "preparation.preparation_plan": "2026-07-24",  # made at the meeting, held Fri 24 Jul
        "preparation.review#1": "2026-08-07",  # the planning meeting + 14 days
        # the visit (Mon 17 Aug) + 14 days = Mon 31 Aug, the Summer bank holiday: Fri 28 Aug
        "preparation.sw_visit#2": "2026-08-28"}
    assert _refused(system, "SD-G5", "input", "SD-G5", "preparation.review#1", "--data",
                    '{"done_on": "2026-07-23"}', today=day).startswith(
        "done_on: 2026-07-23 is before ")


def test_going_live_the_first_sweep_flags_and_the_escalation_comes_five_working_days_later(
        went_live: System, smtp: SMTPSink) -> None:
    """Item 7 and "Done when". Looked after since Mon 1 Jun 2026 (L), entered on Mon 7 Dec. The
    first sweep flags every overdue item of the three cases entered that day to its owner and
    escalates none: nobody had been told. The escalation comes five working days after the
    flag, Mon 14 Dec, names the day of the flag and the obligation's own source."""
    system, day = went_live, GOING_LIVE
    items = _timeline(system, "CLA-G4", as_of=day)
    # 002 3.24: the IRS told within 1 working day, Tue 2 Jun; the placement planning meeting no
    # later than five days after (Sat 6 Jun: Fri 5 Jun), the support plan at it; 3.25:
    # delegated authority within 5 working days, Mon 8 Jun; 3.31: visited within a week, Mon 8
    # Jun; 3.26, 3.24: the first review, the PEP and the health assessment within 20 working
    # days, Mon 29 Jun; 3.35: the care plan shared and the child consulted 5 working days before
    # it, Mon 22 Jun; 3.12: the chronology monthly, Wed 1 Jul; the Permanence Panel at nine
    # months, Mon 1 Mar 2027.
    assert {k: i["due"] for k, i in items.items()} == {
        "cla.irs_informed": "2026-06-02", "cla.placement_planning_meeting": "2026-06-05",
        "cla.support_plan": "2026-06-05", "cla.delegated_authority": "2026-06-08",
        "cla.visit#1": "2026-06-08", "cla.review#1": "2026-06-29", "cla.pep#1": "2026-06-29",
        "cla.health_assessment": "2026-06-29", "cla.care_plan_shared#1": "2026-06-22",
        "cla.child_consulted#1": "2026-06-22", "cla.chronology#1": "2026-07-01",
        "cla.permanence_panel": "2027-03-01", "cla.information_pack": None}
    overdue = {(ref, key) for ref in GOING_LIVE_REFS
               for key, item in _timeline(system, ref, as_of=day).items()
               if item["status"] == "overdue"}
    assert len({key for ref, key in overdue if ref == "CLA-G4"}) == 11
    assert {ref for ref, _ in overdue} == set(GOING_LIVE_REFS)

    # A rehearsal first (docs/operations.md, Going live): it writes and sends nothing.
    rehearsal = _on(system, day, "sweep", "--as-of", day, "--dry-run").stdout
    assert ", 0 escalated;" in rehearsal and "escalation" not in rehearsal, rehearsal
    outbox = system.ok("outbox", "--json").json()

    swept, sent = _sweep(system, smtp, day, today=day)
    assert ", 0 escalated;" in swept, swept
    new = system.ok("outbox", "--json").json()[len(outbox):]
    assert new and all(m["subject"].startswith("stepdown digest Mon 7 Dec 2026: ") for m in new)
    assert not [m for m in sent if "escalat" in str(m["Subject"])]
    told = {(to, section, ref, key) for to, section, ref, key in _digest_items(sent)
            if ref in GOING_LIVE_REFS}
    assert {(ref, key) for _, _, ref, key in told} == overdue  # each flagged, once
    assert {section for _, section, _, _ in told} == {"overdue", "unassigned"}
    # The owners are told; the SCAYT+ consultation has nobody in the role, so the team
    # manager is told that nobody is assigned. No manager is told anything else.
    assert {(to, ref, key) for to, section, ref, key in told if section == "unassigned"} == {
        ("tm@la.example", "SD-G5", "scayt.initial_consultation")}
    assert {to for to, section, _, _ in told if section == "overdue"} == {
        "iro@la.example", "sw@la.example", "ssw@la.example"}
    assert ("iro@la.example", "overdue", "CLA-G4", "cla.review#1") in told
    assert ("ssw@la.example", "overdue", "CLA-G4", "cla.support_plan") in told
    digest = next(m.get_content() for m in sent if m["To"] == "sw@la.example")
    assert "OVERDUE: please complete and record these now" in digest
    # Tue 2 Jun to Mon 7 Dec 2026 is 133 working days (less the Summer bank holiday).
    assert "due Tue 2 Jun 2026, 133 working days overdue; owner role social_worker" in digest

    # Five working days after the flag: Tue 8 to Fri 11 Dec escalate nothing.
    for later in ("2026-12-08", "2026-12-09", "2026-12-10", "2026-12-11"):
        swept, sent = _sweep(system, smtp, later, today=later)
        assert ", 0 escalated;" in swept, (later, swept)
        assert not [m for m in sent if "escalat" in str(m["Subject"])], later
    assert all(_escalations(system, ref) == {} for ref in GOING_LIVE_REFS)

    swept, sent = _sweep(system, smtp, "2026-12-14", today="2026-12-14")
    for ref in GOING_LIVE_REFS:  # every flagged item, on Mon 14 Dec, and only those
        assert _escalations(system, ref) == {
            key: "2026-12-14" for r, key in overdue if r == ref}, ref
    alerts = {(str(m["To"]), m.get_content()) for m in sent
              if str(m["Subject"]).startswith(tuple(f"stepdown escalation: {ref} "
                                                    for ref in GOING_LIVE_REFS))}
    assert len(alerts) == len(overdue)
    review = next(body for to, body in alerts if "[cla.review#1]" in body and to == "tm@la.example")
    # Due Mon 29 Jun: 114 working days overdue on 7 Dec, 119 on 14 Dec.
    assert "CLA-G4: Looked-after review" in review
    assert "was due Mon 29 Jun 2026 and is 119 working days overdue" in review
    assert "flagged as overdue to its owner on Mon 7 Dec 2026" in review
    assert "not followed through within 5 working days" in review
    assert ("The standard it is due by: 002 3.26: first review within 20 working days"
            in review)
    assert "was owned by iro@la.example" in review
    # Each escalation cites its own obligation's source: 004 for the support plan (to the
    # supervising social worker's manager), 002 for the move's IRS, 000 for Step Down.
    support = next(body for to, body in alerts if "[cla.support_plan]" in body)
    assert "The standard it is due by: 004: " in support
    assert ("ftm@la.example", support) in alerts
    irs = next(body for _, body in alerts if "PL-G1" in body and "[placement.irs_informed]" in body)
    assert "The standard it is due by: 002 3.24: " in irs
    assert "flagged as overdue to its owner on Mon 7 Dec 2026" in irs
    plan = next(body for _, body in alerts if "[preparation.review#1]" in body)
    assert "The standard it is due by: 000 Step 2 Preparation" in plan
    items = _timeline(system, "CLA-G4", as_of="2026-12-14")
    assert (items["cla.review#1"]["status"], items["cla.review#1"]["escalated_to"]) == (
        "escalated", "tm@la.example")


# ----------------------------------------------------------------------- item 1: one review
def test_one_review_recorded_in_the_cla_process_is_step_downs_review_and_is_never_chased(
        staffed: System, smtp: SMTPSink) -> None:
    """The child's second looked-after review was held Wed 27 Jan 2027; the Step Down move is
    Mon 5 Apr 2027. 002 3.26: a review within 20 working days of the placement change, so
    `cla.review#3` (27 Jul, 6 months after the second) is brought forward to Tue 4 May (20
    working days after the move, the Early May bank holiday, Mon 3 May, not counted). 000 Step
    5: a looked-after review in the first 4 weeks, so `support.cla_review` is due Mon 3 May, a
    bank holiday: Fri 30 Apr. The review held on Thu 29 Apr and recorded in the cla process is
    both."""
    system, child = staffed, scenario.CHILD
    system.ok("open", "cla", "CLA-1R", "--child", child, "--data",
              '{"looked_after_on": "2026-10-01"}')
    system.wait_for_form("CLA-1R", "cla.review#1")
    _input(system, "CLA-1R", "cla.review#1", {"done_on": "2026-10-27"})
    _input(system, "CLA-1R", "cla.review#2", {"done_on": "2027-01-27"})
    assert _timeline(system, "CLA-1R")["cla.review#3"]["due"] == "2027-07-27"
    system.ok("case", "open", "SD-1R", "--child", child, "--identified", scenario.OPENED)
    move = scenario.STEPS.index(("introduction.move", {"moved_in_on": "2027-04-05"}))
    for key, data in scenario.STEPS[: move + 1]:  # the move needs its authorisation first
        _input(system, "SD-1R", key, data)
    for ref in ("SD-1R", "CLA-1R"):
        system.ok("case", "assign", ref, "iro", "iro2@la.example")
        system.ok("case", "assign", ref, "social_worker", "sw2@la.example")
    cla = _timeline(system, "CLA-1R", as_of="2027-04-06")
    assert (cla["cla.review#3"]["due"], cla["cla.review#3"]["status"]) == ("2027-05-04",
                                                                          "pending")
    assert "brought forward" in cla["cla.review#3"]["title"]
    assert "2027-04-05, SD-1R" in cla["cla.review#3"]["title"]
    assert _timeline(system, "SD-1R", as_of="2027-04-06")["support.cla_review"]["due"] == (
        "2027-04-30")

    _input(system, "CLA-1R", "cla.review#3", {"done_on": "2027-04-29"})
    review = _timeline(system, "SD-1R", as_of="2027-05-20")["support.cla_review"]
    assert {k: review[k] for k in ("due", "status", "done_on", "escalated_to")} == {
        "due": "2027-04-30", "status": "done", "done_on": "2027-04-29", "escalated_to": None}
    assert any(e["action"] == "obligation.done" and e["detail"].get("key") == "support.cla_review"
               and e["detail"].get("done_on") == "2027-04-29" and "recorded_in" in e["detail"]
               for e in system.ok("case", "audit", "SD-1R", "--json").json())
    cla = _timeline(system, "CLA-1R", as_of="2027-05-20")
    assert (cla["cla.review#3"]["status"], cla["cla.review#3"]["done_on"]) == ("done",
                                                                              "2027-04-29")
    # The cla process goes on from it, once: the next review 6 months after (Fri 29 Oct), the
    # care plan 10 working days after (past Mon 3 May: Fri 14 May).
    assert (cla["cla.review#4"]["due"], cla["cla.review#4"]["status"]) == ("2027-10-29",
                                                                          "pending")
    assert cla["cla.care_plan#3"]["due"] == "2027-05-14"
    assert "cla.review#5" not in cla

    # Real sweeps on every day a rung of either could fire. support.cla_review (due Fri 30
    # Apr): reminder Thu 29 Apr, due today Fri 30 Apr, flag Tue 4 May, escalation 5 working
    # days later, Tue 11 May. cla.review#3 (due Tue 4 May): reminder Fri 30 Apr, flag Wed 5
    # May, escalation Wed 12 May. The first sweep, on 29 Apr, also flags what is really open:
    # the first weekly support review (due Mon 12 Apr) escalates 5 working days after that flag,
    # on Fri 7 May (not Thu 6 May: Mon 3 May is not a working day).
    days = ["2027-04-29", "2027-04-30", "2027-05-04", "2027-05-05", "2027-05-06", "2027-05-07",
            "2027-05-11", "2027-05-12", "2027-05-20"]
    sent: dict[str, list[EmailMessage]] = {d: _sweep(system, smtp, d)[1] for d in days}
    for d, messages in sent.items():
        for message in messages:
            body = message.get_content()
            assert "[support.cla_review]" not in body and "[cla.review#3]" not in body, d
    assert ("sw2@la.example", "overdue", "SD-1R", "support.weekly_review#1") in _digest_items(
        sent["2027-04-29"])
    escalated = _escalations(system, "SD-1R")
    assert escalated["support.weekly_review#1"] == "2027-05-07"
    assert "support.cla_review" not in escalated
    assert "cla.review#3" not in _escalations(system, "CLA-1R")
    review = _timeline(system, "SD-1R", as_of="2027-05-20")["support.cla_review"]
    assert (review["status"], review["escalated_to"]) == ("done", None)


# --------------------------------------------------------------- item 2: the unplanned ending
MEETING = {"chair": "team_manager",
           "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
           "child_views_recorded": True, "actions": []}


def test_an_urgent_move_after_a_stability_meeting_opens_the_unplanned_ending_meeting(
        system: System) -> None:
    """001 section 6: a meeting "will be held when a child ... has had to move out of a foster
    home in an unplanned way", no sooner than a month after and within six weeks: the move on
    Wed 3 Nov 2027 gives Fri 3 Dec to Wed 15 Dec. A stability meeting was held the day before,
    so the team manager decides first whether to waive it."""
    child, ending = "CH-U2", "UE-CH-U2-20271103"
    system.ok("stability", "request", "ST-U2", "--child", child,
              "--requested-at", "2027-11-01T10:00", "--by", "foster_carer")
    _input(system, "ST-U2", "stability.meeting", {
        **MEETING, "done_on": "2027-11-02", "outcome": "urgent_move",
        "safeguarding_concern": True})
    system.wait_for_form("ST-U2-MOVE", "placement.authorisation")
    assert _refused(system, "ST-U2-MOVE", "input", "ST-U2-MOVE", "placement.authorisation",
                    "--data", json.dumps({"decided_on": "2027-11-03", "route": "harp",
                                          "decision": "approved", "safeguarding_concern": True,
                                          "alternatives_considered": True})).startswith(
        "route: an emergency move is authorised by the Head of Service")
    _authorise(system, "ST-U2-MOVE", "2027-11-03", route="head_of_service",
               safeguarding_concern=True, alternatives_considered=True)
    _move(system, "ST-U2-MOVE", "2027-11-03", end_reason="CREQB")
    shown = system.wait_for_form(ending, "unplanned_ending.waiver")
    assert (shown["process"], shown["child"], shown["opened_on"]) == (
        "unplanned_ending", child, "2027-11-03")
    meeting = _timeline(system, ending)["unplanned_ending.meeting"]
    assert (meeting["earliest"], meeting["due"], meeting["owner"], meeting["status"]) == (
        "2027-12-03", "2027-12-15", "iro", "pending")
    assert any(e["action"] == "process.linked" and e["detail"].get("opened") == ending
               for e in system.ok("case", "audit", "ST-U2-MOVE", "--json").json())
    # The move's own deadlines, as an emergency's (002 3.24, 3.25, 3.31): the IRS Thu 4 Nov,
    # the planning meeting 5 days after (Mon 8 Nov), delegated authority and the visit Wed 10.
    items = _timeline(system, "ST-U2-MOVE")
    assert {k: items[k]["due"] for k in (
        "placement.irs_informed", "placement.planning_meeting", "placement.delegated_authority",
        "placement.visit#1")} == {
        "placement.irs_informed": "2027-11-04", "placement.planning_meeting": "2027-11-08",
        "placement.delegated_authority": "2027-11-10", "placement.visit#1": "2027-11-10"}
    report = system.ok("report", "breakdowns", "--month", "2027-11", "--json").json()
    (row,) = [e for e in report["unplanned_endings"]["endings"] if e["ref"] == ending]
    assert (row["ended_on"], row["reason"], row["placement_type"],
            row["stability_meeting_first"]) == ("2027-11-03", "CREQB", "foster", True)

    _input(system, ending, "unplanned_ending.waiver",
           {"decided_on": "2027-11-04", "decision": "waive"})
    shown = _show(system, ending)
    assert (shown["status"], shown["outcome"]) == ("closed", "meeting_waived")
    assert _timeline(system, ending)["unplanned_ending.meeting"]["status"] == "waived"


# ------------------------------------------------------------------------ item 3: the figures
def test_an_ending_recorded_with_placement_end_counts_under_the_placements_type(
        system: System) -> None:
    """A foster placement (made Fri 7 May 2027) ended Wed 10 Nov 2027, CREQB, not planned: the
    November figures count one more foster ending. Its meeting: Fri 10 Dec (a month) to Wed
    22 Dec (42 days)."""
    ending = "UE-CH-F3-20271110"
    _open_placement(system, "PL-F3", "CH-F3", "2027-05-04", planned_on="2027-05-07")
    _authorise(system, "PL-F3", "2027-05-05")
    _move(system, "PL-F3", "2027-05-07")
    before = system.ok("report", "breakdowns", "--month", "2027-11", "--json").json()[
        "unplanned_endings"]
    _input(system, "PL-F3", "placement.end",
           {"ended_on": "2027-11-10", "reason": "CREQB", "planned": False})
    system.wait_for_form(ending, "unplanned_ending.meeting")
    shown = _show(system, "PL-F3")
    assert (shown["status"], shown["outcome"], shown["closed_on"]) == (
        "closed", "ended", "2027-11-10")
    after = system.ok("report", "breakdowns", "--month", "2027-11", "--json").json()[
        "unplanned_endings"]
    (row,) = [e for e in after["endings"] if e["ref"] == ending]
    assert (row["ended_on"], row["reason"], row["placement_type"], row["source"],
            row["stability_meeting_first"]) == ("2027-11-10", "CREQB", "foster", "recorded",
                                                False)
    counts = dict(before["by_placement_type"])
    counts["foster"] = counts.get("foster", 0) + 1
    assert after["by_placement_type"] == counts
    assert after["total"] == before["total"] + 1
    meeting = _timeline(system, ending)["unplanned_ending.meeting"]
    assert (meeting["earliest"], meeting["due"]) == ("2027-12-10", "2027-12-22")


# --------------------------------------------------------------- item 4: the other authority
@pytest.mark.parametrize(("ref", "typed_on", "planned", "authorised", "due"), [
    # Sat 28 Aug 2027; Mon 30 Aug is the Summer bank holiday: Tue 31 Aug.
    ("PL-O1", "2027-08-16", "2027-08-28", "2027-08-20", "2027-08-31"),
    # Good Friday, 26 Mar 2027; Easter Monday too: Tue 30 Mar.
    ("PL-O2", "2027-03-15", "2027-03-26", "2027-03-17", "2027-03-30"),
])
def test_the_other_authority_is_told_from_the_authorisation_on_the_moves_working_day(
        system: System, ref: str, typed_on: str, planned: str, authorised: str,
        due: str) -> None:
    """002 3.32: the host authority is "informed in advance wherever possible, or on the same
    working day as the move". A move on a day that is not a working day: the next one, never
    the day before the move."""
    _open_placement(system, ref, f"CH-{ref}", typed_on, planned_on=planned, out_of_area=True)
    assert "placement.other_la_informed" not in _timeline(system, ref)
    _authorise(system, ref, authorised)
    told = _timeline(system, ref, as_of=authorised)["placement.other_la_informed"]  # before
    assert (told["due"], told["status"], told["owner"]) == (due, "pending", "social_worker")
    _move(system, ref, planned)
    items = _timeline(system, ref, as_of=planned)
    assert (items["placement.other_la_informed"]["due"],
            items["placement.other_la_informed"]["status"]) == (due, "pending")
    # 002 3.24: the IRS within 1 working day of the move: the same day here.
    assert items["placement.irs_informed"]["due"] == due


def test_the_other_authority_is_told_of_a_move_yet_to_come(system: System) -> None:
    """Authorised on Wed 1 Dec 2027 (today) for Thu 16 Dec: due on the planned day. For
    Christmas Day, a Saturday, with Mon 27 and Tue 28 Dec the substitute days: Wed 29 Dec. The
    move itself cannot be recorded yet."""
    for ref, planned, due in (("PL-O4", "2027-12-16", "2027-12-16"),
                              ("PL-O3", "2027-12-25", "2027-12-29")):
        _open_placement(system, ref, f"CH-{ref}", None, planned_on=planned, out_of_area=True)
        _authorise(system, ref, TODAY)
        told = _timeline(system, ref)["placement.other_la_informed"]
        assert (told["due"], told["status"]) == (due, "pending"), ref
    assert _refused(system, "PL-O3", "input", "PL-O3", "placement.move", "--data",
                    '{"moved_on": "2027-12-25"}') == (
        "moved_on: 2027-12-25 is in the future (today is 2027-12-01)")


# --------------------------------------------------------------- item 5: the Head of Service
def test_an_emergency_authorised_through_harp_is_refused_and_changes_nothing(
        system: System) -> None:
    """004: "Authorisation for this will not be given by the Head of Service until there is a
    full understanding of the alternative placement options": an emergency is the Head of
    Service's, with the alternatives understood."""
    ref = "PL-H5"
    _open_placement(system, ref, "CH-H5", "2027-09-06", planned_on="2027-09-06", emergency=True)
    approve = {"decided_on": "2027-09-06", "decision": "approved", "safeguarding_concern": True,
               "alternatives_considered": True}
    assert _refused(system, ref, "input", ref, "placement.authorisation", "--data",
                    json.dumps({**approve, "route": "harp"})) == (
        "route: an emergency move is authorised by the Head of Service, not HARP (Placement "
        "Stability guidance; got 'harp')")
    assert _refused(system, ref, "input", ref, "placement.authorisation", "--data", json.dumps(
        {**approve, "route": "head_of_service", "alternatives_considered": False})).startswith(
        "alternatives_considered: an emergency move needs a full understanding of the "
        "alternative placement options")
    shown = _show(system, ref)
    assert (shown["stage"], shown["waiting_for"]) == ("authorisation", "placement.authorisation")
    _authorise(system, ref, "2027-09-06", route="head_of_service", safeguarding_concern=True,
               alternatives_considered=True)
    item = _timeline(system, ref)["placement.authorisation"]
    assert (item["status"], item["done_on"]) == ("done", "2027-09-06")
