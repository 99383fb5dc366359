"""Rows of docs/standards.md that no other test checked: the date or the gate each one claims.

The engine tests are pure (facts by hand, as tests/test_engine.py); the others run on the case
record, SQLite and PostgreSQL (as tests/test_records.py). Every date is worked out by hand in a
comment (England and Wales bank holidays: Fri 25 and Mon 28 Dec 2026, Fri 1 Jan 2027, Good
Friday 26 Mar and Easter Monday 29 Mar 2027, Mon 3 May 2027), never recomputed with the code
under test."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from stepdown.db import session_scope
from stepdown.domain.engine import Completion, Facts, Planned, plan
from stepdown.domain.forms import FormError, parse_form
from stepdown.domain.policy import load_policy
from stepdown.records import (
    accepted_forms,
    declarations,
    get_process,
    open_with_links,
    stage_runs,
)
from tests import scenario
from tests.builders import open_case, open_stability, snapshot, submit, timeline_of
from tests.test_stability_and_endings import FOLLOW_UP, MEETING


def d(text: str) -> date:
    return date.fromisoformat(text)


def _plan(kind: str, *, starts: dict[str, str], ends: dict[str, str] | None = None,
          done: dict[str, tuple[str, dict[str, Any]]] | None = None,
          child: dict[str, list[tuple[str, str]]] | None = None) -> dict[str, Planned]:
    facts = Facts(process=kind, stage_starts={k: d(v) for k, v in starts.items()},
                  stage_ends={k: d(v) for k, v in (ends or {}).items()},
                  done={k: Completion(d(on), data) for k, (on, data) in (done or {}).items()},
                  child={k: [(d(on), ref) for on, ref in v] for k, v in (child or {}).items()})
    items = plan(load_policy(), facts)
    keys = [p.key for p in items]
    assert len(keys) == len(set(keys)), "a key planned twice"
    return {p.key: p for p in items}


def _state(ref: str) -> tuple[str, str, str | None]:
    with session_scope() as session:
        process = get_process(session, ref=ref)
        return process.stage, process.status, process.outcome


def _refused(ref: str, key: str, data: dict[str, Any]) -> str:
    before = snapshot()
    with pytest.raises(FormError) as refused:
        submit(ref, key, data)
    assert snapshot() == before  # a refusal changes nothing
    assert "\n" not in str(refused.value)
    return str(refused.value)


# ------------------------------------------------------------------ 000 Step 1 (000-03 .. -13)
def test_the_identification_checklist_opens_with_the_case_undated() -> None:
    """000 Step 1: the MHMP request, the child's views, the birth parents informed, the IRO in
    the discussions, the SCAYT+ referral and the NYAS referral have no date: each is open from
    the day the case is identified (Mon 2 Nov 2026), chased until done, and carried into
    Preparation when PACT proceeds (Mon 16 Nov 2026)."""
    owners = {"identification.mhmp_sent": "social_worker",
              "identification.child_views": "social_worker",
              "identification.parents_informed": "social_worker",
              "identification.iro_involved": "social_worker",
              "identification.scayt_referral": "social_worker",
              "identification.nyas_referral": "social_worker",
              "identification.care_plan_ratified": "iro"}
    items = _plan("step_down", starts={"identification": "2026-11-02"})
    for key, owner in owners.items():
        assert (items[key].opened_on, items[key].due_on, items[key].owner) == (
            d("2026-11-02"), None, owner), key
    moved_on = _plan("step_down", starts={"identification": "2026-11-02",
                                          "preparation": "2026-11-16"},
                     ends={"identification": "2026-11-16"})
    for key in owners:
        assert not moved_on[key].cancelled, key  # carried forward, never dropped


# ------------------------------------------------------------------ 000 Step 1 (000-05)
SUITABILITY = {"held_on": "2026-11-09", "sdq_score": 12, "care_needs_band": "2.1",
               "care_plan_ratified": True}


def test_a_care_needs_band_outside_2_1_and_2_2_is_recorded_not_refused(
    db_url: str, today: str
) -> None:
    """000 says the child's emotional health "should" be within 2.1 or 2.2: another band is
    recorded as given, and PACT may still proceed; a band that is not one of the three is not."""
    open_case("SD-R5", child="CH-R5", identified=scenario.OPENED)
    assert _refused("SD-R5", "identification.suitability",
                    {**SUITABILITY, "care_needs_band": "3"}).startswith(
        "care_needs_band: must be one of")
    submit("SD-R5", "identification.suitability", {**SUITABILITY, "care_needs_band": "other"})
    with session_scope() as session:
        recorded = accepted_forms(session, process=get_process(session, ref="SD-R5"))
    assert recorded["identification.suitability"][0]["care_needs_band"] == "other"
    submit("SD-R5", "identification.pact_decision",
           {"decided_on": "2026-11-16", "decision": "proceed"})
    assert _state("SD-R5") == ("preparation", "open", None)


# ------------------------------------------------------------------ 000 Step 2 (000-20)
def test_readiness_starts_matching_and_not_suitable_closes_the_case(
    db_url: str, today: str
) -> None:
    """000 Step 2: Preparation "concluded when the child confirms that they feel ready"."""
    for ref, outcome, state in (("SD-R20A", "ready", ("matching", "open", None)),
                                ("SD-R20B", "not_suitable",
                                 ("preparation", "closed", "not_suitable"))):
        open_case(ref, child=f"CH-{ref}", identified=scenario.OPENED)
        for key, data in scenario.STEPS[:3]:  # suitability, SCAYT+ referral, PACT 2026-11-16
            submit(ref, key, data)
        assert _refused(ref, "preparation.readiness",
                        {"decided_on": "2026-12-14", "outcome": "unsure"}).startswith(
            "outcome: must be one of")
        submit(ref, "preparation.readiness", {"decided_on": "2026-12-14", "outcome": outcome})
        assert _state(ref) == state, ref
    # Matching started on the day of the decision, with its undated checklist.
    with session_scope() as session:
        runs = {run.stage: str(run.started_on) for run in
                stage_runs(session, process=get_process(session, ref="SD-R20A"))}
    assert runs["matching"] == "2026-12-14"
    item = timeline_of("SD-R20A", "2026-12-14")["matching.search"]
    assert (item["due"], item["status"]) == (None, "pending")


# ------------------------------------------------------------------ 000 Step 3 (000-26 .. -28)
def test_the_checklist_of_a_match_opens_when_matching_starts_undated() -> None:
    """000 Step 3: when a match is found, Family Finding shares the Matching Profile with the
    social worker and the My Home, My Place with the supervising social worker, and the social
    worker liaises with the IRO. Undated: open from the start of Matching (Wed 15 Apr 2026)."""
    items = _plan("step_down", starts={"identification": "2026-02-16",
                                       "preparation": "2026-03-02", "matching": "2026-04-15"})
    for key, owner in (("matching.profile_shared", "family_finding"),
                       ("matching.mhmp_to_ssw", "family_finding"),
                       ("matching.iro_consulted", "social_worker")):
        assert (items[key].opened_on, items[key].due_on, items[key].owner) == (
            d("2026-04-15"), None, owner), key


# ------------------------------------------------------------------ 000 Step 3 (000-31, -33)
MATCHING_STARTS = 8  # scenario.STEPS up to the readiness decision (Matching from 2027-01-04)


def test_a_declined_match_needs_its_reasons_and_an_approved_one_starts_introduction(
    db_url: str, today: str
) -> None:
    open_case("SD-R31", child="CH-R31", identified=scenario.OPENED)
    for key, data in scenario.STEPS[:MATCHING_STARTS]:
        submit("SD-R31", key, data)
    assert _refused("SD-R31", "matching.decision",
                    {"decided_on": "2027-01-11", "outcome": "declined"}) == (
        "reasons: is required when the outcome is declined")
    submit("SD-R31", "matching.decision", {"decided_on": "2027-01-11", "outcome": "declined",
                                           "reasons": "Too far from the child's school."})
    assert _state("SD-R31") == ("matching", "open", None)  # the search goes on
    submit("SD-R31", "matching.decision", {"decided_on": "2027-01-18", "outcome": "approved"})
    assert _state("SD-R31") == ("introduction", "open", None)
    items = timeline_of("SD-R31", "2027-01-18")
    # The match agreed Mon 18 Jan 2027: the introduction planning meeting is due + 14 days,
    # Mon 1 Feb; the amendment the declined match opened stays open, undated.
    assert items["introduction.planning_meeting"]["due"] == "2027-02-01"
    assert (items["matching.mhmp_amended"]["due"], items["matching.mhmp_amended"]["status"]) == (
        None, "pending")


# ------------------------------------------------------------------ 000 Step 4 (000-42)
def test_extending_the_introductions_plan_needs_its_weeks(db_url: str, today: str) -> None:
    """000 Step 4: the plan "can be extended": extend takes the number of weeks, and the
    review of the extended plan is due that many weeks after the final review's due date (Fri
    19 Mar 2027 + 2 weeks = Fri 2 Apr 2027)."""
    open_case("SD-R42", child="CH-R42", identified=scenario.OPENED)
    planning = [k for k, _ in scenario.STEPS].index("introduction.planning_meeting")
    for key, data in scenario.STEPS[:planning + 1]:  # held Mon 25 Jan 2027
        submit("SD-R42", key, data)
    assert _refused("SD-R42", "introduction.final_review",
                    {"done_on": "2027-03-15", "outcome": "extend"}) == (
        "extend_weeks: is required when the outcome is extend")
    submit("SD-R42", "introduction.final_review",
           {"done_on": "2027-03-15", "outcome": "extend", "extend_weeks": 2})
    extended = timeline_of("SD-R42", "2027-03-15")["introduction.extended_review#1"]
    assert (extended["due"], extended["status"]) == ("2027-04-02", "pending")


# ------------------------------------------------------------------ 000 Step 5 (000-60)
def test_a_step_down_move_brings_the_next_pep_forward_school_move_or_not() -> None:
    """Looked after Mon 4 Jan 2027: the first PEP is due 20 working days later, Mon 1 Feb; held
    Fri 29 Jan, the next is due at the end of the following term, Sat 31 Jul (back to Fri 30
    Jul). The Step Down move on Mon 5 Apr 2027 brings it to 20 working days after the move:
    Easter Monday is before it, Mon 3 May a bank holiday, so Tue 4 May. The system does not
    know of a school move (000 asks for the PEP if the child moves school)."""
    done = {"cla.pep#1": ("2027-01-29", {})}
    alone = _plan("cla", starts={"looked_after": "2027-01-04"}, done=done)
    assert (alone["cla.pep#1"].due_on, alone["cla.pep#2"].due_on) == (d("2027-02-01"),
                                                                       d("2027-07-30"))
    moved = _plan("cla", starts={"looked_after": "2027-01-04"}, done=done,
                  child={"step_down:stage:support": [("2027-04-05", "SD-1")]})
    assert moved["cla.pep#2"].due_on == d("2027-05-04")
    assert moved["cla.pep#2"].note == (
        "brought forward: within 20 working days of the placement change on 2027-04-05, SD-1")


# ------------------------------------------------------------------ 001 Appendix 1
def test_the_first_stability_meetings_chronologies_open_on_its_day_undated() -> None:
    """001 Appendix 1: the outcome is recorded on the child's chronology (the social worker)
    and the foster carer's (the supervising social worker). The meeting held Tue 5 Jan 2027:
    both open that day with no date; its minutes are due 3 working days later, Fri 8 Jan."""
    items = _plan("stability", starts={"meeting": "2027-01-04", "follow_up": "2027-01-05"},
                  done={"stability.meeting": ("2027-01-05", {"outcome": "stay",
                                                             "chair": "team_manager",
                                                             "actions": []})})
    for key, owner in (("stability.child_chronology", "social_worker"),
                       ("stability.carer_chronology", "supervising_social_worker")):
        assert (items[key].opened_on, items[key].due_on, items[key].owner) == (
            d("2027-01-05"), None, owner), key
    assert items["stability.minutes"].due_on == d("2027-01-08")


def test_a_follow_up_stability_meeting_is_chaired_by_a_team_manager(db_url: str,
                                                                    today: str) -> None:
    """001 Appendix 1: "chaired by the social work team manager or the fostering team
    manager", at a follow-up meeting as at the first."""
    open_stability("ST-R21", child="CH-R21", requested_at="2027-05-27T10:00:00+01:00")
    submit("ST-R21", "stability.meeting", {**MEETING, "done_on": "2027-05-28", "actions": []})
    message = _refused("ST-R21", "stability.next_meeting",
                       {**FOLLOW_UP, "done_on": "2027-08-26", "outcome": "stay", "chair": "iro"})
    assert message.startswith("chair: must be one of")
    submit("ST-R21", "stability.next_meeting", {**FOLLOW_UP, "done_on": "2027-08-26",
                                                "outcome": "stay",
                                                "chair": "fostering_team_manager"})
    assert timeline_of("ST-R21", "2027-08-26")["stability.next_meeting"]["status"] == "done"


