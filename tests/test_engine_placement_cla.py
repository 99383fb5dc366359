"""The engine's placement and CLA rules (DOMAIN.md sections 8 and 9): rules under a condition,
chains with their own intervals, pulled forward by the child's other processes, paused while a
placement of the child has visits of its own, a slower interval for a long-term match, rules per
occurrence, and school terms. Pure: facts by hand, every date worked out by hand (bank holidays:
2027-05-31 Spring, 2027-08-30 Summer; 2026-12-25, 2026-12-28 and 2027-01-01; 2027-12-27 and
2027-12-28 the substitutes for a weekend Christmas, 2028-01-03 for New Year's Day)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from stepdown.domain.calendar import Duration, add_terms, parse_term_ends, term_end
from stepdown.domain.declarations import load_catalogue
from stepdown.domain.engine import Completion, Facts, Planned, plan
from stepdown.domain.policy import PolicyError, default_policy_text, load_policy, parse_policy
from stepdown.timescales import due_text

MOVE = "placement:form:placement.move.moved_on"
SUPPORT = "step_down:stage:support"
IN_PLACEMENT = "placement:stage:placement"  # a placement process moved in, until it ends


def d(text: str) -> date:
    return date.fromisoformat(text)


def _plan(kind: str, *, starts: dict[str, str], opening: dict[str, Any] | None = None,
          forms: dict[str, list[dict[str, Any]]] | None = None,
          done: dict[str, tuple[str, dict[str, Any]]] | None = None,
          child: dict[str, list[tuple[str, str]]] | None = None,
          ends: dict[str, str] | None = None,
          spans: list[tuple[str, str | None, str]] | None = None) -> dict[str, Planned]:
    """``spans``: the child's placement processes in their placement stage (moved in on, ended
    on or None, reference)."""
    facts = Facts(process=kind, stage_starts={k: d(v) for k, v in starts.items()},
                  stage_ends={k: d(v) for k, v in (ends or {}).items()},
                  forms=forms or {},
                  done={k: Completion(d(on), data) for k, (on, data) in (done or {}).items()},
                  opening=opening or {},
                  child={k: [(d(on), ref) for on, ref in v] for k, v in (child or {}).items()},
                  child_spans={IN_PLACEMENT: [(d(began), d(ended) if ended else None, ref)
                                              for began, ended, ref in spans or []]})
    return {p.key: p for p in plan(load_policy(), facts)}


def _due(items: dict[str, Planned]) -> dict[str, str]:
    return {k: str(p.due_on) for k, p in items.items()}


# ------------------------------------------------------------------------------ school terms
@pytest.mark.parametrize(("day", "end", "next_end"), [
    ("2027-07-20", "2027-07-31", "2027-12-31"),  # summer term, then the autumn's end
    ("2027-12-31", "2027-12-31", "2028-03-31"),  # a term's last day is in that term
    ("2028-01-01", "2028-03-31", "2028-07-31"),
])
def test_a_pep_term_is_the_one_after_the_term_of_the_last_pep(day: str, end: str,
                                                              next_end: str) -> None:
    assert str(term_end(d(day))) == end
    assert str(add_terms(d(day), 1)) == next_end
    assert str(Duration.parse("1 term").after(d(day))) == next_end


def test_term_dates_come_from_the_policy_when_it_gives_them() -> None:
    ends = parse_term_ends(["07-20", "12-17", "04-01"])
    assert str(add_terms(d("2027-07-21"), 1, ends)) == "2028-04-01"
    with pytest.raises(ValueError, match="'13-01' is not a day of the year"):
        parse_term_ends(["13-01"])
    text = default_policy_text().replace('sdq_discussion_from = 14',
                                         'sdq_discussion_from = 14\nterm_ends = ["07-20"]')
    policy = parse_policy(text, catalogue=load_catalogue())
    pep = next(r for r in policy.rules if r.key == "cla.pep")
    assert pep.every is not None and str(pep.every.after(d("2027-01-10"))) == "2028-07-20"
    bad = default_policy_text().replace('sdq_discussion_from = 14',
                                        'sdq_discussion_from = 14\nterm_ends = "summer"')
    with pytest.raises(PolicyError, match=r"\[settings\] term_ends must be a list"):
        parse_policy(bad, catalogue=load_catalogue())


# ------------------------------------------------------------------------------ placement
PLANNED = {"planned_on": "2027-08-27", "emergency": False, "out_of_area": False,
           "placement_type": "foster"}


def test_a_planned_moves_meeting_is_due_by_the_planned_day_an_emergencys_after_the_move() -> None:
    before = _plan("placement", starts={"authorisation": "2027-08-16"}, opening=PLANNED,
                   forms={"placement.open": [PLANNED]})
    assert before["placement.planning_meeting"].due_on == d("2027-08-27")
    assert before["placement.planning_meeting"].opened_on == d("2027-08-16")  # held before
    assert "placement.child_told" in before and "placement.other_la_informed" not in before
    emergency = {**PLANNED, "emergency": True, "out_of_area": True}
    moved = {"placement.open": [emergency], "placement.move": [{"moved_on": "2027-08-27"}]}
    items = _plan("placement", starts={"authorisation": "2027-08-16", "move": "2027-08-20",
                                       "placement": "2027-08-27"},
                  opening=emergency, forms=moved,
                  done={"placement.authorisation": ("2027-08-20", {})})  # from the authorisation
    assert "placement.child_told" not in items
    # Fri 27 Aug + 5 days = Wed 1 Sep; + 1 working day = Tue 31 Aug (past the bank holiday).
    assert _due(items)["placement.planning_meeting"] == "2027-09-01"
    assert _due(items)["placement.support_plan"] == "2027-09-01"
    assert _due(items)["placement.irs_informed"] == "2027-08-31"
    assert _due(items)["placement.other_la_informed"] == "2027-08-27"
    assert "emergency" in items["placement.planning_meeting"].title


def test_visits_slow_to_six_monthly_after_a_year_of_a_long_term_match_the_child_agreed() -> None:
    forms = {"placement.open": [PLANNED], "placement.move": [{"moved_on": "2026-06-01"}]}
    starts = {"authorisation": "2026-05-20", "move": "2026-05-25", "placement": "2026-06-01"}
    agreed = {"long_term_matched": True, "child_agreed": True}
    items = _plan("placement", starts=starts, opening=PLANNED, forms=forms, done={
        "placement.visit#1": ("2026-06-05", agreed),  # in the first year: 6 weeks
        "placement.visit#2": ("2027-06-03", agreed),  # after it, long-term, agreed: 6 months
        "placement.visit#3": ("2027-07-01", {"long_term_matched": True, "child_agreed": False}),
    })
    assert _due(items)["placement.visit#2"] == "2026-07-17"  # Fri 5 Jun + 6 weeks
    assert _due(items)["placement.visit#3"] == "2027-12-03"  # Thu 3 Jun 2027 + 6 months: Fri
    assert _due(items)["placement.visit#4"] == "2027-08-12"  # not agreed: 6 weeks again


# ------------------------------------------------------------------------------ cla
def test_reviews_three_months_then_six_and_each_with_its_care_plan() -> None:
    items = _plan("cla", starts={"looked_after": "2027-01-04"}, done={
        "cla.review#1": ("2027-01-29", {}), "cla.review#2": ("2027-04-30", {})})
    due = _due(items)
    assert due["cla.review#1"] == "2027-02-01"  # Mon 4 Jan + 20 working days
    assert due["cla.review#2"] == "2027-04-29"  # Fri 29 Jan + 3 months
    assert due["cla.review#3"] == "2027-10-29"  # Fri 30 Apr + 6 months: Sat 30 Oct, back to Fri
    assert due["cla.care_plan_shared#3"] == "2027-10-22"
    assert due["cla.care_plan#2"] == "2027-05-17"  # Fri 30 Apr + 10 working days (3 May holiday)
    assert items["cla.care_plan#2"].opened_on == d("2027-04-30")
    assert "cla.care_plan#3" not in items  # the third review is not held yet
    # Before the second review, with the care plan shared for it: Thu 29 Apr - 5 working days.
    assert due["cla.permanence_meeting"] == "2027-04-22" == due["cla.care_plan_shared#2"]


def test_a_move_pulls_the_next_review_and_pep_forward_not_the_earlier_ones() -> None:
    child = {MOVE: [("2027-08-27", "PL-1"), ("2027-10-08", "PL-2")],
             SUPPORT: [("2027-03-01", "SD-1")]}  # before review #2 opened: no effect on it
    items = _plan("cla", starts={"looked_after": "2027-01-04"}, child=child, done={
        "cla.review#1": ("2027-07-15", {}), "cla.pep#1": ("2027-07-20", {})})
    due = _due(items)
    assert due["cla.review#2"] == "2027-09-27"  # 27 Aug + 20 working days, not 15 Oct
    assert items["cla.review#2"].note == (
        "brought forward: within 20 working days of the placement change on 2027-08-27, PL-1")
    assert "brought forward" in items["cla.review#2"].title
    assert due["cla.pep#2"] == "2027-09-27"  # not 31 Dec
    assert due["cla.care_plan_shared#2"] == "2027-09-20"
    assert items["cla.care_plan_shared#2"].note == items["cla.review#2"].note
    # The Step Down move (its support stage) on 1 Mar 2027 pulls review #1 (opened 4 Jan):
    # 1 Mar + 20 working days = 29 Mar... but it was due 1 Feb, earlier: not moved.
    assert due["cla.review#1"] == "2027-02-01" and items["cla.review#1"].note is None


def test_a_move_after_the_review_is_due_later_does_not_pull_it() -> None:
    child = {MOVE: [("2027-10-01", "PL-1")]}  # + 20 working days = 29 Oct, after 15 Oct
    items = _plan("cla", starts={"looked_after": "2027-01-04"}, child=child,
                  done={"cla.review#1": ("2027-07-15", {})})
    assert _due(items)["cla.review#2"] == "2027-10-15" and items["cla.review#2"].note is None


# ------------------------------------------------------------------------------ cla visits
# L = Wed 26 May 2027: the first visit within a week, Wed 2 Jun; visited Tue 1 Jun, then Mon 19
# Jul: + 6 weeks is Mon 30 Aug, the Summer bank holiday, so the third is due Fri 27 Aug.
L_MAY = "2027-05-26"
VISITED = {"cla.visit#1": ("2027-06-01", {}), "cla.visit#2": ("2027-07-19", {})}


def _visits(items: dict[str, Planned]) -> dict[str, tuple[str, str, bool]]:
    return {k: (str(p.opened_on), str(p.due_on), p.cancelled) for k, p in items.items()
            if k.startswith("cla.visit#")}


def test_a_looked_after_child_with_no_placement_process_is_visited_every_six_weeks() -> None:
    items = _plan("cla", starts={"looked_after": L_MAY}, done=VISITED)
    assert _visits(items) == {"cla.visit#1": ("2027-05-26", "2027-06-02", False),
                              "cla.visit#2": ("2027-06-01", "2027-07-13", False),
                              "cla.visit#3": ("2027-07-19", "2027-08-27", False)}
    assert items["cla.visit#1"].owner == "social_worker"
    assert items["cla.visit#1"].completion == "cla_visit"
    # At Christmas: looked after Wed 23 Dec 2026, visited within the week by Wed 30 Dec.
    christmas = _plan("cla", starts={"looked_after": "2026-12-23"})
    assert _due(christmas)["cla.visit#1"] == "2026-12-30"


def test_a_placements_own_visits_pause_the_cla_visits_until_it_ends() -> None:
    # PL-1 moved in on Wed 25 Aug 2027: the open third visit is cancelled (the placement's first
    # visit, within a week of the move, is the child's visit), and says why. PL-1 ends Mon 20
    # Dec 2027: a new placement starts, so the next visit is due within a week, Mon 27 Dec, a
    # bank holiday (as is Tue 28): back to Fri 24 Dec.
    items = _plan("cla", starts={"looked_after": L_MAY}, done=VISITED,
                  spans=[("2027-08-25", "2027-12-20", "PL-1")])
    assert _visits(items) == {"cla.visit#1": ("2027-05-26", "2027-06-02", False),
                              "cla.visit#2": ("2027-06-01", "2027-07-13", False),
                              "cla.visit#3": ("2027-07-19", "2027-08-27", True),
                              "cla.visit#4": ("2027-12-20", "2027-12-24", False)}
    why = "paused from 2027-08-25: PL-1 is in its placement stage"
    assert items["cla.visit#3"].cancelled_because == why
    assert items["cla.visit#3"].title.endswith(f"({why})")
    assert items["cla.visit#4"].cancelled_because is None
    # Visited Thu 23 Dec 2027: every 6 weeks again, Thu 3 Feb 2028.
    later = _plan("cla", starts={"looked_after": L_MAY},
                  done={**VISITED, "cla.visit#4": ("2027-12-23", {})},
                  spans=[("2027-08-25", "2027-12-20", "PL-1")])
    assert _visits(later)["cla.visit#5"] == ("2027-12-23", "2028-02-03", False)


@pytest.mark.parametrize(("spans", "visits"), [
    # A move ends PL-1 on Fri 8 Oct and starts PL-2 that day: one pause, still running.
    ([("2027-08-25", "2027-10-08", "PL-1"), ("2027-10-08", None, "PL-2")],
     {"cla.visit#3": ("2027-07-19", "2027-08-27", True)}),
    # PL-1 ends Fri 8 Oct (visit due Fri 15 Oct); PL-2 moves in Mon 1 Nov before it is done.
    ([("2027-08-25", "2027-10-08", "PL-1"), ("2027-11-01", None, "PL-2")],
     {"cla.visit#3": ("2027-07-19", "2027-08-27", True),
      "cla.visit#4": ("2027-10-08", "2027-10-15", True)}),
    # A placement that ended before the child became looked after does not pause anything.
    ([("2027-03-01", "2027-05-20", "PL-0")],
     {"cla.visit#3": ("2027-07-19", "2027-08-27", False)}),
])
def test_placements_one_after_another_are_one_pause_and_a_gap_between_them_is_not(
    spans: list[tuple[str, str | None, str]], visits: dict[str, tuple[str, str, bool]]
) -> None:
    items = _plan("cla", starts={"looked_after": L_MAY}, done=VISITED, spans=spans)
    assert {k: v for k, v in _visits(items).items() if k >= "cla.visit#3"} == visits
    if len(visits) == 2:
        assert items["cla.visit#4"].cancelled_because == (
            "paused from 2027-11-01: PL-2 is in its placement stage")


def test_a_child_entered_while_a_placement_is_running_has_no_cla_visit_until_it_ends() -> None:
    items = _plan("cla", starts={"looked_after": L_MAY}, spans=[("2027-05-10", None, "PL-9")])
    assert _visits(items) == {"cla.visit#1": ("2027-05-26", "2027-06-02", True)}
    assert "PL-9" in (items["cla.visit#1"].cancelled_because or "")


def test_after_a_pause_the_first_year_of_the_new_placement_counts_again() -> None:
    """3.31: 6-monthly visits only after the first year of a placement, for a long-term match
    the child agreed to. Looked after Mon 1 Jun 2026; PL-1 from Mon 7 Sep 2026 to Fri 5 Mar
    2027; visited Thu 11 Mar 2027 (due Fri 12 Mar) and Mon 6 Mar 2028, both recording the
    match and the child's agreement: the first is in the new placement's first year (6 weeks:
    Thu 22 Apr 2027), the second is not (6 months: Wed 6 Sep 2028)."""
    agreed = {"long_term_matched": True, "child_agreed": True}
    items = _plan("cla", starts={"looked_after": "2026-06-01"},
                  done={"cla.visit#1": ("2026-06-05", agreed),
                        "cla.visit#3": ("2027-03-11", agreed),
                        "cla.visit#4": ("2028-03-06", agreed)},
                  spans=[("2026-09-07", "2027-03-05", "PL-1")])
    assert _visits(items) == {"cla.visit#1": ("2026-06-01", "2026-06-08", False),
                              "cla.visit#2": ("2026-06-05", "2026-07-17", True),
                              "cla.visit#3": ("2027-03-05", "2027-03-12", False),
                              "cla.visit#4": ("2027-03-11", "2027-04-22", False),
                              "cla.visit#5": ("2028-03-06", "2028-09-06", False)}


def test_policy_show_says_when_the_visits_pause() -> None:
    visit = load_policy().rule_for_key("cla.visit")
    assert visit is not None and [e.text for e in visit.paused_by] == [IN_PLACEMENT]
    assert due_text(visit).endswith(
        "; paused while the child's placement:stage:placement; then 7 days after the day it "
        "ends")


# ------------------------------------------------------------------ permanence
def test_the_permanence_meeting_is_before_the_second_review_and_has_minutes() -> None:
    """002 3.27, 3.35, 3.9. The first review held Mon 1 Mar 2027: the second is due Tue 1 Jun;
    5 working days before it, past the Spring bank holiday (31 May), is Mon 24 May. The meeting
    held Fri 28 May: the minutes are due 5 working days later, Mon 7 Jun."""
    items = _plan("cla", starts={"looked_after": "2027-02-01"},
                  done={"cla.review#1": ("2027-03-01", {})})
    due = _due(items)
    assert due["cla.review#2"] == "2027-06-01"
    assert due["cla.permanence_meeting"] == "2027-05-24" == due["cla.care_plan_shared#2"]
    assert items["cla.permanence_meeting"].opened_on == d("2027-02-01")
    assert "cla.permanence_minutes" not in items
    held = _plan("cla", starts={"looked_after": "2027-02-01"},
                 done={"cla.review#1": ("2027-03-01", {}),
                       "cla.permanence_meeting": ("2027-05-28", {})})
    assert _due(held)["cla.permanence_minutes"] == "2027-06-07"
    # Before review #1 is held there is no second review to be before: not planned yet.
    assert "cla.permanence_meeting" not in _plan("cla", starts={"looked_after": "2027-02-01"})


def test_a_move_brings_the_permanence_meeting_forward_with_the_second_review() -> None:
    # The move of Fri 27 Aug 2027 pulls review #2 to Mon 27 Sep: the meeting by Mon 20 Sep.
    items = _plan("cla", starts={"looked_after": "2027-01-04"},
                  child={MOVE: [("2027-08-27", "PL-1")]},
                  done={"cla.review#1": ("2027-07-15", {})})
    assert _due(items)["cla.review#2"] == "2027-09-27"
    assert _due(items)["cla.permanence_meeting"] == "2027-09-20"


def test_a_second_review_after_christmas_has_its_meeting_and_consultation_before_it() -> None:
    """Review #1 held Mon 4 Oct 2027: #2 due Tue 4 Jan 2028. 5 working days before it: Mon 3
    Jan (New Year's substitute), Mon 27 and Tue 28 Dec (Christmas's) are not counted: Fri 31,
    Thu 30, Wed 29, Fri 24, Thu 23 Dec 2027."""
    due = _due(_plan("cla", starts={"looked_after": "2027-09-06"},
                     done={"cla.review#1": ("2027-10-04", {})}))
    assert due["cla.review#2"] == "2028-01-04"
    assert (due["cla.permanence_meeting"], due["cla.child_consulted#2"],
            due["cla.care_plan_shared#2"]) == ("2027-12-23", "2027-12-23", "2027-12-23")


# ------------------------------------------------------------------ becoming looked after
def test_on_becoming_looked_after_the_planning_meeting_support_plan_and_delegated_authority(
) -> None:
    """002 3.24, 3.25, 3.9; 004. L = Wed 26 May 2027: the planning meeting within 5 days is
    Mon 31 May, the Spring bank holiday, so Fri 28 May (not before L); the support plan with
    it; the IRS told Thu 27 May; delegated authority 5 working days after L, past 31 May: Thu 3
    Jun. The meeting held Fri 28 May: its minutes 5 working days later, Mon 7 Jun."""
    items = _plan("cla", starts={"looked_after": L_MAY})
    due = _due(items)
    assert (due["cla.placement_planning_meeting"], due["cla.support_plan"],
            due["cla.irs_informed"], due["cla.delegated_authority"]) == (
        "2027-05-28", "2027-05-28", "2027-05-27", "2027-06-03")
    assert items["cla.support_plan"].owner == "supervising_social_worker"
    assert items["cla.support_plan"].opened_on == d(L_MAY)
    assert "cla.placement_planning_minutes" not in items  # until the meeting is held
    held = _plan("cla", starts={"looked_after": L_MAY},
                 done={"cla.placement_planning_meeting": ("2027-05-28", {})})
    assert _due(held)["cla.placement_planning_minutes"] == "2027-06-07"
    assert held["cla.placement_planning_minutes"].opened_on == d("2027-05-28")


@pytest.mark.parametrize(("looked_after", "meeting", "delegated", "irs"), [
    # Wed 23 Dec 2026 + 5 days = Mon 28 Dec, Boxing Day's substitute: back to Thu 24 Dec.
    # 5 working days: 24, 29, 30, 31 Dec, 4 Jan (25 and 28 Dec and 1 Jan are holidays).
    ("2026-12-23", "2026-12-24", "2027-01-04", "2026-12-24"),
    # Thu 24 Dec 2026: + 5 days = Tue 29 Dec; + 1 working day skips 25 and 28 December.
    ("2026-12-24", "2026-12-29", "2027-01-05", "2026-12-29"),
    # Fri 27 Aug 2027: + 5 days = Wed 1 Sep; past the Summer bank holiday, Mon 30 Aug.
    ("2027-08-27", "2027-09-01", "2027-09-06", "2027-08-31"),
])
def test_becoming_looked_after_across_bank_holidays(looked_after: str, meeting: str,
                                                    delegated: str, irs: str) -> None:
    due = _due(_plan("cla", starts={"looked_after": looked_after}))
    assert (due["cla.placement_planning_meeting"], due["cla.support_plan"],
            due["cla.delegated_authority"], due["cla.irs_informed"]) == (
        meeting, meeting, delegated, irs)


# ------------------------------------------------------------------ tracked items
def test_the_child_consulted_before_each_review_moves_with_it() -> None:
    child = {MOVE: [("2027-08-27", "PL-1")]}
    items = _plan("cla", starts={"looked_after": L_MAY}, child=child,
                  done={"cla.review#1": ("2027-07-15", {})})
    due = _due(items)
    assert due["cla.child_consulted#1"] == "2027-06-17"  # Thu 24 Jun - 5 working days
    assert due["cla.review#2"] == "2027-09-27"  # pulled by the move from Fri 15 Oct
    assert due["cla.child_consulted#2"] == "2027-09-20"
    assert items["cla.child_consulted#2"].owner == "iro"
    assert items["cla.child_consulted#2"].note == items["cla.review#2"].note


def test_the_health_assessment_is_due_by_the_first_review() -> None:
    """No date in 002 3.24: the regulations' 'before the first review'. L = Wed 26 May 2027:
    review #1 and the assessment by Thu 24 Jun (20 working days, past 31 May); held late, on
    Thu 1 Jul, the review does not move the assessment's date."""
    items = _plan("cla", starts={"looked_after": L_MAY})
    assert _due(items)["cla.health_assessment"] == "2027-06-24" == _due(items)["cla.review#1"]
    assert items["cla.health_assessment"].opened_on == d(L_MAY)
    late = _plan("cla", starts={"looked_after": L_MAY}, done={"cla.review#1": ("2027-07-01", {})})
    assert _due(late)["cla.health_assessment"] == "2027-06-24"


