"""Data access for the case record: small keyword-only functions taking a ``Session``.

Every change writes its audit event in the same transaction. Obligations are never edited by
hand: an accepted input records facts (a form, a done date, a stage start) and
:func:`sync_obligations` re-plans the process from them with the policy engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from stepdown import clock
from stepdown.config import get_settings
from stepdown.domain import ladder
from stepdown.domain.calendar import LONDON
from stepdown.domain.case import CaseView, Effects, ObligationView
from stepdown.domain.checks import stability_meeting_days
from stepdown.domain.declarations import Catalogue, FormDecl, load_catalogue
from stepdown.domain.engine import Completion, Facts, as_when, plan
from stepdown.domain.forms import FormError
from stepdown.domain.policy import Policy, load_policy
from stepdown.domain.vocabulary import OPEN_STATUSES, SHOWN_OPEN
from stepdown.models.tables import (
    AuditEvent,
    Notice,
    Obligation,
    Person,
    Process,
    StageRun,
    Submission,
)


class NotFound(LookupError):
    """An unknown process, form or key."""


def pid(process: Process) -> int:
    """A stored process's id (it has one once flushed)."""
    assert process.id is not None, process.ref
    return process.id


def current_policy() -> Policy:
    settings = get_settings()
    return load_policy(settings.policy, settings.processes)


def declarations() -> Catalogue:
    """Every declared process and form: the shipped ones and the local authority's own."""
    return load_catalogue(get_settings().processes)


def audit(session: Session, *, process: Process | None, actor: str, action: str,
          **detail: Any) -> None:
    session.add(AuditEvent(at=clock.now(), process_id=process.id if process else None,
                           actor=actor, action=action, detail=detail))


def get_process(session: Session, *, ref: str, lock: bool = False) -> Process:
    query = select(Process).where(Process.ref == ref)
    if lock:
        query = query.with_for_update()
    process = session.exec(query).first()
    if process is None:
        raise NotFound(f"ref: no process {ref!r}")
    return process


def list_processes(session: Session, *, child_ref: str | None = None) -> list[Process]:
    query = select(Process).order_by(col(Process.id))
    if child_ref is not None:  # indexed: every process of one child
        query = query.where(Process.child_ref == child_ref)
    return list(session.exec(query).all())


def audit_trail(session: Session, *, process: Process) -> list[AuditEvent]:
    """The process's audit events, oldest first."""
    query = (select(AuditEvent).where(AuditEvent.process_id == process.id)
             .order_by(col(AuditEvent.at), col(AuditEvent.id)))
    return list(session.exec(query).all())


def stage_runs(session: Session, *, process: Process) -> list[StageRun]:
    query = select(StageRun).where(StageRun.process_id == process.id).order_by(col(StageRun.id))
    return list(session.exec(query).all())


def obligations(session: Session, *, process: Process) -> list[Obligation]:
    query = select(Obligation).where(Obligation.process_id == process.id)
    return list(session.exec(query).all())


def accepted_forms(session: Session, *, process: Process) -> dict[str, list[dict[str, Any]]]:
    query = (select(Submission)
             .where(Submission.process_id == process.id, Submission.status == "accepted")
             .order_by(col(Submission.id)))
    forms: dict[str, list[dict[str, Any]]] = {}
    for submission in session.exec(query).all():
        forms.setdefault(submission.form, []).append(submission.values or submission.data)
    return forms


def open_process(session: Session, *, ref: str, kind: str, child_ref: str, stage: str,
                 opened_on: date, actor: str, opening: dict[str, Any],
                 channel: str | None = None) -> Process:
    """A new process in its first stage, with its opening record as a submission (through
    ``channel``, by default the actor)."""
    if session.exec(select(Process).where(Process.ref == ref)).first() is not None:
        raise FormError("ref", f"a process {ref!r} already exists")
    declared = declarations().process(kind)
    if declared.one_at_a_time:  # a declaration says a child has one open process of its kind
        other = session.exec(select(Process).where(
            Process.child_ref == child_ref, Process.kind == kind, Process.status == "open")).first()
        if other is not None:
            raise FormError("child", f"{child_ref} already has an open {kind} case {other.ref}: "
                            f"a child has one {kind} case at a time (close {other.ref} first)")
    process = Process(ref=ref, kind=kind, child_ref=child_ref, stage=stage, opened_on=opened_on,
                      created_at=clock.now())
    session.add(process)
    session.flush()
    session.add(StageRun(process_id=pid(process), stage=stage, started_on=opened_on))
    session.add(Submission(process_id=pid(process), form=declared.opening, data=opening,
                           values=opening, channel=channel or actor, received_at=clock.now()))
    audit(session, process=process, actor=actor, action="process.opened", kind=kind,
          stage=stage, opened_on=str(opened_on))
    session.flush()
    sync_obligations(session, process=process, actor=actor)
    return process