# ------------------------------------------------------------------ 002 3.14 (002-47)
def test_a_child_in_need_review_is_the_social_workers_to_arrange() -> None:
    """The plan started Mon 26 Oct 2026: the first review is due 2 months later, Sat 26 Dec,
    back past Christmas Day to Thu 24 Dec; the social worker owns it (002 3.14: "usually
    chaired by the Social Worker"); its form records no chair."""
    items = _plan("child_in_need", starts={"plan": "2026-10-26"})
    review = items["child_in_need.review#1"]
    assert (review.due_on, review.owner, review.completion) == (
        d("2026-12-24"), "social_worker", "child_in_need_review")


# ------------------------------------------------------------------ 003, 002 section 4
# H = Mon 21 Dec 2026, as in tests/test_early_help.py.
STEP_DOWN = {"held_on": "2026-12-21", "from": "cin", "lead_practitioner": "Families First",
             "plan_agreed": True, "consent_support": True, "consent_information_sharing": True,
             "disabled_short_breaks": False, "outcome": "transfer"}
CLOSURE = {"outcomes_improved": "School attendance restored.", "family_aware": True,
           "professionals_aware": True, "contingency_plan": True}


def _checked(**changes: Any) -> dict[str, Any]:
    """The step-down meeting's values as its declared model checks them (as `stepdown open`);
    a change to None leaves that field out."""
    model = declarations().model("early_help.stepdown_meeting")
    payload = {k: v for k, v in {**STEP_DOWN, **changes}.items() if v is not None}
    parsed = parse_form(model, payload)
    return parsed.model_dump(mode="json", exclude={"submitted_by"})


