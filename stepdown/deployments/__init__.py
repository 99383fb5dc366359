"""Every deployment, in one place: which flow, its name, tags and schedule.

`stepdown serve` serves them all in one process; `prefect.yaml` deploys the same flows to a
work pool. Flow runs of a case are named ``<ref>-<stage>`` and tagged with its process, ref and
stage so a person can filter by them in the Prefect UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEPLOYMENT = "stepdown"
TIMEZONE = "Europe/London"


@dataclass(frozen=True)
class Spec:
    flow: str  # "module:function"
    stage: str
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        import importlib

        module, name = self.flow.split(":")
        return getattr(importlib.import_module(module), name)


STEP_DOWN = {
    stage: Spec(f"stepdown.flows.step_down_{stage}:step_down_{stage}", stage,
                tags=("process:step_down",))
    for stage in ("identification", "preparation", "matching", "introduction", "support")
}


def flow_name(stage: str) -> str:
    return f"step-down-{stage}"


def deployment_name(stage: str) -> str:
    """The full name (``<flow>/<deployment>``) of a Step Down stage's deployment."""
    return f"{flow_name(stage)}/{DEPLOYMENT}"


def all_specs() -> list[Spec]:
    return list(STEP_DOWN.values())
