"""Corrections on SQLite and PostgreSQL: a recorded input reversed, with both kept on record."""

from __future__ import annotations

from typing import Any

import pytest

from stepdown.corrections import Correction, correct_input, flow_run_key, pending_restart
from stepdown.db import session_scope
from stepdown.domain.forms import FormError
from stepdown.inputs import apply_input
from stepdown.models.tables import Submission
from stepdown.records import NotFound, get_process, set_stage_flow_run, stage_runs
from tests import scenario
from tests.builders import audit_actions, open_case, snapshot, submit, timeline_of

SUITABILITY = {"held_on": "2026-11-09", "sdq_score": 12, "care_needs_band": "2.1",
               "care_plan_ratified": True}
NOT_NOW = {"decided_on": "2026-11-16", "decision": "not_now"}
PROCEED = {"decided_on": "2026-11-16", "decision": "proceed"}


def correct(ref: str, key: str, reason: str = "entered on the wrong case") -> Correction:
    with session_scope() as session:
        return correct_input(session, ref=ref, key=key, reason=reason, actor="cli")


def case(ref: str) -> tuple[str, str, str | None, str | None]:
    with session_scope() as session:
        process = get_process(session, ref=ref)
        return (process.stage, process.status, process.outcome,
                str(process.closed_on) if process.closed_on else None)


def states(ref: str) -> dict[str, tuple[Any, ...]]:
    return {key: (item["status"], item["due"], item["done_on"])
            for key, item in timeline_of(ref, scenario.TODAY).items()}


def statuses_of(ref: str, key: str) -> list[str]:
    with session_scope() as session:
        process = get_process(session, ref=ref)
        from sqlmodel import col, select

        rows = session.exec(select(Submission.status).where(
            Submission.process_id == process.id, Submission.form == key)
            .order_by(col(Submission.id))).all()
        return list(rows)


def test_a_done_obligation_is_open_again_and_can_be_recorded_anew(db_url: str,
                                                                  today: str) -> None:
    open_case("SD-C1")
    submit("SD-C1", "identification.mhmp_sent", {"done_on": "2026-11-03"})
    done = correct("SD-C1", "identification.mhmp_sent", "done on the 4th, not the 3rd")
    assert (done.reopened, done.reverted_from, done.restart) == (False, None, False)
    item = timeline_of("SD-C1", today)["identification.mhmp_sent"]
    assert (item["status"], item["done_on"]) == ("pending", None)
    assert statuses_of("SD-C1", "identification.mhmp_sent") == ["corrected"]
    corrected = [d for a, d in audit_actions("SD-C1") if a == "input.corrected"]
    assert len(corrected) == 1
    assert corrected[0]["key"] == "identification.mhmp_sent"
    assert corrected[0]["reason"] == "done on the 4th, not the 3rd"
    assert isinstance(corrected[0]["submission_id"], int)
    assert ("obligation.reopened", {"key": "identification.mhmp_sent"}) in audit_actions("SD-C1")
    submit("SD-C1", "identification.mhmp_sent", {"done_on": "2026-11-04"})
    assert timeline_of("SD-C1", today)["identification.mhmp_sent"]["done_on"] == "2026-11-04"
    assert statuses_of("SD-C1", "identification.mhmp_sent") == ["corrected", "accepted"]


def test_a_chain_follows_the_corrected_date(db_url: str, today: str) -> None:
    """The review a planning meeting scheduled goes with it, and comes back on the new date."""
    open_case("SD-C2")
    for key, data in scenario.STEPS[:4]:  # to the preparation planning meeting (11-27)
        submit("SD-C2", key, data)
    assert timeline_of("SD-C2", today)["preparation.review#1"]["due"] == "2026-12-11"
    correct("SD-C2", "preparation.planning_meeting")
    items = timeline_of("SD-C2", today)
    assert items["preparation.planning_meeting"]["status"] == "overdue"
    assert items["preparation.review#1"]["status"] == "cancelled"
    submit("SD-C2", "preparation.planning_meeting", {"done_on": "2026-11-25"})
    item = timeline_of("SD-C2", "2026-12-01")["preparation.review#1"]
    assert (item["status"], item["due"]) == ("pending", "2026-12-09")
    assert ("obligation.restored", {"key": "preparation.review#1"}) in audit_actions("SD-C2")


