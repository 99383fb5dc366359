"""The links between a child's processes, on the case record (SQLite and PostgreSQL): Step Down's
own move ends the child's open placement process and pulls the CLA review forward; an unplanned
end of a foster placement opens the unplanned-ending process and closes the child's Step Down
case as disrupted, as `ending record` does; a planned end, or a residential one, opens nothing.

Dates are worked by hand (England and Wales bank holidays: Mon 31 May 2027, Mon 30 Aug 2027)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from stepdown.db import session_scope
from stepdown.domain.forms import FormError
from stepdown.records import get_process, list_processes, open_with_links, with_defaults
from tests import scenario
from tests.builders import audit_actions, open_case, snapshot, submit, timeline_of


def _open(ref: str, kind: str, child: str, opened_on: str | None = None,
          **opening: Any) -> None:
    with session_scope() as session:
        open_with_links(session, ref=ref, kind=kind, child_ref=child,
                        opening=with_defaults(kind, opening), actor="cli",
                        opened_on=date.fromisoformat(opened_on) if opened_on else None)


def _state(ref: str) -> tuple[str, str, str | None, str | None]:
    with session_scope() as session:
        p = get_process(session, ref=ref)
        return p.stage, p.status, p.outcome, str(p.closed_on) if p.closed_on else None


def _moved(ref: str, child: str, *, on: str, **opening: Any) -> None:
    """A placement recorded, authorised and moved into on ``on``."""
    _open(ref, "placement", child, opened_on=on, planned_on=on, **opening)
    submit(ref, "placement.authorisation", {"decided_on": on, "route": "harp",
                                            "decision": "approved"})
    submit(ref, "placement.move", {"moved_on": on})


@pytest.fixture
def step_down_in_support(db_url: str, today: str) -> str:
    """The scenario's Step Down case, moved in on Mon 5 Apr 2027 (stage support)."""
    open_case("SD-PL", child=scenario.CHILD, identified=scenario.OPENED)
    for key, data in scenario.STEPS[:-1]:
        submit("SD-PL", key, data)
    assert _state("SD-PL")[0] == "support"
    return scenario.CHILD


def test_an_unplanned_end_of_a_foster_placement_disrupts_the_step_down_case(
    step_down_in_support: str
) -> None:
    child = step_down_in_support
    _moved("PL-SD", child, on="2027-05-10")
    assert _state("PL-SD")[:2] == ("placement", "open")
    submit("PL-SD", "placement.end", {"ended_on": "2027-06-01", "reason": "CARPL",
                                      "planned": False})
    assert _state("PL-SD") == ("placement", "closed", "ended", "2027-06-01")
    assert _state("UE-" + child + "-20270601") == ("meeting", "open", None, None)
    assert _state("SD-PL") == ("support", "closed", "disrupted", "2027-06-01")
    items = timeline_of("SD-PL", "2027-12-01")
    assert items["support.monthly_review#6"]["status"] == "cancelled"
    assert items["unplanned_ending.meeting"]["due"] == "2027-07-13"  # 1 June + 42 days
    assert ("process.disrupted", {"unplanned_ending": f"UE-{child}-20270601",
                                  "reason": "CARPL"}) in audit_actions("SD-PL")
    assert any(action == "process.linked" and detail.get("opened") == f"UE-{child}-20270601"
               for action, detail in audit_actions("PL-SD"))


@pytest.mark.parametrize(("placement_type", "planned"), [("foster", True),
                                                          ("residential", False)])
def test_a_planned_or_residential_end_opens_nothing(
    db_url: str, today: str, placement_type: str, planned: bool
) -> None:
    _moved("PL-R", "CH-R", on="2027-05-10", placement_type=placement_type)
    submit("PL-R", "placement.end", {"ended_on": "2027-06-01", "reason": "CARPL",
                                     "planned": planned})
    assert _state("PL-R") == ("placement", "closed", "ended", "2027-06-01")
    with session_scope() as session:
        assert [p.ref for p in list_processes(session, child_ref="CH-R")] == ["PL-R"]


def test_the_end_is_refused_before_the_move_date_and_changes_nothing(
    db_url: str, today: str
) -> None:
    _moved("PL-E", "CH-E", on="2027-05-10")
    before = snapshot()
    with pytest.raises(FormError, match="ended_on"):
        submit("PL-E", "placement.end", {"ended_on": "2027-05-07", "reason": "CARPL",
                                         "planned": False})
    assert snapshot() == before


