"""The obligation engine (DOMAIN.md section 4): which Step Down obligations exist, and when due.

The engine is pure, so every test builds the recorded facts by hand and reads the plan. Every
expected date is worked out by hand in a comment (weekday and bank holiday from the gov.uk list
typed into tests/test_calendar.py), never recomputed with the code under test.

Bank holidays used below: 2026-04-03 Good Friday, 2026-04-06 Easter Monday, 2026-12-25,
2026-12-28 (Boxing Day substitute), 2027-01-01, 2027-03-26 Good Friday, 2027-03-29 Easter Monday,
2027-05-03 Early May bank holiday, 2027-05-31 Spring bank holiday, 2027-08-30 Summer bank
holiday, 2027-12-27 and 2027-12-28 (Christmas Day and Boxing Day substitutes: 25 and 26 December
2027 are a Saturday and a Sunday), 2028-01-03 (New Year's Day substitute).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from stepdown.domain.engine import Completion, Facts, Planned, plan
from stepdown.domain.policy import default_policy_text, load_policy, parse_policy


def d(text: str) -> date:
    return date.fromisoformat(text)


def done(on: str, **data: Any) -> Completion:
    return Completion(d(on), data)


def planned(*, starts: dict[str, str] | None = None, ends: dict[str, str] | None = None,
            forms: dict[str, list[dict[str, Any]]] | None = None,
            completed: dict[str, Completion] | None = None, policy=None) -> dict[str, Planned]:
    """The plan of a step_down process, by key."""
    facts = Facts(
        process="step_down",
        stage_starts={k: d(v) for k, v in (starts or {}).items()},
        stage_ends={k: d(v) for k, v in (ends or {}).items()},
        forms=forms or {},
        done=completed or {},
    )
    items = plan(policy or load_policy(), facts)
    keys = [p.key for p in items]
    assert len(keys) == len(set(keys)), "a key planned twice"
    return {p.key: p for p in items}


def keys_of(items: dict[str, Planned], base: str) -> list[str]:
    """The planned keys of one rule (``base`` and ``base#k``), in plan order."""
    return [k for k in items if k == base or k.startswith(base + "#")]


def dues(items: dict[str, Planned], base: str) -> list[date | None]:
    return [items[k].due_on for k in keys_of(items, base)]


# =============================================================================== 1 Preparation
# P = Mon 2026-03-02 (the PACT decision). Identification started two weeks before.
P = "2026-03-02"
PREP = {"identification": "2026-02-16", "preparation": P}


def test_planning_meeting_is_due_14_days_after_preparation_starts():
    items = planned(starts=PREP)
    # Mon 2026-03-02 + 14 days = Mon 2026-03-16, a working day.
    assert items["preparation.planning_meeting"].due_on == d("2026-03-16")
    assert items["preparation.planning_meeting"].opened_on == d(P)


def test_no_preparation_review_exists_until_the_planning_meeting_is_done():
    items = planned(starts=PREP)
    assert keys_of(items, "preparation.review") == []


def test_first_preparation_review_is_due_14_days_after_the_planning_meeting_was_done():
    items = planned(starts=PREP,
                    completed={"preparation.planning_meeting": done("2026-03-12")})
    # Thu 2026-03-12 + 14 days = Thu 2026-03-26.
    assert keys_of(items, "preparation.review") == ["preparation.review#1"]
    review = items["preparation.review#1"]
    assert review.opened_on == d("2026-03-12")
    assert review.due_on == d("2026-03-26")
    assert review.earliest_on is None
    assert not review.cancelled
    assert review.owner == "social_worker"


def test_second_preparation_review_appears_only_once_the_first_is_done():
    completed = {"preparation.planning_meeting": done("2026-03-12")}
    assert "preparation.review#2" not in planned(starts=PREP, completed=completed)

    completed["preparation.review#1"] = done("2026-03-25")
    items = planned(starts=PREP, completed=completed)
    # #1 done Wed 2026-03-25 + 14 days = Wed 2026-04-08.
    assert keys_of(items, "preparation.review") == ["preparation.review#1", "preparation.review#2"]
    assert items["preparation.review#2"].opened_on == d("2026-03-25")
    assert items["preparation.review#2"].due_on == d("2026-04-08")
    assert "preparation.review#3" not in items


def test_preparation_review_due_on_good_friday_moves_back_to_the_thursday():
    items = planned(starts=PREP, completed={
        "preparation.planning_meeting": done("2026-03-06"),
        "preparation.review#1": done("2026-03-20"),
    })
    # #1: Fri 2026-03-06 + 14 = Fri 2026-03-20.
    assert items["preparation.review#1"].due_on == d("2026-03-20")
    # #2: Fri 2026-03-20 + 14 = Fri 2026-04-03, Good Friday -> back to Thu 2026-04-02.
    assert items["preparation.review#2"].due_on == d("2026-04-02")


def test_each_review_is_due_from_the_previous_ones_done_date_not_its_due_date():
    items = planned(starts=PREP, completed={
        "preparation.planning_meeting": done("2026-03-12"),  # #1 due Thu 03-26
        "preparation.review#1": done("2026-03-31"),          # done late, on Tue 03-31
    })
    # Tue 2026-03-31 + 14 = Tue 2026-04-14 (not 03-26 + 14 = 04-09).
    assert items["preparation.review#2"].due_on == d("2026-04-14")


def test_first_social_worker_visit_is_due_14_days_after_preparation_starts():
    items = planned(starts=PREP)
    # Mon 2026-03-02 + 14 days = Mon 2026-03-16.
    assert keys_of(items, "preparation.sw_visit") == ["preparation.sw_visit#1"]
    assert items["preparation.sw_visit#1"].opened_on == d(P)
    assert items["preparation.sw_visit#1"].due_on == d("2026-03-16")


def test_next_social_worker_visit_is_due_14_days_after_the_previous_visit_was_done():
    items = planned(starts=PREP, completed={"preparation.sw_visit#1": done("2026-03-13")})
    # Fri 2026-03-13 + 14 = Fri 2026-03-27.
    assert keys_of(items, "preparation.sw_visit") == ["preparation.sw_visit#1",
                                                      "preparation.sw_visit#2"]
    assert items["preparation.sw_visit#2"].opened_on == d("2026-03-13")
    assert items["preparation.sw_visit#2"].due_on == d("2026-03-27")


def test_a_chain_occurrence_due_after_preparation_ended_is_cancelled():
    # Planning meeting done Fri 03-06 -> review#1 due Fri 03-20; Preparation ended Thu 03-19.
    items = planned(starts=PREP, ends={"preparation": "2026-03-19"},
                    completed={"preparation.planning_meeting": done("2026-03-06")})
    assert items["preparation.review#1"].due_on == d("2026-03-20")
    assert items["preparation.review#1"].cancelled
    assert "preparation.review#2" not in items


def test_a_chain_stops_at_its_first_occurrence_due_after_the_stage_ended_even_if_done():
    # sw_visit#1 due Mon 03-16, done Fri 03-13 -> #2 due Fri 03-27; Preparation ended Wed 03-25.
    # #2 is recorded as done, but it was due after the end: cancelled, and no #3 is planned.
    items = planned(starts=PREP, ends={"preparation": "2026-03-25"}, completed={
        "preparation.sw_visit#1": done("2026-03-13"),
        "preparation.sw_visit#2": done("2026-03-24"),
    })
    assert not items["preparation.sw_visit#1"].cancelled
    assert items["preparation.sw_visit#2"].due_on == d("2026-03-27")
    assert items["preparation.sw_visit#2"].cancelled
    assert keys_of(items, "preparation.sw_visit") == ["preparation.sw_visit#1",
                                                      "preparation.sw_visit#2"]


def test_chain_occurrences_due_on_or_before_the_stage_end_are_carried_forward():
    # Preparation ended Fri 2026-03-20 (Matching started).
    # review#1: planning meeting done Fri 03-06 + 14 = Fri 03-20, due on the end day itself.
    # sw_visit#1: due Mon 03-16, still open when the stage ended.
    items = planned(starts={**PREP, "matching": "2026-03-20"}, ends={"preparation": "2026-03-20"},
                    completed={"preparation.planning_meeting": done("2026-03-06")})
    for key, due in (("preparation.review#1", "2026-03-20"), ("preparation.sw_visit#1",
                                                              "2026-03-16")):
        assert items[key].due_on == d(due)
        assert not items[key].cancelled, key


def test_a_chain_occurrence_on_a_weekend_after_the_end_moves_back_and_is_kept():
    # Planning meeting done Sat 2026-03-07 -> review#1 + 14 = Sat 03-21 -> back to Fri 03-20,
    # the day Preparation ended: due on the end day, so not cancelled.
    items = planned(starts=PREP, ends={"preparation": "2026-03-20"},
                    completed={"preparation.planning_meeting": done("2026-03-07")})
    assert items["preparation.review#1"].due_on == d("2026-03-20")
    assert not items["preparation.review#1"].cancelled


def test_undated_preparation_checklist_items_are_carried_forward_when_the_stage_ends():
    items = planned(starts=PREP, ends={"preparation": "2026-03-20"})
    for key in ("preparation.this_is_me", "preparation.mhmp_updated"):
        assert items[key].due_on is None
        assert items[key].opened_on == d(P)
        assert not items[key].cancelled
    assert not items["preparation.planning_meeting"].cancelled  # a one-off: carried forward
    assert not items["preparation.preparation_plan"].cancelled  # dated now, and carried too


# --------------------------------------------------------- the Preparation Plan (000 Step 2)
# "In the Preparation Planning Meeting, a Preparation Plan will be created": due with the
# meeting, by its due date, or by the day it was held when that is sooner.
XMAS_P = {"identification": "2026-11-30", "preparation": "2026-12-11"}


def test_the_preparation_plan_is_due_with_the_planning_meeting_across_christmas():
    items = planned(starts=XMAS_P)
    # P = Fri 2026-12-11: the meeting is due P + 14 = Fri 12-25, Christmas Day -> Thu 12-24.
    assert items["preparation.planning_meeting"].due_on == d("2026-12-24")
    plan_ = items["preparation.preparation_plan"]
    assert (plan_.due_on, plan_.opened_on, plan_.owner) == (d("2026-12-24"), d("2026-12-11"),
                                                            "social_worker")


def test_the_preparation_plan_is_due_the_day_the_planning_meeting_was_held_if_sooner():
    # Held Tue 2026-12-22, before its due date (Thu 12-24): the plan is made there.
    items = planned(starts=XMAS_P,
                    completed={"preparation.planning_meeting": done("2026-12-22")})
    assert items["preparation.preparation_plan"].due_on == d("2026-12-22")
    # Held late, Tue 2026-12-29: the plan was due with the meeting, Thu 12-24, all the same.
    items = planned(starts=XMAS_P,
                    completed={"preparation.planning_meeting": done("2026-12-29")})
    assert items["preparation.preparation_plan"].due_on == d("2026-12-24")


def test_the_preparation_plan_does_not_exist_before_preparation_starts():
    assert "preparation.preparation_plan" not in planned(starts={"identification": "2026-11-30"})


# =============================================================================== 2 SCAYT+
def test_scayt_consultation_does_not_exist_until_the_referral_is_done():
    items = planned(starts=PREP)
    assert "scayt.initial_consultation" not in items


def test_scayt_consultation_is_due_14_days_after_the_referral_was_done():
    items = planned(starts=PREP,
                    completed={"identification.scayt_referral": done("2026-02-20")})
    # Fri 2026-02-20 + 14 = Fri 2026-03-06.
    consultation = items["scayt.initial_consultation"]
    assert consultation.opened_on == d("2026-02-20")
    assert consultation.due_on == d("2026-03-06")
    assert consultation.owner == "scayt"


def test_scayt_consultation_due_on_a_bank_holiday_moves_back_to_a_working_day():
    items = planned(starts=PREP,
                    completed={"identification.scayt_referral": done("2026-03-20")})
    # Fri 2026-03-20 + 14 = Fri 2026-04-03, Good Friday -> back to Thu 2026-04-02.
    assert items["scayt.initial_consultation"].due_on == d("2026-04-02")


def test_scayt_consultation_due_on_a_sunday_moves_back_to_the_friday():
    items = planned(starts=PREP,
                    completed={"identification.scayt_referral": done("2026-03-01")})
    # Sun 2026-03-01 + 14 = Sun 2026-03-15 -> back to Fri 2026-03-13.
    assert items["scayt.initial_consultation"].due_on == d("2026-03-13")


# =============================================================================== 3 Introduction
# A clean plan: A = Wed 2026-05-20 (match agreed), S = Wed 2026-06-03 (planning meeting done).
# S + 7k - 1 are Tuesdays, S + 21 / S + 35 Wednesdays: nothing lands on a weekend.
A = "2026-05-20"
S = "2026-06-03"
INTRO = {"identification": "2026-02-16", "preparation": "2026-03-02", "matching": "2026-04-15",
         "introduction": A}
# Weekly check-ins S + 7k - 1, k = 1..8: 06-09, 06-16, 06-23, 06-30, 07-07, 07-14, 07-21,
# 07-28 (S + 55 = Jun 3 + 27 = Jun 30, + 28 = Jul 28).
CHECK_INS_8 = ["2026-06-09", "2026-06-16", "2026-06-23", "2026-06-30", "2026-07-07",
               "2026-07-14", "2026-07-21", "2026-07-28"]
# Fortnightly visits S + 14k - 1, k = 1..4: 06-16, 06-30, 07-14, 07-28.
VISITS_4 = ["2026-06-16", "2026-06-30", "2026-07-14", "2026-07-28"]


def _intro(**completed: Completion) -> dict[str, Completion]:
    return {"introduction.planning_meeting": done(S), **completed}


def test_introduction_planning_meeting_is_due_14_days_after_the_match_is_agreed():
    items = planned(starts=INTRO)
    # Wed 2026-05-20 + 14 = Wed 2026-06-03.
    assert items["introduction.planning_meeting"].due_on == d("2026-06-03")


def test_introduction_reviews_and_visits_do_not_exist_before_the_planning_meeting_is_done():
    items = planned(starts=INTRO)
    for base in ("introduction.midpoint_review", "introduction.final_review",
                 "introduction.extended_review", "introduction.sw_check_in",
                 "introduction.ssw_check_in", "introduction.visit", "introduction.ssw_visit"):
        assert keys_of(items, base) == [], base


def test_midpoint_review_window_is_week_4_from_the_planning_meeting():
    items = planned(starts=INTRO, completed=_intro())
    midpoint = items["introduction.midpoint_review"]
    # S + 21 = Wed 2026-06-24; S + 27 = Tue 2026-06-30.
    assert midpoint.opened_on == d(S)
    assert midpoint.earliest_on == d("2026-06-24")
    assert midpoint.due_on == d("2026-06-30")


def test_final_review_window_is_weeks_6_to_8_and_asks_for_a_review_outcome():
    items = planned(starts=INTRO, completed=_intro())
    final = items["introduction.final_review"]
    # S + 35 = Wed 2026-07-08; S + 55 = Tue 2026-07-28.
    assert final.earliest_on == d("2026-07-08")
    assert final.due_on == d("2026-07-28")
    assert final.completion == "review_outcome"


def test_weekly_check_ins_fall_at_the_end_of_each_plan_week_up_to_the_final_review():
    items = planned(starts=INTRO, completed=_intro())
    for base in ("introduction.sw_check_in", "introduction.ssw_check_in"):
        assert keys_of(items, base) == [f"{base}#{k}" for k in range(1, 9)]
        assert dues(items, base) == [d(x) for x in CHECK_INS_8]
        assert all(items[k].opened_on == d(S) for k in keys_of(items, base))
    assert items["introduction.ssw_check_in#1"].owner == "supervising_social_worker"


def test_fortnightly_visits_fall_at_the_end_of_each_second_plan_week():
    items = planned(starts=INTRO, completed=_intro())
    for base in ("introduction.visit", "introduction.ssw_visit"):
        assert keys_of(items, base) == [f"{base}#{k}" for k in range(1, 5)]
        assert dues(items, base) == [d(x) for x in VISITS_4]


def test_review_dates_on_weekends_and_bank_holidays_are_moved_per_the_calendar_rule():
    # S = Mon 2027-02-22.
    # midpoint earliest S + 21 = Mon 2027-03-15 (working, unchanged);
    # midpoint due S + 27 = Sun 2027-03-21 -> back to Fri 2027-03-19;
    # final earliest S + 35 = Mon 2027-03-29, Easter Monday -> forward to Tue 2027-03-30;
    # final due S + 55 = Sun 2027-04-18 -> back to Fri 2027-04-16.
    items = planned(starts={"introduction": "2027-02-10"},
                    completed={"introduction.planning_meeting": done("2027-02-22")})
    midpoint, final = items["introduction.midpoint_review"], items["introduction.final_review"]
    assert (midpoint.earliest_on, midpoint.due_on) == (d("2027-03-15"), d("2027-03-19"))
    assert (final.earliest_on, final.due_on) == (d("2027-03-30"), d("2027-04-16"))


def test_check_ins_landing_on_sundays_move_back_and_still_number_eight():
    # S = Mon 2027-02-22: every S + 7k - 1 is a Sunday, moved back to the Friday, and the
    # fifth one (Sun 03-28) past Good Friday 03-26 to Thu 03-25. #8 (Sun 04-18 -> Fri 04-16)
    # lands on the final review's moved due date, so it is still planned.
    items = planned(starts={"introduction": "2027-02-10"},
                    completed={"introduction.planning_meeting": done("2027-02-22")})
    assert dues(items, "introduction.sw_check_in") == [d(x) for x in (
        "2027-02-26", "2027-03-05", "2027-03-12", "2027-03-19", "2027-03-25",
        "2027-04-02", "2027-04-09", "2027-04-16")]
    # Visits S + 14k - 1: Sun 03-07, 03-21, 04-04, 04-18 -> Fri 03-05, 03-19, 04-02, 04-16.
    assert dues(items, "introduction.visit") == [d(x) for x in (
        "2027-03-05", "2027-03-19", "2027-04-02", "2027-04-16")]


def test_final_review_with_move_creates_no_extended_review():
    items = planned(starts=INTRO,
                    completed=_intro(**{"introduction.final_review": done("2026-07-24",
                                                                          outcome="move")}))
    assert keys_of(items, "introduction.extended_review") == []
    assert len(keys_of(items, "introduction.sw_check_in")) == 8


def test_final_review_with_extend_creates_an_extended_review_weeks_after_its_due_date():
    items = planned(starts=INTRO, completed=_intro(**{
        "introduction.final_review": done("2026-07-24", outcome="extend", extend_weeks=3)}))
    assert keys_of(items, "introduction.extended_review") == ["introduction.extended_review#1"]
    extended = items["introduction.extended_review#1"]
    # Final review due Tue 2026-07-28 + 3 weeks = Tue 2026-08-18; opened when the final was done.
    assert extended.opened_on == d("2026-07-24")
    assert extended.due_on == d("2026-08-18")
    assert extended.completion == "review_outcome"
    assert not extended.cancelled


def test_an_extension_carries_the_check_ins_and_visits_on_to_the_extended_review():
    items = planned(starts=INTRO, completed=_intro(**{
        "introduction.final_review": done("2026-07-24", outcome="extend", extend_weeks=3)}))
    # Up to Tue 2026-08-18: check-ins #9 08-04, #10 08-11, #11 08-18 (= S + 76 = S + 7*11 - 1).
    assert dues(items, "introduction.sw_check_in") == [d(x) for x in CHECK_INS_8 + [
        "2026-08-04", "2026-08-11", "2026-08-18"]]
    assert dues(items, "introduction.ssw_check_in") == dues(items, "introduction.sw_check_in")
    # Visits: #5 = S + 69 = Tue 08-11; #6 = S + 83 = Tue 08-25 is after 08-18.
    assert dues(items, "introduction.visit") == [d(x) for x in VISITS_4 + ["2026-08-11"]]
    assert dues(items, "introduction.ssw_visit") == dues(items, "introduction.visit")


def test_an_extended_review_completed_with_extend_creates_the_next_one():
    items = planned(starts=INTRO, completed=_intro(**{
        "introduction.final_review": done("2026-07-24", outcome="extend", extend_weeks=3),
        "introduction.extended_review#1": done("2026-08-14", outcome="extend", extend_weeks=2),
    }))
    assert keys_of(items, "introduction.extended_review") == ["introduction.extended_review#1",
                                                              "introduction.extended_review#2"]
    second = items["introduction.extended_review#2"]
    # #1 due Tue 2026-08-18 + 2 weeks = Tue 2026-09-01.
    assert second.opened_on == d("2026-08-14")
    assert second.due_on == d("2026-09-01")
    # Check-ins #12 08-25 and #13 09-01 (S + 90); visit #6 08-25 (S + 83), #7 09-08 is after.
    assert dues(items, "introduction.sw_check_in")[-3:] == [d("2026-08-18"), d("2026-08-25"),
                                                            d("2026-09-01")]
    assert len(keys_of(items, "introduction.sw_check_in")) == 13
    assert dues(items, "introduction.visit")[-1] == d("2026-08-25")
    assert len(keys_of(items, "introduction.visit")) == 6


def test_an_extended_review_completed_with_move_ends_the_extensions():
    items = planned(starts=INTRO, completed=_intro(**{
        "introduction.final_review": done("2026-07-24", outcome="extend", extend_weeks=3),
        "introduction.extended_review#1": done("2026-08-14", outcome="extend", extend_weeks=2),
        "introduction.extended_review#2": done("2026-08-28", outcome="move"),
    }))
    assert keys_of(items, "introduction.extended_review") == ["introduction.extended_review#1",
                                                              "introduction.extended_review#2"]
    assert len(keys_of(items, "introduction.sw_check_in")) == 13


def test_moving_before_the_midpoint_review_cancels_both_reviews_and_later_check_ins():
    # Moved in Thu 2026-06-25: Introduction ends, Ongoing Support starts.
    items = planned(starts={**INTRO, "support": "2026-06-25"},
                    ends={"introduction": "2026-06-25"}, completed=_intro())
    # Midpoint due Tue 06-30 and final due Tue 07-28 are both after 06-25.
    assert items["introduction.midpoint_review"].cancelled
    assert items["introduction.final_review"].cancelled
    for base in ("introduction.sw_check_in", "introduction.ssw_check_in"):
        live = [items[k].due_on for k in keys_of(items, base) if not items[k].cancelled]
        gone = [items[k].due_on for k in keys_of(items, base) if items[k].cancelled]
        # 06-09, 06-16, 06-23 were due before the move; 06-30 .. 07-28 after it.
        assert live == [d(x) for x in CHECK_INS_8[:3]], base
        assert gone == [d(x) for x in CHECK_INS_8[3:]], base
    visits = {items[k].due_on: items[k].cancelled for k in keys_of(items, "introduction.visit")}
    assert visits == {d("2026-06-16"): False, d("2026-06-30"): True, d("2026-07-14"): True,
                      d("2026-07-28"): True}


def test_the_move_check_in_is_due_the_day_after_the_move_and_is_not_cancelled():
    items = planned(starts={**INTRO, "support": "2026-06-25"},
                    ends={"introduction": "2026-06-25"}, completed=_intro())
    check_in = items["introduction.move_check_in"]
    # Thu 2026-06-25 + 1 day = Fri 2026-06-26: after the Introduction's end, but a one-off
    # obligation without ends_with_stage is carried forward.
    assert check_in.due_on == d("2026-06-26")
    assert not check_in.cancelled
    assert check_in.owner == "supervising_social_worker"


def _moved(on: str, policy=None) -> Planned:
    return planned(starts={**INTRO, "support": on}, ends={"introduction": on},
                   completed=_intro(), policy=policy)["introduction.move_check_in"]


def test_a_saturday_moves_check_in_is_due_the_monday_after_not_the_friday_before():
    # Sat 2026-06-27 + 1 day = Sun 06-28. Back to the previous working day would be Fri 06-26,
    # before the move it follows (DOMAIN.md section 2): forward to Mon 06-29 instead.
    assert _moved("2026-06-27").due_on == d("2026-06-29")


def test_a_check_in_after_a_move_on_boxing_day_skips_the_bank_holidays_forward():
    # Sat 2026-12-26 + 1 day = Sun 12-27; back would be Thu 12-24 (Fri 25 is Christmas Day),
    # before the move; forward: Mon 12-28 is the substitute Boxing Day, so Tue 2026-12-29.
    assert _moved("2026-12-26").due_on == d("2026-12-29")


def test_a_sunday_deadline_anchored_on_the_wednesday_before_still_moves_back_to_friday():
    # A local policy checking in within 4 days: Wed 2026-06-24 + 4 = Sun 06-28 -> Fri 06-26,
    # which is after the move, so the ordinary rule holds.
    text = default_policy_text()
    block = text.index('key = "introduction.move_check_in"')
    old = 'due = "stage:support + 1 day"'
    at = text.index(old, block)
    assert at < text.index("[[rule]]", block), "the due line belongs to the move check-in"
    policy = parse_policy(text[:at] + 'due = "stage:support + 4 days"' + text[at + len(old):],
                          path="local.toml")
    assert _moved("2026-06-24", policy).due_on == d("2026-06-26")


def test_an_action_due_the_day_after_a_saturday_meeting_is_due_the_monday_after():
    meeting = done("2026-06-27", actions=[
        {"title": "Call the carer", "owner": "social_worker", "due": "2026-06-28"}],
        next_meeting_on="2026-07-12")
    facts = Facts(process="stability", stage_starts={"meeting": d("2026-06-25"),
                                                     "follow_up": d("2026-06-27")},
                  forms={"stability.meeting": [{"done_on": "2026-06-27",
                                                "next_meeting_on": "2026-07-12"}]},
                  done={"stability.meeting": meeting})
    items = {p.key: p for p in plan(load_policy(), facts)}
    # Agreed at the meeting on Sat 06-27, due Sun 06-28: not Fri 06-26, before the meeting.
    assert items["stability.action#1"].due_on == d("2026-06-29")
    # A date the meeting set itself (Sun 07-12) has no anchor before it: back to Fri 07-10.
    assert items["stability.next_meeting"].due_on == d("2026-07-10")


def test_moving_between_the_midpoint_and_final_review_keeps_the_midpoint_review():
    # Moved in Wed 2026-07-01: the midpoint (due Tue 06-30) was due before; the final (07-28) after.
    items = planned(starts={**INTRO, "support": "2026-07-01"},
                    ends={"introduction": "2026-07-01"}, completed=_intro())
    assert not items["introduction.midpoint_review"].cancelled
    assert items["introduction.final_review"].cancelled


# =============================================================================== 4 Ongoing support
# V = Tue 2027-07-20 (moved_in_on). V + 42 = Jul 20 + 11 = Jul 31, + 31 = Tue 2027-08-31, so
# the monthly reviews fall on month ends and are clamped.
V = "2027-07-20"
SUPPORT = {"introduction": "2027-05-03", "support": V}


def test_weekly_reviews_are_due_weekly_for_six_weeks_after_the_move():
    items = planned(starts=SUPPORT)
    assert keys_of(items, "support.weekly_review") == [f"support.weekly_review#{k}"
                                                       for k in range(1, 7)]
    # V + 7k: Tuesdays 07-27, 08-03, 08-10, 08-17, 08-24, 08-31.
    assert dues(items, "support.weekly_review") == [d(x) for x in (
        "2027-07-27", "2027-08-03", "2027-08-10", "2027-08-17", "2027-08-24", "2027-08-31")]
    assert all(items[k].opened_on == d(V) for k in keys_of(items, "support.weekly_review"))


def test_social_worker_and_supervising_social_worker_visit_weekly_for_four_weeks():
    items = planned(starts=SUPPORT)
    four = [d(x) for x in ("2027-07-27", "2027-08-03", "2027-08-10", "2027-08-17")]
    assert keys_of(items, "support.sw_visit") == [f"support.sw_visit#{k}" for k in range(1, 5)]
    assert dues(items, "support.sw_visit") == four
    assert keys_of(items, "support.ssw_visit") == [f"support.ssw_visit#{k}" for k in range(1, 5)]
    assert dues(items, "support.ssw_visit") == four


def test_stability_worker_visits_fortnightly_for_twelve_weeks_then_reviews():
    items = planned(starts=SUPPORT)
    # V + 14k: 08-03, 08-17, 08-31, 09-14, 09-28, 10-12.
    assert keys_of(items, "support.stability_visit") == [f"support.stability_visit#{k}"
                                                         for k in range(1, 7)]
    assert dues(items, "support.stability_visit") == [d(x) for x in (
        "2027-08-03", "2027-08-17", "2027-08-31", "2027-09-14", "2027-09-28", "2027-10-12")]
    # V + 84: Jul 20 + 31 = Aug 20 (31), + 31 = Sep 20 (62), + 22 = Tue 2027-10-12.
    assert items["support.stability_review"].due_on == d("2027-10-12")


def test_cla_review_is_due_within_four_weeks_of_the_move():
    items = planned(starts=SUPPORT)
    # V + 28 = Tue 2027-08-17.
    assert items["support.cla_review"].due_on == d("2027-08-17")
    assert items["support.cla_review"].owner == "iro"


# (V + 42 days) + k months, each from 2027-08-31 (not from the previous review):
MONTHLY_6 = [
    "2027-09-30",  # #1 Sep 31 -> clamped to Thu 09-30
    "2027-10-29",  # #2 Sun 10-31 -> back to Fri 10-29
    "2027-11-30",  # #3 Nov 31 -> clamped to Tue 11-30
    "2027-12-31",  # #4 Fri 12-31 (a cumulative month step would give Thu 12-30)
    "2028-01-31",  # #5 Mon 01-31
    "2028-02-29",  # #6 Feb 31 -> clamped to Tue 02-29 (2028 is a leap year)
]
MONTHLY_7_12 = [
    "2028-03-31",  # #7 Fri
    "2028-04-28",  # #8 Sun 04-30 -> back to Fri 04-28
    "2028-05-31",  # #9 Wed
    "2028-06-30",  # #10 Fri
    "2028-07-31",  # #11 Mon
    "2028-08-31",  # #12 Thu
]


def test_monthly_reviews_are_six_months_from_week_six_clamped_to_month_ends():
    items = planned(starts=SUPPORT)
    assert keys_of(items, "support.monthly_review") == [f"support.monthly_review#{k}"
                                                        for k in range(1, 7)]
    assert dues(items, "support.monthly_review") == [d(x) for x in MONTHLY_6]


def test_only_the_sixth_monthly_review_asks_for_the_support_outcome():
    items = planned(starts=SUPPORT)
    completions = [items[k].completion for k in keys_of(items, "support.monthly_review")]
    assert completions == [None] * 5 + ["support_outcome"]


def test_continue_monthly_adds_six_more_monthly_reviews_ending_with_the_outcome():
    items = planned(starts=SUPPORT, completed={
        "support.monthly_review#6": done("2028-02-28", outcome="continue_monthly")})
    assert keys_of(items, "support.monthly_review") == [f"support.monthly_review#{k}"
                                                        for k in range(1, 13)]
    assert dues(items, "support.monthly_review") == [d(x) for x in MONTHLY_6 + MONTHLY_7_12]
    assert items["support.monthly_review#12"].completion == "support_outcome"
    assert [items[f"support.monthly_review#{k}"].completion for k in range(7, 12)] == [None] * 5


def test_standard_outcome_adds_no_further_monthly_reviews():
    items = planned(starts=SUPPORT, completed={
        "support.monthly_review#6": done("2028-02-28", outcome="standard")})
    assert len(keys_of(items, "support.monthly_review")) == 6


def test_scayt_review_is_six_months_after_the_move_and_the_next_waits_for_it():
    items = planned(starts=SUPPORT)
    # V + 6 months = Thu 2028-01-20. The next is planned once this one is done.
    assert keys_of(items, "support.scayt_review") == ["support.scayt_review"]
    assert items["support.scayt_review"].due_on == d("2028-01-20")
    assert items["support.scayt_review"].owner == "scayt"
    assert items["support.scayt_review"].completion == "scayt_review"


def test_scayt_reviews_continue_every_three_months_while_support_continues():
    """000 Roles, SCAYT+: "If support is confirmed to continue, reviews mechanisms must be
    completed every 3 months thereafter": past the monthly reviews (#6 due 2028-02-29) and
    whatever the final monthly review decided."""
    completed = {"support.scayt_review": done("2028-01-19", support_continues=True),
                 "support.scayt_review#2": done("2028-04-18", support_continues=True)}
    items = planned(starts=SUPPORT, completed=completed)
    # V + 6, 9, 12 months: Thu 2028-01-20, Thu 2028-04-20, Thu 2028-07-20.
    assert keys_of(items, "support.scayt_review") == ["support.scayt_review",
                                                      "support.scayt_review#2",
                                                      "support.scayt_review#3"]
    assert dues(items, "support.scayt_review") == [d("2028-01-20"), d("2028-04-20"),
                                                   d("2028-07-20")]
    assert items["support.scayt_review#3"].completion == "scayt_review"
    assert not items["support.scayt_review#3"].cancelled
    # A review completed with its date only: support continues (the form's default).
    items = planned(starts=SUPPORT, completed={"support.scayt_review": done("2028-01-19")})
    assert keys_of(items, "support.scayt_review")[-1] == "support.scayt_review#2"


def test_a_scayt_review_that_ends_the_support_is_the_last():
    completed = {"support.scayt_review": done("2028-01-19", support_continues=True),
                 "support.scayt_review#2": done("2028-04-18", support_continues=False)}
    items = planned(starts=SUPPORT, completed=completed)
    assert keys_of(items, "support.scayt_review") == ["support.scayt_review",
                                                      "support.scayt_review#2"]
    items = planned(starts=SUPPORT, completed={
        "support.scayt_review": done("2028-01-19", support_continues=False)})
    assert keys_of(items, "support.scayt_review") == ["support.scayt_review"]


def test_a_scayt_review_due_after_the_case_closed_is_cancelled_and_the_last():
    # The case closed (stepped to standard) on Mon 2028-03-06; #2 (2028-04-20) was due after.
    items = planned(starts=SUPPORT, ends={"support": "2028-03-06"}, completed={
        "support.scayt_review": done("2028-01-19", support_continues=True)})
    assert keys_of(items, "support.scayt_review") == ["support.scayt_review",
                                                      "support.scayt_review#2"]
    assert not items["support.scayt_review"].cancelled
    assert items["support.scayt_review#2"].cancelled


def test_scayt_review_months_are_counted_from_the_move_with_month_end_clamping():
    # V = Mon 2026-08-31. V + 6 months = Feb 31 -> 2027-02-28, a Sunday -> back to Fri 02-26.
    start = {"support": "2026-08-31"}
    assert dues(planned(starts=start), "support.scayt_review") == [d("2027-02-26")]
    items = planned(starts=start, completed={
        "support.scayt_review": done("2027-02-25", support_continues=True),
        "support.scayt_review#2": done("2027-05-27", support_continues=True)})
    # #2 = V + 9 months = Mon 2027-05-31, Spring bank holiday -> back to Fri 05-28.
    # #3 = V + 12 months = Tue 2027-08-31 (stepping 3 months from 02-28 would give 08-28),
    # counted from the move, not from when #2 was done (Thu 05-27).
    assert dues(items, "support.scayt_review") == [d("2027-02-26"), d("2027-05-28"),
                                                   d("2027-08-31")]


def test_scayt_reviews_after_a_move_on_the_spring_bank_holiday_clamp_to_month_ends():
    # V = Mon 2027-05-31, the Spring bank holiday itself (a move is dated as it happened).
    # #1 V + 6 months = Tue 2027-11-30. #2 V + 9 months = 2028-02-29 (2028 is a leap year).
    # #3 V + 12 months = Wed 2028-05-31.
    items = planned(starts={"support": "2027-05-31"}, completed={
        "support.scayt_review": done("2027-11-29"),
        "support.scayt_review#2": done("2028-02-28")})
    assert dues(items, "support.scayt_review") == [d("2027-11-30"), d("2028-02-29"),
                                                   d("2028-05-31")]


def test_support_obligations_do_not_exist_before_the_move():
    items = planned(starts=INTRO, completed=_intro())
    assert not [k for k in items if k.startswith("support.")]


# =============================================================================== 5 Matching
M = "2026-04-15"
MATCHING = {"identification": "2026-02-16", "preparation": "2026-03-02", "matching": M}
ON_APPROVAL = ("matching.ramp_assessment", "matching.scayt_referral_updated",
               "matching.stability_referral", "matching.iro_informed", "matching.carer_visit",
               "matching.carer_training")


def test_matching_checklist_opens_when_matching_starts():
    items = planned(starts=MATCHING)
    for key in ("matching.mhmp_resent", "matching.key_criteria_returned", "matching.search",
                "matching.child_involved", "matching.decision"):
        assert items[key].opened_on == d(M), key
        assert items[key].due_on is None


def test_mhmp_amendment_does_not_exist_without_a_declined_match():
    assert "matching.mhmp_amended" not in planned(starts=MATCHING)
    approved = {"matching.decision": [{"decided_on": "2026-05-06", "outcome": "approved"}]}
    assert "matching.mhmp_amended" not in planned(starts=MATCHING, forms=approved)


def test_a_declined_match_opens_the_mhmp_amendment_on_the_decision_date():
    declined = {"matching.decision": [{"decided_on": "2026-05-06", "outcome": "declined",
                                       "reasons": "carer too far from school"}]}
    items = planned(starts=MATCHING, forms=declined)
    amended = items["matching.mhmp_amended"]
    assert amended.opened_on == d("2026-05-06")
    assert amended.due_on is None
    assert not amended.cancelled


def test_a_declined_then_approved_match_keeps_the_amendment_from_the_declined_decision():
    forms = {"matching.decision": [
        {"decided_on": "2026-05-06", "outcome": "declined", "reasons": "distance"},
        {"decided_on": "2026-05-20", "outcome": "approved"},
    ]}
    items = planned(starts={**MATCHING, "introduction": "2026-05-20"},
                    ends={"matching": "2026-05-20"}, forms=forms)
    assert items["matching.mhmp_amended"].opened_on == d("2026-05-06")
    assert not items["matching.mhmp_amended"].cancelled


def test_on_approval_checklist_does_not_exist_before_introduction_starts():
    items = planned(starts=MATCHING)
    for key in ON_APPROVAL:
        assert key not in items, key


def test_on_approval_checklist_opens_when_introduction_starts_and_is_carried_forward():
    items = planned(starts={**MATCHING, "introduction": "2026-05-20"},
                    ends={"matching": "2026-05-20"})
    for key in ON_APPROVAL:
        assert items[key].opened_on == d("2026-05-20"), key
        assert items[key].stage == "matching"
        assert not items[key].cancelled
        if key != "matching.ramp_assessment":  # dated by the introductions plan (below)
            assert items[key].due_on is None, key
    assert items["matching.stability_referral"].owner == "supervising_social_worker"
    # Wed 2026-05-20 + 14 = Wed 2026-06-03, the introduction planning meeting's due date.
    assert items["matching.ramp_assessment"].due_on == d("2026-06-03")


# ------------------------------------------- before introductions: RAMP and SCAYT+ (000 Step 3)
# A = Fri 2027-03-12 (the match agreed): the introduction planning meeting is due A + 14 = Fri
# 2027-03-26, Good Friday, so Thu 2027-03-25.
EASTER_A = {"identification": "2026-11-30", "preparation": "2026-12-11",
            "matching": "2027-01-29", "introduction": "2027-03-12"}


def test_the_ramp_assessment_and_the_introductions_plan_are_due_by_the_planning_meeting():
    """000: the RAMP Plan "prior to start of 'Getting to Know You' process", to "guide
    planning" at the Week 1 meeting that creates the "Getting to Know You and Moving Home"
    plan."""
    items = planned(starts=EASTER_A, ends={"matching": "2027-03-12"})
    assert items["introduction.planning_meeting"].due_on == d("2027-03-25")
    for key in ("matching.ramp_assessment", "introduction.getting_to_know_you_plan"):
        assert (items[key].due_on, items[key].opened_on) == (d("2027-03-25"), d("2027-03-12"))
        assert items[key].owner == "social_worker"
        assert not items[key].cancelled
    # The planning meeting held early, on Mon 2027-03-22: both are due that day.
    items = planned(starts=EASTER_A, ends={"matching": "2027-03-12"},
                    completed={"introduction.planning_meeting": done("2027-03-22")})
    assert items["matching.ramp_assessment"].due_on == d("2027-03-22")
    assert items["introduction.getting_to_know_you_plan"].due_on == d("2027-03-22")


def test_the_introductions_plan_does_not_exist_before_the_match_is_agreed():
    items = planned(starts=MATCHING)
    assert "introduction.getting_to_know_you_plan" not in items
    assert "matching.ramp_assessment" not in items


def test_the_second_scayt_consultation_is_due_two_weeks_after_the_referral_is_updated():
    assert "scayt.match_consultation" not in planned(starts=EASTER_A)
    items = planned(starts=EASTER_A,
                    completed={"matching.scayt_referral_updated": done("2027-03-15")})
    # Mon 2027-03-15 + 14 = Mon 03-29, Easter Monday -> back past the weekend and Good Friday
    # to Thu 2027-03-25.
    consultation = items["scayt.match_consultation"]
    assert (consultation.due_on, consultation.opened_on, consultation.owner) == (
        d("2027-03-25"), d("2027-03-15"), "scayt")


def test_the_second_scayt_consultation_due_at_christmas_2027_moves_back_to_christmas_eve():
    items = planned(starts=EASTER_A,
                    completed={"matching.scayt_referral_updated": done("2027-12-13")})
    # Mon 2027-12-13 + 14 = Mon 12-27 (Christmas Day substitute) -> back past Sun 26 and Sat
    # 25 to Fri 2027-12-24.
    assert items["scayt.match_consultation"].due_on == d("2027-12-24")


# ------------------------------------------------- the move: a change of placement (002, 004)
# S = Mon 2027-03-22 (the introduction planning meeting done). The final review is due S + 55
# = Sun 2027-05-16 -> Fri 2027-05-14.
S_EASTER = "2027-03-22"


def _easter(**completed: Completion) -> dict[str, Completion]:
    return {"introduction.planning_meeting": done(S_EASTER), **completed}


def test_the_move_authorisation_is_open_from_the_match_and_undated_until_the_plan_is_made():
    items = planned(starts=EASTER_A)
    authorisation = items["introduction.move_authorisation"]
    assert (authorisation.due_on, authorisation.opened_on, authorisation.owner) == (
        None, d("2027-03-12"), "head_of_service")
    assert "introduction.placement_planning_meeting" not in items  # dated by the plan too


def test_the_move_authorisation_is_due_by_the_final_review_and_follows_an_extension():
    items = planned(starts=EASTER_A, completed=_easter())
    assert items["introduction.final_review"].due_on == d("2027-05-14")
    authorisation = items["introduction.move_authorisation"]
    assert (authorisation.due_on, authorisation.opened_on) == (d("2027-05-14"), d("2027-03-12"))
    # Extended by 2 weeks at the final review: due with the extended review, Fri 2027-05-28
    # (05-14 + 14), the Friday before the Spring bank holiday.
    items = planned(starts=EASTER_A, completed=_easter(**{
        "introduction.final_review": done("2027-05-10", outcome="extend", extend_weeks=2)}))
    assert items["introduction.extended_review#1"].due_on == d("2027-05-28")
    assert items["introduction.move_authorisation"].due_on == d("2027-05-28")
    assert items["introduction.placement_planning_meeting"].due_on == d("2027-05-28")


def test_under_lancashire_pact_agrees_the_move_and_no_authorisation_is_planned():
    lancashire = load_policy("lancashire-step-down")
    for completed in ({}, _easter()):
        items = planned(starts=EASTER_A, completed=completed, policy=lancashire)
        assert "introduction.move_authorisation" not in items
    assert items["introduction.placement_planning_meeting"].due_on == d("2027-05-14")


def test_the_placement_planning_meeting_and_support_plan_are_due_by_the_final_review():
    """002 3.24: "held prior to ... moving placement"; 004: the initial support plan "at the
    Placement Planning meeting"."""
    items = planned(starts=EASTER_A, completed=_easter())
    for key, owner in (("introduction.placement_planning_meeting", "social_worker"),
                       ("introduction.support_plan", "supervising_social_worker")):
        assert (items[key].due_on, items[key].opened_on, items[key].owner) == (
            d("2027-05-14"), d("2027-03-12"), owner), key


def test_a_move_before_the_final_review_brings_the_planning_meeting_to_the_move_day():
    # Moved in Fri 2027-04-30, before the final review's due date (Fri 05-14).
    items = planned(starts={**EASTER_A, "support": "2027-04-30"},
                    ends={"introduction": "2027-04-30"}, completed=_easter())
    assert items["introduction.placement_planning_meeting"].due_on == d("2027-04-30")
    assert items["introduction.support_plan"].due_on == d("2027-04-30")
    assert not items["introduction.placement_planning_meeting"].cancelled  # carried forward
    # A Saturday move, Sat 2027-05-08: the working day before it, Fri 05-07.
    items = planned(starts={**EASTER_A, "support": "2027-05-08"},
                    ends={"introduction": "2027-05-08"}, completed=_easter())
    assert items["introduction.placement_planning_meeting"].due_on == d("2027-05-07")


@pytest.mark.parametrize(("moved", "due", "why"), [
    ("2027-04-30", "2027-05-10", "Fri: Mon 3 May is a bank holiday; Tue 4 .. Fri 7, Mon 10"),
    ("2027-08-27", "2027-09-06", "Fri: Mon 30 Aug is a bank holiday; Tue 31 .. Fri 3, Mon 6"),
    ("2027-05-28", "2027-06-07", "Fri: Mon 31 May is a bank holiday; Tue 1 .. Fri 4, Mon 7"),
    ("2026-12-24", "2027-01-05", "Thu: 25, 28 Dec and 1 Jan out; Tue 29, 30, 31, Mon 4, Tue 5"),
    ("2027-12-24", "2028-01-05", "Fri: 27, 28 Dec and Mon 3 Jan out; 29, 30, 31, Tue 4, Wed 5"),
])
def test_delegated_authority_is_due_5_working_days_after_the_move(moved, due, why):
    """002 3.25: "in advance of the placement wherever possible, or within 5 working days"."""
    # Introductions began on the Monday six weeks before the move.
    began = d(moved) - timedelta(days=d(moved).weekday() + 42)
    items = planned(starts={"introduction": str(began), "support": moved},
                    ends={"introduction": moved},
                    completed={"introduction.planning_meeting": done(str(began))})
    delegated = items["support.delegated_authority"]
    assert delegated.due_on == d(due), why
    # Open from the match: agreed in advance, it can be recorded with its own date.
    assert (delegated.opened_on, delegated.owner) == (began, "social_worker")


@pytest.mark.parametrize(("moved", "due"), [
    ("2027-04-30", "2027-05-04"),  # Fri: Mon 3 May is the early May bank holiday
    ("2027-08-27", "2027-08-31"),  # Fri: Mon 30 Aug is the Summer bank holiday
    ("2026-12-24", "2026-12-29"),  # Thu: 25 Dec and the substitute 28 Dec are not working days
])
def test_the_irs_is_informed_of_a_step_down_move_the_next_working_day(moved, due):
    """002 3.24: the Independent Reviewing Service informed within 1 working day of a
    placement change; the Step Down move is one."""
    began = d(moved) - timedelta(days=d(moved).weekday() + 42)
    items = planned(starts={"introduction": str(began), "support": moved},
                    ends={"introduction": moved},
                    completed={"introduction.planning_meeting": done(str(began))})
    informed = items["support.irs_informed"]
    assert (informed.due_on, informed.owner) == (d(due), "social_worker")


def test_a_step_down_moves_planning_meeting_is_minuted_within_5_working_days():
    """002 3.9. Held Thu 26 Aug 2027: Fri 27, (Mon 30 Aug a bank holiday), Tue 31, Wed 1,
    Thu 2, Fri 3 Sep."""
    began = d("2027-07-19")
    items = planned(starts={"introduction": str(began)},
                    completed={"introduction.planning_meeting": done(str(began)),
                               "introduction.placement_planning_meeting": done("2027-08-26")})
    assert items["introduction.placement_planning_minutes"].due_on == d("2027-09-03")
    assert "introduction.placement_planning_minutes" not in planned(
        starts={"introduction": str(began)},
        completed={"introduction.planning_meeting": done(str(began))})


def test_delegated_authority_does_not_exist_before_the_move():
    assert "support.delegated_authority" not in planned(starts=EASTER_A, completed=_easter())


# =============================================================================== 6 Local policy
def _local_policy_text() -> str:
    """The default policy with the preparation planning meeting in 10 working days."""
    text = default_policy_text()
    block = text.index('key = "preparation.planning_meeting"')
    old, new = 'due = "stage + 14 days"', 'due = "stage + 10 working days"'
    at = text.index(old, block)
    assert at < text.index("[[rule]]", block), "the due line belongs to the planning meeting"
    return text[:at] + new + text[at + len(old):]


def test_a_local_policy_counts_the_planning_meeting_in_working_days_across_christmas():
    policy = parse_policy(_local_policy_text(), path="local.toml")
    items = planned(starts={"preparation": "2026-12-21"}, policy=policy)
    # P = Mon 2026-12-21. Working days after it: Tue 22 (1), Wed 23 (2), Thu 24 (3),
    # [Fri 25 Christmas, weekend, Mon 28 Boxing Day substitute] Tue 29 (4), Wed 30 (5),
    # Thu 31 (6), [Fri 2027-01-01 New Year, weekend] Mon 4 (7), Tue 5 (8), Wed 6 (9), Thu 7 (10).
    assert items["preparation.planning_meeting"].due_on == d("2027-01-07")
    assert items["preparation.planning_meeting"].opened_on == d("2026-12-21")


def test_the_local_change_leaves_other_rules_alone():
    policy = parse_policy(_local_policy_text(), path="local.toml")
    items = planned(starts={"preparation": "2026-12-21", "introduction": "2026-12-21"},
                    policy=policy)
    # Introduction planning meeting keeps "stage + 14 days": Mon 2027-01-04.
    assert items["introduction.planning_meeting"].due_on == d("2027-01-04")
    # preparation.sw_visit#1 also keeps P + 14 = Mon 2027-01-04.
    assert items["preparation.sw_visit#1"].due_on == d("2027-01-04")


def test_the_default_policy_gives_14_calendar_days_for_the_same_start():
    items = planned(starts={"preparation": "2026-12-21"},
                    policy=parse_policy(default_policy_text()))
    # Mon 2026-12-21 + 14 days = Mon 2027-01-04, a working day.
    assert items["preparation.planning_meeting"].due_on == d("2027-01-04")


# =============================================================================== ordering
def test_the_plan_lists_obligations_in_policy_order():
    policy = load_policy()
    items = planned(starts=INTRO, completed=_intro())
    rule_index = {r.key: i for i, r in enumerate(policy.rules_for("step_down"))}
    order = [rule_index[k.split("#", 1)[0]] for k in items]
    assert order == sorted(order)


@pytest.mark.parametrize("stage", ["identification", "preparation", "matching"])
def test_nothing_of_a_later_stage_exists_before_it_starts(stage):
    starts = {s: v for s, v in MATCHING.items()
              if list(MATCHING).index(s) <= list(MATCHING).index(stage)}
    items = planned(starts=starts)
    later = {"identification": ("preparation.", "matching.", "introduction.", "support."),
             "preparation": ("matching.", "introduction.", "support."),
             "matching": ("introduction.", "support.")}[stage]
    assert [k for k in items if k.startswith(later)] == []


# --------------------------------------------------------- deadlines counted back from another
COUNTED_BACK = """
[[rule]]
key = "preparation.planning_meeting"
process = "step_down"
stage = "preparation"
owner = "social_worker"
title = "A review"
due = "stage + 20 working days"
source = "test"

[[rule]]
key = "preparation.preparation_plan"
process = "step_down"
stage = "preparation"
owner = "social_worker"
title = "Its papers, shared before it"
due = "due:preparation.planning_meeting - 5 working days"
source = "test: 002 3.26 (care plan shared 5 working days before the review)"

[[rule]]
key = "preparation.this_is_me"
process = "step_down"
stage = "preparation"
owner = "social_worker"
title = "A week before it"
due = "due:preparation.planning_meeting - 7 days"
source = "test"
"""


def test_a_deadline_set_before_another_counts_working_days_back_from_it():
    """DOMAIN.md section 2: D - N working days. Preparation from Mon 2026-12-07: the review
    is 20 working days later (across Christmas) on Thu 2027-01-07; five working days back from
    it, skipping New Year's Day and the Christmas substitute days, is Wed 2026-12-30."""
    policy = parse_policy(COUNTED_BACK)
    items = {p.key: p for p in plan(policy, Facts(process="step_down",
                                                  stage_starts={"preparation": d("2026-12-07")}))}
    assert items["preparation.planning_meeting"].due_on == d("2027-01-07")
    assert items["preparation.preparation_plan"].due_on == d("2026-12-30")
    # Seven calendar days back is Thu 31 December: a working day, kept.
    assert items["preparation.this_is_me"].due_on == d("2026-12-31")


def test_a_counted_back_deadline_on_a_weekend_moves_back_not_forward():
    """The anchor of a deadline set before another is after it by design: a Sunday is the
    Friday before, never the Monday after (which would be after the review's papers are due)."""
    text = COUNTED_BACK.replace("stage + 20 working days", "stage + 14 days")  # Mon 21 Dec
    items = {p.key: p for p in plan(parse_policy(text), Facts(
        process="step_down", stage_starts={"preparation": d("2026-12-07")}))}
    assert items["preparation.planning_meeting"].due_on == d("2026-12-21")
    assert items["preparation.this_is_me"].due_on == d("2026-12-14")  # Mon 14 Dec, 7 days back
    text = text.replace("- 7 days", "- 8 days")  # Sun 13 Dec: back to Fri 11 Dec
    items = {p.key: p for p in plan(parse_policy(text), Facts(
        process="step_down", stage_starts={"preparation": d("2026-12-07")}))}
    assert items["preparation.this_is_me"].due_on == d("2026-12-11")


# =============================================================================== stability cycle
def _stability(completed: dict[str, Completion]) -> dict[str, Planned]:
    facts = Facts(process="stability",
                  stage_starts={"meeting": d("2027-01-04"), "follow_up": d("2027-01-05")},
                  done=completed)
    items = plan(load_policy(), facts)
    keys = [p.key for p in items]
    assert len(keys) == len(set(keys)), "a key planned twice"
    return {p.key: p for p in items}


def test_the_follow_up_meetings_are_a_chain_numbered_from_the_unsuffixed_key():
    # First meeting Tue 2027-01-05, no date set: + 3 months = Mon 2027-04-05 (after Easter
    # Monday 03-29): due as it is.
    first = done("2027-01-05", outcome="stay", actions=[])
    items = _stability({"stability.meeting": first})
    assert keys_of(items, "stability.next_meeting") == ["stability.next_meeting"]
    assert items["stability.next_meeting"].due_on == d("2027-04-05")
    assert items["stability.next_meeting"].completion == "stability_follow_up_meeting"
    # Held Thu 2027-04-01 setting Sat 05-29 (the Spring bank holiday weekend): the next is due
    # Fri 05-28, earlier than 04-01 + 3 months (Thu 07-01).
    follow = done("2027-04-01", outcome="stay", chair="fostering_team_manager",
                  next_meeting_on="2027-05-29", actions=[
                      {"title": "Call", "owner": "school", "due": "2027-05-31"}])
    items = _stability({"stability.meeting": first, "stability.next_meeting": follow})
    assert keys_of(items, "stability.next_meeting") == ["stability.next_meeting",
                                                        "stability.next_meeting#2"]
    assert items["stability.next_meeting#2"].due_on == d("2027-05-28")
    assert items["stability.next_meeting#2"].opened_on == d("2027-04-01")
    # Its minutes: Thu 04-01 + 3 working days: Fri 04-02, Mon 04-05, Tue 04-06 (no Easter
    # holiday in between: Good Friday 2027 is 03-26); owned by the chair.
    minutes = items["stability.follow_up_minutes"]
    assert (minutes.due_on, minutes.owner) == (d("2027-04-06"), "fostering_team_manager")
    # An action due on the bank holiday Monday moves back to Fri 05-28.
    action = items["stability.follow_up_action#1.1"]
    assert (action.due_on, action.owner, action.title) == (d("2027-05-28"), "school", "Call")
    assert items["stability.follow_up_iro_check"].due_on == d("2027-05-13")  # + 42 days
    assert items["stability.follow_up_child_chronology"].due_on is None  # a checklist item
    assert items["stability.follow_up_child_chronology"].opened_on == d("2027-04-01")
    # The first meeting's actions keep their own numbering: none here.
    assert keys_of(items, "stability.action") == []


def test_a_follow_up_that_finds_the_placement_stable_is_the_last():
    first = done("2027-01-05", outcome="stay", actions=[])
    stable = done("2027-03-30", outcome="stable", chair="team_manager", actions=[])
    items = _stability({"stability.meeting": first, "stability.next_meeting": stable,
                        "stability.supervision_check#1": done("2027-02-05"),
                        "stability.supervision_check#2": done("2027-03-04")})
    assert keys_of(items, "stability.next_meeting") == ["stability.next_meeting"]
    # Monthly checks: 01-05 + 1 month = Fri 02-05; 02-05 + 1 month = Fri 03-05; 03-04 + 1 month
    # = Sun 04-04, back to Fri 04-02 (Easter 2027 was the week before): after the cycle ended
    # on 03-30, so cancelled.
    assert dues(items, "stability.supervision_check") == [d("2027-02-05"), d("2027-03-05"),
                                                           d("2027-04-02")]
    assert [items[k].cancelled for k in keys_of(items, "stability.supervision_check")] == [
        False, False, True]


def test_a_supervision_check_due_before_the_cycle_ended_is_still_owed():
    first = done("2027-01-05", outcome="stay", actions=[])
    # Held Wed 2027-02-10 with stable; the first check, due Fri 02-05, was never done.
    stable = done("2027-02-10", outcome="stable", chair="team_manager", actions=[])
    items = _stability({"stability.meeting": first, "stability.next_meeting": stable})
    check = items["stability.supervision_check#1"]
    assert (check.due_on, check.cancelled) == (d("2027-02-05"), False)
    assert keys_of(items, "stability.supervision_check") == ["stability.supervision_check#1"]