def test_correcting_a_closing_decision_reopens_the_case_as_it_was(db_url: str,
                                                                  today: str) -> None:
    open_case("SD-C3")
    submit("SD-C3", "identification.suitability", SUITABILITY)
    before = states("SD-C3")
    submit("SD-C3", "identification.pact_decision", NOT_NOW)
    assert case("SD-C3") == ("identification", "closed", "not_now", "2026-11-16")
    assert timeline_of("SD-C3", today)["identification.child_views"]["status"] == "cancelled"
    done = correct("SD-C3", "identification.pact_decision")
    assert (done.reopened, done.restart, done.stage) == (True, True, "identification")
    assert case("SD-C3") == ("identification", "open", None, None)
    assert states("SD-C3") == before
    with session_scope() as session:
        runs = stage_runs(session, process=get_process(session, ref="SD-C3"))
    assert [(r.stage, r.ended_on) for r in runs] == [("identification", None)]
    actions = audit_actions("SD-C3")
    assert ("obligation.restored", {"key": "identification.child_views"}) in actions
    assert any(a == "process.reopened" and d["outcome"] == "not_now" for a, d in actions)
    submit("SD-C3", "identification.pact_decision", PROCEED)  # the decision taken, this time
    assert case("SD-C3")[:2] == ("preparation", "open")
    assert statuses_of("SD-C3", "identification.pact_decision") == ["corrected", "accepted"]


def test_correcting_the_final_support_review_restores_what_the_closing_cancelled(
    db_url: str, today: str
) -> None:
    """The issue's case: a final review recorded as standard closed the case and cancelled
    everything open; corrected, every item is back as it was."""
    open_case("SD-C4", child=scenario.CHILD, identified=scenario.OPENED)
    for key, data in scenario.STEPS[:-1]:
        submit("SD-C4", key, data)
    before = states("SD-C4")
    submit("SD-C4", *scenario.STEPS[-1])
    after_close = states("SD-C4")
    cancelled = {k for k, v in after_close.items() if v[0] == "cancelled"} - {
        k for k, v in before.items() if v[0] == "cancelled"}
    assert len(cancelled) > 10
    done = correct("SD-C4", "support.monthly_review#6")
    assert (done.reopened, done.restart, done.stage) == (True, True, "support")
    assert case("SD-C4") == ("support", "open", None, None)
    assert states("SD-C4") == before
    restored = {d["key"] for a, d in audit_actions("SD-C4") if a == "obligation.restored"}
    assert restored == cancelled


def test_correcting_a_stage_starting_form_goes_back_to_the_stage_before(db_url: str,
                                                                        today: str) -> None:
    open_case("SD-C5")
    submit("SD-C5", "identification.suitability", SUITABILITY)
    before = states("SD-C5")
    submit("SD-C5", "identification.pact_decision", PROCEED)
    assert timeline_of("SD-C5", today)["preparation.planning_meeting"]["status"] == "overdue"
    done = correct("SD-C5", "identification.pact_decision")
    assert (done.reverted_from, done.stage, done.restart) == ("preparation", "identification",
                                                              True)
    assert case("SD-C5") == ("identification", "open", None, None)
    with session_scope() as session:
        runs = stage_runs(session, process=get_process(session, ref="SD-C5"))
    assert [(r.stage, r.ended_on) for r in runs] == [("identification", None)]
    after = states("SD-C5")
    # What the stage planned is cancelled (kept on record); the rest is as before PACT.
    assert after["preparation.planning_meeting"][0] == "cancelled"
    assert {k: v for k, v in after.items() if k in before} == before
    assert any(a == "stage.reversed" and d["stage"] == "preparation"
               for a, d in audit_actions("SD-C5"))
    submit("SD-C5", "identification.pact_decision", NOT_NOW)
    assert case("SD-C5") == ("identification", "closed", "not_now", "2026-11-16")


def test_a_fresh_flow_run_waits_under_the_same_pause_key_without_finding_the_old_input(
    db_url: str, today: str
) -> None:
    """A flow run started after a correction suspends on the same pause key as the run it
    replaced: its input is a new submission, not the corrected one come back."""
    open_case("SD-C6")
    submit("SD-C6", "identification.suitability", SUITABILITY)

    def from_flow(run_id: str, data: dict[str, Any]) -> str:
        with session_scope() as session:
            process = get_process(session, ref="SD-C6", lock=True)
            return apply_input(session, process=process, key="identification.pact_decision",
                               data=data, channel="ui", flow_run_id=run_id,
                               input_key="identification-pact-decision-1").status

    assert from_flow("run-1", NOT_NOW) == "accepted"
    correct("SD-C6", "identification.pact_decision")
    assert from_flow("run-1", PROCEED) == "corrected"  # the replaced run gets nothing through
    assert case("SD-C6")[1] == "open"
    assert from_flow("run-2", PROCEED) == "accepted"
    assert case("SD-C6")[:2] == ("preparation", "open")
    assert statuses_of("SD-C6", "identification.pact_decision") == ["corrected", "accepted"]