def stability_meetings(session: Session, *, child_ref: str) -> list[date]:
    """The days stability meetings, first and follow-up, were held for a child."""
    return stability_meeting_days(child_done(session, child_ref=child_ref))


def child_done(session: Session, *, child_ref: str,
               besides: int | None = None) -> dict[str, list[date]]:
    """The days the obligations of a child's processes (but ``besides``) were done, by key."""
    query = (select(Obligation.key, col(Obligation.done_on))
             .join(Process, col(Process.id) == col(Obligation.process_id))
             .where(Process.child_ref == child_ref, Obligation.status == "done"))
    if besides is not None:
        query = query.where(Process.id != besides)
    out: dict[str, list[date]] = {}
    for key, done_on in session.exec(query).all():
        if done_on is not None:
            out.setdefault(key, []).append(done_on)
    return out


def provisional_start(form: FormDecl, opening: dict[str, Any]) -> bool:
    """A process opened on a day that is not a practice date (a move recorded without the day
    it was put forward): nothing in its first stage is refused for being before it."""
    return form.opens_on == "today" and not (form.opens_from and opening.get(form.opens_from))


def _opens_at_start(policy: Policy, key: str, first_stage: str) -> bool:
    """Whether an obligation opens on its process's first day (``opens = "stage:<first>"``)."""
    rule = policy.rule_for_key(key)
    if rule is None or rule.opens is None:
        return False
    opens = rule.opens
    return (opens.offset is None and opens.anchor.kind == "stage"
            and (opens.anchor.name or rule.stage) == first_stage)


def case_view(session: Session, *, process: Process) -> CaseView:
    forms = accepted_forms(session, process=process)
    declared = declarations()
    opening_form = declared.forms[declared.process(process.kind).opening]
    opening = forms.get(opening_form.key, [{}])[0]
    opened_at = as_when(opening.get(opening_form.date_field))
    first_stage = declared.process(process.kind).stage_names[0]
    provisional = provisional_start(opening_form, opening)
    policy = current_policy()
    return CaseView(
        ref=process.ref, kind=process.kind, stage=process.stage, status=process.status,
        outcome=process.outcome,
        stage_starts={run.stage: run.started_on for run in stage_runs(session, process=process)},
        forms=forms,
        obligations={o.key: ObligationView(
            o.key, o.status, o.opened_on, o.completion, o.done_on, o.earliest_on, o.due_on,
            bounded=not (provisional and _opens_at_start(policy, o.key, first_stage)))
            for o in obligations(session, process=process)},
        waiting_for=process.waiting_for, opening=opening_form.key,
        opened_at=opened_at if isinstance(opened_at, datetime) else None,
        child_done=child_done(session, child_ref=process.child_ref, besides=process.id),
        child=process.child_ref, stages=declared.process(process.kind).stage_names,
        provisional_start=provisional,
    )


def facts(session: Session, *, process: Process, policy: Policy | None = None) -> Facts:
    policy = policy or current_policy()
    runs = stage_runs(session, process=process)
    forms = accepted_forms(session, process=process)
    opening = forms.get(declarations().process(process.kind).opening, [{}])[0]
    return Facts(
        process=process.kind,
        stage_starts={run.stage: run.started_on for run in runs},
        stage_ends={run.stage: run.ended_on for run in runs if run.ended_on},
        forms=forms,
        # Done here; what is done only because the child's other process recorded it is
        # planned again from that event (``done_by``), so a correction there reopens it here.
        done={o.key: Completion(o.done_on, o.data or {})
              for o in obligations(session, process=process)
              if o.status == "done" and o.done_on is not None
              and not (o.data or {}).get("recorded_in")},
        opening=opening,
        child=child_events(session, process=process, policy=policy),
        child_spans=child_spans(session, process=process, policy=policy),
    )


