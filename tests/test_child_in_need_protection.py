"""The Child in Need and Child Protection plans (source 002: minimum standards at a glance,
2.17, 2.18, 3.9-3.11, 3.14, 3.17, 3.18), declared as processes: they load, the engine plans
them with dates worked by hand (pure: facts by hand), and on the case record (SQLite and
PostgreSQL) a review that ends the plan closes it.

Bank holidays crossed: Fri 25 Dec 2026, Mon 28 Dec 2026 (Boxing Day's substitute), Fri 1 Jan
2027, Good Friday 26 Mar 2027 and Easter Monday 29 Mar 2027."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

from stepdown.cli import app
from stepdown.db import session_scope
from stepdown.domain.declarations import load_catalogue
from stepdown.domain.engine import Completion, Facts, Planned, plan
from stepdown.domain.forms import FormError
from stepdown.domain.policy import default_policy_text, load_policy, parse_policy
from stepdown.records import get_process, open_with_links
from tests.builders import snapshot, submit, timeline_of


def d(text: str) -> date:
    return date.fromisoformat(text)


def _plan(kind: str, start: str, done: dict[str, tuple[str, dict[str, Any]]]
          ) -> dict[str, Planned]:
    facts = Facts(process=kind, stage_starts={"plan": d(start)},
                  done={k: Completion(d(on), data) for k, (on, data) in done.items()})
    return {p.key: p for p in plan(load_policy(), facts)}


def _due(items: dict[str, Planned]) -> dict[str, str]:
    return {k: str(p.due_on) for k, p in items.items()}


def test_both_declarations_load_with_their_rules_and_a_flow_for_their_plan_stage() -> None:
    catalogue = load_catalogue()
    policy = parse_policy(default_policy_text(), path="default.toml", catalogue=catalogue)
    assert policy.problems == ()
    for kind, opening, completion in (
            ("child_in_need", "child_in_need.open", "child_in_need_review"),
            ("child_protection", "child_protection.initial_conference",
             "child_protection_conference")):
        process = catalogue.process(kind)
        assert process.opening == opening and process.one_at_a_time
        assert [s.name for s in process.flow_stages()] == ["plan"]
        step = process.stage("plan").steps[0]
        assert step.completion == completion and step.repeat
        assert catalogue.forms[completion].kind == "completion"
        rules = policy.rules_for(kind)
        assert rules and all(r.source.startswith("002 ") for r in rules)
    assert {r.key for r in policy.rules_for("child_protection")} == {
        "child_protection.visit", "child_protection.initial_conference_outcomes",
        "child_protection.core_group", "child_protection.core_group_minutes",
        "child_protection.review_conference", "child_protection.conference_report",
        "child_protection.conference_outcomes", "child_protection.plan_updated",
        "child_protection.supervision"}


def test_a_child_in_need_is_seen_every_4_weeks_and_reviewed_every_2_months() -> None:
    # The plan starts Mon 26 Oct 2026; the first review is held Wed 23 Dec.
    items = _plan("child_in_need", "2026-10-26",
                  {"child_in_need.review#1": ("2026-12-23", {"outcome": "continue_plan"})})
    assert _due(items) == {
        "child_in_need.visit#1": "2026-11-23",  # + 4 weeks
        # + 2 months is Sat 26 Dec: back past Boxing Day's Fri 25 Dec to Thu 24 Dec.
        "child_in_need.review#1": "2026-12-24",
        "child_in_need.review#2": "2027-02-23",  # from the day it was held: Wed 23 Dec + 2 months
        # 5 working days after Wed 23 Dec: 24, 29, 30, 31 Dec and Mon 4 Jan.
        "child_in_need.review_minutes#1": "2027-01-04",
        # 10 working days: ... Tue 5 to Fri 8 Jan, Mon 11 Jan.
        "child_in_need.plan_updated#1": "2027-01-11",
        "child_in_need.supervision#1": "2027-01-26",  # + 3 months
        "child_in_need.assessment#1": "2027-10-26",  # + 12 months
    }
    assert items["child_in_need.review_minutes#1"].opened_on == d("2026-12-23")
    assert items["child_in_need.review#1"].completion == "child_in_need_review"
    assert items["child_in_need.supervision#1"].owner == "team_manager"
    # Nothing after a review is due before the review is held.
    before = _plan("child_in_need", "2026-10-26", {})
    assert "child_in_need.review_minutes#1" not in before
    assert "child_in_need.review#2" not in before


def test_a_child_protection_plan_core_groups_conferences_and_visits() -> None:
    # The ICPC made the plan on Fri 18 Dec 2026.
    items = _plan("child_protection", "2026-12-18", {
        "child_protection.visit#1": ("2026-12-30", {}),
        "child_protection.core_group#1": ("2027-01-05", {}),
        "child_protection.review_conference#1": ("2027-03-16", {"outcome": "continue_plan"}),
    })
    assert _due(items) == {
        # + 14 days is Fri 1 Jan, New Year's Day: back to Thu 31 Dec.
        "child_protection.visit#1": "2026-12-31",
        "child_protection.visit#2": "2027-01-13",  # Wed 30 Dec + 14 days
        # 5 working days: 21, 22, 23, 24 and Tue 29 Dec (25 and 28 Dec are bank holidays).
        "child_protection.initial_conference_outcomes": "2026-12-29",
        # 10 working days: 21-24 Dec, 29-31 Dec, 4-6 Jan (1 Jan a bank holiday).
        "child_protection.core_group#1": "2027-01-06",
        "child_protection.core_group#2": "2027-02-02",  # Tue 5 Jan + 4 weeks
        "child_protection.core_group_minutes#1": "2027-01-12",  # Tue 5 Jan + 5 working days
        "child_protection.review_conference#1": "2027-03-18",  # + 3 months
        "child_protection.review_conference#2": "2027-09-16",  # Tue 16 Mar + 6 months
        # 5 working days before each conference's due date: Thu 18 Mar back to Thu 11 Mar.
        "child_protection.conference_report#1": "2027-03-11",
        "child_protection.conference_report#2": "2027-09-09",
        "child_protection.conference_outcomes#1": "2027-03-23",  # Tue 16 Mar + 5 working days
        # 10 working days past Easter: 17-19, 22-25 Mar, then Tue 30, Wed 31 Mar, Thu 1 Apr.
        "child_protection.plan_updated#1": "2027-04-01",
        "child_protection.supervision#1": "2027-03-18",
    }
    assert items["child_protection.conference_report#2"].opened_on == d("2027-03-16")


# ------------------------------------------------------------------------ on the case record
def _open(kind: str, ref: str, child: str, opening: dict[str, Any]) -> None:
    with session_scope() as session:
        open_with_links(session, ref=ref, kind=kind, child_ref=child, opening=opening,
                        actor="cli")


def _state(ref: str) -> tuple[str, str, str | None]:
    with session_scope() as session:
        p = get_process(session, ref=ref)
        return p.stage, p.status, p.outcome


def test_a_review_conference_that_ends_the_plan_closes_it(db_url: str, today: str) -> None:
    _open("child_protection", "CP-1", "CH-CP1", {"held_on": "2026-12-18"})
    assert _state("CP-1") == ("plan", "open", None)
    due = {k: i["due"] for k, i in timeline_of("CP-1", "2027-01-04").items()
           if i["ref"] == "CP-1"}
    assert due["child_protection.core_group#1"] == "2027-01-06"
    assert due["child_protection.review_conference#1"] == "2027-03-18"
    before = snapshot()
    with pytest.raises(FormError, match="outcome"):
        submit("CP-1", "child_protection.review_conference#1",
               {"done_on": "2027-03-16", "outcome": "step_down"})
    with pytest.raises(FormError, match=r"done_on: 2026-12-17 is before "
                                        r"child_protection.review_conference#1 opened"):
        submit("CP-1", "child_protection.review_conference#1",
               {"done_on": "2026-12-17", "outcome": "continue_plan"})
    assert snapshot() == before
    submit("CP-1", "child_protection.review_conference#1",
           {"done_on": "2027-03-16", "outcome": "continue_plan"})
    items = timeline_of("CP-1", "2027-03-17")
    assert items["child_protection.review_conference#2"]["due"] == "2027-09-16"
    assert items["child_protection.plan_updated#1"]["due"] == "2027-04-01"
    submit("CP-1", "child_protection.review_conference#2",
           {"done_on": "2027-09-14", "outcome": "end_plan"})
    assert _state("CP-1") == ("plan", "closed", "plan_ended")
    items = timeline_of("CP-1", "2027-09-15")
    assert items["child_protection.conference_outcomes#2"]["status"] == "cancelled"
    assert "child_protection.review_conference#3" not in items


def test_a_child_in_need_review_is_chased_and_the_plan_ends_at_a_review(
    db_url: str, today: str
) -> None:
    _open("child_in_need", "CIN-1", "CH-CIN1", {"started_on": "2026-10-26"})
    assert timeline_of("CIN-1", "2026-12-29")["child_in_need.review#1"]["status"] == "overdue"
    submit("CIN-1", "child_in_need.visit#1", {"done_on": "2026-11-20"})
    assert timeline_of("CIN-1", "2026-11-20")["child_in_need.visit#2"]["due"] == "2026-12-18"
    submit("CIN-1", "child_in_need.review#1", {"done_on": "2026-12-23", "outcome": "end_plan"})
    assert _state("CIN-1") == ("plan", "closed", "plan_ended")


runner = CliRunner()


def test_an_initial_conference_in_the_future_is_refused_in_one_line(
    db_url: str, today: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # never reached
    before = snapshot()
    result = runner.invoke(app, ["open", "child_protection", "CP-9", "--child", "CH-CP9",
                                 "--data", json.dumps({"held_on": "2027-12-02"})])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: held_on: 2027-12-02 is in the future (today is 2027-12-01)"]
    assert snapshot() == before
