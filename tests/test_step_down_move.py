"""Step Down through the case record (SQLite and PostgreSQL): who attended the suitability
meeting (000 Step 1); SCAYT+ reviews while the support continues (000 Roles, SCAYT+).

The case is tests/scenario.py's: the match agreed Mon 2027-01-18, the extended introductions
plan reviewed Thu 2027-04-01 (outcome move), the move on Mon 2027-04-05."""

from __future__ import annotations

import pytest

from stepdown.domain.forms import FormError
from tests import scenario
from tests.builders import audit_actions, open_case, snapshot, submit, timeline_of

MOVE = scenario.STEPS.index(("introduction.move", {"moved_in_on": "2027-04-05"}))


def _refused(ref: str, key: str, data: dict[str, object]) -> str:
    before = snapshot()
    with pytest.raises(FormError) as refused:
        submit(ref, key, data)
    assert snapshot() == before  # a refusal changes nothing
    return str(refused.value)


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