def child_events(session: Session, *, process: Process,
                 policy: Policy) -> dict[str, list[tuple[date, str]]]:
    """The dated events of the child's other processes that the process's rules are pulled by
    (``pulled_by``: a move of placement, a Step Down move), by the event's text."""
    events = {event.text: event for rule in policy.rules_for(process.kind)
              for event in (*rule.pulled_by, *rule.done_by)}
    if not events:
        return {}
    kinds = {event.kind for event in events.values()}
    others = [p for p in session.exec(select(Process).where(
        Process.child_ref == process.child_ref, Process.id != process.id,
        col(Process.kind).in_(kinds))).all()]
    out: dict[str, list[tuple[date, str]]] = {}
    for other in others:
        runs = stage_runs(session, process=other)
        forms = accepted_forms(session, process=other)
        for text, event in events.items():
            if event.kind != other.kind:
                continue
            days: list[date] = []
            if event.anchor.kind == "stage":
                days = [run.started_on for run in runs if run.stage == event.anchor.name]
            elif event.anchor.kind == "done":
                # Recorded there, not done there because it was recorded here: no echo.
                name = event.anchor.name
                days = [o.done_on for o in obligations(session, process=other)
                        if (o.key == name or o.key.startswith(name + "#"))
                        and o.status == "done" and o.done_on is not None
                        and not (o.data or {}).get("recorded_in")]
            else:
                for values in forms.get(event.anchor.name, []):
                    when = as_when(values.get(event.anchor.field or ""))
                    if when is not None:
                        days.append(when.astimezone(LONDON).date()
                                    if isinstance(when, datetime) else when)
            out.setdefault(text, []).extend((day, other.ref) for day in days)
    return out


def child_spans(session: Session, *, process: Process,
                policy: Policy) -> dict[str, list[tuple[date, date | None, str]]]:
    """The stages of the child's other processes that the process's chains are paused by
    (``paused_by``: a placement after its move), by the event's text: each stage run's start,
    its end (None while it runs) and the other process's reference."""
    events = {event.text: event for rule in policy.rules_for(process.kind)
              for event in rule.paused_by}
    if not events:
        return {}
    kinds = {event.kind for event in events.values()}
    out: dict[str, list[tuple[date, date | None, str]]] = {}
    for other in session.exec(select(Process).where(
            Process.child_ref == process.child_ref, Process.id != process.id,
            col(Process.kind).in_(kinds))).all():
        runs = stage_runs(session, process=other)
        for text, event in events.items():
            if event.kind == other.kind:
                out.setdefault(text, []).extend(
                    (run.started_on, run.ended_on, other.ref) for run in runs
                    if run.stage == event.anchor.name)
    return out


def pulling_kinds(kind: str) -> set[str]:
    """The kinds whose processes' rules are pulled (or paused) by events of ``kind``'s
    processes."""
    return {rule.process for rule in current_policy().rules
            if any(event.kind == kind
                   for event in (*rule.pulled_by, *rule.done_by, *rule.paused_by))}


def sync_child(session: Session, *, process: Process, actor: str) -> None:
    """Re-plan the child's other open processes that ``process``'s events pull (a move brings
    the child's next CLA review forward)."""
    kinds = pulling_kinds(process.kind)
    if not kinds:
        return
    for other in session.exec(select(Process).where(
            Process.child_ref == process.child_ref, Process.id != process.id,
            Process.status == "open", col(Process.kind).in_(kinds))).all():
        sync_obligations(session, process=other, actor=actor)


def closed_in(session: Session) -> dict[str, list[str]]:
    """The processes this transaction closed on behalf of another's input (a placement ended
    by a new move, a Step Down case disrupted), with their flow runs: for the caller to cancel
    once it has committed."""
    return dict(session.info.get("stepdown_closed", {}))


def _note_closed(session: Session, process: Process) -> None:
    ids = [run.flow_run_id for run in stage_runs(session, process=process) if run.flow_run_id]
    session.info.setdefault("stepdown_closed", {})[process.ref] = ids


def set_first_rung(row: Obligation, fired: Mapping[str, date] | None = None,
                   policy: Policy | None = None) -> None:
    """Point an obligation at the next rung of its escalation ladder (none once it is closed,
    or if it is undated); the sweep picks it up when that rung's time comes. ``policy``: the
    current policy, when the caller has it (the sweep, for thousands of rows)."""
    following = (ladder.next_rung(row.due_on, row.due_at, fired or {},
                                  (policy or current_policy()).escalate_after)
                 if row.status in OPEN_STATUSES else None)
    row.next_rung = following.name if following else None
    row.next_rung_at = following.at if following else None


