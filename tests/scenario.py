"""One Step Down case from identification to standard reviews, with every date worked by hand.

Its deadlines cross month ends (2026-11-30), Christmas and the substitute Boxing Day (2026-12-25,
2026-12-28), Easter 2027 (Good Friday 2027-03-26), the May bank holidays (2027-05-03, 2027-05-31)
and weekends (a Sunday deadline moves back to the Friday). Used by the data-layer tests and by the
end-to-end test that drives the same case through `stepdown serve`.
"""

from __future__ import annotations

TODAY = "2027-12-01"
CHILD = "CHILD-7781"

# (key, data): in the order a social worker would record them.
STEPS: list[tuple[str, dict[str, object]]] = [
    ("identification.suitability", {"held_on": "2026-11-09", "sdq_score": 12,
                                    "care_needs_band": "2.1", "care_plan_ratified": True}),
    ("identification.scayt_referral", {"done_on": "2026-11-10"}),
    ("identification.pact_decision", {"decided_on": "2026-11-16", "decision": "proceed"}),
    ("preparation.planning_meeting", {"done_on": "2026-11-27"}),
    ("preparation.sw_visit#1", {"done_on": "2026-11-30"}),
    ("preparation.review#1", {"done_on": "2026-12-11"}),
    ("preparation.sw_visit#2", {"done_on": "2026-12-14"}),
    ("preparation.readiness", {"decided_on": "2027-01-04", "outcome": "ready"}),
    ("matching.decision", {"decided_on": "2027-01-11", "outcome": "declined",
                           "reasons": "The carers live too far from the child's school."}),
    ("matching.decision", {"decided_on": "2027-01-18", "outcome": "approved"}),
    ("introduction.planning_meeting", {"done_on": "2027-01-25"}),
    ("introduction.final_review", {"done_on": "2027-03-15", "outcome": "extend",
                                   "extend_weeks": 2}),
    ("introduction.extended_review#1", {"done_on": "2027-04-01", "outcome": "move"}),
    # 004: the move agreed through HARP (or the Head of Service) before it is made
    ("introduction.move_authorisation", {"decided_on": "2027-04-01", "route": "harp",
                                         "decision": "approved"}),
    ("introduction.move", {"moved_in_on": "2027-04-05"}),
    ("support.monthly_review#6", {"done_on": "2027-11-17", "outcome": "standard"}),
]

OPENED = "2026-11-02"

# key: (due, earliest) worked by hand from DOMAIN.md section 4.
EXPECTED: dict[str, tuple[str | None, str | None]] = {
    "identification.suitability": (None, None),
    "identification.mhmp_sent": (None, None),
    "scayt.initial_consultation": ("2026-11-24", None),  # referral 11-10 + 14
    "preparation.planning_meeting": ("2026-11-30", None),  # P 11-16 + 14, across the month end
    "preparation.sw_visit#1": ("2026-11-30", None),  # P + 14
    "preparation.review#1": ("2026-12-11", None),  # planning meeting 11-27 + 14
    "preparation.sw_visit#2": ("2026-12-14", None),  # visit 11-30 + 14
    "preparation.review#2": ("2026-12-24", None),  # 12-11 + 14 = Christmas Day -> Thu 24th
    "preparation.sw_visit#3": ("2026-12-24", None),  # 12-14 + 14 = 28th (substitute) -> 24th
    # made at the planning meeting: due 11-30, held 11-27 -> the day it was held
    "preparation.preparation_plan": ("2026-11-27", None),
    "introduction.planning_meeting": ("2027-02-01", None),  # match agreed 01-18 + 14
    # before the introductions plan, made at its meeting (due 02-01, held 01-25)
    "matching.ramp_assessment": ("2027-01-25", None),
    "introduction.getting_to_know_you_plan": ("2027-01-25", None),
    # S = 2027-01-25 (a Monday): S + 27 and S + 55 are Sundays -> the Fridays before.
    "introduction.midpoint_review": ("2027-02-19", "2027-02-15"),
    "introduction.final_review": ("2027-03-19", "2027-03-01"),
    # extended by 2 weeks from the final review's due date (Fri 03-19)
    "introduction.extended_review#1": ("2027-04-02", None),
    # weekly check-ins at the end of each plan week (S + 7k - 1, Sundays -> Fridays)
    "introduction.sw_check_in#1": ("2027-01-29", None),
    "introduction.sw_check_in#8": ("2027-03-19", None),
    "introduction.sw_check_in#9": ("2027-03-25", None),  # Sun 03-28 -> Good Friday -> Thu 25th
    "introduction.sw_check_in#10": ("2027-04-02", None),
    "introduction.ssw_check_in#10": ("2027-04-02", None),
    "introduction.visit#1": ("2027-02-05", None),  # S + 13 = Sun 02-07 -> Fri 02-05
    "introduction.visit#5": ("2027-04-02", None),
    "introduction.ssw_visit#5": ("2027-04-02", None),
    "introduction.move_check_in": ("2027-04-06", None),  # V 04-05 + 1
    # by the last review of the (extended) plan, Fri 04-02, the move being later (Mon 04-05)
    "introduction.move_authorisation": ("2027-04-02", None),
    "introduction.placement_planning_meeting": ("2027-04-02", None),
    "introduction.support_plan": ("2027-04-02", None),
    "support.delegated_authority": ("2027-04-12", None),  # V + 5 working days: Tue 6 .. Mon 12
    # V = 2027-04-05
    "support.weekly_review#1": ("2027-04-12", None),
    "support.weekly_review#4": ("2027-04-30", None),  # 05-03 Early May bank holiday -> Fri
    "support.weekly_review#6": ("2027-05-17", None),
    "support.sw_visit#4": ("2027-04-30", None),
    "support.ssw_visit#4": ("2027-04-30", None),
    "support.stability_visit#2": ("2027-04-30", None),  # V + 28
    "support.stability_visit#4": ("2027-05-28", None),  # V + 56 = Spring bank holiday 05-31
    "support.stability_visit#6": ("2027-06-28", None),
    "support.stability_review": ("2027-06-28", None),  # V + 84
    "support.cla_review": ("2027-04-30", None),  # V + 28 = 05-03 bank holiday -> Fri
    "support.monthly_review#1": ("2027-06-17", None),  # (V + 42 = 05-17) + 1 month
    "support.monthly_review#2": ("2027-07-16", None),  # Sat 07-17 -> Fri
    "support.monthly_review#5": ("2027-10-15", None),  # Sun 10-17 -> Fri
    # the final review decides the case: not before the previous review's due date (policy)
    "support.monthly_review#6": ("2027-11-17", "2027-10-15"),
    "support.scayt_review": ("2027-10-05", None),  # V + 6 months
}

# Keys that must not exist: the series end where DOMAIN.md says they end.
ABSENT = [
    "introduction.sw_check_in#11",
    "introduction.visit#6",
    "support.weekly_review#7",
    "support.sw_visit#5",
    "support.stability_visit#7",
    "support.monthly_review#7",
    "support.scayt_review#2",  # planned once the first review is done (with support continuing)
    "preparation.review#3",
]

# key: status as of TODAY, after the whole scenario (the case closed on 2027-11-17).
STATUS = {
    "identification.suitability": "done",
    "identification.care_plan_ratified": "done",  # ticked at the suitability meeting
    "introduction.move_authorisation": "done",  # approved on 2027-04-01
    "preparation.review#2": "cancelled",  # the case closed; open items go with it
    "support.monthly_review#6": "done",
    "support.weekly_review#1": "cancelled",
    "matching.mhmp_amended": "cancelled",
}
