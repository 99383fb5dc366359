"""The unplanned ending process (001 section 6, Appendix 2): the learning meeting, or its waiver.

If a stability meeting for the child was held in the 12 weeks before the ending, the reviewing
team manager first decides whether the meeting is needed; otherwise the meeting is held, one month
to six weeks after the ending, chaired by an IRO.
"""

from __future__ import annotations

from prefect import flow

from stepdown.flows.common import await_input
from stepdown.models.forms import STAGE_FORMS, UnplannedEndingMeeting
from stepdown.tasks.case import waiver_offered

DESCRIPTION = (
    "Record the unplanned ending meeting (Improving Placement Stability, section 6): one month "
    "to 6 weeks after the "
    "placement ended, chaired by an IRO, always with the foster carer's and the child's feedback. "
    "Its focus is learning, not blame."
)


@flow(name="unplanned-ending-meeting", persist_result=True)
def unplanned_ending_meeting(ref: str) -> str:
    if waiver_offered(ref):
        spec = STAGE_FORMS["unplanned_ending.waiver"]
        decision = await_input(ref, spec.key, spec.model, spec.description)
        if decision["decision"] == "waive":
            return "meeting_waived"
    await_input(ref, "unplanned_ending.meeting", UnplannedEndingMeeting, DESCRIPTION)
    return "meeting_held"