def _open_early_help(ref: str, **changes: Any) -> None:
    with session_scope() as session:
        open_with_links(session, ref=ref, kind="early_help", child_ref=f"CH-{ref}",
                        opening=_checked(**changes), actor="cli")


def test_the_step_down_meeting_records_what_it_steps_down_from_and_the_lead_practitioner(
    db_url: str, today: str
) -> None:
    """003: step down follows a single assessment or social care involvement (care, CP, CiN);
    from a CiN plan it is "discussed and agreed at a CiN review meeting", which identifies the
    Lead Practitioner (002 4.8). The meeting is recorded as the process's opening: from cin is
    accepted without a Child in Need process on record (nothing ties the two)."""
    for changes, message in (({"from": "school"}, "from: must be one of"),
                             ({"lead_practitioner": None}, "lead_practitioner: is required")):
        with pytest.raises(FormError, match=f"^{message}"):
            _checked(**changes)
    _open_early_help("EH-R1")
    with session_scope() as session:
        process = get_process(session, ref="EH-R1")
        opening = accepted_forms(session, process=process)["early_help.stepdown_meeting"][0]
        assert str(process.opened_on) == "2026-12-21"
    assert (opening["from"], opening["lead_practitioner"], opening["plan_agreed"]) == (
        "cin", "Families First", True)


