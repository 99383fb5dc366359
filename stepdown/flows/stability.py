"""The stability process (001 section 5, Appendix 1; 004): wait for the stability meeting record.

The meeting is due 48 hours after the request (policy). Its record sets the follow-up: minutes
within 3 working days, each agreed action as an obligation of its owner, the IRO's 6-week check,
the next meeting within 3 months, and a move authorisation for a planned move.
"""

from __future__ import annotations

from prefect import flow

from stepdown.flows.common import await_input
from stepdown.models.forms import StabilityMeeting

DESCRIPTION = (
    "Record the stability meeting (Improving Placement Stability, section 5 and Appendix 1): "
    "chaired by the social work "
    "team manager or the fostering team manager; the foster carer, supervising social worker and "
    "social worker attend as a minimum; the child's views are available. An urgent move needs an "
    "immediate safeguarding concern; a planned move needs HARP or Head of Service authorisation."
)


@flow(name="stability-meeting", persist_result=True)
def stability_meeting(ref: str) -> str:
    data = await_input(ref, "stability.meeting", StabilityMeeting, DESCRIPTION)
    return str(data["outcome"])
