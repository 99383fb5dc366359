"""Recorded after the fact (DOMAIN.md section 1): practice happens before it is typed in. An
authority goes live with its open cases, and an officer records on Monday what was decided on
Friday. A date is refused only when it is in the future or before the practice date it follows,
never because it was typed in later; and the first sweep of such a case flags, never escalates
(DOMAIN.md section 3).

Today is Mon 7 Dec 2026 throughout. Bank holidays: Mon 31 Aug 2026 (Summer), Fri 25 and Mon 28
Dec 2026 (Christmas, Boxing Day's substitute)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from stepdown.db import session_scope
from stepdown.domain.forms import FormError
from stepdown.notifications import sweep as outbox
from stepdown.records import get_process, open_with_links, with_defaults
from stepdown.staff import assign, import_staff
from tests.builders import snapshot, submit, timeline_of
from tests.test_sweep import STAFF

TODAY = "2026-12-07"


@pytest.fixture
def going_live(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STEPDOWN_TODAY", TODAY)
    return TODAY


def _open(ref: str, kind: str, child: str, **opening: Any) -> None:
    with session_scope() as session:
        open_with_links(session, ref=ref, kind=kind, child_ref=child,
                        opening=with_defaults(kind, opening), actor="cli")


def _opened_on(ref: str) -> date:
    with session_scope() as session:
        return get_process(session, ref=ref).opened_on


def test_a_move_made_in_september_is_entered_in_december(going_live: str) -> None:
    """Planned for Tue 1 Sep 2026, authorised on Thu 20 Aug by the Head of Service, its
    planning meeting on Tue 25 Aug: all recorded on 7 Dec. The process opens on the planned
    day, not the day it was typed in, and nothing before it is refused for that."""
    _open("PL-G1", "placement", "CH-G1", planned_on="2026-09-01")
    assert _opened_on("PL-G1") == date(2026, 9, 1)
    submit("PL-G1", "placement.authorisation", {
        "decided_on": "2026-08-20", "route": "head_of_service", "decision": "approved"})
    submit("PL-G1", "placement.planning_meeting", {"done_on": "2026-08-25"})
    submit("PL-G1", "placement.child_told", {"done_on": "2026-08-24"})
    with pytest.raises(FormError, match=r"^moved_on: 2026-08-19 is before the move was "
                                        r"authorised \(2026-08-20\)$"):
        submit("PL-G1", "placement.move", {"moved_on": "2026-08-19"})
    submit("PL-G1", "placement.move", {"moved_on": "2026-09-01"})
    items = timeline_of("PL-G1", TODAY)
    assert items["placement.authorisation"]["status"] == "done"
    assert items["placement.planning_meeting"]["status"] == "done"
    # M + 1 working day: Wed 2 Sep; M + 5 working days: Tue 8 Sep; M + 7 days: Tue 8 Sep.
    assert items["placement.irs_informed"]["due"] == "2026-09-02"
    assert items["placement.delegated_authority"]["due"] == "2026-09-08"
    assert items["placement.visit#1"]["due"] == "2026-09-08"
    # Still refused: in the future, and after the fact but before what it follows.
    with pytest.raises(FormError, match=r"^done_on: 2026-12-08 is in the future"):
        submit("PL-G1", "placement.irs_informed", {"done_on": "2026-12-08"})
    with pytest.raises(FormError, match=r"^done_on: 2026-08-31 is before "
                                        r"placement.irs_informed opened \(2026-09-01\)$"):
        submit("PL-G1", "placement.irs_informed", {"done_on": "2026-08-31"})


def test_a_move_recorded_on_monday_was_decided_on_friday(going_live: str) -> None:
    """A move planned for Mon 14 Dec, recorded on Mon 7 Dec, authorised on Fri 4 Dec."""
    _open("PL-G2", "placement", "CH-G2", planned_on="2026-12-14")
    assert _opened_on("PL-G2") == date(2026, 12, 7)
    submit("PL-G2", "placement.authorisation", {
        "decided_on": "2026-12-04", "route": "harp", "decision": "approved"})
    assert timeline_of("PL-G2", TODAY)["placement.authorisation"]["status"] == "done"


def test_the_day_a_move_was_put_forward_bounds_its_authorisation(going_live: str) -> None:
    """Given the day the move was put forward (Mon 17 Aug), the process opens then, and an
    authorisation before it is refused."""
    _open("PL-G3", "placement", "CH-G3", planned_on="2026-09-01", proposed_on="2026-08-17")
    assert _opened_on("PL-G3") == date(2026, 8, 17)
    before = snapshot()
    with pytest.raises(FormError, match=r"^decided_on: 2026-08-14 is before authorisation "
                                        r"began \(2026-08-17\)$"):
        submit("PL-G3", "placement.authorisation", {
            "decided_on": "2026-08-14", "route": "harp", "decision": "approved"})
    assert snapshot() == before
    submit("PL-G3", "placement.authorisation", {
        "decided_on": "2026-08-20", "route": "harp", "decision": "approved"})


def test_a_looked_after_child_entered_in_december_is_flagged_not_escalated(
        going_live: str, sinks: Any) -> None:
    """Looked after since Mon 1 Jun 2026: the first review and PEP were due on the 20th
    working day, Mon 29 Jun. Entered on 7 Dec, the first sweep flags the IRO, the social
    worker and the supervising social worker (the support plan due within 5 days of becoming
    looked after): nobody had been told, so nobody is escalated to. The escalation comes 5
    working days after that flag, on Mon 14 Dec, if the items are still open."""
    smtp, _ = sinks
    with session_scope() as session:
        import_staff(session, text=STAFF + "iro@la.example,iro,tm@la.example,north,Ira O,\n",
                     actor="test")
    _open("CLA-G4", "cla", "CH-G4", looked_after_on="2026-06-01")
    with session_scope() as session:
        assign(session, ref="CLA-G4", role="iro", email="iro@la.example", actor="test")
        assign(session, ref="CLA-G4", role="social_worker", email="sw@la.example", actor="test")
        assign(session, ref="CLA-G4", role="supervising_social_worker", email="ssw@la.example",
               actor="test")
    items = timeline_of("CLA-G4", TODAY)
    assert (items["cla.review#1"]["due"], items["cla.review#1"]["status"]) == (
        "2026-06-29", "overdue")
    with session_scope() as session:
        first = outbox.write(session, as_of=date(2026, 12, 7),
                             cutoff=outbox.end_of_day(date(2026, 12, 7)))
    outbox.deliver()
    assert first.escalated == 0
    assert {f["rung"] for f in first.fired} == {"overdue"}
    assert {f["to"] for f in first.fired} == {"iro@la.example", "sw@la.example",
                                              "ssw@la.example"}
    assert not [m for m in smtp.messages if "escalat" in str(m["Subject"])]
    for day in ("2026-12-08", "2026-12-09", "2026-12-10", "2026-12-11"):
        with session_scope() as session:
            written = outbox.write(session, as_of=date.fromisoformat(day),
                                   cutoff=outbox.end_of_day(date.fromisoformat(day)))
        assert written.escalated == 0, day
    with session_scope() as session:
        written = outbox.write(session, as_of=date(2026, 12, 14),
                               cutoff=outbox.end_of_day(date(2026, 12, 14)))
    assert written.escalated == len(first.fired)
    assert timeline_of("CLA-G4", "2026-12-14")["cla.review#1"]["status"] == "escalated"
