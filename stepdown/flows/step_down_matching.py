"""Step Down, stage 3 Matching (000 Step 3; DOMAIN.md section 4).

Waits for matching decisions until one approves a match: a decline keeps the case in Matching
(and opens the amendment of the My Home My Place); an approval starts Introductions.
"""

from __future__ import annotations

from prefect import flow

from stepdown.flows.common import await_input
from stepdown.models.forms import STAGE_FORMS
from stepdown.tasks.case import start_stage_flow


@flow(name="step-down-matching", persist_result=True)
def step_down_matching(ref: str) -> str:
    from stepdown.deployments import deployment_name

    spec = STAGE_FORMS["matching.decision"]
    await_input(ref, spec.key, spec.model, spec.description,
                until=lambda data: data["outcome"] == "approved")
    start_stage_flow(ref, "introduction", deployment_name("introduction"))
    return "approved"