def test_a_restart_left_undone_is_visible_and_the_same_command_finishes_it(
    db_url: str, today: str
) -> None:
    open_case("SD-C7")
    with session_scope() as session:
        process = get_process(session, ref="SD-C7")
        assert flow_run_key(session, process=process, stage="identification") == (
            "SD-C7-identification")
        set_stage_flow_run(session, process=process, stage="identification",
                           flow_run_id="old-run")
    submit("SD-C7", "identification.suitability", SUITABILITY)
    done = correct("SD-C7", "identification.suitability")
    assert (done.restart, done.flow_runs) == (True, ["old-run"])
    assert done.idempotency_key == "SD-C7-identification-c1"
    with session_scope() as session:
        process = get_process(session, ref="SD-C7")
        assert [r.flow_run_id for r in stage_runs(session, process=process)] == [None]
        pending = pending_restart(session, process=process)
    assert pending is not None and pending.key == "identification.suitability"
    before = snapshot()
    again = correct("SD-C7", "identification.suitability", "again")
    assert (again.already, again.restart, again.flow_runs) == (True, True, ["old-run"])
    assert again.idempotency_key == "SD-C7-identification-c1"  # the same run, if it was made
    assert snapshot() == before
    with session_scope() as session:
        process = get_process(session, ref="SD-C7")
        set_stage_flow_run(session, process=process, stage="identification",
                           flow_run_id="new-run")
        assert pending_restart(session, process=process) is None
    with pytest.raises(FormError, match="nothing to correct: SD-C7 has no accepted "
                                        "identification.suitability"):
        correct("SD-C7", "identification.suitability")


@pytest.mark.parametrize(
    ("steps", "key", "reason", "message"),
    [
        ([], "identification.suitability", "wrong",
         "key: nothing to correct: SD-R has no accepted identification.suitability"),
        ([("identification.mhmp_sent", {"done_on": "2026-11-03"})], "identification.mhmp_sent",
         "   ", "reason: must say why the input is corrected"),
        ([], "identification.nonsense", "wrong",
         "key: 'identification.nonsense' is not a form or an obligation of SD-R"),
        ([("identification.suitability", SUITABILITY),
          ("identification.pact_decision", PROCEED)], "identification.suitability", "wrong",
         "key: identification.pact_decision recorded later depends on "
         "identification.suitability: correct identification.pact_decision first"),
        ([("identification.suitability", SUITABILITY),
          ("identification.pact_decision", PROCEED),
          ("preparation.planning_meeting", {"done_on": "2026-11-27"})],
         "identification.pact_decision", "wrong",
         "key: preparation.planning_meeting recorded later depends on "
         "identification.pact_decision: correct preparation.planning_meeting first"),
        ([("identification.mhmp_sent", {"done_on": "2026-11-03"}),
          ("identification.suitability", SUITABILITY),
          ("identification.pact_decision", NOT_NOW)], "identification.mhmp_sent", "wrong",
         "key: SD-R was closed (not_now) by identification.pact_decision, recorded later: "
         "correct identification.pact_decision first"),
        ([("identification.suitability", SUITABILITY)], "identification.care_plan_ratified",
         "wrong", "key: identification.care_plan_ratified was recorded with another form"),
    ],
)
def test_a_correction_is_refused_with_one_line_and_changes_nothing(
    db_url: str, today: str, steps: list[tuple[str, dict[str, Any]]], key: str, reason: str,
    message: str,
) -> None:
    open_case("SD-R")
    for step, data in steps:
        submit("SD-R", step, data)
    before = snapshot()
    with pytest.raises((FormError, NotFound)) as refused:
        correct("SD-R", key, reason)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert snapshot() == before


def test_a_decision_several_stages_back_names_the_latest_to_correct_first(
    db_url: str, today: str
) -> None:
    open_case("SD-R2", child=scenario.CHILD, identified=scenario.OPENED)
    for key, data in scenario.STEPS[:10]:  # to the approved match
        submit("SD-R2", key, data)
    before = snapshot()
    with pytest.raises(FormError) as refused:
        correct("SD-R2", "preparation.readiness")
    assert "correct matching.decision first" in str(refused.value)
    assert snapshot() == before
    done = correct("SD-R2", "matching.decision")  # the approval: back to matching
    assert (done.reverted_from, done.stage) == ("introduction", "matching")
    with pytest.raises(FormError, match="correct matching.decision first"):
        correct("SD-R2", "preparation.readiness")  # the decline still stands on it


