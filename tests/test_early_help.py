"""The step down from social care to Early Help (DOMAIN.md section 10; sources 003, 002 section
4) on the case record, SQLite and PostgreSQL, with dates worked by hand.

H = Mon 21 Dec 2026. Working days skip Fri 25 Dec, Mon 28 Dec (Boxing Day's substitute) and Fri
1 Jan 2027."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

from stepdown.cli import app
from stepdown.db import session_scope
from stepdown.domain.forms import FormError
from stepdown.records import get_process, open_with_links
from tests.builders import snapshot, submit, timeline_of

H = "2026-12-21"
MEETING = {"held_on": H, "from": "cin", "lead_practitioner": "Families First, North locality",
           "plan_agreed": True, "consent_support": True, "consent_information_sharing": True,
           "disabled_short_breaks": False, "outcome": "transfer"}
CLOSURE = {"outcomes_improved": "School attendance restored; the family uses the centre.",
           "family_aware": True, "professionals_aware": True, "contingency_plan": True}


def _open(ref: str, child: str, **changes: Any) -> None:
    with session_scope() as session:
        open_with_links(session, ref=ref, kind="early_help", child_ref=child,
                        opening={**MEETING, **changes}, actor="cli")


def _state(ref: str) -> tuple[str, str, str | None]:
    with session_scope() as session:
        p = get_process(session, ref=ref)
        return p.stage, p.status, p.outcome


def _due(ref: str) -> dict[str, str | None]:
    return {k: i["due"] for k, i in timeline_of(ref, "2027-12-01").items() if i["ref"] == ref}


def test_a_transfer_is_handed_over_within_the_week_then_reviewed_every_six_weeks(
    db_url: str, today: str
) -> None:
    _open("EH-1", "CH-EH1")
    assert _state("EH-1") == ("step_down", "open", None)
    due = _due("EH-1")
    # H + 7 days is Mon 28 Dec, a bank holiday: back to Thu 24 Dec.
    assert due["early_help.transfer_meeting"] == "2026-12-24"
    for key in ("early_help.plan_handover", "early_help.meeting_record",
                "early_help.closure_record", "early_help.closure_letter",
                "early_help.management_oversight"):
        assert due[key] == "2026-12-30", key  # 22, 23, 24, 29, 30 December
    assert timeline_of("EH-1", H)["early_help.management_oversight"]["owner"] == "team_manager"
    assert "early_help.review#1" not in due  # counted from the transfer meeting

    submit("EH-1", "early_help.transfer_meeting", {"done_on": "2026-12-24"})
    assert _state("EH-1") == ("early_help", "open", None)
    assert _due("EH-1")["early_help.review#1"] == "2027-02-04"  # T + 6 weeks
    before = snapshot()
    with pytest.raises(FormError, match=r"done_on: 2026-12-23 is before early_help.review#1 "
                                        r"opened \(2026-12-24\)"):
        submit("EH-1", "early_help.review#1", {"done_on": "2026-12-23",
                                               "outcome": "continue_level3"})
    with pytest.raises(FormError, match="outcome"):
        submit("EH-1", "early_help.review#1", {"done_on": "2027-02-08", "outcome": "level1"})
    with pytest.raises(FormError, match="outcome"):
        submit("EH-1", "early_help.review#1", {"done_on": "2027-02-08"})
    assert snapshot() == before
    submit("EH-1", "early_help.review#1", {"done_on": "2027-02-08",
                                           "outcome": "continue_level3"})
    assert _due("EH-1")["early_help.review#2"] == "2027-03-22"  # counted from the day held
    submit("EH-1", "early_help.review#2", {"done_on": "2027-03-19",
                                           "outcome": "step_to_level2"})
    assert _due("EH-1")["early_help.review#3"] == "2027-04-30"
    # The closure items are still chased after the transfer.
    assert timeline_of("EH-1", "2027-04-01")["early_help.closure_record"]["status"] == "overdue"
    submit("EH-1", "early_help.review#3", {"done_on": "2027-04-28", "outcome": "universal"})
    assert _state("EH-1") == ("early_help", "closed", "universal")
    assert "early_help.review#4" not in _due("EH-1")


def test_a_disabled_child_on_short_breaks_is_reviewed_six_monthly(
    db_url: str, today: str
) -> None:
    _open("EH-2", "CH-EH2", disabled_short_breaks=True)
    submit("EH-2", "early_help.transfer_meeting", {"done_on": "2026-12-24"})
    assert _due("EH-2")["early_help.review#1"] == "2027-06-24"
    submit("EH-2", "early_help.review#1", {"done_on": "2027-06-24",
                                           "outcome": "continue_level3"})
    assert _due("EH-2")["early_help.review#2"] == "2027-12-24"


def test_a_step_down_to_universal_services_has_the_closure_items_only(
    db_url: str, today: str
) -> None:
    _open("EH-3", "CH-EH3", outcome="universal", consent_support=False, plan_agreed=False)
    due = _due("EH-3")
    assert set(due) == {"early_help.meeting_record", "early_help.closure_record",
                        "early_help.closure_letter", "early_help.management_oversight"}
    before = snapshot()
    with pytest.raises(FormError, match=r"^form: the closure letter is recorded first"):
        submit("EH-3", "early_help.closure_record", {"done_on": "2026-12-29", **CLOSURE})
    submit("EH-3", "early_help.closure_letter", {"done_on": "2026-12-23"})
    with pytest.raises(FormError, match=r"^form: the management oversight is recorded first"):
        submit("EH-3", "early_help.closure_record", {"done_on": "2026-12-29", **CLOSURE})
    submit("EH-3", "early_help.management_oversight", {"done_on": "2026-12-24"})
    mid = snapshot()
    assert mid != before
    with pytest.raises(FormError, match=r"^contingency_plan: must be true: the closure record "
                                        r"gives the contingency plan"):
        submit("EH-3", "early_help.closure_record", {"done_on": "2026-12-29",
                                                     **CLOSURE, "contingency_plan": False})
    assert snapshot() == mid
    submit("EH-3", "early_help.closure_record", {"done_on": "2026-12-29", **CLOSURE})
    assert _state("EH-3") == ("step_down", "closed", "universal")
    items = timeline_of("EH-3", "2027-01-04")
    assert items["early_help.meeting_record"]["status"] == "cancelled"  # closed with the case
    assert items["early_help.closure_record"]["status"] == "done"


runner = CliRunner()


@pytest.mark.parametrize(("changes", "message"), [
    ({"consent_support": False},
     "consent_support: must be true to transfer to Early Help: the family consents to "
     "continued support (Step down to Early Help)"),
    ({"consent_information_sharing": False},
     "consent_information_sharing: must be true to transfer to Early Help: the family consents "
     "to information being shared (Step down to Early Help)"),
    ({"plan_agreed": False},
     "plan_agreed: must be true to transfer to Early Help: the meeting agrees the ongoing plan "
     "(Step down to Early Help)"),
    ({"outcome": "adoption"}, "outcome:"),
    ({"held_on": "2027-12-02"}, "held_on: 2027-12-02 is in the future (today is 2027-12-01)"),
])
def test_a_refused_opening_is_one_line_and_records_nothing(
    db_url: str, today: str, monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any],
    message: str
) -> None:
    import json

    monkeypatch.setenv("STEPDOWN_DATABASE_URL", db_url)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # never reached
    before = snapshot()
    result = runner.invoke(app, ["open", "early_help", "EH-9", "--child", "CH-EH9", "--data",
                                 json.dumps({**MEETING, **changes})])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: " + message), lines
    assert snapshot() == before


def test_an_opening_refusal_reads_the_opening_form_only(tmp_path: Any) -> None:
    # The opening's refusals read its own fields only: a declaration cannot gate an opening on
    # a record that does not exist yet.
    from stepdown.domain.declarations import DeclarationError, load_catalogue

    assert load_catalogue().forms["early_help.stepdown_meeting"].refuse
    path = tmp_path / "x.toml"
    path.write_text('''
[process]
kind = "x_proc"
title = "x"
sources = ["x"]
opening = "x_proc.open"
[[stage]]
name = "only"
[[form]]
key = "x_proc.open"
kind = "opening"
title = "x"
date_field = "on"
source = "x"
[[form.field]]
name = "on"
type = "date"
title = "on"
[[form.refuse]]
when = "done:x_proc.thing"
field = "on"
rule = "no"
''')
    with pytest.raises(DeclarationError, match="an opening form's refusal reads its own fields"):
        load_catalogue(str(path))
    assert date.fromisoformat(H).weekday() == 0  # H is a Monday, as the dates above assume
