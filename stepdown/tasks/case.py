"""Steps the case flows share: read the case, note what it waits for, apply an input, start the
next stage. Each is idempotent against the case record, so a resumed flow that runs again from
the top repeats none of their effects."""

from __future__ import annotations

import logging
import re
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from stepdown.artifacts import publish_case
from stepdown.db import session_scope
from stepdown.domain.vocabulary import OPEN_STATUSES
from stepdown.records import get_process, set_stage_flow_run, set_waiting, stage_runs


# Tags a person can filter on in the Prefect UI.
def run_tags(process_kind: str, ref: str, stage: str, team: str | None = None, *,
             child: str | None = None) -> list[str]:
    # The child's reference is the local authority's opaque ID, so it may be a tag.
    return [f"process:{process_kind}", f"ref:{ref}", f"stage:{stage}"] + (
        [f"child:{child}"] if child else []) + ([f"team:{team}"] if team else [])


def pause_key(key: str, attempt: int) -> str:
    """Prefect input keys allow lowercase letters, digits and dashes only."""
    return f"{re.sub(r'[^a-z0-9]+', '-', key.lower()).strip('-')}-{attempt}"


@task(cache_policy=NO_CACHE, task_run_name="read {key} of {ref}")
def recorded_input(ref: str, key: str) -> dict[str, Any] | None:
    """The last accepted input for ``key`` (a form, or an obligation's completion), if any."""
    from stepdown.records import accepted_forms

    with session_scope() as session:
        forms = accepted_forms(session, process=get_process(session, ref=ref))
        return forms[key][-1] if forms.get(key) else None


@task(cache_policy=NO_CACHE, task_run_name="open {completion} of {ref}")
def open_with_completion(ref: str, completion: str) -> str | None:
    """The open obligation completed with ``completion`` (the stage's deciding review), if any."""
    from stepdown.records import obligations

    with session_scope() as session:
        process = get_process(session, ref=ref)
        if process.status != "open":
            return None
        for row in obligations(session, process=process):
            if row.completion == completion and row.status in OPEN_STATUSES:
                return row.key
        return None


@task(cache_policy=NO_CACHE, task_run_name="where is {ref}")
def position(ref: str) -> tuple[str, str, str | None]:
    """The case's status, stage and outcome now."""
    with session_scope() as session:
        process = get_process(session, ref=ref)
        return process.status, process.stage, process.outcome


@task(cache_policy=NO_CACHE, task_run_name="wait for {key}")
def mark_waiting(ref: str, key: str, flow_run_id: str, input_key: str) -> bool:
    """Note on the case what its run waits for, and publish it; False when it already said so
    (a resumed run replaying its wait): nothing to write or publish then, so the form just
    submitted is not kept waiting on it. (Published when first noted; if that run crashed in
    between, the next change of the case publishes it.)"""
    with session_scope() as session:
        process = get_process(session, ref=ref, lock=True)
        if (process.waiting_for, process.waiting_flow_run_id, process.waiting_input_key) == (
                key, flow_run_id, input_key):
            return False
        set_waiting(session, process=process, key=key, flow_run_id=flow_run_id,
                    input_key=input_key)
    publish_case(ref)
    return True


@task(cache_policy=NO_CACHE, task_run_name="apply {key}")
def apply_input(ref: str, key: str, data: dict[str, Any], flow_run_id: str,
                input_key: str) -> dict[str, Any]:
    from stepdown.inputs import apply_input as apply
    from stepdown.records import closed_in, unstarted_links

    with session_scope() as session:
        process = get_process(session, ref=ref, lock=True)
        submission = apply(session, process=process, key=key, data=data, channel="ui",
                           flow_run_id=flow_run_id, input_key=input_key)
        if submission.status == "accepted" and process.waiting_input_key == input_key:
            set_waiting(session, process=process, key=None, flow_run_id=None, input_key=None)
        result = {"status": submission.status, "error": submission.error}
        linked = [(other.ref, other.kind, other.stage)
                  for other in unstarted_links(session, process=process)]
        closed = closed_in(session)
    publish_case(ref)
    start_linked(linked)
    cancel_closed(closed, f"closed by {key} of {ref}")
    return result


