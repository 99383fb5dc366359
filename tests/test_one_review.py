"""One looked-after review is one event (issue 23, item 1): Step Down asks for a review in the
first 4 weeks after the move (`support.cla_review`, 000 Step 5) and the child's cla process asks
for its next review within 20 working days of the move (`cla.review#k`, 002 3.26). Recorded
once, in either process, it is done in both, and a correction of it reopens both.

The child's second review was held Wed 27 Jan 2027; the Step Down move is Mon 5 Apr 2027.
`cla.review#3` is pulled to Tue 4 May (20 working days: Easter Monday 29 Mar is before the move,
Mon 3 May is the early May bank holiday); `support.cla_review` is Mon 3 May moved back to Fri 30
Apr."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from stepdown.corrections import correct_input
from stepdown.db import session_scope
from stepdown.notifications import sweep as outbox
from stepdown.records import open_with_links, with_defaults
from stepdown.staff import assign, import_staff
from tests import scenario
from tests.builders import audit_actions, open_case, submit, timeline_of
from tests.test_sweep import STAFF

CHILD = scenario.CHILD


@pytest.fixture
def both(db_url: str, today: str) -> None:
    with session_scope() as session:
        open_with_links(session, ref="CLA-1R", kind="cla", child_ref=CHILD,
                        opening=with_defaults("cla", {"looked_after_on": "2026-10-01"}),
                        actor="cli")
    submit("CLA-1R", "cla.review#1", {"done_on": "2026-10-27"})
    submit("CLA-1R", "cla.review#2", {"done_on": "2027-01-27"})
    open_case("SD-1R", child=CHILD, identified=scenario.OPENED)
    for key, data in scenario.STEPS[:-1]:  # the move on Mon 5 Apr 2027
        submit("SD-1R", key, data)
    cla, sd = timeline_of("CLA-1R", "2027-04-06"), timeline_of("SD-1R", "2027-04-06")
    assert cla["cla.review#3"]["due"] == "2027-05-04"
    assert sd["support.cla_review"]["due"] == "2027-04-30"


def _item(ref: str, key: str, as_of: str = "2027-05-20") -> dict[str, Any]:
    return {k: v for k, v in timeline_of(ref, as_of)[key].items()
            if k in ("due", "status", "done_on")}


def test_a_review_recorded_in_the_cla_process_is_step_downs_review_done(both: None) -> None:
    submit("CLA-1R", "cla.review#3", {"done_on": "2027-04-29"})
    assert _item("SD-1R", "support.cla_review") == {
        "due": "2027-04-30", "status": "done", "done_on": "2027-04-29"}
    assert ("obligation.done", {"key": "support.cla_review", "done_on": "2027-04-29",
                                "recorded_in": "CLA-1R"}) in audit_actions("SD-1R")
    # The cla process goes on from it, and the review is not counted twice there.
    cla = timeline_of("CLA-1R", "2027-05-20")
    assert cla["cla.review#4"]["due"] == "2027-10-29"  # 6 months after 29 Apr, a Friday
    assert cla["cla.review#4"]["status"] == "pending"


def test_a_review_recorded_in_the_step_down_case_is_the_childs_next_review(both: None) -> None:
    submit("SD-1R", "support.cla_review", {"done_on": "2027-04-29"})
    cla = timeline_of("CLA-1R", "2027-05-20")
    assert {k: cla["cla.review#3"][k] for k in ("status", "done_on")} == {
        "status": "done", "done_on": "2027-04-29"}
    # Thu 29 Apr + 10 working days (Mon 3 May a bank holiday): Fri 14 May.
    assert cla["cla.care_plan#3"]["due"] == "2027-05-14"
    assert (cla["cla.review#4"]["due"], cla["cla.review#4"]["status"]) == (
        "2027-10-29", "pending")  # one event is one review, not two


def test_nothing_escalates_for_the_review_held_once(both: None,
                                                    sinks: Any) -> None:
    with session_scope() as session:
        import_staff(session, text=STAFF + "iro@la.example,iro,tm@la.example,north,Ira O,\n",
                     actor="test")
        for ref in ("SD-1R", "CLA-1R"):
            assign(session, ref=ref, role="iro", email="iro@la.example", actor="test")
    submit("CLA-1R", "cla.review#3", {"done_on": "2027-04-29"})
    escalated: list[str] = []
    day = date(2027, 4, 26)
    while day <= date(2027, 5, 20):
        with session_scope() as session:
            written = outbox.write(session, as_of=day, cutoff=outbox.end_of_day(day))
        escalated += [f["key"] for f in written.fired if f["rung"] == "escalation"]
        assert not [f for f in written.fired if f["key"] in ("support.cla_review",
                                                             "cla.review#3")
                    and f["rung"] in ("overdue", "escalation")], day
        day = date.fromordinal(day.toordinal() + 1)
    assert "support.cla_review" not in escalated


def test_correcting_the_review_reopens_it_in_both(both: None) -> None:
    submit("SD-1R", "support.cla_review", {"done_on": "2027-04-29"})
    with session_scope() as session:
        correct_input(session, ref="SD-1R", key="support.cla_review",
                      reason="recorded on the wrong child", actor="cli")
    assert _item("SD-1R", "support.cla_review")["status"] == "overdue"
    cla = timeline_of("CLA-1R", "2027-05-20")
    assert cla["cla.review#3"]["status"] == "overdue"
    assert cla["cla.review#4"]["status"] == "cancelled"  # planned from the review, now gone