def test_the_locality_transfer_meeting_is_chaired_by_the_head_of_service(
    db_url: str, today: str
) -> None:
    """003: weekly locality meetings "chaired by the Safeguarding Head of Service"; the next
    one within 7 days of Mon 21 Dec 2026 is Mon 28 Dec, a bank holiday: Thu 24 Dec."""
    _open_early_help("EH-R2")
    assert timeline_of("EH-R2", "2026-12-21")["early_help.transfer_meeting"]["due"] == (
        "2026-12-24")
    assert _refused("EH-R2", "early_help.transfer_meeting",
                    {"done_on": "2026-12-24", "chair": "team_manager"}) == (
        "chair: must be head_of_service: the Safeguarding Head of Service chairs the locality "
        "transfer meeting (got 'team_manager')")
    submit("EH-R2", "early_help.transfer_meeting", {"done_on": "2026-12-24"})
    assert _state("EH-R2") == ("early_help", "open", None)


def test_the_closure_record_confirms_the_family_and_every_professional_know_the_plan(
    db_url: str, today: str
) -> None:
    """002 4.5 and 4.6: the closure record says the family and all professionals are aware of
    the step-down plan; without either it is refused."""
    _open_early_help("EH-R3", outcome="universal")
    submit("EH-R3", "early_help.closure_letter", {"done_on": "2026-12-23"})
    submit("EH-R3", "early_help.management_oversight", {"done_on": "2026-12-24"})
    assert _refused("EH-R3", "early_help.closure_record",
                    {"done_on": "2026-12-29", **CLOSURE, "family_aware": False}) == (
        "family_aware: must be true: the closure record confirms the family are aware of the "
        "step-down plan (Children's Services Practice Standards 4.5)")
    assert _refused("EH-R3", "early_help.closure_record",
                    {"done_on": "2026-12-29", **CLOSURE, "professionals_aware": False}) == (
        "professionals_aware: must be true: the closure record confirms every professional is "
        "aware of the step-down plan (Children's Services Practice Standards 4.6)")
    submit("EH-R3", "early_help.closure_record", {"done_on": "2026-12-29", **CLOSURE})
    assert _state("EH-R3") == ("step_down", "closed", "universal")