def test_the_chronology_monthly_the_panel_at_nine_months_and_the_pack_undated() -> None:
    """3.12: the case summary and chronology monthly; L = Fri 30 Jul 2027 + 1 month is Mon 30
    Aug (Summer bank holiday): Fri 27 Aug; updated then, the next is Mon 27 Sep. 1c table: the
    Permanence Panel once in care nine months, Sun 30 Apr 2028: Fri 28 Apr. 001 4.5: the
    information pack, with no date, is a checklist item."""
    items = _plan("cla", starts={"looked_after": "2027-07-30"},
                  done={"cla.chronology#1": ("2027-08-27", {})})
    due = _due(items)
    assert (due["cla.chronology#1"], due["cla.chronology#2"]) == ("2027-08-27", "2027-09-27")
    assert due["cla.permanence_panel"] == "2028-04-28"
    assert items["cla.permanence_panel"].completion == "cla_permanence_panel"
    pack = items["cla.information_pack"]
    assert (pack.due_on, pack.opened_on, pack.cancelled) == (None, d("2027-07-30"), False)
    assert pack.rule.is_checklist


# ------------------------------------------------------------------------------ bad policies
def _with(rule: str) -> str:
    return default_policy_text() + "\n" + rule


@pytest.mark.parametrize(("rule", "message"), [
    ('[[rule]]\nkey = "x.y"\nprocess = "cla"\nstage = "looked_after"\nowner = "iro"\n'
     'title = "t"\nsource = "002"\nkind = "each"\nof = "cla.nothing"\ndue = "due:x#k"',
     "of 'cla.nothing' is not a rule of cla before it"),
    ('[[rule]]\nkey = "x.y"\nprocess = "cla"\nstage = "looked_after"\nowner = "iro"\n'
     'title = "t"\nsource = "002"\nkind = "chain"\nfirst = "stage + 1 day"\nevery = "1 term"\n'
     'pulled_by = ["nursery:stage:x"]\npulled_to = "1 day"',
     "pulled_by 'nursery:stage:x': 'nursery' is not a declared kind"),
    ('[[rule]]\nkey = "x.y"\nprocess = "placement"\nstage = "move"\nowner = "iro"\n'
     'title = "t"\nsource = "004"\nwhen = "opening.urgent"\ndue = "stage"',
     "when 'opening.urgent' names 'opening.urgent'"),
    # A pause is a stage of the child's other process, a stage that process has.
    ('[[rule]]\nkey = "x.y"\nprocess = "cla"\nstage = "looked_after"\nowner = "iro"\n'
     'title = "t"\nsource = "002"\nkind = "chain"\nfirst = "stage + 1 day"\nevery = "6 weeks"\n'
     'paused_by = ["placement:form:placement.move.moved_on"]',
     "paused_by 'placement:form:placement.move.moved_on': a pause is a stage of the child's "
     "other process, '<kind>:stage:<stage>'"),
    ('[[rule]]\nkey = "x.y"\nprocess = "cla"\nstage = "looked_after"\nowner = "iro"\n'
     'title = "t"\nsource = "002"\nkind = "chain"\nfirst = "stage + 1 day"\nevery = "6 weeks"\n'
     'paused_by = ["placement:stage:placed"]',
     "rule x.y: paused_by 'stage:placed' names stage 'placed', not a stage of placement"),
    ('[[rule]]\nkey = "x.y"\nprocess = "cla"\nstage = "looked_after"\nowner = "iro"\n'
     'title = "t"\nsource = "002"\ndue = "stage"\npaused_by = ["placement:stage:placement"]',
     "rule x.y: paused_by not allowed for kind once"),
    # A policy's own rule replaces the declared one of its key; two of its own without
    # complementary conditions are a mistake.
    ('[[rule]]\nkey = "placement.child_told"\nprocess = "placement"\nstage = "move"\n'
     'owner = "iro"\ntitle = "t"\nsource = "004"\ndue = "stage"\n'
     '[[rule]]\nkey = "placement.child_told"\nprocess = "placement"\nstage = "move"\n'
     'owner = "iro"\ntitle = "t"\nsource = "004"\ndue = "stage + 1 day"',
     "rule keys appear twice: placement.child_told"),
])
def test_a_bad_rule_is_one_line_naming_it(rule: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(_with(rule), catalogue=load_catalogue())
    assert message in str(caught.value) and "\n" not in str(caught.value)