def fired_rungs(session: Session, *, obligation: Obligation) -> dict[str, date]:
    """Each rung of the obligation's ladder that has fired, with the first day it fired."""
    fired: dict[str, date] = {}
    for rung, day in session.exec(select(col(Notice.rung), col(Notice.swept_on)).where(
            Notice.obligation_id == obligation.id)).all():
        fired[rung] = min(fired.get(rung, day), day)
    return fired


def sync_obligations(session: Session, *, process: Process, actor: str) -> None:
    """Re-plan the process and bring its obligations in line, auditing every change."""
    policy = current_policy()
    planned = plan(policy, facts(session, process=process, policy=policy))
    existing = {o.key: o for o in obligations(session, process=process)}
    now = clock.now()
    closed = process.status != "open"
    for item in planned:
        row = existing.pop(item.key, None)
        cancel = item.cancelled or closed
        if row is None and item.done_elsewhere is not None and not cancel:
            day, ref = item.done_elsewhere
            row = Obligation(process_id=pid(process), key=item.key, stage=item.stage,
                             owner_role=item.owner, title=item.title[:200],
                             source=item.rule.source, opened_on=item.opened_on,
                             earliest_on=item.earliest_on, due_on=item.due_on, due_at=item.due_at,
                             status="done", done_on=day, data={"recorded_in": ref},
                             completion=item.completion, updated_at=now)
            session.add(row)
            audit(session, process=process, actor=actor, action="obligation.done",
                  key=item.key, done_on=str(day), recorded_in=ref)
            continue
        if row is None:
            row = Obligation(process_id=pid(process), key=item.key, stage=item.stage,
                             owner_role=item.owner, title=item.title[:200],
                             source=item.rule.source, opened_on=item.opened_on,
                             earliest_on=item.earliest_on, due_on=item.due_on, due_at=item.due_at,
                             status="cancelled" if cancel else "pending",
                             completion=item.completion, updated_at=now)
            set_first_rung(row)
            session.add(row)
            audit(session, process=process, actor=actor, action="obligation.created",
                  key=item.key, due=str(item.due_at or item.due_on or ""), status=row.status)
            continue
        if row.status == "cancelled" and not cancel:
            # Cancelled only ever by the plan (a closing, a stage's end, facts since gone), and
            # planned open again: a correction reopened the case or reversed what cancelled it.
            row.status = "escalated" if row.owner_person_id else "pending"
            row.updated_at = now
            set_first_rung(row, fired_rungs(session, obligation=row))
            audit(session, process=process, actor=actor, action="obligation.restored",
                  key=row.key)
        if (row.status == "done" and (row.data or {}).get("recorded_in")
                and item.done_elsewhere is None and not cancel):
            # Done only by the child's other process, and that record corrected: open again.
            row.status, row.done_on, row.data, row.updated_at = "pending", None, None, now
            set_first_rung(row, fired_rungs(session, obligation=row))
            audit(session, process=process, actor=actor, action="obligation.restored",
                  key=row.key)
        if row.status not in OPEN_STATUSES:
            continue
        if item.done_elsewhere is not None and not cancel:
            day, ref = item.done_elsewhere  # the same event, recorded in the child's other process
            row.status, row.done_on, row.updated_at = "done", day, now
            row.data = {"recorded_in": ref}
            audit(session, process=process, actor=actor, action="obligation.done", key=row.key,
                  done_on=str(day), recorded_in=ref)
            continue
        if cancel:
            row.status, row.updated_at = "cancelled", now
            because = None if closed else item.cancelled_because  # a pause
            if because:
                row.title = item.title[:200]  # with the note of why
            audit(session, process=process, actor=actor, action="obligation.cancelled",
                  key=row.key, **({"because": because} if because else {}))
            continue
        changed = (row.due_on, row.due_at, row.earliest_on, row.completion, row.title) != (
            item.due_on, item.due_at, item.earliest_on, item.completion, item.title[:200])
        if changed:
            row.due_on, row.due_at = item.due_on, item.due_at
            row.earliest_on, row.completion, row.updated_at = item.earliest_on, item.completion, now
            row.title = item.title[:200]  # with the note of why, when it was brought forward
            set_first_rung(row, fired_rungs(session, obligation=row))
            audit(session, process=process, actor=actor, action="obligation.rescheduled",
                  key=row.key, due=str(item.due_at or item.due_on or ""),
                  **({"because": item.note} if item.note else {}))
    for row in existing.values():  # planned no longer: the facts that made it are gone
        if row.status in OPEN_STATUSES:
            row.status, row.updated_at = "cancelled", now
            audit(session, process=process, actor=actor, action="obligation.cancelled",
                  key=row.key)
    for row in obligations(session, process=process):
        if row.next_rung_at is not None and row.status not in OPEN_STATUSES:
            row.next_rung = row.next_rung_at = None  # closed: off the ladder
            session.add(row)
    session.flush()


