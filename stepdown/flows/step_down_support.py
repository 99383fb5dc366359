"""Step Down, stage 5 Ongoing support and review (000 Step 5; DOMAIN.md section 4).

Weekly, then monthly reviews and visits are scheduled from the move date. This flow waits for the
final monthly review: `continue_monthly` adds six more months and waits again; `standard`
closes the case (stepped to standard reviews).
"""

from __future__ import annotations

from prefect import flow

from stepdown.flows.common import await_input
from stepdown.models.forms import SupportOutcome
from stepdown.tasks.case import open_final_review

DESCRIPTION = (
    "The final monthly support review (Step Down practice standards, stage 5): agree whether "
    "support reviews can be "
    "deferred to the standard 6-weekly meetings (the case closes) or monthly reviews continue "
    "for a further 6 months."
)


@flow(name="step-down-support", persist_result=True)
def step_down_support(ref: str) -> str:
    while (key := open_final_review(ref, "support_outcome")) is not None:
        data = await_input(ref, key, SupportOutcome, DESCRIPTION)
        if data["outcome"] == "standard":
            return "stepped_to_standard"
    return "closed"
