"""Corrections: put right an input recorded by mistake (`stepdown correct REF KEY --reason`).

The latest accepted submission for a form or an obligation is marked ``corrected`` and what it
changed is undone in one transaction: the obligation it completed is open again, a case it closed
reopens, a stage it started is reversed; then the process is re-planned, which brings back what
the closing or the stage's end had cancelled. The submission and every change stay in the audit
trail. An input that a later one depends on is refused: the later one is corrected first.

After the commit the stage's flow run is restarted (:func:`restart_flow`) so it waits for the
form again. If that fails (the server is down), the record stays corrected, the stage shows no
flow run, and the same ``stepdown correct`` command, repeated, only restarts the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from stepdown import clock
from stepdown.domain import process as engine
from stepdown.domain.case import CaseView, Effects
from stepdown.domain.engine import plan
from stepdown.domain.forms import FormError
from stepdown.inputs import flow_waits_for
from stepdown.models.tables import AuditEvent, Obligation, Process, Submission
from stepdown.records import (
    NotFound,
    audit,
    case_view,
    current_policy,
    declarations,
    facts,
    fired_rungs,
    get_process,
    obligations,
    set_first_rung,
    stage_runs,
    sync_child,
    sync_obligations,
)

CORRECTED = "input.corrected"
MAX_REASON = 500


def read_by(key: str) -> tuple[str, ...]:
    """The forms whose check read ``key``'s record (PACT needs the suitability meeting and a
    ratified care plan), from their declarations: correcting the earlier one would leave the
    later one standing on nothing."""
    return declarations().read_by().get(key, ())


@dataclass
class Correction:
    """What a correction did, and the flow run restart it asks for."""

    ref: str
    kind: str
    key: str
    stage: str  # the process's stage after the correction
    reopened: bool = False
    reverted_from: str | None = None  # the stage that was reversed
    restart: bool = False
    flow_runs: list[str] = field(default_factory=list)  # the runs to cancel first
    idempotency_key: str = ""
    already: bool = False  # corrected before; only the restart was left to do


def has_flow(kind: str, stage: str) -> bool:
    return bool(declarations().process(kind).stage(stage).steps)


def corrections_made(session: Session, *, process: Process) -> int:
    query = select(AuditEvent.id).where(AuditEvent.process_id == process.id,
                                        AuditEvent.action == CORRECTED)
    return len(session.exec(query).all())


def flow_run_key(session: Session, *, process: Process, stage: str) -> str:
    """The idempotency key of a stage's flow run: ``<ref>-<stage>``, and ``-c<n>`` after the
    n-th correction (Prefect would otherwise hand back the run the correction replaced)."""
    n = corrections_made(session, process=process)
    return f"{process.ref}-{stage}" + (f"-c{n}" if n else "")


def _accepted(session: Session, *, process: Process) -> list[Submission]:
    query = (select(Submission)
             .where(Submission.process_id == process.id, Submission.status == "accepted")
             .order_by(col(Submission.id)))
    return list(session.exec(query).all())


def _effects(view: CaseView, key: str, submission: Submission) -> Effects:
    """What the submission changed when it was accepted, worked out again from its values."""
    values = json.dumps(submission.values or submission.data)
    catalogue = declarations()
    settings = current_policy().settings
    form = catalogue.stage_forms().get(key)
    if form is not None:
        parsed = catalogue.model(key).model_validate_json(values)
        return engine.stage_form_effects(form, parsed, view, settings)
    obligation = view.obligations[key]
    done = catalogue.completion_model(obligation.completion).model_validate_json(values)
    return engine.completion_effects(catalogue, view, key, done, settings)


def _closed_by(view: CaseView, accepted: list[Submission]) -> str | None:
    for submission in reversed(accepted):
        known = (submission.form in declarations().stage_forms()
                 or submission.form in view.obligations)
        if known and _effects(view, submission.form, submission).close is not None:
            return submission.form
    return None


def _reopen(session: Session, *, process: Process, row: Obligation, actor: str) -> None:
    row.status = "escalated" if row.owner_person_id else "pending"
    row.done_on, row.data, row.updated_at = None, None, clock.now()
    set_first_rung(row, fired_rungs(session, obligation=row))
    session.add(row)
    audit(session, process=process, actor=actor, action="obligation.reopened", key=row.key)


def pending_restart(session: Session, *, process: Process,
                    key: str | None = None) -> Correction | None:
    """The restart a correction left undone (the server was down): the process is open, its
    stage has a flow, and the stage shows no flow run since the last correction."""
    event = session.exec(select(AuditEvent)
                         .where(AuditEvent.process_id == process.id,
                                AuditEvent.action == CORRECTED)
                         .order_by(col(AuditEvent.id).desc())).first()
    if event is None or (key is not None and event.detail.get("key") != key):
        return None
    if process.status != "open" or not has_flow(process.kind, process.stage):
        return None
    current = [run for run in stage_runs(session, process=process) if run.stage == process.stage]
    if not current or current[0].flow_run_id:
        return None
    return Correction(ref=process.ref, kind=process.kind, key=str(event.detail["key"]),
                      stage=process.stage, restart=True,
                      flow_runs=list(event.detail.get("flow_runs") or []),
                      idempotency_key=flow_run_key(session, process=process,
                                                   stage=process.stage),
                      already=True)


def correct_input(session: Session, *, ref: str, key: str, reason: str,
                  actor: str) -> Correction:
    """Reverse the latest accepted input for ``key``; raises FormError or NotFound and changes
    nothing when there is nothing to correct or a later input depends on it."""
    reason = reason.strip()
    if not reason:
        raise FormError("reason", "must say why the input is corrected (it is kept in the "
                        "audit trail)")
    if len(reason) > MAX_REASON:
        raise FormError("reason", f"must be at most {MAX_REASON} characters "
                        f"(got {len(reason)})")
    process = get_process(session, ref=ref, lock=True)
    view = case_view(session, process=process)
    if key not in declarations().stage_forms() and key not in view.obligations:
        raise NotFound(f"key: {key!r} is not a form or an obligation of {ref}")
    accepted = _accepted(session, process=process)
    target = next((s for s in reversed(accepted) if s.form == key), None)
    if target is None:
        pending = pending_restart(session, process=process, key=key)
        if pending is not None:
            return pending
        seen = view.obligations.get(key)
        if seen is not None and seen.status == "done":
            raise FormError("key", f"{key} was recorded with another form, not on its own: "
                            "correct that form")
        raise FormError("key", f"nothing to correct: {ref} has no accepted {key}")
    effects = _effects(view, key, target)
    if process.status != "open" and effects.close is None:
        closer = _closed_by(view, accepted)
        if closer is None:
            raise FormError("ref", f"{ref} is closed ({process.outcome}) by another process's "
                            "record; a correction cannot reopen it")
        raise FormError("key", f"{ref} was closed ({process.outcome}) by {closer}, recorded "
                        f"later: correct {closer} first")

    policy = current_policy()
    planned_before = {p.key for p in plan(policy, facts(session, process=process))}
    runs = stage_runs(session, process=process)
    flow_runs = [run.flow_run_id for run in runs if run.flow_run_id]
    waited = flow_waits_for(view, key)

    target.status = "corrected"
    session.add(target)
    audit(session, process=process, actor=actor, action=CORRECTED, key=key,
          submission_id=target.id, reason=reason, flow_runs=flow_runs)
    rows = {o.key: o for o in obligations(session, process=process)}
    reopened = set()
    for done_key, on, data in effects.done:
        row = rows.get(done_key)
        if row is not None and row.status == "done" and row.done_on == on and (
                done_key == key or row.data == data):
            _reopen(session, process=process, row=row, actor=actor)
            reopened.add(done_key)
    for status_key, status in effects.statuses:
        row = rows.get(status_key)
        if row is not None and row.status == status:
            _reopen(session, process=process, row=row, actor=actor)
            reopened.add(status_key)

    result = Correction(ref=ref, kind=process.kind, key=key, stage=process.stage)
    if effects.close is not None and process.status != "open":
        if declarations().process(process.kind).one_at_a_time:
            other = session.exec(select(Process).where(
                Process.child_ref == process.child_ref, Process.kind == process.kind,
                Process.status == "open", Process.id != process.id)).first()
            if other is not None:
                raise FormError("ref", f"reopening {ref} would give the child two open "
                                f"{process.kind} cases: {other.ref} is open (close it first)")
        outcome = process.outcome
        process.status, process.outcome, process.closed_on = "open", None, None
        for run in runs:
            if run.stage == process.stage:
                run.ended_on = None
                session.add(run)
        audit(session, process=process, actor=actor, action="process.reopened",
              outcome=outcome, corrected=key)
        result.reopened = True
    removed = 0
    if effects.start_stage is not None:
        stage = effects.start_stage[0]
        index = next((i for i, run in enumerate(runs) if run.stage == stage), None)
        if index is None or index == 0:
            raise FormError("key", f"{key} started {stage}, which {ref} has no record of")
        for run in runs[index:]:  # the stage it started (and any after: refused below)
            audit(session, process=process, actor=actor, action="stage.reversed",
                  stage=run.stage, started_on=str(run.started_on), flow_run_id=run.flow_run_id,
                  corrected=key)
            session.delete(run)
            removed += 1
        previous = runs[index - 1]
        previous.ended_on = None
        session.add(previous)
        result.reverted_from, process.stage = process.stage, previous.stage
    process.waiting_for = process.waiting_flow_run_id = process.waiting_input_key = None
    session.add(process)
    session.flush()

    dependents = _dependents(session, process=process, key=key, target=target,
                             accepted=accepted, reopened=reopened,
                             planned_before=planned_before)
    if dependents:
        first = dependents[0]
        raise FormError("key", f"{', '.join(dependents)} recorded later depend"
                        f"{'s' if len(dependents) == 1 else ''} on {key}: correct {first} first")
    if removed > 1:  # a later stage began, and nothing above names what began it
        raise FormError("key", f"{ref} has moved on to {result.reverted_from}: correct what "
                        "started it first")
    sync_obligations(session, process=process, actor=actor)
    sync_child(session, process=process, actor=actor)  # what the child's others read of it

    result.stage = process.stage
    result.flow_runs = flow_runs
    result.restart = has_flow(process.kind, process.stage) and bool(
        waited or result.reopened or result.reverted_from)
    if result.restart:
        # The stage shows no flow run until the new one is recorded: a restart that failed is
        # visible (`case show`) and the same command, repeated, finishes it.
        for run in stage_runs(session, process=process):
            if run.stage == process.stage:
                run.flow_run_id = None
                session.add(run)
        result.idempotency_key = flow_run_key(session, process=process, stage=process.stage)
    session.flush()
    return result


def _dependents(session: Session, *, process: Process, key: str, target: Submission,
                accepted: list[Submission], reopened: set[str],
                planned_before: set[str]) -> list[str]:
    """What recorded later stands on the input being corrected, the latest first: a form of a
    stage it started, an input whose check read it, a completion it planned."""
    stages = {run.stage for run in stage_runs(session, process=process)}
    found: dict[str, int] = {}
    for submission in accepted:
        if submission.id == target.id:
            continue
        spec = declarations().stage_forms().get(submission.form)
        if spec is not None and spec.process == process.kind and spec.stage not in stages:
            found[submission.form] = submission.id or 0
        if submission.form in read_by(key) and (submission.id or 0) > (target.id or 0):
            found[submission.form] = submission.id or 0
    planned_after = {p.key for p in plan(current_policy(), facts(session, process=process))}
    submitted = {s.form: s.id or 0 for s in accepted}
    for row in obligations(session, process=process):
        if (row.status == "done" and row.key not in reopened and row.key in planned_before
                and row.key not in planned_after):
            found.setdefault(row.key, submitted.get(row.key, 0))
    return sorted(found, key=lambda k: -found[k])


def restart_flow(correction: Correction) -> str:
    """Cancel the case's flow runs that have not finished and start a fresh run of its stage,
    named and tagged as before; record it on the stage. Raises OrchestrationError."""
    from stepdown import orchestration
    from stepdown.db import session_scope
    from stepdown.deployments import deployment_name
    from stepdown.records import set_stage_flow_run
    from stepdown.staff import team_of_case
    from stepdown.tasks.case import run_tags

    deployment = deployment_name(correction.stage, correction.kind)
    orchestration.check_server(deployment)
    try:
        orchestration.cancel_open_runs(correction.flow_runs,
                                       f"replaced: {correction.key} was corrected")
    except Exception as exc:  # noqa: BLE001 - any failure means the same to the user
        raise orchestration.OrchestrationError(
            f"could not cancel the flow runs of {correction.ref} ({type(exc).__name__})"
        ) from None
    with session_scope() as session:
        process = get_process(session, ref=correction.ref)
        tags = run_tags(process.kind, process.ref, correction.stage,
                        team_of_case(session, process=process), child=process.child_ref)
    run_id = orchestration.start_run(deployment, ref=correction.ref, stage=correction.stage,
                                     tags=tags, idempotency_key=correction.idempotency_key)
    with session_scope() as session:
        process = get_process(session, ref=correction.ref, lock=True)
        set_stage_flow_run(session, process=process, stage=correction.stage, flow_run_id=run_id)
        audit(session, process=process, actor="cli", action="flow_run.restarted",
              stage=correction.stage, flow_run_id=run_id, corrected=correction.key)
    return run_id


def describe(correction: Correction, run_url: str | None) -> str:
    """The one line the command prints."""
    parts = [f"{correction.ref}: {correction.key} "
             + ("was already corrected" if correction.already else "corrected")]
    if correction.reopened:
        parts.append("case reopened")
    if correction.reverted_from:
        parts.append(f"back from {correction.reverted_from} to {correction.stage}")
    if run_url:
        parts.append(f"flow run {correction.ref}-{correction.stage} restarted: {run_url}")
    return "; ".join(parts)

