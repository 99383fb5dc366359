"""Step Down, stage 4 Introduction and move (000 Step 4; DOMAIN.md section 4).

The Getting to Know You and Moving Home plan's reviews, check-ins and visits follow from the
planning meeting's date; this flow waits for the move, which starts Ongoing Support.
"""

from __future__ import annotations

from prefect import flow

from stepdown.flows.common import await_input
from stepdown.models.forms import STAGE_FORMS
from stepdown.tasks.case import start_stage_flow


@flow(name="step-down-introduction", persist_result=True)
def step_down_introduction(ref: str) -> str:
    from stepdown.deployments import deployment_name

    spec = STAGE_FORMS["introduction.move"]
    data = await_input(ref, spec.key, spec.model, spec.description)
    start_stage_flow(ref, "support", deployment_name("support"))
    return str(data["moved_in_on"])