def apply_effects(session: Session, *, process: Process, effects: Effects,
                  actor: str) -> list[Process]:
    """Record what an accepted input changes, then re-plan the process. Returns the processes
    it opened for the child (their flow runs are for the caller to start, after commit)."""
    rows = {o.key: o for o in obligations(session, process=process)}
    now = clock.now()
    for key, done_on, data in effects.done:
        row = rows.get(key)
        if row is None or row.status not in OPEN_STATUSES:
            continue
        row.status, row.done_on, row.data, row.updated_at = "done", done_on, data, now
        audit(session, process=process, actor=actor, action="obligation.done", key=key,
              done_on=str(done_on))
    for key, status in effects.statuses:
        row = rows.get(key)
        if row is not None and row.status in OPEN_STATUSES:
            row.status, row.updated_at = status, now
            audit(session, process=process, actor=actor, action=f"obligation.{status}", key=key)
    for exception in effects.exceptions:
        audit(session, process=process, actor=actor, action="exception.reported",
              exception=exception)
    for key, earliest, reason in effects.early:  # accepted before its window: say why, on record
        audit(session, process=process, actor=actor, action="input.early", key=key,
              earliest=str(earliest), reason=reason)
    runs = {run.stage: run for run in stage_runs(session, process=process)}
    if effects.start_stage:
        stage, on = effects.start_stage
        current = runs.get(process.stage)
        if current is not None and current.ended_on is None:
            current.ended_on = on
        session.add(StageRun(process_id=pid(process), stage=stage, started_on=on))
        audit(session, process=process, actor=actor, action="stage.started", stage=stage,
              started_on=str(on), previous=process.stage)
        process.stage = stage
    if effects.close:
        outcome, on = effects.close
        current = runs.get(process.stage)
        if current is not None and current.ended_on is None:
            current.ended_on = on
        process.status, process.outcome, process.closed_on = "closed", outcome, on
        audit(session, process=process, actor=actor, action="process.closed", outcome=outcome,
              closed_on=str(on))
    if effects.start_stage or effects.close:
        process.waiting_for = process.waiting_flow_run_id = process.waiting_input_key = None
    session.add(process)
    session.flush()
    sync_obligations(session, process=process, actor=actor)
    for kind, in_stage, outcome, on in effects.ends:  # a new move ends the last placement
        query = select(Process).where(Process.child_ref == process.child_ref,
                                      Process.kind == kind, Process.status == "open",
                                      Process.id != process.id)
        if in_stage is not None:
            query = query.where(Process.stage == in_stage)
        for other in session.exec(query.with_for_update()).all():
            apply_effects(session, process=other, effects=Effects(close=(outcome, on)),
                          actor=actor)
            audit(session, process=other, actor=actor, action=f"process.{outcome}",
                  by=process.ref)
            _note_closed(session, other)
    sync_child(session, process=process, actor=actor)
    opened = []
    for kind, ref, opening, on in effects.opens:
        if session.exec(select(Process).where(Process.ref == ref)).first() is not None:
            continue  # opened before (the same input applied again)
        other, closed = open_with_links(session, ref=ref, kind=kind,
                                        child_ref=process.child_ref,
                                        opening=with_defaults(kind, opening),
                                        actor=actor, opened_on=on)
        for gone in closed:
            _note_closed(session, gone)
        audit(session, process=process, actor=actor, action="process.linked", opened=ref,
              kind=kind)
        opened.append(other)
    return opened


def record_submission(session: Session, *, process: Process, form: str, data: Any,
                      channel: str, values: dict[str, Any] | None = None,
                      flow_run_id: str | None = None, input_key: str | None = None,
                      status: str = "accepted", error: str | None = None,
                      actor: str | None = None) -> Submission:
    """A form as it was submitted (``data``) and as validated (``values``); audited as by
    ``actor`` (the person who submitted it, where known) else by the channel."""
    submission = Submission(process_id=pid(process), form=form, data=data, values=values,
                            channel=channel,
                            received_at=clock.now(), flow_run_id=flow_run_id,
                            input_key=input_key, status=status, error=error)
    session.add(submission)
    audit(session, process=process, actor=actor or channel, action=f"input.{status}", form=form,
          input_key=input_key, error=error, channel=channel)
    session.flush()
    return submission