def test_step_downs_move_ends_the_open_placement_and_pulls_the_cla_review(
    db_url: str, today: str
) -> None:
    child = scenario.CHILD
    # Looked after from Mon 1 Feb 2027: review 1 held Fri 26 Feb, so review 2 is due 26 May
    # (3 months), later than 20 working days after the Step Down move of Mon 5 Apr 2027.
    _open("CLA-SD", "cla", child, looked_after_on="2027-02-01")
    submit("CLA-SD", "cla.review#1", {"done_on": "2027-02-26"})
    assert timeline_of("CLA-SD", "2027-03-01")["cla.review#2"]["due"] == "2027-05-26"
    _moved("PL-OLD", child, on="2027-02-01", placement_type="residential")
    open_case("SD-PL", child=child, identified=scenario.OPENED)
    for key, data in scenario.STEPS[:-1]:  # introduction.move on Mon 5 Apr 2027
        submit("SD-PL", key, data)
    assert _state("PL-OLD") == ("placement", "closed", "ended", "2027-04-05")
    assert ("process.ended", {"by": "SD-PL"}) in audit_actions("PL-OLD")
    review = timeline_of("CLA-SD", "2027-04-06")["cla.review#2"]
    # 5 Apr + 20 working days: Easter Monday (29 Mar) is before it, so Mon 3 May 2027 is the
    # early May bank holiday and the 20th working day is Tue 4 May.
    assert review["due"] == "2027-05-04"
    assert "brought forward" in review["title"] and "SD-PL" in review["title"]
    assert date.fromisoformat(review["due"]) < date(2027, 5, 26)
    assert any(action == "obligation.rescheduled" and detail.get("key") == "cla.review#2"
               and "brought forward" in detail.get("because", "")
               for action, detail in audit_actions("CLA-SD")), audit_actions("CLA-SD")


def test_a_move_pauses_the_cla_visits_and_the_last_placements_end_starts_them_again(
    db_url: str, today: str
) -> None:
    """002 3.31 and the 1c table: the child visited every 6 weeks, on one timetable. Looked
    after from Wed 26 May 2027, visited Tue 1 Jun and Mon 19 Jul: the third visit is due Fri 27
    Aug (6 weeks is Mon 30 Aug, a bank holiday). PL-V moves in on Wed 25 Aug: its own visits
    take over, the cla visit is cancelled and says why. PL-W's move on Fri 8 Oct ends PL-V:
    still paused. PL-W ends on Mon 15 Nov: the next cla visit is due within a week, Mon 22
    Nov."""
    child = "CH-V"
    _open("CLA-V", "cla", child, looked_after_on="2027-05-26")
    submit("CLA-V", "cla.visit#1", {"done_on": "2027-06-01"})
    submit("CLA-V", "cla.visit#2", {"done_on": "2027-07-19"})
    visit = timeline_of("CLA-V", "2027-08-20")["cla.visit#3"]
    assert (visit["due"], visit["status"]) == ("2027-08-27", "pending")
    _moved("PL-V", child, on="2027-08-25")
    items = timeline_of("CLA-V", "2027-08-26")
    why = "paused from 2027-08-25: PL-V is in its placement stage"
    assert items["cla.visit#3"]["status"] == "cancelled"
    assert items["cla.visit#3"]["title"].endswith(f"({why})")
    assert "cla.visit#4" not in items
    assert ("obligation.cancelled", {"key": "cla.visit#3", "because": why}) in audit_actions(
        "CLA-V")
    assert timeline_of("PL-V", "2027-08-26")["placement.visit#1"]["due"] == "2027-09-01"
    _moved("PL-W", child, on="2027-10-08")
    assert _state("PL-V")[1:3] == ("closed", "ended")
    assert "cla.visit#4" not in timeline_of("CLA-V", "2027-10-11")
    submit("PL-W", "placement.end", {"ended_on": "2027-11-15", "reason": "CARPL",
                                     "planned": True})
    visit = timeline_of("CLA-V", "2027-11-16")["cla.visit#4"]
    assert (visit["due"], visit["status"]) == ("2027-11-22", "pending")
    assert "paused" not in visit["title"]
    # Recorded, the next is 6 weeks after it: Fri 19 Nov + 6 weeks = Fri 31 Dec 2027.
    submit("CLA-V", "cla.visit#4", {"done_on": "2027-11-19"})
    assert timeline_of("CLA-V", "2027-11-22")["cla.visit#5"]["due"] == "2027-12-31"
