"""The words every part of stepdown shares, each defined once: roles, statuses and rungs.

DOMAIN.md section 1 names the roles and the obligation statuses; section 3 the rungs of the
follow-up and escalation ladder. Everything else refers to these names.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Role = Literal[
    "social_worker", "supervising_social_worker", "iro", "residential_key_worker",
    "family_finding", "scayt", "stability_worker", "team_manager", "fostering_team_manager",
    "head_of_service", "virtual_school", "foster_carer", "advocate", "review_panel_admin",
    "lead_practitioner", "school", "health", "emergency_duty_team",
]
ROLES: Final[tuple[str, ...]] = get_args(Role)

# An obligation's status as stored. "overdue" is never stored: it is judged as of a day.
PENDING, DONE, ESCALATED, WAIVED, CANCELLED, OVERDUE = (
    "pending", "done", "escalated", "waived", "cancelled", "overdue")
OBLIGATION_STATUSES: Final = (PENDING, DONE, OVERDUE, ESCALATED, WAIVED, CANCELLED)
OPEN_STATUSES: Final = (PENDING, ESCALATED)  # still to be done: chased by the ladder
SHOWN_OPEN: Final = (PENDING, OVERDUE, ESCALATED)  # open, as judged on a timeline

# A process's status.
OPEN, CLOSED = "open", "closed"
PROCESS_STATUSES: Final = (OPEN, CLOSED)

# The rungs of the ladder (DOMAIN.md section 3), in the order they fire.
REMINDER, DUE_TODAY, OVERDUE_RUNG, BREACH, ESCALATION = (
    "reminder", "due_today", "overdue", "breach", "escalation")
RUNGS: Final = (REMINDER, DUE_TODAY, OVERDUE_RUNG, BREACH, ESCALATION)
