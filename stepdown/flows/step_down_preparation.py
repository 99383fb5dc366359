"""Step Down, stage 2 Preparation (000 Step 2; DOMAIN.md section 4).

The planning meeting, fortnightly reviews and visits are scheduled by the policy engine as
their dates are recorded; this flow waits for the readiness decision. `ready` starts Matching.
"""

from __future__ import annotations

from prefect import flow

from stepdown.flows.common import await_input
from stepdown.models.forms import STAGE_FORMS
from stepdown.tasks.case import start_stage_flow


@flow(name="step-down-preparation", persist_result=True)
def step_down_preparation(ref: str) -> str:
    spec = STAGE_FORMS["preparation.readiness"]
    data = await_input(ref, spec.key, spec.model, spec.description)
    if data["outcome"] == "ready":
        from stepdown.deployments import deployment_name

        start_stage_flow(ref, "matching", deployment_name("matching"))
    return str(data["outcome"])
