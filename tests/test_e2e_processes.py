"""End to end: stability meetings, unplanned endings and the breakdown report through a running
`stepdown serve`, driven from the command line."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests import scenario
from tests.e2e import System, served

pytestmark = pytest.mark.e2e

MEETING = {
    "done_on": "2026-12-23", "chair": "team_manager",
    "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
    "child_views_recorded": True, "outcome": "stay",
    "actions": [{"title": "Arrange respite weekend", "owner": "supervising_social_worker",
                 "due": "2027-01-08"}],
}


FEEDBACK = {"carer_feedback_taken": True, "child_feedback_taken": True}
FOLLOW_UP = {"chair": "team_manager",
             "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
             "child_views_recorded": True, "support_plan_reviewed": True}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    yield from served(tmp_path_factory, "stepdown-processes", scenario.TODAY)


def _timeline(system: System, ref: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {i["key"]: i for i in system.ok("case", "timeline", ref, "--json").json()}


def test_a_stability_meeting_across_summer_time_and_christmas(system: System) -> None:
    system.ok("stability", "request", "ST-E1", "--child", "CH-E1",
              "--requested-at", "2026-03-28T10:00:00+00:00", "--by", "foster_carer")
    items = _timeline(system, "ST-E1")
    assert items["stability.meeting"]["due"] == "2026-03-30T11:00:00+01:00"
    assert items["stability.meeting"]["process"] == "stability"

    # Requested without an offset: Europe/London time (GMT in December).
    system.ok("stability", "request", "ST-E2", "--child", "CH-E2",
              "--requested-at", "2026-12-22T09:15", "--by", "iro")
    assert _timeline(system, "ST-E2")["stability.meeting"]["due"] == "2026-12-24T09:15:00+00:00"
    system.ok("input", "ST-E2", "stability.meeting", "--data", json.dumps(MEETING))
    items = _timeline(system, "ST-E2")
    assert items["stability.meeting"]["done_on"] == "2026-12-23"
    assert (items["stability.minutes"]["due"], items["stability.minutes"]["owner"]) == (
        "2026-12-30", "team_manager")  # 3 working days across Christmas, owned by the chair
    assert items["stability.action#1"]["due"] == "2027-01-08"
    assert items["stability.iro_check"]["due"] == "2027-02-03"
    assert items["stability.next_meeting"]["due"] == "2027-03-23"
    shown = system.ok("case", "show", "ST-E2", "--json").json()
    assert (shown["stage"], shown["flow_runs"][0]["state"]) == ("follow_up", "Completed")
    assert shown["flow_runs"][0]["name"] == "ST-E2-meeting"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ending", "record", "UE-X", "--child", "CH-X", "--ended-on", "2027-01-31",
          "--reason", "BORED"], "reason: must be an SSDA903 reason code"),
        (["ending", "record", "UE-X", "--child", "CH-X", "--ended-on", "2028-01-31",
          "--reason", "CARPL"], "ended-on: 2028-01-31 is in the future"),
        (["stability", "request", "ST-X", "--child", "CH-X", "--requested-at",
          "2026-12-22T09:15", "--by", "headteacher"], "by: must be one of the roles"),
        (["input", "ST-E3", "stability.meeting", "--data",
          json.dumps({**MEETING, "done_on": "2026-12-21"})],
         "done_on: 2026-12-21 is before the meeting was requested"),
        (["input", "ST-E3", "stability.meeting", "--data",
          json.dumps({**MEETING, "actions": [{"title": "Respite", "due": "2027-01-08"}]})],
         "actions.0.owner: is required"),
        (["input", "ST-E3", "stability.meeting", "--data",
          json.dumps({**MEETING, "actions": [{"title": "Respite", "owner": "iro",
                                              "due": "2026-12-01"}]})],
         "actions.0.due: 2026-12-01 is before the meeting (2026-12-23)"),
        (["input", "ST-E3", "stability.meeting", "--data",
          json.dumps({**MEETING, "outcome": "urgent_move"})],
         "safeguarding_concern: an urgent move needs an immediate safeguarding concern"),
        (["input", "UE-E3", "unplanned_ending.meeting", "--data",
          '{"done_on": "2027-03-02", "chair": "team_manager", "carer_feedback_taken": true, '
          '"child_feedback_taken": true}'], "chair: must be iro"),
        (["input", "UE-E3", "unplanned_ending.meeting", "--data",
          '{"done_on": "2027-03-02", "chair": "iro", "child_feedback_taken": "yes"}'],
         "error: child_feedback_taken: must be true or false (got 'yes')"),
        (["input", "ST-E3", "stability.meeting", "--data",
          json.dumps({**MEETING, "next_meeting_on": "2026-12-23"})],
         "error: next_meeting_on: 2026-12-23 is not after the meeting (2026-12-23)"),
        (["input", "UE-E3", "unplanned_ending.waiver", "--data",
          '{"decided_on": "2027-02-02", "decision": "waive"}'],
         "decision: a waiver needs a stability meeting for this child held in the 84 days"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    system: System, args: list[str], message: str
) -> None:
    if system.cli("case", "show", "ST-E3").code != 0:
        system.ok("stability", "request", "ST-E3", "--child", "CH-E3",
                  "--requested-at", "2026-12-22T09:15", "--by", "social_worker")
        system.ok("ending", "record", "UE-E3", "--child", "CH-E3B", "--ended-on", "2027-01-31",
                  "--reason", "CHILD")
    before = [system.ok("case", "timeline", ref, "--json").stdout for ref in ("ST-E3", "UE-E3")]
    listed = system.ok("case", "list", "--json").stdout
    result = system.cli(*args)
    assert result.code == 2, result
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert [system.ok("case", "timeline", ref, "--json").stdout
            for ref in ("ST-E3", "UE-E3")] == before
    assert system.ok("case", "list", "--json").stdout == listed


def test_an_unplanned_ending_at_a_month_end_and_its_meeting(system: System) -> None:
    system.ok("ending", "record", "UE-E4", "--child", "CH-E4", "--ended-on", "2027-01-31",
              "--reason", "STAND")
    item = _timeline(system, "UE-E4")["unplanned_ending.meeting"]
    assert (item["earliest"], item["due"], item["owner"]) == ("2027-03-01", "2027-03-12", "iro")
    system.ok("input", "UE-E4", "unplanned_ending.meeting", "--data", json.dumps(
        {"done_on": "2027-03-03", "chair": "iro", **FEEDBACK}))
    items = _timeline(system, "UE-E4")
    assert items["unplanned_ending.meeting"]["status"] == "done"
    assert items["unplanned_ending.minutes"]["due"] == "2027-03-10"


def test_a_granted_waiver(system: System) -> None:
    system.ok("stability", "request", "ST-E5", "--child", "CH-E5",
              "--requested-at", "2026-12-22T09:15", "--by", "foster_carer")
    system.ok("input", "ST-E5", "stability.meeting", "--data", json.dumps(MEETING))
    system.ok("ending", "record", "UE-E5", "--child", "CH-E5", "--ended-on", "2027-03-01",
              "--reason", "CARPL")
    system.ok("input", "UE-E5", "unplanned_ending.waiver", "--data",
              '{"decided_on": "2027-03-04", "decision": "waive"}')
    shown = system.ok("case", "show", "UE-E5", "--json").json()
    assert (shown["status"], shown["outcome"]) == ("closed", "meeting_waived")
    assert _timeline(system, "UE-E5")["unplanned_ending.meeting"]["status"] == "waived"
    deadline = time.monotonic() + 60
    while shown["flow_runs"][0]["state"] != "Completed" and time.monotonic() < deadline:
        time.sleep(1)
        shown = system.ok("case", "show", "UE-E5", "--json").json()
    assert shown["flow_runs"][0]["state"] == "Completed"


def test_a_step_down_case_that_breaks_down_shows_the_whole_story(system: System) -> None:
    child, ref = "CH-E6", "SD-E6"
    system.ok("case", "open", ref, "--child", child, "--identified", scenario.OPENED)
    for key, data in scenario.STEPS[:-1]:  # to the move on 2027-04-05
        system.ok("input", ref, key, "--data", json.dumps(data))
    system.ok("stability", "request", "ST-E6", "--child", child,
              "--requested-at", "2027-05-10T14:00", "--by", "supervising_social_worker")
    system.ok("input", "ST-E6", "stability.meeting", "--data", json.dumps(
        {**MEETING, "done_on": "2027-05-12", "actions": []}))
    ended = system.ok("ending", "record", "UE-E6", "--child", child, "--ended-on", "2027-06-01",
                      "--reason", "CARPL")
    assert f"{ref} closed as disrupted" in ended.stdout
    shown = system.ok("case", "show", ref, "--json").json()
    assert (shown["status"], shown["outcome"], shown["closed_on"]) == (
        "closed", "disrupted", "2027-06-01")
    support = shown["flow_runs"][-1]
    assert (support["name"], support["state"]) == (f"{ref}-support", "Cancelled")
    items = _timeline(system, ref)
    assert (items["stability.meeting"]["ref"], items["stability.meeting"]["done_on"]) == (
        "ST-E6", "2027-05-12")
    assert (items["unplanned_ending.meeting"]["ref"], items["unplanned_ending.meeting"]["due"]) == (
        "UE-E6", "2027-07-13")
    assert items["support.monthly_review#6"]["status"] == "cancelled"
    assert items["introduction.move"]["done_on"] == "2027-04-05"

    report = system.ok("report", "breakdowns", "--month", "2027-06", "--json").json()
    assert report["unplanned_endings"]["by_placement_type"] == {"step_down": 1}
    assert report["unplanned_endings"]["stability_meeting_first"] == 1
    text = system.ok("report", "breakdowns", "--month", "2027-06").stdout
    assert "Unplanned endings" in text and "reason CARPL" in text

    # The monthly deployment (its schedule is off in tests: see test_e2e_access) publishes the
    # same figures as a table artifact.
    deployment = httpx.get(f"{system.api}/deployments/name/breakdown-report/stepdown").json()
    run = httpx.post(f"{system.api}/deployments/{deployment['id']}/create_flow_run",
                     json={"parameters": {"month": "2027-06"}}).json()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = httpx.get(f"{system.api}/flow_runs/{run['id']}").json()["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED"):
            break
        time.sleep(1)
    assert state == "COMPLETED"
    artifacts = httpx.post(f"{system.api}/artifacts/filter",
                           json={"artifacts": {"key": {"any_": ["breakdowns-2027-06"]}}}).json()
    table = artifacts[0]["data"]
    table = json.loads(table) if isinstance(table, str) else table
    rows = {row["measure"]: row["value"] for row in table}
    assert rows["Unplanned endings"] == 1 and rows["  placement step_down"] == 1
    assert child not in json.dumps(artifacts)  # case references only


def test_status_says_when_the_server_has_no_schedules(system: System) -> None:
    """Served with STEPDOWN_SCHEDULES=off, nothing runs by itself: status says so and exits 1."""
    status = system.cli("status")
    assert status.code == 1, status.stdout
    lines = status.stdout.splitlines()
    assert lines[0].split()[:2] == ["deployment", "schedule"]
    assert {line.split()[0] for line in lines[1:]} == {
        "sweep/stepdown", "sweep/hourly", "breakdown-report/stepdown"}
    assert all("PROBLEM: no schedule on the server" in line for line in lines[1:])
    assert status.stderr == ""


def test_a_sweep_with_nobody_in_the_directory_says_who_it_could_not_tell(system: System) -> None:
    """The processes here have no staff: the rungs that fire reach nobody, and the summary line
    says so rather than `0 sent` alone (the field run's sweep was silent about it)."""
    swept = system.ok("sweep").stdout.strip().splitlines()[-1]
    fired = int(swept.split(": ", 1)[1].split(" rungs fired")[0])
    assert fired > 0, swept
    assert f"; {fired} rung{'s' if fired != 1 else ''} with nobody to tell (no owner or team " \
           "manager in the staff directory" in swept, swept


def _wait_state(system: System, ref: str, state: str) -> dict:  # type: ignore[type-arg]
    """The case once its latest flow run is in ``state`` (Suspended: waiting for a form)."""
    deadline = time.monotonic() + 180
    shown = system.ok("case", "show", ref, "--json").json()
    while time.monotonic() < deadline:
        if shown["flow_runs"] and shown["flow_runs"][-1]["state"] == state and (
                state != "Suspended" or shown["waiting_for"]):
            return shown
        time.sleep(1)
        shown = system.ok("case", "show", ref, "--json").json()
    raise AssertionError(f"{ref} not {state} after 180 s: {shown}")


def test_a_planned_move_requested_by_the_school_opens_the_placement_process(
    system: System
) -> None:
    """DOMAIN.md sections 5 and 8: a school may flag the placement at risk; the meeting's planned
    move opens <ref>-MOVE, whose flow run waits for the authorisation, due on the planned day."""
    system.ok("stability", "request", "ST-E7", "--child", "CH-E7",
              "--requested-at", "2026-12-22T09:15", "--by", "school")
    system.ok("input", "ST-E7", "stability.meeting", "--data", json.dumps(
        {**MEETING, "outcome": "planned_move", "move_planned_on": "2027-01-15"}))
    move = _wait_state(system, "ST-E7-MOVE", "Suspended")
    assert (move["process"], move["child"], move["stage"]) == ("placement", "CH-E7",
                                                               "authorisation")
    assert move["flow_runs"][0]["name"] == "ST-E7-MOVE-authorisation"
    assert move["waiting_for"] == "placement.authorisation"
    authorisation = _timeline(system, "ST-E7-MOVE")["placement.authorisation"]
    assert (authorisation["due"], authorisation["owner"]) == ("2027-01-15", "head_of_service")
    system.ok("input", "ST-E7-MOVE", "placement.authorisation", "--data",
              '{"decided_on": "2026-12-24", "route": "harp", "decision": "approved"}')
    # The authorisation's run completes and the move stage's own run waits for the move.
    system.wait_for_form("ST-E7-MOVE", "placement.move")
    move = _wait_state(system, "ST-E7-MOVE", "Suspended")
    assert move["stage"] == "move" and move["flow_runs"][0]["state"] == "Completed"
    assert move["flow_runs"][-1]["name"] == "ST-E7-MOVE-move"
    assert _timeline(system, "ST-E7-MOVE")["placement.authorisation"]["status"] == "done"


def test_any_declared_kind_opens_with_its_opening_form(system: System) -> None:
    kinds = {k["kind"]: k for k in system.ok("kinds", "--json").json()}
    assert set(kinds) >= {"step_down", "stability", "unplanned_ending", "placement"}
    assert [s["name"] for s in kinds["step_down"]["stages"]] == [
        "identification", "preparation", "matching", "introduction", "support"]
    opened = system.ok("open", "placement", "PL-E1", "--child", "CH-E8", "--data",
                       '{"planned_on": "2027-12-10", "emergency": true}')
    assert "flow run PL-E1-authorisation" in opened.stdout
    move = _wait_state(system, "PL-E1", "Suspended")
    assert move["waiting_for"] == "placement.authorisation"
    refused = system.cli("input", "PL-E1", "placement.authorisation", "--data",
                         '{"decided_on": "2027-12-01", "route": "head_of_service", '
                         '"decision": "approved"}')
    assert refused.code == 2
    assert refused.stderr.strip() == (
        "error: safeguarding_concern: an emergency move needs an immediate safeguarding concern "
        "(Placement Stability guidance): it must be true to approve it")
    harp = system.cli("input", "PL-E1", "placement.authorisation", "--data",
                      '{"decided_on": "2027-12-01", "route": "harp", "decision": "approved", '
                      '"safeguarding_concern": true, "alternatives_considered": true}')
    assert harp.code == 2
    assert harp.stderr.strip() == (
        "error: route: an emergency move is authorised by the Head of Service, not HARP "
        "(Placement Stability guidance; got 'harp')")
    bad = system.cli("open", "placement", "PL-E2", "--child", "CH-E8", "--data",
                     '{"planned_on": "2027-12-10", "emergency": "yes"}')
    assert bad.code == 2 and bad.stderr.strip() == (
        "error: emergency: must be true or false (got 'yes')")
    assert system.cli("case", "show", "PL-E2").code == 2  # nothing recorded


def _exceptions(system: System, ref: str) -> list[str]:
    return [row["detail"]["exception"] for row in system.ok("case", "audit", ref, "--json").json()
            if row["action"] == "exception.reported"]


def test_a_stability_cycle_of_follow_up_meetings_until_the_placement_is_stable(
    system: System
) -> None:
    """001 Appendix 1: each meeting is minuted in 3 working days, its actions followed up, the
    IRO checks in 6 weeks, and a date for review within 3 months is set; team managers check
    progress monthly. Across the Spring and Summer bank holidays (Mon 31 May, Mon 30 Aug 2027)."""
    system.ok("stability", "request", "ST-E8", "--child", "CH-E8",
              "--requested-at", "2027-05-27T10:00", "--by", "social_worker")
    system.ok("input", "ST-E8", "stability.meeting", "--data", json.dumps(
        {**MEETING, "done_on": "2027-05-28", "actions": []}))
    items = _timeline(system, "ST-E8")
    assert items["stability.minutes"]["due"] == "2027-06-03"  # 1-3 June: 31 May a holiday
    assert items["stability.next_meeting"]["due"] == "2027-08-27"  # Sat 28 Aug: Friday
    # The team manager's monthly check: 28 May + 1 month = Mon 28 June.
    check = items["stability.supervision_check#1"]
    assert (check["due"], check["owner"]) == ("2027-06-28", "team_manager")

    # A follow-up is a meeting: one that finds the placement stable sets no next date.
    before = system.ok("case", "timeline", "ST-E8", "--json").stdout
    bad = system.cli("input", "ST-E8", "stability.next_meeting", "--data",
                     '{"done_on": "2027-08-26", "outcome": "stable", '
                     '"next_meeting_on": "2027-11-13"}')
    assert bad.code == 2 and bad.stderr.strip().startswith(
        "error: next_meeting_on: must be empty for outcome stable"), bad.stderr
    assert system.ok("case", "timeline", "ST-E8", "--json").stdout == before

    system.ok("input", "ST-E8", "stability.next_meeting", "--data", json.dumps({
        **FOLLOW_UP, "done_on": "2027-08-26", "outcome": "stay",
        "chair": "fostering_team_manager", "next_meeting_on": "2027-11-13",
        "actions": [{"title": "Respite weekend", "owner": "supervising_social_worker",
                     "due": "2027-08-30"}]}))
    items = _timeline(system, "ST-E8")
    assert items["stability.next_meeting"]["done_on"] == "2027-08-26"
    # Thu 26 Aug + 3 working days, across the Summer bank holiday: Wed 1 September.
    assert (items["stability.follow_up_minutes"]["due"],
            items["stability.follow_up_minutes"]["owner"]) == ("2027-09-01",
                                                               "fostering_team_manager")
    action = items["stability.follow_up_action#1.1"]
    assert (action["due"], action["owner"]) == ("2027-08-27", "supervising_social_worker")
    assert items["stability.follow_up_iro_check"]["due"] == "2027-10-07"
    assert items["stability.next_meeting#2"]["due"] == "2027-11-12"  # Sat 13 Nov set: Friday

    # The second follow-up, without the supervising social worker, finds the placement stable.
    system.ok("input", "ST-E8", "stability.next_meeting#2", "--data", json.dumps({
        **FOLLOW_UP, "done_on": "2027-11-11", "outcome": "stable",
        "attendees": ["foster_carer", "social_worker"]}))
    items = _timeline(system, "ST-E8")
    assert "stability.next_meeting#3" not in items
    assert items["stability.follow_up_minutes#2"]["due"] == "2027-11-16"
    assert not any(i["status"] in ("pending", "overdue") for key, i in items.items()
                   if key.startswith("stability.supervision_check")
                   and i["due"] > "2027-11-11")
    assert _exceptions(system, "ST-E8") == [
        "minimum attendance not met: supervising_social_worker absent "
        "(Improving Placement Stability, Appendix 1)"]
    shown = system.ok("case", "show", "ST-E8", "--json").json()
    assert (shown["status"], shown["stage"]) == ("open", "follow_up")
    report = system.ok("report", "breakdowns", "--month", "2027-11", "--json").json()
    assert report["follow_up_meetings"] == {"held": 1, "placement_stable": 1, "move": 0}
    assert report["exceptions"]["by_exception"][
        "stability_follow_up_meeting.minimum_attendance"] == 1


def test_a_move_at_a_follow_up_meeting_opens_its_own_placement_process(system: System) -> None:
    system.ok("stability", "request", "ST-E9", "--child", "CH-E9",
              "--requested-at", "2027-02-22T09:00", "--by", "school")
    system.ok("input", "ST-E9", "stability.meeting", "--data", json.dumps(
        {**MEETING, "done_on": "2027-02-23", "actions": [], "next_meeting_on": "2027-04-20"}))
    system.ok("input", "ST-E9", "stability.next_meeting", "--data", json.dumps({
        **FOLLOW_UP, "done_on": "2027-04-20", "outcome": "planned_move",
        "move_planned_on": "2027-05-31"}))
    move = _wait_state(system, "ST-E9-MOVE-2", "Suspended")
    assert (move["process"], move["child"], move["waiting_for"]) == (
        "placement", "CH-E9", "placement.authorisation")
    # Planned for the Spring bank holiday: authorised by the Friday before.
    assert _timeline(system, "ST-E9-MOVE-2")["placement.authorisation"]["due"] == "2027-05-28"
    assert system.cli("case", "show", "ST-E9-MOVE").code == 2  # the first meeting moved no one


def test_an_unplanned_ending_meeting_records_both_feedbacks_and_reports_one_not_taken(
    system: System
) -> None:
    """001 section 6: the meeting "will always include feedback from the foster carer and the
    child": never assumed; a false one, or one left out, is recorded and reported."""
    system.ok("ending", "record", "UE-E10", "--child", "CH-E10", "--ended-on", "2027-01-29",
              "--reason", "CHILD")
    system.wait_for_form("UE-E10", "unplanned_ending.meeting")
    before = system.ok("case", "timeline", "UE-E10", "--json").stdout
    refused = system.cli("input", "UE-E10", "unplanned_ending.meeting", "--data", json.dumps(
        {"done_on": "2027-03-03", "chair": "iro", **FEEDBACK, "carer_feedback_taken": 1}))
    assert refused.code == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("error: carer_feedback_taken: must be true or false")
    assert system.ok("case", "timeline", "UE-E10", "--json").stdout == before
    system.ok("input", "UE-E10", "unplanned_ending.meeting", "--data", json.dumps(
        {"done_on": "2027-03-03", "chair": "iro", **FEEDBACK, "child_feedback_taken": False}))
    items = _timeline(system, "UE-E10")
    assert items["unplanned_ending.meeting"]["status"] == "done"
    assert items["unplanned_ending.minutes"]["due"] == "2027-03-10"
    assert _exceptions(system, "UE-E10") == [
        "the child's feedback was not recorded as taken (Improving Placement Stability, "
        "section 6)"]
    report = system.ok("report", "breakdowns", "--month", "2027-03", "--json").json()
    assert report["exceptions"]["by_exception"]["unplanned_ending_meeting.child_feedback"] == 1
    assert report["exceptions"]["by_exception"]["unplanned_ending_meeting.carer_feedback"] == 0
    text = system.ok("report", "breakdowns", "--month", "2027-03").stdout
    assert "unplanned ending meeting: child feedback" in text