MEETING = {"done_on": "2026-12-23", "chair": "team_manager",
           "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
           "child_views_recorded": True, "outcome": "stay",
           "actions": [{"title": "Respite weekend", "owner": "supervising_social_worker",
                        "due": "2027-01-08"}]}


def test_a_stability_meeting_corrected_takes_its_follow_up_with_it(db_url: str,
                                                                   today: str) -> None:
    from tests.builders import open_stability

    open_stability("ST-C1", child="CHILD-S", requested_at="2026-12-22T09:15:00+00:00")
    submit("ST-C1", "stability.meeting", MEETING)
    submit("ST-C1", "stability.action#1", {"done_on": "2027-01-05"})
    with pytest.raises(FormError, match="stability.action#1 recorded later depends on "
                                        "stability.meeting: correct stability.action#1 first"):
        correct("ST-C1", "stability.meeting")
    correct("ST-C1", "stability.action#1")
    done = correct("ST-C1", "stability.meeting")
    assert (done.reverted_from, done.stage, done.restart) == ("follow_up", "meeting", True)
    items = timeline_of("ST-C1", today)
    assert items["stability.meeting"]["status"] == "overdue"
    assert items["stability.minutes"]["status"] == "cancelled"
    assert items["stability.action#1"]["status"] == "cancelled"


def test_a_waiver_corrected_reopens_the_meeting(db_url: str, today: str) -> None:
    from tests.builders import open_stability, record_ending

    open_stability("ST-C2", child="CHILD-W", requested_at="2026-12-22T09:15:00+00:00")
    submit("ST-C2", "stability.meeting", MEETING)
    record_ending("UE-C2", child="CHILD-W", ended_on="2027-03-17", reason="ALLEG")
    submit("UE-C2", "unplanned_ending.waiver", {"decided_on": "2027-03-19", "decision": "waive"})
    done = correct("UE-C2", "unplanned_ending.waiver")
    assert (done.reopened, done.stage, done.restart) == (True, "meeting", True)
    assert case("UE-C2") == ("meeting", "open", None, None)
    assert timeline_of("UE-C2", "2027-03-20")["unplanned_ending.meeting"]["status"] == "pending"
    submit("UE-C2", "unplanned_ending.waiver", {"decided_on": "2027-03-19", "decision": "hold"})
    submit("UE-C2", "unplanned_ending.meeting", {"done_on": "2027-04-20", "chair": "iro",
                                                 "carer_feedback_taken": True,
                                                 "child_feedback_taken": True})
    assert case("UE-C2")[0] == "follow_up"


def test_a_case_closed_by_another_process_is_not_reopened_by_a_correction(
    db_url: str, today: str
) -> None:
    from tests.builders import record_ending

    open_case("SD-C8", child=scenario.CHILD, identified=scenario.OPENED)
    for key, data in scenario.STEPS[:-1]:  # moved in on 2027-04-05
        submit("SD-C8", key, data)
    submit("SD-C8", "support.weekly_review#1", {"done_on": "2027-04-12"})
    assert record_ending("UE-C8", child=scenario.CHILD, ended_on="2027-06-01") == "SD-C8"
    before = snapshot()
    with pytest.raises(FormError, match="ref: SD-C8 is closed \\(disrupted\\) by another "
                                        "process's record"):
        correct("SD-C8", "support.weekly_review#1")
    assert snapshot() == before


def test_a_correction_does_not_reopen_a_case_beside_the_childs_other_open_one(
        db_url: str, today: str) -> None:
    """A child has one Step Down case at a time: a closed case is not reopened while another
    case for the same child is open."""
    open_case("SD-C9", child="CH-TWICE")
    submit("SD-C9", "identification.suitability", SUITABILITY)
    submit("SD-C9", "identification.pact_decision", NOT_NOW)
    open_case("SD-C10", child="CH-TWICE")  # allowed: the first case is closed
    before = snapshot()
    with pytest.raises(FormError, match="two open step_down cases: SD-C10 is open"):
        correct("SD-C9", "identification.pact_decision")
    assert snapshot() == before
    assert case("SD-C9") == ("identification", "closed", "not_now", "2026-11-16")