def find_submission(session: Session, *, process: Process, input_key: str,
                    flow_run_id: str | None = None) -> Submission | None:
    """The latest submission for a pause key; of one flow run when given (a run started after a
    correction waits under the same pause keys as the run it replaced)."""
    query = (select(Submission)
             .where(Submission.process_id == process.id, Submission.input_key == input_key)
             .order_by(col(Submission.id).desc()))
    if flow_run_id is not None:
        query = query.where(Submission.flow_run_id == flow_run_id)
    return session.exec(query).first()


def last_refusal(session: Session, *, process: Process, form: str) -> Submission | None:
    """The last submission of ``form``, if it was refused (nothing was accepted since)."""
    query = (select(Submission)
             .where(Submission.process_id == process.id, Submission.form == form)
             .order_by(col(Submission.id).desc()))
    last = session.exec(query).first()
    return last if last is not None and last.status == "rejected" else None


def judged_status(row: Obligation, as_of: date) -> str:
    """The status as of a day: pending becomes overdue once its due date has passed."""
    if row.status == "done" and row.done_on and row.done_on > as_of:
        status = "pending"
    else:
        status = row.status
    if status == "pending":
        if row.due_at is not None:
            due_day = row.due_at.astimezone(LONDON).date()
            if due_day < as_of or (as_of == clock.today() and row.due_at < clock.now()):
                return "overdue"
        elif row.due_on is not None and row.due_on < as_of:
            return "overdue"
    return status


def linked_processes(session: Session, *, process: Process) -> list[Process]:
    """The processes a declaration's ``shows`` links put on this one's timeline: the same
    child's, of the linked kinds, opened while this one was open."""
    kinds = [link.kind for link in declarations().process(process.kind).links
             if link.type == "shows"]
    if not kinds:
        return []
    query = (select(Process)
             .where(Process.child_ref == process.child_ref, col(Process.kind).in_(kinds),
                    Process.opened_on >= process.opened_on)
             .order_by(col(Process.id)))
    return [p for p in session.exec(query).all()
            if process.closed_on is None or p.opened_on <= process.closed_on]


def timeline(session: Session, *, process: Process, as_of: date,
             child: bool = False) -> list[dict[str, Any]]:
    """Every obligation of the process and of its linked processes (a Step Down case's stability
    and unplanned-ending processes), in date order, its status judged as of ``as_of``; with
    ``child``, the child's timeline: the obligations of the child's other open processes too.
    Each item's ``ref`` and ``process`` say whose it is."""
    owners = {pid(process): process}
    for linked in linked_processes(session, process=process):
        owners[pid(linked)] = linked
    if child:
        for other in open_processes(session, child_ref=process.child_ref):
            owners.setdefault(pid(other), other)
    rows = [row for owner in owners.values() for row in obligations(session, process=owner)]
    people = _escalated_to(session, rows)
    return [timeline_item(row, owners[row.process_id], as_of=as_of, people=people)
            for row in sorted(rows, key=_when)]


def open_processes(session: Session, *, child_ref: str) -> list[Process]:
    """The child's open processes, oldest first."""
    return [p for p in list_processes(session, child_ref=child_ref) if p.status == "open"]


def _when(row: Obligation) -> tuple[date, int]:
    """A timeline's order: by due day (an undated item by the day it opened), then as made."""
    due = row.due_at.astimezone(LONDON).date() if row.due_at else row.due_on
    return (due or row.opened_on, row.id or 0)


def _escalated_to(session: Session, rows: list[Obligation]) -> dict[int, str]:
    """The emails of the people escalated obligations among ``rows`` went to, by person id."""
    ids = {r.owner_person_id for r in rows if r.owner_person_id}
    if not ids:
        return {}
    found = session.exec(select(Person.id, Person.email).where(col(Person.id).in_(ids))).all()
    return {person: email for person, email in found if person is not None}


