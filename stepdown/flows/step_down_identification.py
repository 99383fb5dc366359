"""Step Down, stage 1 Identification (000 Step 1; DOMAIN.md section 4).

Waits for the multi-agency suitability meeting, then for the PACT decision. `proceed` starts the
Preparation flow run; `not_now` and `not_suitable` close the case with that outcome.
"""

from __future__ import annotations

from prefect import flow

from stepdown.flows.common import await_input
from stepdown.models.forms import STAGE_FORMS
from stepdown.tasks.case import start_stage_flow


@flow(name="step-down-identification", persist_result=True)
def step_down_identification(ref: str) -> str:
    for key in ("identification.suitability", "identification.pact_decision"):
        spec = STAGE_FORMS[key]
        data = await_input(ref, key, spec.model, spec.description)
    if data["decision"] == "proceed":
        from stepdown.deployments import deployment_name

        start_stage_flow(ref, "preparation", deployment_name("preparation"))
    return str(data["decision"])
