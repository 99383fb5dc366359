"""Step Down through the case record (SQLite and PostgreSQL): the move is a change of placement
authorised by HARP or the Head of Service (004) in the default policy and agreed by PACT under
lancashire-step-down (000); who attended the suitability meeting (000 Step 1); SCAYT+ reviews
while the support continues (000 Roles, SCAYT+).

The case is tests/scenario.py's: the match agreed Mon 2027-01-18, the extended introductions
plan reviewed Thu 2027-04-01 (outcome move), the move on Mon 2027-04-05."""

from __future__ import annotations

import pytest

from stepdown.domain.forms import FormError
from tests import scenario
from tests.builders import audit_actions, open_case, snapshot, submit, timeline_of

MOVE = scenario.STEPS.index(("introduction.move", {"moved_in_on": "2027-04-05"}))
AUTHORISED = [k for k, _ in scenario.STEPS].index("introduction.move_authorisation")
GATE = ("form: the move can only be recorded once it is authorised by HARP or the Head of "
        "Service (introduction.move_authorisation; Placement Stability guidance: a placement "
        "move can only be agreed through HARP or the relevant Head of Service)")


def _to_the_authorisation(ref: str, child: str) -> None:
    open_case(ref, child=child, identified=scenario.OPENED)
    for key, data in scenario.STEPS[:AUTHORISED]:
        submit(ref, key, data)


def _refused(ref: str, key: str, data: dict[str, object]) -> str:
    before = snapshot()
    with pytest.raises(FormError) as refused:
        submit(ref, key, data)
    assert snapshot() == before  # a refusal changes nothing
    return str(refused.value)


def test_the_step_down_move_is_refused_until_it_is_authorised(db_url: str, today: str) -> None:
    _to_the_authorisation("SD-M1", "CHILD-M1")
    move = {"moved_in_on": "2027-04-05"}
    assert _refused("SD-M1", "introduction.move", move) == GATE
    item = timeline_of("SD-M1", "2027-04-01")["introduction.move_authorisation"]
    # Due by the last review of the extended plan (Fri 2027-04-02), owned by the Head of Service.
    assert (item["due"], item["owner"], item["status"]) == ("2027-04-02", "head_of_service",
                                                            "pending")

    # A refusal is recorded, and the move stays refused; the move may be put forward again.
    submit("SD-M1", "introduction.move_authorisation",
           {"decided_on": "2027-03-29", "route": "harp", "decision": "refused",
            "reasons": "The carers' training is not finished."})
    assert timeline_of("SD-M1", "2027-04-01")["introduction.move_authorisation"][
        "status"] == "pending"
    assert _refused("SD-M1", "introduction.move", move) == GATE

    submit("SD-M1", "introduction.move_authorisation",
           {"decided_on": "2027-04-01", "route": "head_of_service", "decision": "approved"})
    item = timeline_of("SD-M1", "2027-04-01")["introduction.move_authorisation"]
    assert (item["status"], item["done_on"]) == ("done", "2027-04-01")
    assert _refused("SD-M1", "introduction.move_authorisation",
                    {"decided_on": "2027-04-02", "route": "harp", "decision": "approved"}) == (
        "form: the move is already authorised (introduction.move_authorisation is done)")
    assert _refused("SD-M1", "introduction.move", {"moved_in_on": "2027-03-31"}) == (
        "moved_in_on: 2027-03-31 is before the move was authorised (2027-04-01)")

    submit("SD-M1", "introduction.move", move)
    items = timeline_of("SD-M1", "2027-04-06")
    assert items["introduction.move"]["status"] == "done"
    # Moved Mon 2027-04-05: delegated authority within 5 working days, Mon 2027-04-12.
    assert items["support.delegated_authority"]["due"] == "2027-04-12"
    # The placement planning meeting and support plan, not held, were due by Fri 04-02.
    for key in ("introduction.placement_planning_meeting", "introduction.support_plan"):
        assert (items[key]["due"], items[key]["status"]) == ("2027-04-02", "overdue"), key


def test_delegated_authority_agreed_before_the_move_is_recorded_with_its_own_date(
    db_url: str, today: str
) -> None:
    """002 3.25: "in advance of the placement wherever possible"."""
    open_case("SD-M2", child="CHILD-M2", identified=scenario.OPENED)
    for key, data in scenario.STEPS[:MOVE + 1]:
        submit("SD-M2", key, data)
    # Not before the match was agreed (Mon 2027-01-18), when it opened.
    assert _refused("SD-M2", "support.delegated_authority", {"done_on": "2027-01-15"}) == (
        "done_on: 2027-01-15 is before support.delegated_authority opened (2027-01-18)")
    submit("SD-M2", "support.delegated_authority", {"done_on": "2027-03-31"})
    item = timeline_of("SD-M2", "2027-04-12")["support.delegated_authority"]
    assert (item["status"], item["done_on"]) == ("done", "2027-03-31")


