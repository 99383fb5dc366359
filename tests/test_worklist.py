"""The operations view: the worklist across cases, who owns each item by name, the team's
artifact table, the audit trail with its actors, and search by child; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from stepdown.cli import app
from stepdown.db import get_engine, session_scope
from stepdown.domain.forms import FormError
from stepdown.notifications import sweep as outbox
from stepdown.records import get_process, set_waiting
from stepdown.staff import assign
from stepdown.tasks.case import run_tags
from stepdown.trail import case_audit, line, summary
from stepdown.worklist import (
    MAX_ARTIFACT_ROWS,
    NO_TEAM,
    Item,
    artifact_key,
    artifact_table,
    worklist,
)
from tests.builders import audit_actions, open_case, open_stability, snapshot, submit
from tests.test_sweep import CHILD_NAME, _staffed_case

WEEK_OF_PLANNING = date(2026, 12, 21)  # SD-W1's planning meeting and first visit: due 24 Dec


def _rows(as_of: date, **filters: str) -> list[dict[str, str]]:
    with session_scope() as session:
        return [item.row() for item in worklist(session, as_of=as_of, **filters)]


def _by_key(rows: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
    return {(row["ref"], row["key"]): row for row in rows}


def test_due_this_week_then_overdue_then_escalated_owned_by_the_person_the_sweep_chases(
    db_url: str, today: str
) -> None:
    _staffed_case("SD-W1")  # social worker Sam Worker; PACT proceed on 10 Dec
    week = _by_key(_rows(WEEK_OF_PLANNING))
    row = week[("SD-W1", "preparation.planning_meeting")]
    assert row == {"status": "due this week", "due": "2026-12-24", "ref": "SD-W1",
                   "key": "preparation.planning_meeting", "title": "Preparation planning meeting",
                   "owner role": "social_worker", "owner person": "Sam Worker <sw@la.example>"}
    # Nothing due after the seven days from the day judged, nothing done.
    assert all(r["due"] <= "2026-12-27" for r in week.values())
    assert ("SD-W1", "identification.suitability") not in week

    late = _by_key(_rows(date(2026, 12, 29)))
    assert late[("SD-W1", "preparation.planning_meeting")]["status"] == "overdue"

    with session_scope() as session:  # five working days on, the sweep escalates to the manager
        for day in ("2026-12-23", "2026-12-24", "2026-12-29", "2027-01-06"):
            as_of = date.fromisoformat(day)
            outbox.write(session, as_of=as_of, cutoff=outbox.end_of_day(as_of))
    escalated = _rows(date(2027, 1, 6))
    top = _by_key(escalated)[("SD-W1", "preparation.planning_meeting")]
    assert (top["status"], top["owner person"]) == ("escalated", "Tia Manager <tm@la.example>")
    assert escalated[0]["status"] == "escalated"  # the most urgent first


def test_an_unassigned_item_names_the_team_manager_who_hears_of_it(
    db_url: str, today: str
) -> None:
    _staffed_case("SD-W1")
    open_stability("ST-W2", child="CHILD-W2", requested_at="2026-12-21T09:30:00+00:00")
    rows = _by_key(_rows(WEEK_OF_PLANNING))
    meeting = rows[("ST-W2", "stability.meeting")]
    assert meeting["owner role"] == "social_worker"
    assert meeting["owner person"] == "unassigned (team manager: tm@la.example)"
    assert meeting["due"] == "2026-12-23 09:30"  # 48 hours, to the minute (London)
    with session_scope() as session:
        mine = worklist(session, as_of=WEEK_OF_PLANNING, owner="TM@la.example")
        sams = worklist(session, as_of=WEEK_OF_PLANNING, owner="sw@la.example")
    assert {i.ref for i in mine} == {"ST-W2"}  # the team manager hears of the unassigned one
    assert {i.ref for i in sams} == {"SD-W1"} and all(i.owner == "sw@la.example" for i in sams)


def test_team_filters_by_the_case_social_workers_team_and_closed_cases_drop_out(
    db_url: str, today: str
) -> None:
    _staffed_case("SD-W1")
    open_stability("ST-W2", child="CHILD-W2", requested_at="2026-12-21T09:30:00+00:00")
    north = _rows(WEEK_OF_PLANNING, team="north")
    assert {r["ref"] for r in north} == {"SD-W1"}
    assert {r["ref"] for r in _rows(WEEK_OF_PLANNING, team=NO_TEAM)} == {"ST-W2"}
    assert _rows(WEEK_OF_PLANNING, team="fostering") == []
    with pytest.raises(FormError, match="team: no team 'south'"):
        _rows(WEEK_OF_PLANNING, team="south")
    with pytest.raises(FormError, match="email: nobody@la.example is not in the staff"):
        _rows(WEEK_OF_PLANNING, owner="nobody@la.example")

    open_case("SD-W3", child="CHILD-W3", identified="2026-12-01")
    with session_scope() as session:
        assign(session, ref="SD-W3", role="social_worker", email="sw@la.example", actor="test")
        process = get_process(session, ref="SD-W3")
        set_waiting(session, process=process, key="identification.suitability",
                    flow_run_id="run-1", input_key="identification-suitability-1")
    waiting = _by_key(_rows(WEEK_OF_PLANNING, team="north"))[
        ("SD-W3", "identification.suitability")]
    assert (waiting["status"], waiting["due"], waiting["owner person"]) == (
        "waiting for form", "-", "Sam Worker <sw@la.example>")
    assert waiting["title"].startswith("Multi-agency suitability meeting")

    submit("SD-W3", "identification.suitability", {
        "held_on": "2026-12-08", "sdq_score": 10, "care_needs_band": "2.1",
        "care_plan_ratified": False})
    submit("SD-W3", "identification.pact_decision",
           {"decided_on": "2026-12-15", "decision": "not_now"})
    assert "SD-W3" not in {r["ref"] for r in _rows(WEEK_OF_PLANNING)}


def test_titles_are_the_policys_never_what_a_practitioner_typed(db_url: str, today: str) -> None:
    open_stability("ST-W4", child="CHILD-W4", requested_at="2026-12-14T10:00:00+00:00")
    submit("ST-W4", "stability.meeting", {
        "done_on": "2026-12-15", "chair": "team_manager",
        "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
        "child_views_recorded": True, "outcome": "stay",
        "actions": [{"title": f"Phone {CHILD_NAME}'s school", "owner": "social_worker",
                     "due": "2026-12-22"}]})
    rows = _rows(WEEK_OF_PLANNING)
    action = _by_key(rows)[("ST-W4", "stability.action#1")]
    assert action["title"].startswith("Action agreed at the stability meeting")
    text = json.dumps(artifact_table([Item(**{**_item(), "title": action["title"]})]) + rows)
    assert "Jamie" not in text and "Rowntree" not in text and "CHILD-W4" not in text


def test_the_worklist_costs_the_same_few_queries_for_three_cases_or_twelve(
    db_url: str, today: str
) -> None:
    def statements(n: int) -> int:
        for k in range(n):
            open_stability(f"ST-Q{n}-{k}", child=f"CHILD-Q{n}-{k}",
                           requested_at="2026-12-21T09:30:00+00:00")
        count = 0

        def counter(*_args: object) -> None:
            nonlocal count
            count += 1

        engine = get_engine()
        sa.event.listen(engine, "before_cursor_execute", counter)
        try:
            with session_scope() as session:
                found = worklist(session, as_of=WEEK_OF_PLANNING)
        finally:
            sa.event.remove(engine, "before_cursor_execute", counter)
        assert len({i.ref for i in found}) >= n
        return count

    assert statements(3) == statements(12) <= 8


def _item(**change: object) -> dict[str, object]:
    return {"status": "overdue", "due": "2026-12-24", "ref": "SD-1", "key": "k", "title": "T",
            "owner_role": "iro", "owner": None, "owner_name": None,
            "routed_to": "tm@la.example", "team": "North Team", **change}


def test_the_team_artifact_has_headers_caps_its_rows_and_says_when_there_is_nothing() -> None:
    assert artifact_key("North Team") == "worklist-north-team"
    assert artifact_key(None) == artifact_key("") == "worklist-no-team"
    one = artifact_table([Item(**_item())])  # type: ignore[arg-type]
    assert one == [{"status": "overdue", "due": "2026-12-24", "ref": "SD-1", "key": "k",
                    "title": "T", "owner role": "iro",
                    "owner person": "unassigned (team manager: tm@la.example)"}]
    many = artifact_table([Item(**_item(ref=f"SD-{n}")) for n in range(MAX_ARTIFACT_ROWS + 7)])  # type: ignore[arg-type]
    assert len(many) == MAX_ARTIFACT_ROWS + 1
    assert many[-1]["title"].startswith("7 more: stepdown worklist --team")
    assert artifact_table([])[0]["title"] == "nothing to do"


def test_flow_runs_are_tagged_with_the_child_reference() -> None:
    assert run_tags("step_down", "SD-1", "matching", "north", child="C-889213") == [
        "process:step_down", "ref:SD-1", "stage:matching", "child:C-889213", "team:north"]
    assert run_tags("stability", "ST-1", "meeting") == [
        "process:stability", "ref:ST-1", "stage:meeting"]


# ------------------------------------------------------------------------------ the audit trail
def test_an_input_submitted_by_a_person_is_theirs_in_the_audit_trail(
    db_url: str, today: str
) -> None:
    _staffed_case("SD-A1")
    submit("SD-A1", "preparation.planning_meeting",
           {"done_on": "2026-12-18", "submitted_by": "SW@la.example"})
    with session_scope() as session:
        rows = case_audit(session, ref="SD-A1")
    mine = {r["action"]: r for r in rows if r["detail"].get("key") == "preparation.planning_meeting"
            or r["detail"].get("form") == "preparation.planning_meeting"}
    assert mine["input.accepted"]["actor"] == "sw@la.example"
    assert mine["obligation.done"]["actor"] == "sw@la.example"
    accepted = [d for a, d in audit_actions("SD-A1") if a == "input.accepted"
                and d["form"] == "preparation.planning_meeting"]
    assert accepted[0]["channel"] == "cli"  # the channel is kept too


def test_a_submitter_not_in_the_directory_is_refused_and_nothing_changes(
    db_url: str, today: str
) -> None:
    _staffed_case("SD-A2")
    before = snapshot()
    with pytest.raises(FormError, match="submitted_by: who@la.example is not in the staff"):
        submit("SD-A2", "preparation.planning_meeting",
               {"done_on": "2026-12-18", "submitted_by": "who@la.example"})
    with pytest.raises(FormError, match="submitted_by: must be an email address"):
        submit("SD-A2", "preparation.planning_meeting",
               {"done_on": "2026-12-18", "submitted_by": "Jo Bloggs"})
    assert snapshot() == before


def test_the_printed_audit_withholds_free_text_and_keeps_keys_and_statuses() -> None:
    shown = summary({"form": "identification.suitability", "input_key": "x-1",
                     "error": "discussion_notes: is required (got 'Jamie Rowntree')",
                     "status": "pending", "due": "2026-12-24", "reason": "Jamie's carer left",
                     "title": "Phone Jamie", "previous": None})
    assert shown == {"form": "identification.suitability", "input_key": "x-1",
                     "refused_field": "discussion_notes", "status": "pending",
                     "due": "2026-12-24", "reason": "...", "title": "..."}


def test_the_printed_audit_says_why_a_due_date_moved_and_which_process_moved_it() -> None:
    because = ("brought forward: within 20 working days of the placement change on 2027-08-27, "
               "PL-P1")
    shown = summary({"key": "cla.review#2", "due": "2027-09-27", "because": because,
                     "by": "PL-P2", "opened": "UE-CH-P1-20271105", "note": "Jamie moved"})
    assert shown == {"key": "cla.review#2", "due": "2027-09-27", "because": because,
                     "by": "PL-P2", "opened": "UE-CH-P1-20271105", "note": "..."}


def test_the_printed_audit_shows_what_people_wrote_to_explain_a_decision() -> None:
    written = "Jamie's carer left: the panel said proceed"
    for action in ("input.corrected", "input.early", "role.acting"):
        shown = summary({"key": "x.review#1", "reason": written, "earliest": "2027-03-01",
                         "error": "done_on: bad (got 'Jamie')"}, action)
        assert shown == {"key": "x.review#1", "reason": written, "earliest": "2027-03-01",
                         "refused_field": "done_on"}, action
    # The same text under any other action is not a reason people were asked to write.
    assert summary({"reason": written}, "process.closed") == {"reason": "..."}
    assert summary({"reason": "CREQB"}, "process.opened") == {"reason": "CREQB"}  # a code
    assert summary({"reason": 7}, "input.early") == {"reason": 7}


def test_a_written_reason_stays_on_its_line_of_the_printed_trail() -> None:
    assert line({"key": "x#1", "reason": 'Two lines\nand "quotes"\x1b[31m', "title": "..."}) == (
        'key=x#1 reason="Two lines\\nand \\"quotes\\"\\u001b[31m" title=...')
    assert line({"because": "brought forward: within 20 working days"}) == (
        'because="brought forward: within 20 working days"')
    assert line({"reason": "Zoë's move"}) == 'reason="Zoë\'s move"'


def test_the_audit_trail_shows_the_reasons_and_nothing_else_carries_them(
        db_url: str, today: str) -> None:
    """A correction's reason, an early input's and an acting person's, as written, in the
    trail, on the table and in its JSON; and in no notification the sweep writes."""
    from stepdown.corrections import correct_input
    from stepdown.staff import import_staff
    from tests.test_input_rules import case_at
    from tests.test_sweep import STAFF

    early = "The carers' work takes them abroad in March"
    acting = "Sam is on leave until March: Sol covers the visits"
    corrected = "Recorded against the wrong case; the review was not held"
    with session_scope() as session:
        import_staff(session, text=STAFF, actor="test")
    case_at("SD-A5", 11)  # in the introduction stage (S = 2027-01-25)
    with session_scope() as session:
        assign(session, ref="SD-A5", role="social_worker", email="ssw@la.example",
               actor="test", acting=acting)
    submit("SD-A5", "introduction.final_review",
           {"done_on": "2027-02-22", "outcome": "move", "early_reason": early})
    with session_scope() as session:
        correct_input(session, ref="SD-A5", key="introduction.final_review", reason=corrected,
                      actor="cli")
    with session_scope() as session:
        rows = case_audit(session, ref="SD-A5")
    details = {row["action"]: row["detail"] for row in rows}
    assert details["role.acting"] == {"role": "social_worker", "person": "ssw@la.example",
                                      "directory_role": "supervising_social_worker",
                                      "reason": acting}
    assert details["input.early"] == {"key": "introduction.final_review",
                                      "earliest": "2027-03-01", "reason": early}
    assert details["input.corrected"]["reason"] == corrected
    assert details["input.corrected"]["key"] == "introduction.final_review"

    as_json = runner.invoke(app, ["case", "audit", "SD-A5", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert [r["detail"] for r in json.loads(as_json.stdout)] == [r["detail"] for r in rows]
    table = runner.invoke(app, ["case", "audit", "SD-A5"]).stdout.splitlines()
    assert any(r.split()[2] == "role.acting" and r.endswith(f'reason="{acting}"')
               for r in table)
    assert any(r.split()[2] == "input.early" and r.endswith(
        f'key=introduction.final_review earliest=2027-03-01 reason="{early}"') for r in table)
    assert any(r.split()[2] == "input.corrected" and f'reason="{corrected}"' in r
               for r in table)

    with session_scope() as session:  # everything the sweep would send, as of a month on
        outbox.write(session, as_of=date(2027, 3, 1), cutoff=outbox.end_of_day(
            date(2027, 3, 1)))
    with get_engine().connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM message")).all()
    messages = "\n".join(str(value) for row in rows for value in row)  # whole: repr cuts text
    assert "ssw@la.example" in {row.recipient for row in rows}  # written to the acting worker
    for text in (early, acting, corrected):
        assert text not in messages


runner = CliRunner()


def test_case_audit_lists_the_trail_oldest_first_with_its_actors(db_url: str, today: str) -> None:
    _staffed_case("SD-A3")
    submit("SD-A3", "preparation.planning_meeting",
           {"done_on": "2026-12-18", "submitted_by": "sw@la.example"})
    result = runner.invoke(app, ["case", "audit", "SD-A3", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["action"] == "process.opened" and rows[0]["actor"] == "cli"
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    assert any(r["actor"] == "sw@la.example" and r["action"] == "obligation.done"
               and r["detail"] == {"key": "preparation.planning_meeting",
                                   "done_on": "2026-12-18"} for r in rows)
    assert any(r["action"] == "role.assigned" and r["detail"]["person"] == "sw@la.example"
               for r in rows)
    assert CHILD_NAME.split()[0] not in result.stdout  # the suitability notes named the child
    text = runner.invoke(app, ["case", "audit", "SD-A3"])
    assert text.stdout.splitlines()[0].split()[:4] == ["at", "(Europe/London)", "actor", "action"]
    assert runner.invoke(app, ["case", "audit", "SD-NOPE"]).exit_code == 2


def test_case_list_finds_a_childs_processes_under_a_header(db_url: str, today: str) -> None:
    open_case("SD-L1", child="CHILD-L1")
    open_case("SD-L2", child="CHILD-L2")
    open_stability("ST-L1", child="CHILD-L1", requested_at="2026-11-20T10:00:00+00:00")
    result = runner.invoke(app, ["case", "list", "--child", "CHILD-L1"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ref", "process", "child", "stage", "status", "outcome",
                                "waiting", "for"]
    assert [line.split()[0] for line in lines[1:]] == ["SD-L1", "ST-L1"]
    listed = json.loads(runner.invoke(app, ["case", "list", "--json", "--child", "CHILD-L2"])
                        .stdout)
    assert [row["ref"] for row in listed] == ["SD-L2"]
    assert runner.invoke(app, ["case", "list", "--child", "a b"]).exit_code == 2


def test_the_worklist_command_prints_headers_and_filters(db_url: str, today: str) -> None:
    _staffed_case("SD-C1")
    result = runner.invoke(app, ["worklist", "--team", "north", "--as-of", "2026-12-21"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["status", "due", "ref"] and "owner person" in lines[0]
    assert "preparation.planning_meeting" in result.stdout
    assert "Sam Worker <sw@la.example>" in result.stdout
    listed = json.loads(runner.invoke(
        app, ["worklist", "--owner", "sw@la.example", "--as-of", "2026-12-21", "--json"]).stdout)
    assert {row["owner"] for row in listed} == {"sw@la.example"} and listed[0]["team"] == "north"
    refused = runner.invoke(app, ["worklist", "--owner", "x@la.example"])
    assert refused.exit_code == 2 and "owner: x@la.example is not in the staff" in refused.stderr
    assert runner.invoke(app, ["worklist", "--as-of", "someday"]).exit_code == 2


def test_as_names_the_actor_and_must_be_in_the_directory(db_url: str, today: str) -> None:
    _staffed_case("SD-C2")
    bad = runner.invoke(app, ["--as", "ghost@la.example", "staff", "import", "/nonexistent"])
    assert bad.exit_code == 2 and "file: cannot read" in bad.stderr  # the form is fine
    worse = runner.invoke(app, ["--as", "not an email", "staff", "import", "/nonexistent"])
    assert worse.exit_code == 2 and "as: must be an email address" in worse.stderr
    refused = runner.invoke(app, ["case", "assign", "SD-C2", "iro", "ftm@la.example"],
                            env={"STEPDOWN_ACTOR": "ghost@la.example"})
    assert refused.exit_code == 2
    assert "as: ghost@la.example is not in the staff directory" in refused.stderr