def timeline_item(row: Obligation, owner: Process, *, as_of: date,
                  people: dict[int, str]) -> dict[str, Any]:
    """One obligation as a timeline shows it, its status judged as of ``as_of``."""
    due: str | None = None
    if row.due_at is not None:
        due = row.due_at.astimezone(LONDON).isoformat()
    elif row.due_on is not None:
        due = row.due_on.isoformat()
    return {
        "key": row.key, "process": owner.kind, "ref": owner.ref, "stage": row.stage,
        "title": row.title, "owner": row.owner_role, "due": due,
        "earliest": row.earliest_on.isoformat() if row.earliest_on else None,
        "status": judged_status(row, as_of),
        "done_on": row.done_on.isoformat() if row.done_on else None,
        "source": row.source,
        "escalated_to": people.get(row.owner_person_id) if row.owner_person_id else None,
    }


def child_summary(session: Session, *, child_ref: str, as_of: date,
                  next_count: int = 3) -> dict[str, Any]:
    """A child's processes for someone taking the child's work over: the open ones first, then
    the closed, each in the order opened; for each open one what it waits for and its next
    ``next_count`` open obligations (in date order, so what is overdue comes first; undated ones
    last), their
    status judged as of ``as_of`` as the timeline judges it."""
    from stepdown.staff import assigned_people  # staff reads the record through this module

    processes = list_processes(session, child_ref=child_ref)
    if not processes:
        raise NotFound(f"child: no processes for {child_ref}")
    ordered = ([p for p in processes if p.status == "open"]
               + [p for p in processes if p.status != "open"])
    out = []
    for process in ordered:
        shown: list[dict[str, Any]] = []
        if process.status == "open":
            rows = obligations(session, process=process)
            people = _escalated_to(session, rows)
            items = [timeline_item(row, process, as_of=as_of, people=people)
                     for row in sorted(rows, key=_next)]
            shown = [item for item in items if item["status"] in SHOWN_OPEN]
        out.append({
            "ref": process.ref, "process": process.kind, "stage": process.stage,
            "status": process.status, "outcome": process.outcome,
            "opened_on": str(process.opened_on),
            "closed_on": str(process.closed_on) if process.closed_on else None,
            "waiting_for": process.waiting_for,
            "assigned": assigned_people(session, process=process),
            "open_obligations": len(shown),
            "overdue": len([i for i in shown if i["status"] in ("overdue", "escalated")]),
            "next": shown[:next_count],
        })
    return {"child": child_ref, "as_of": str(as_of), "processes": out}


def _next(row: Obligation) -> tuple[bool, date, int]:
    """What comes next: dated obligations by due day, then the undated (a checklist)."""
    return (row.due_on is None and row.due_at is None, *_when(row))


def with_defaults(kind: str, opening: dict[str, Any]) -> dict[str, Any]:
    """An opening made by a link, with the opening form's defaults for the fields it leaves
    out (a move opened by a stability meeting is of a foster placement)."""
    catalogue = declarations()
    form = catalogue.forms[catalogue.process(kind).opening]
    out = dict(opening)
    for decl in form.fields:
        if out.get(decl.name) is None and decl.default is not None:
            out[decl.name] = decl.default
    return out


def opening_day(kind: str, opening: dict[str, Any]) -> date:
    """The day a process opens: its opening form's date field (a datetime's London date), or,
    when its declaration says ``opens_on = "today"`` (a move planned for a later day), its
    ``opens_from`` date when given, else the earlier of its date and the day it is recorded (a
    move entered after the fact opens on its planned day, not on the day it was typed in)."""
    catalogue = declarations()
    form = catalogue.forms[catalogue.process(kind).opening]
    if form.opens_on == "today":
        given = as_when(opening.get(form.opens_from)) if form.opens_from else None
        if isinstance(given, date):
            return given
        planned = as_when(opening.get(form.date_field))
        today = clock.today()
        return min(planned, today) if isinstance(planned, date) else today
    when = as_when(opening.get(form.date_field))
    if isinstance(when, datetime):
        return when.astimezone(LONDON).date()
    if when is None:
        raise FormError(form.date_field, "is required")
    return when