def cancel_closed(closed: dict[str, list[str]], why: str) -> None:
    """Cancel the waiting flow runs of processes an input closed (after it committed): a
    placement ended by a new move, a Step Down case an unplanned ending disrupted."""
    from stepdown import orchestration

    for other, run_ids in closed.items():
        try:
            if run_ids:
                orchestration.cancel_open_runs(run_ids, why)
            publish_case(other)
        except Exception as exc:  # noqa: BLE001 - the record is right; a run can be cancelled
            import logging

            logging.getLogger("stepdown").warning(
                "could not cancel the flow runs of %s: %s", other, type(exc).__name__)


def start_linked(linked: list[tuple[str, str, str]]) -> None:
    """Start the flow runs of processes an input opened (after its transaction committed)."""
    from stepdown.deployments import deployment_name

    for other, kind, stage in linked:
        start_stage_flow.fn(other, stage, deployment_name(stage, kind))
        publish_case(other)


@task(cache_policy=NO_CACHE, task_run_name="start {stage} of {ref}")
def start_stage_flow(ref: str, stage: str, deployment: str) -> str:
    """Create the flow run of the next stage (once: the idempotency key is the stage, and how
    many corrections the case has had, so a stage begun again after one gets a new run).

    The run is created between two short transactions, not inside one: on SQLite a transaction
    holds the write lock, and holding it across the API call starved every other writer while
    an import started its runs one after another (seen: flow runs failing on "database is
    locked" after the 30 s busy timeout). Two callers at once get the same run (the same
    idempotency key); the first to record it wins, and the record is never left pointing at a
    run whose key a correction has since replaced."""
    from prefect.deployments import run_deployment

    from stepdown.corrections import flow_run_key
    from stepdown.staff import team_of_case

    stale: list[str] = []
    try:
        for _attempt in range(5):
            with session_scope() as session:
                process = get_process(session, ref=ref)
                for run in stage_runs(session, process=process):
                    if run.stage == stage and run.flow_run_id:
                        return run.flow_run_id
                key = flow_run_key(session, process=process, stage=stage)
                tags = run_tags(process.kind, ref, stage, team_of_case(session, process=process),
                                child=process.child_ref)
            flow_run = run_deployment(
                deployment, parameters={"ref": ref}, timeout=0, as_subflow=False,
                flow_run_name=f"{ref}-{stage}", tags=tags, idempotency_key=key)
            run_id = str(flow_run.id)  # type: ignore[union-attr]  # a sync call: a FlowRun
            with session_scope() as session:
                process = get_process(session, ref=ref, lock=True)
                for run in stage_runs(session, process=process):
                    if run.stage == stage and run.flow_run_id:
                        if run.flow_run_id != run_id:
                            stale.append(run_id)
                        return run.flow_run_id
                if flow_run_key(session, process=process, stage=stage) == key:
                    set_stage_flow_run(session, process=process, stage=stage,
                                       flow_run_id=run_id)
                    return run_id
            stale.append(run_id)  # a correction came in between: start the stage again
        raise RuntimeError(f"{ref}: corrections kept replacing the run of {stage}")
    finally:
        if stale:
            from stepdown import orchestration

            try:
                orchestration.cancel_open_runs(stale, f"superseded run of {ref}-{stage}")
            except Exception as exc:  # noqa: BLE001 - a superseded run finds nothing to do
                logging.getLogger("stepdown").warning(
                    "could not cancel a superseded flow run of %s: %s", ref, type(exc).__name__)


@task(task_run_name="{name} for {ref}")
def step_condition(ref: str, name: str) -> bool:
    """A stage's step condition, named (whether a waiver is offered) or declared (a condition
    on the process's record, ``opening.outcome == 'transfer'``), decided once per flow run:
    the cached result keeps a resumed run on the path it first took."""
    from stepdown.domain.checks import CONDITIONS
    from stepdown.domain.declarations import Condition
    from stepdown.domain.process import holds
    from stepdown.records import case_view, current_policy

    settings = current_policy().settings
    with session_scope() as session:
        view = case_view(session, process=get_process(session, ref=ref))
        if name in CONDITIONS:
            return CONDITIONS[name](view, settings)
        return holds(Condition.parse(name), view, {}, settings)