def test_under_lancashire_pact_agrees_the_move_and_no_authorisation_is_taken(
    db_url: str, today: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPDOWN_POLICY", "lancashire-step-down")
    _to_the_authorisation("SD-M3", "CHILD-M3")
    assert _refused("SD-M3", "introduction.move_authorisation",
                    {"decided_on": "2027-04-01", "route": "harp", "decision": "approved"}) == (
        "form: not used under this policy: PACT's decision to proceed agrees the Step Down "
        "move (step_down_move_authorisation is false)")
    # Without an authorisation the move is not before Introductions began (Mon 2027-01-18).
    assert _refused("SD-M3", "introduction.move", {"moved_in_on": "2027-01-15"}) == (
        "moved_in_on: 2027-01-15 is before introduction began (2027-01-18)")
    submit("SD-M3", "introduction.move", {"moved_in_on": "2027-04-05"})
    items = timeline_of("SD-M3", "2027-04-06")
    assert items["introduction.move"]["status"] == "done"
    assert "introduction.move_authorisation" not in items
    assert items["support.delegated_authority"]["due"] == "2027-04-12"


SUITABILITY = {"held_on": "2026-11-09", "sdq_score": 12, "care_needs_band": "2.1",
               "care_plan_ratified": True}
NO_IRO = ("minimum attendance not met: iro not recorded as attending (Step Down practice "
          "standards, Step 1: a multi-agency meeting including the IRO)")


@pytest.mark.parametrize(("attendees", "exceptions"), [
    (["social_worker", "iro", "residential_key_worker", "scayt"], []),
    (["social_worker", "residential_key_worker", "family_finding"], [NO_IRO]),
    (None, [NO_IRO]),  # the contract's fields only: who attended is not recorded
])
def test_a_suitability_meeting_without_the_iro_is_an_exception_on_the_audit_trail(
    db_url: str, today: str, attendees: list[str] | None, exceptions: list[str]
) -> None:
    open_case("SD-M4", child="CHILD-M4", identified=scenario.OPENED)
    data = SUITABILITY if attendees is None else {**SUITABILITY, "attendees": attendees}
    submit("SD-M4", "identification.suitability", data)
    assert timeline_of("SD-M4", "2026-11-09")["identification.suitability"]["status"] == "done"
    assert [d["exception"] for a, d in audit_actions("SD-M4")
            if a == "exception.reported"] == exceptions


def test_an_unknown_attendee_role_is_refused(db_url: str, today: str) -> None:
    open_case("SD-M5", child="CHILD-M5", identified=scenario.OPENED)
    message = _refused("SD-M5", "identification.suitability",
                       {**SUITABILITY, "attendees": ["iro", "headteacher"]})
    assert message.startswith("attendees")
    assert "headteacher" in message


def test_scayt_reviews_go_on_every_3_months_until_one_records_the_support_ended(
    db_url: str, today: str
) -> None:
    """Moved Mon 2027-04-05: the first review is due V + 6 months, Tue 2027-10-05; the next V +
    9 months, Wed 2028-01-05, whatever the monthly reviews do."""
    open_case("SD-M6", child="CHILD-M6", identified=scenario.OPENED)
    for key, data in scenario.STEPS[:MOVE + 1]:
        submit("SD-M6", key, data)
    items = timeline_of("SD-M6", "2027-10-01")
    assert items["support.scayt_review"]["due"] == "2027-10-05"
    assert "support.scayt_review#2" not in items
    submit("SD-M6", "support.scayt_review", {"done_on": "2027-10-04"})  # support continues
    second = timeline_of("SD-M6", "2027-10-05")["support.scayt_review#2"]
    assert (second["due"], second["owner"], second["status"]) == ("2028-01-05", "scayt",
                                                                  "pending")
    submit("SD-M6", "support.scayt_review#2",
           {"done_on": "2027-11-30", "support_continues": False})
    items = timeline_of("SD-M6", "2027-12-01")
    assert items["support.scayt_review#2"]["status"] == "done"
    assert "support.scayt_review#3" not in items
