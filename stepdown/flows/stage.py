"""One flow for every stage of every declared process (DOMAIN.md section 7).

A stage's declaration lists the steps its flow run waits for, in order: a stage form, the
completion of one obligation, or of the open obligation that takes a completion (again while
the stage lasts, when the step repeats). After each accepted input the run looks at the case:
closed, it ends; moved on to a stage with steps of its own, it starts that stage's flow run and
ends. Each stage is its own flow (``<kind>-<stage>``, e.g. ``step-down-identification``) served
as its own deployment, with run names ``<ref>-<stage>``.

The flows are made from the declarations when they are asked for: ``stage_flow(kind, stage)``,
or this module's attribute ``<kind>_<stage>`` (``step_down_identification``), which is how a
deployment's entrypoint (``stepdown/flows/stage.py:step_down_identification``) finds them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from prefect import Flow, flow

from stepdown.domain.declarations import Condition, Step
from stepdown.flows.common import await_input
from stepdown.records import current_policy, declarations
from stepdown.tasks.case import (
    open_with_completion,
    position,
    start_stage_flow,
    step_condition,
)


def _model(step: Step, key: str) -> tuple[type[Any], str]:
    """The model a step waits on for ``key``, and the description shown above the form."""
    catalogue = declarations()
    if step.form is not None:
        form = catalogue.forms[step.form]
        return catalogue.model(step.form), step.description or form.description
    completion = step.completion
    if completion is None:
        rule = current_policy().rule_for_key(key)
        completion = rule.completion if rule else None
    model = catalogue.completion_model(completion)
    decl = catalogue.forms.get(completion or "")
    return model, step.description or (decl.description if decl else "")


def _until(ref: str, stage: str, step: Step) -> Callable[[dict[str, Any]], bool]:
    """When a repeating form step stops asking: the case has left the stage, or the accepted
    input's fields make the step's ``until`` hold (an approved move)."""
    condition = Condition.parse(step.until) if step.until is not None else None
    settings = current_policy().settings

    def done(data: dict[str, Any]) -> bool:
        if position(ref)[1] != stage:
            return True
        return condition is not None and condition.holds(data, done=set(), forms=set(),
                                                         settings=settings)

    return done


def run_stage(ref: str, kind: str, stage: str) -> str:
    """Wait for each step of the stage in turn; start the next stage's flow run."""
    declared = declarations().process(kind).stage(stage)
    for step in declared.steps:
        if step.when is not None and not step_condition(ref, step.when):
            continue
        while True:
            key = step.form or step.obligation or open_with_completion(ref, str(step.completion))
            if key is None:
                break
            model, description = _model(step, key)
            if step.repeat and step.form is not None:
                # Ask again after each accepted input while the case stays in this stage (and,
                # with ``until``, until an accepted input's fields make it hold).
                await_input(ref, key, model, description, until=_until(ref, stage, step))
            else:
                await_input(ref, key, model, description)
            status, now, outcome = position(ref)
            if status != "open":
                return str(outcome)
            if now != stage:
                if declarations().process(kind).stage(now).steps:
                    from stepdown.deployments import deployment_name

                    start_stage_flow(ref, now, deployment_name(now, kind))
                return now
            if not (step.repeat and step.completion is not None):
                break
    return stage


@cache
def stage_flow(kind: str, stage: str) -> Flow[[str], str]:
    """The flow of one stage of a declared process, named as its declaration says."""
    name = declarations().process(kind).stage(stage).flow

    def run(ref: str) -> str:
        return run_stage(ref, kind, stage)

    run.__name__ = run.__qualname__ = attribute(kind, stage)
    run.__doc__ = f"The {stage} stage of a {kind} process: {declared_title(kind, stage)}."
    return flow(name=name, persist_result=True)(run)


def attribute(kind: str, stage: str) -> str:
    """This module's attribute for a stage's flow (a deployment's entrypoint names it)."""
    return f"{kind}_{stage}"


def declared_title(kind: str, stage: str) -> str:
    return declarations().process(kind).stage(stage).title


def __getattr__(name: str) -> Flow[[str], str]:
    for process in declarations().processes.values():
        for stage in process.flow_stages():
            if attribute(process.kind, stage.name) == name:
                return stage_flow(process.kind, stage.name)
    raise AttributeError(name)