def open_with_links(session: Session, *, ref: str, kind: str, child_ref: str,
                    opening: dict[str, Any], actor: str, channel: str | None = None,
                    date_name: str | None = None, opened_on: date | None = None,
                    earlier_unlinked: bool = False) -> tuple[Process, list[Process]]:
    """Open a process of a declared kind in its first stage, and follow its declaration's
    ``disrupts`` links: the child's open process of the linked kind in the linked stage closes
    with the link's outcome (its open obligations cancelled). Returns the new process and the
    processes it closed. ``date_name`` names the opening date in an error (a command's option).
    An opening dated before the linked stage began is refused, or with ``earlier_unlinked``
    (an ending read from the authority's SSDA903 data) is of an earlier placement: not linked."""
    declared = declarations().process(kind)
    opened_on = opened_on or opening_day(kind, opening)
    record: dict[str, Any] = {"child_ref": child_ref, **opening}
    for link in declared.links:  # the placement a move is from: what the opening leaves empty
        if link.type != "follows":
            continue
        before = session.exec(select(Process).where(
            Process.child_ref == child_ref, Process.kind == link.kind, Process.status == "open"
        ).order_by(col(Process.opened_on).desc(), col(Process.id).desc())).first()
        if before is None:
            continue
        previous = accepted_forms(session, process=before).get(
            declarations().process(link.kind).opening, [{}])[0]
        for name, field_name in link.data:
            if record.get(name) is None and previous.get(field_name) is not None:
                record[name] = previous[field_name]
    disrupted: list[tuple[Process, str]] = []
    for link in declared.links:
        if link.type != "disrupts":
            continue
        query = select(Process).where(Process.child_ref == child_ref, Process.kind == link.kind,
                                      Process.status == "open")
        if link.stage is not None:
            query = query.where(Process.stage == link.stage)
        other = session.exec(query.with_for_update()).first()
        if other is not None:
            began = next(run.started_on for run in stage_runs(session, process=other)
                         if run.stage == other.stage)
            if opened_on < began and earlier_unlinked:
                other = None
            elif opened_on < began:
                name = date_name or declarations().forms[declared.opening].date_field
                raise FormError(name, link.rule.format(date=opened_on, began=began,
                                                       ref=other.ref, stage=other.stage))
            else:
                disrupted.append((other, str(link.outcome or "disrupted")))
        record[f"{link.kind}_ref"] = other.ref if other is not None else None
    process = open_process(session, ref=ref, kind=kind, child_ref=child_ref,
                           stage=declared.stages[0].name, opened_on=opened_on, actor=actor,
                           opening=record, channel=channel)
    for other, outcome in disrupted:
        apply_effects(session, process=other, effects=Effects(close=(outcome, opened_on)),
                      actor=actor)
        detail = {kind: ref, **({"reason": opening["reason"]} if "reason" in opening else {})}
        audit(session, process=other, actor=actor, action=f"process.{outcome}", **detail)
    return process, [other for other, _ in disrupted]


def unstarted_links(session: Session, *, process: Process) -> list[Process]:
    """The open processes ``process`` opened for its child (a stability meeting's move) whose
    current stage waits for a flow run that has not been started (the server was down, or the
    run that opened them crashed before starting it)."""
    out = []
    for other in list_processes(session, child_ref=process.child_ref):
        if other.status != "open" or other.id == process.id:
            continue
        opening = accepted_forms(session, process=other).get(
            declarations().process(other.kind).opening, [{}])[0]
        if opening.get("opened_by") != process.ref:
            continue
        if not declarations().process(other.kind).stage(other.stage).steps:
            continue
        runs = [run for run in stage_runs(session, process=other) if run.stage == other.stage]
        if runs and not runs[-1].flow_run_id:
            out.append(other)
    return out


def record_unplanned_ending(session: Session, *, ref: str, child_ref: str, ended_on: date,
                            reason: str, actor: str, channel: str | None = None
                            ) -> tuple[Process, Process | None]:
    """Open the unplanned-ending process; a Step Down placement that ended closes as disrupted
    (its open obligations cancelled). Returns the new process and the disrupted case, if any."""
    process, closed = open_with_links(
        session, ref=ref, kind="unplanned_ending", child_ref=child_ref,
        opening={"ended_on": str(ended_on), "reason": reason}, actor=actor, channel=channel,
        date_name="ended-on")
    return process, (closed[0] if closed else None)


def set_waiting(session: Session, *, process: Process, key: str | None, flow_run_id: str | None,
                input_key: str | None) -> None:
    process.waiting_for, process.waiting_flow_run_id = key, flow_run_id
    process.waiting_input_key = input_key
    session.add(process)


def set_stage_flow_run(session: Session, *, process: Process, stage: str,
                       flow_run_id: str) -> None:
    for run in stage_runs(session, process=process):
        if run.stage == stage:
            run.flow_run_id = flow_run_id
            session.add(run)

