"""The sweep: find what each rung of the ladder makes due, write it to the outbox, deliver it.

Writing and sending are separate steps. :func:`write` runs in one transaction: it fires rungs
(recorded in the ``notice`` ledger, unique per obligation, rung, recipient and channel), escalates
obligations, and writes every message to the ``message`` outbox. :func:`deliver` then sends what
is pending, with retries and backoff. A re-run after a crash finds the rungs already fired and
the messages already written, so nothing is sent twice and nothing is skipped. The work is
driven by an indexed ``next_rung_at`` column: its cost grows with what is due, not with the
number of cases.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from stepdown import clock
from stepdown.config import get_settings
from stepdown.db import get_engine, session_scope
from stepdown.domain import ladder
from stepdown.domain.calendar import LONDON, in_working_hours
from stepdown.domain.vocabulary import BREACH, ESCALATION, OPEN_STATUSES
from stepdown.models.tables import Message, Notice, Obligation, Person, Process, StageRun
from stepdown.notifications import render
from stepdown.records import audit, current_policy, set_first_rung
from stepdown.staff import Directory

MAX_ATTEMPTS = 9
TRIES_PER_SWEEP = 3
NOBODY = "-"
EMERGENCY_DUTY_TEAM = "emergency_duty_team"  # the role told of a breach out of hours


def backoff_seconds() -> float:
    return get_settings().delivery_backoff


def ui_base() -> str:
    explicit = get_settings().ui_url
    if explicit:
        return explicit.rstrip("/")
    api = os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    return api.rstrip("/").removesuffix("/api")


@dataclass
class Written:
    as_of: date
    fired: list[dict[str, Any]] = field(default_factory=list)
    escalated: int = 0
    superseded: int = 0
    messages: int = 0


def _fired(session: Session, ids: list[int]) -> dict[int, dict[str, date]]:
    """Each obligation's fired rungs, with the first day each fired (an escalation is counted
    from the day its flag really went out)."""
    out: dict[int, dict[str, date]] = defaultdict(dict)
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        for obligation_id, rung, day in session.exec(
                select(col(Notice.obligation_id), col(Notice.rung), col(Notice.swept_on))
                .where(col(Notice.obligation_id).in_(chunk))).all():
            seen = out[obligation_id]
            seen[rung] = min(seen.get(rung, day), day)
    return out


def _links(session: Session, process_ids: set[int]) -> dict[int, str]:
    """The newest flow run of each process, as a link into the Prefect UI."""
    links: dict[int, str] = {}
    base = ui_base()
    ids = list(process_ids)
    for start in range(0, len(ids), 5000):
        query = (select(StageRun.process_id, StageRun.flow_run_id)
                 .where(col(StageRun.process_id).in_(ids[start:start + 5000]))
                 .order_by(col(StageRun.id)))
        for process_id, run_id in session.exec(query).all():
            if run_id:
                links[process_id] = f"{base}/runs/flow-run/{run_id}"
    return links


def write(session: Session, *, as_of: date, cutoff: datetime, hourly: bool = False,
          now: datetime | None = None) -> Written:
    """Fire every rung due by ``cutoff``; escalate; write the messages. One transaction.

    ``hourly``: only hour-based deadlines; outside working hours (judged at ``now``, by default
    the clock) only their breaches, which then go to the emergency duty team as well."""
    written = Written(as_of=as_of)
    office = in_working_hours(now or clock.now(), get_settings().office_hours)
    only = (BREACH,) if hourly and not office else None
    # Status and order are applied here, not in SQL: given ``status IN (...)`` SQLite (which
    # has no planner statistics) reads every open obligation through
    # ix_obligation_status_due_at, and given ``ORDER BY id`` it scans the whole table in id
    # order, instead of reading the few due ones through ix_obligation_next_rung_at. Closed
    # obligations are off the ladder (no next_rung_at), so the filter drops only stragglers.
    query = (select(Obligation, Process)
             .join(Process, col(Process.id) == col(Obligation.process_id))
             .where(col(Obligation.next_rung_at) <= cutoff))
    if hourly:
        query = query.where(col(Obligation.due_at).is_not(None))
    due = sorted(((o, p) for o, p in session.exec(query).all() if o.status in OPEN_STATUSES),
                 key=lambda row: row[0].id or 0)
    if not due:
        return written
    fired = _fired(session, [o.id or 0 for o, _ in due])
    directory = Directory.load(session, {p.id: p for _, p in due}.values())
    links = _links(session, {p.id or 0 for _, p in due})
    policy = current_policy()
    notices: list[Notice] = []
    items: dict[int, render.Item] = {}

    def notice(obligation: Obligation, rung: str, recipient: str, channel: str) -> None:
        notices.append(Notice(obligation_id=obligation.id or 0, rung=rung, recipient=recipient,
                              channel=channel, swept_on=as_of))

    for obligation, process in due:
        rung, superseded = ladder.due_now(obligation.due_on, obligation.due_at,
                                          fired[obligation.id or 0], cutoff, only,
                                          policy.escalate_after)
        for skipped in superseded:
            notice(obligation, skipped.name, NOBODY, "none")
            written.superseded += 1
        if rung is None:
            set_first_rung(obligation, fired[obligation.id or 0], policy)
            continue
        owner = directory.owner(obligation, process)
        item = _item(obligation, process, policy, links, rung.name,
                     previous_owner=(owner.email if owner and rung.name == ESCALATION
                                     else None),
                     unassigned=owner is None,
                     flagged_on=fired[obligation.id or 0].get(ladder.flag_rung(obligation.due_at)))
        items[obligation.id or 0] = item
        recipients: list[str] = []
        if rung.name == ESCALATION:
            manager = (directory.manager_of(owner) if owner else None) or directory.team_manager(
                process)
            if manager is not None:
                obligation.escalated_from_id = owner.id if owner else None
                obligation.owner_person_id = manager.id
                obligation.status = "escalated"
                audit(session, process=process, actor="sweep", action="obligation.escalated",
                      key=obligation.key, owner_from=owner.email if owner else None,
                      owner_to=manager.email, on=str(as_of))
                written.escalated += 1
                notice(obligation, rung.name, manager.email, "email")
                notice(obligation, rung.name, manager.email, "digest")
                team = directory.team_of(owner or manager)
                if team is not None and team.teams_channel:
                    notice(obligation, rung.name, team.name, "teams")
                recipients = [manager.email]
        elif rung.name == BREACH:
            chair = (directory.holder(process, "team_manager")
                     or directory.holder(process, "fostering_team_manager")
                     or directory.team_manager(process))
            duty = [] if office else directory.with_role(EMERGENCY_DUTY_TEAM)
            for person in {p.email: p for p in (owner, chair, *duty) if p is not None}.values():
                notice(obligation, rung.name, person.email, "email")
                recipients.append(person.email)
        else:
            target = owner or directory.team_manager(process)
            if target is not None:
                notice(obligation, rung.name, target.email, "digest")
                recipients = [target.email]
        if not recipients:
            notice(obligation, rung.name, NOBODY, "none")
        written.fired.append({"ref": process.ref, "key": obligation.key, "rung": rung.name,
                              "due": item.due_text(), "to": ", ".join(recipients) or "nobody"})
        set_first_rung(obligation, {**{r.name: as_of for r in superseded},
                                    rung.name: as_of, **fired[obligation.id or 0]}, policy)
        session.add(obligation)
    session.add_all(notices)
    session.flush()
    written.messages = _compose(session, as_of=as_of, items=items, directory=directory)
    return written


def _compose(session: Session, *, as_of: date, items: dict[int, render.Item],
             directory: Directory) -> int:
    """Messages for every notice not yet in one: a digest per person per day, an email per
    escalation or breach, a Teams post per escalation."""
    pending = list(session.exec(select(Notice).where(
        col(Notice.message_id).is_(None), col(Notice.channel).in_(("digest", "email", "teams"))
    ).order_by(col(Notice.id))).all())
    missing = {n.obligation_id for n in pending} - set(items)
    if missing:
        items.update(_items_for(session, missing))
    now = clock.now()
    existing = set(session.exec(select(Message.dedupe_key).where(
        col(Message.dedupe_key).in_([f"digest:{n.recipient}:{as_of}" for n in pending
                                     if n.channel == "digest"]))).all())
    # Each message with the notices it carries; one flush inserts them all (and gives ids).
    written: list[tuple[Message, list[Notice]]] = []

    def add(key: str, channel: str, recipient: str, subject: str, body: str,
            notices: list[Notice]) -> None:
        written.append((Message(dedupe_key=key, channel=channel, recipient=recipient,
                                subject=subject, body=body, next_attempt_at=now, created_at=now),
                        notices))

    on_duty = {p.email for p in directory.with_role(EMERGENCY_DUTY_TEAM)}
    digests: dict[str, list[Notice]] = defaultdict(list)
    for n in pending:
        item = items[n.obligation_id]
        if n.channel == "digest":
            digests[n.recipient].append(n)
        elif n.channel == "email" and n.rung == ESCALATION:
            subject, body = render.escalation(as_of, item, n.recipient)
            add(f"escalation:{n.obligation_id}:{n.recipient}", "email", n.recipient, subject,
                body, [n])
        elif n.channel == "email":
            subject, body = render.breach(item, on_duty=n.recipient in on_duty)
            add(f"{n.rung}:{n.obligation_id}:{n.recipient}", "email", n.recipient, subject,
                body, [n])
        else:
            subject, body = render.escalation(as_of, item, "the manager")
            add(f"teams:{n.rung}:{n.obligation_id}:{n.recipient}", "teams", n.recipient,
                subject, body, [n])
    for recipient, group in digests.items():
        key = f"digest:{recipient}:{as_of}"
        if key in existing:
            continue  # one digest a day: these wait for tomorrow's
        subject, body = render.digest(as_of, [items[n.obligation_id] for n in group])
        add(key, "email", recipient, subject, body, group)
    session.add_all(message for message, _ in written)
    session.flush()
    for message, notices in written:
        for n in notices:
            n.message_id = message.id
    session.add_all(pending)
    session.flush()
    return len(written)


def _items_for(session: Session, obligation_ids: set[int]) -> dict[int, render.Item]:
    """Items for notices left from an earlier day (a digest already sent that day)."""
    policy = current_policy()
    rows = session.exec(select(Obligation, Process)
                        .join(Process, col(Process.id) == col(Obligation.process_id))
                        .where(col(Obligation.id).in_(obligation_ids))).all()
    links = _links(session, {p.id or 0 for _, p in rows})
    out = {}
    for obligation, process in rows:
        rung = session.exec(select(Notice.rung).where(Notice.obligation_id == obligation.id)
                            .order_by(col(Notice.id).desc())).first() or ladder.OVERDUE
        out[obligation.id or 0] = _item(obligation, process, policy, links, rung)
    return out


def _item(obligation: Obligation, process: Process, policy: Any, links: dict[int, str],
          rung: str, *, previous_owner: str | None = None, unassigned: bool = False,
          flagged_on: date | None = None) -> render.Item:
    """An obligation as a message shows it: the policy's title and source, never typed
    wording."""
    rule = policy.rule_for_key(obligation.key)
    return render.Item(
        ref=process.ref, key=obligation.key, title=rule.title if rule else obligation.key,
        owner_role=obligation.owner_role, due_on=obligation.due_on, due_at=obligation.due_at,
        link=links.get(process.id or 0) or ui_base(), rung=rung, previous_owner=previous_owner,
        unassigned=unassigned, source=rule.source if rule else obligation.source,
        flagged_on=flagged_on, escalate_after=policy.escalate_after)


# ------------------------------------------------------------------------------------ delivery
@dataclass
class _Outcome:
    """One message's tries in this delivery: sent (and marked so), or its last error."""

    ok: bool = False
    error: str | None = None
    tries: int = 0


def _send_teams(message: Message) -> tuple[bool, str | None]:
    from stepdown.models.tables import Team
    from stepdown.notifications import channels

    with session_scope() as session:  # the read ends before the post (see _Recorder)
        team = session.exec(select(Team).where(Team.name == message.recipient)).first()
    try:
        if team is None or not team.teams_channel:
            return False, f"team {message.recipient} has no Teams channel configured"
        url = channels.resolve_teams_url(team.teams_channel)
        result = channels.send_teams(url, message.subject, message.body, team=message.recipient)
    except channels.ChannelError as exc:
        return False, str(exc)[:300]
    return result.ok, result.error


class _Recorder:
    """Marks messages sent, in a thread of its own, as soon as the relay has accepted them.

    A sender hands it each accepted message and waits until the mark is committed before it
    sends its next message, so a crash can leave at most one accepted message per connection
    unmarked (the next sweep sends that one again: SMTP cannot tell a sender the relay already
    has it). The marks of all the senders waiting at once go in one short transaction (a group
    commit: on SQLite a commit waits for the disk and holds the write lock, so a transaction per
    message would make the senders queue behind the disk one by one). No transaction is held
    while sending."""

    BATCH = 500

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[int, int, threading.Event] | None] = (
            queue.SimpleQueue())
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="outbox-recorder", daemon=True)
        self._thread.start()

    def sent(self, message: Message, attempts: int) -> bool:
        """Records ``message`` as sent; returns once it is committed (True) or could not be
        (False: the sender stops, as what it sent next could not be marked either)."""
        if self._error is not None:
            return False
        written = threading.Event()
        self._queue.put((message.id or 0, attempts, written))
        written.wait()
        return self._error is None

    @property
    def failed(self) -> bool:
        """It could not write: the senders stop (what they send now could not be marked)."""
        return self._error is not None

    def close(self) -> None:
        """Write what is left, then stop; re-raises a failure to write."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        table = Message.__table__  # type: ignore[attr-defined]
        statement = (table.update()
                     .where(table.c.id == sa.bindparam("message_id"),
                            sa.or_(table.c.status == "pending",  # or failed in an outage
                                   table.c.status == "failed"))
                     .values(status="sent", sent_at=sa.bindparam("at"),
                             attempts=sa.bindparam("tries"), last_error=None))
        engine = get_engine()
        done = False
        while not done:
            first = self._queue.get()
            items = [] if first is None else [first]
            done = first is None
            while not done and len(items) < self.BATCH:  # whoever else is waiting now
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    done = True
                else:
                    items.append(item)
            try:
                if items and self._error is None:
                    at = clock.now()
                    with engine.begin() as connection:
                        connection.execute(statement, [{"message_id": i, "tries": n, "at": at}
                                                       for i, n, _ in items])
            except BaseException as exc:  # noqa: BLE001 - handed to close(), in the caller
                self._error = exc
            finally:
                for *_, written in items:
                    written.set()


class _Queue:
    """The messages of one try, handed to the workers one at a time."""

    def __init__(self, messages: list[Message]) -> None:
        self._items = iter(messages)
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[Message]:
        while True:
            with self._lock:
                message = next(self._items, None)
            if message is None:
                return
            yield message


def _email_worker(work: _Queue, outcomes: dict[int, _Outcome], recorder: _Recorder) -> None:
    """Send emails from ``work`` over one SMTP connection (reopened after a failure), each
    marked sent as soon as the relay has accepted it."""
    from stepdown.notifications import channels

    try:
        batch = channels.EmailBatch()
    except channels.ChannelError as exc:
        for message in work:
            outcome = outcomes[message.id or 0]
            outcome.tries += 1
            outcome.error = str(exc)[:300]
        return
    with batch:
        for message in work:
            if recorder.failed:
                return  # left pending, untried
            outcome = outcomes[message.id or 0]
            outcome.tries += 1
            delivery = batch.send(message.recipient, message.subject, message.body)
            if delivery.ok:
                recorder.sent(message, message.attempts + outcome.tries)
                outcome.ok, outcome.error = True, None
            else:
                outcome.error = (delivery.error or "the relay did not accept the email")[:300]


def _teams_worker(work: _Queue, outcomes: dict[int, _Outcome], recorder: _Recorder) -> None:
    for message in work:
        if recorder.failed:
            return
        outcome = outcomes[message.id or 0]
        outcome.tries += 1
        ok, error = _send_teams(message)
        if ok:
            recorder.sent(message, message.attempts + outcome.tries)
            outcome.ok, outcome.error = True, None
        else:
            outcome.error = error


def _try_once(messages: list[Message], outcomes: dict[int, _Outcome], workers: int,
              recorder: _Recorder) -> None:
    """One try of each message: the emails over up to ``workers`` SMTP connections at once,
    the Teams posts (one request each) beside them."""
    emails = [m for m in messages if m.channel == "email"]
    posts = [m for m in messages if m.channel != "email"]
    connections = min(max(1, workers), len(emails))
    posters = min(max(1, workers - connections), len(posts)) if posts else 0
    email_queue, post_queue = _Queue(emails), _Queue(posts)
    with ThreadPoolExecutor(max_workers=max(1, connections + posters)) as pool:
        futures = ([pool.submit(_email_worker, email_queue, outcomes, recorder)
                    for _ in range(connections)]
                   + [pool.submit(_teams_worker, post_queue, outcomes, recorder)
                      for _ in range(posters)])
        for future in futures:
            future.result()


@dataclass
class Delivered:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    # Why messages were not sent: (channel, reason) -> how many, for the sweep's summary.
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    reports: list[int] = field(default_factory=list)  # failure reports written, to send now

    def why(self) -> str:
        """`` (38 email: STEPDOWN_EMAIL_URL is not set)``, or nothing when all went out."""
        if not self.reasons:
            return ""
        return " (" + "; ".join(f"{n} {channel}: {reason}" for (channel, reason), n
                                in self.reasons.most_common()) + ")"


def reason(error: str | None) -> str:
    """A delivery error as a summary names it: its first clause (a configuration error goes on
    to say what the setting must be; the outbox keeps the whole text)."""
    return (error or "unknown error").split(": ", 1)[0]


# Messages that failed finally because the relay could not be reached (channels.relay_problem):
# an outage, not the messages' fault. They were reported, and are tried again at each sweep, so
# that every one goes out once the relay is back.
_OUTAGE = sa.and_(col(Message.last_error).like("the relay %"),
                  col(Message.last_error).not_like("the relay did not accept%"))


def deliver(*, now: datetime | None = None, workers: int = 8) -> Delivered:
    """Send every pending message: a few tries with exponential backoff now, more at each later
    sweep; after MAX_ATTEMPTS it is failed and reported through the other channel (that report
    goes out in the same sweep).

    Emails go over at most ``workers`` SMTP connections at once, many emails on each
    (``channels.EmailBatch``). Each message is marked sent in its own transaction as soon as
    the relay has accepted it; one whose connection failed stays pending, for the next try."""
    result = _deliver_pending(now=now, workers=workers)
    if result.reports:  # only the reports: the rest had their tries for this sweep
        again = _deliver_pending(now=now, workers=workers, only=result.reports)
        result.sent += again.sent
        result.retrying += again.retrying
        result.failed += again.failed
        result.rows += again.rows
        result.reasons += again.reasons
    return result


def _deliver_pending(*, now: datetime | None, workers: int,
                     only: list[int] | None = None) -> Delivered:
    now = now or clock.now()
    with session_scope() as session:
        query = select(Message).where(
            sa.or_(col(Message.status) == "pending",
                   sa.and_(col(Message.status) == "failed", _OUTAGE)),
            col(Message.next_attempt_at) <= now)
        if only is not None:
            query = query.where(col(Message.id).in_(only))
        # Loaded, then the read ends: the workers only read them (no expiry on commit).
        messages = list(session.exec(query.order_by(col(Message.id))).all())
    result = Delivered()
    if not messages:
        return result

    outcomes = {message.id or 0: _Outcome() for message in messages}
    todo = messages
    recorder = _Recorder()
    try:
        for attempt in range(TRIES_PER_SWEEP):
            if attempt:  # the same backoff for every message that is still waiting
                time.sleep(backoff_seconds() * (2 ** (attempt - 1)))
            _try_once(todo, outcomes, workers, recorder)
            todo = [m for m in todo if not outcomes[m.id or 0].ok
                    and m.attempts + outcomes[m.id or 0].tries < MAX_ATTEMPTS]
            if not todo:
                break
    finally:
        recorder.close()

    with session_scope() as session:
        failed: list[Message] = []
        for loaded in messages:
            outcome = outcomes[loaded.id or 0]
            if outcome.ok:  # already marked sent (_Recorder)
                result.sent += 1
                result.rows.append({"to": loaded.recipient, "channel": loaded.channel,
                                    "subject": loaded.subject, "status": "sent",
                                    "attempts": loaded.attempts + outcome.tries})
                continue
            message = session.get(Message, loaded.id)
            assert message is not None
            message.attempts += outcome.tries
            if message.status == "failed":  # failed in an outage and reported: still waiting
                message.last_error = outcome.error
                result.retrying += 1
            elif message.attempts >= MAX_ATTEMPTS:
                message.status, message.last_error = "failed", outcome.error
                result.failed += 1
                failed.append(message)
                _audit_failure(session, message)
            else:  # the next sweep (hourly in working hours) tries again
                message.last_error = outcome.error
                result.retrying += 1
            result.reasons[(message.channel, reason(outcome.error))] += 1
            session.add(message)
            result.rows.append({"to": message.recipient, "channel": message.channel,
                                "subject": message.subject, "status": message.status,
                                "attempts": message.attempts})
        result.reports = _report_failures(session, failed)
    return result


def _report_target(session: Session, message: Message) -> tuple[str, str] | None:
    """Who hears that ``message`` failed, through the other channel: an email's failure goes to
    the recipient's team's Teams channel, else (and a Teams post's) to the team manager."""
    from stepdown.models.tables import Team

    if message.channel == "email":
        person = session.exec(select(Person).where(Person.email == message.recipient)).first()
        team = session.get(Team, person.team_id) if person else None
        if team is not None and team.teams_channel:
            return "teams", team.name
    team = session.exec(select(Team).where(Team.name == message.recipient)).first()
    team_id = team.id if team else None
    if team_id is None:
        person = session.exec(select(Person).where(Person.email == message.recipient)).first()
        team_id = person.team_id if person else None
    manager = session.exec(select(Person).where(Person.role == "team_manager",
                                                Person.team_id == team_id)).first()
    if manager is not None and manager.email != message.recipient:
        return "email", manager.email
    return None


def _report_failures(session: Session, failed: list[Message]) -> list[int]:
    """One report per recipient per sweep, listing every message that failed finally (18
    failed Teams posts are one email to the manager, not 18)."""
    groups: dict[tuple[str, str], list[Message]] = defaultdict(list)
    for message in failed:
        target = _report_target(session, message)
        if target is not None:
            groups[target].append(message)
    now = clock.now()
    reports = []
    for (channel, recipient), messages in groups.items():
        listed = [render.Failed(channel=m.channel, recipient=m.recipient,
                                items=_about(session, m), error=m.last_error or "unknown error")
                  for m in messages]
        subject, body = render.delivery_failures(listed)
        # Each message fails finally once, so the first one's id makes the report's key unique.
        report = Message(dedupe_key=f"failure:{messages[0].id}", channel=channel,
                         recipient=recipient, subject=subject, body=body,
                         next_attempt_at=now, created_at=now)
        session.add(report)
        session.flush()
        reports.append(report.id or 0)
    return reports


def _about(session: Session, message: Message) -> tuple[str, ...]:
    """What a message was about, from the ledger: "SD-0042 preparation.planning_meeting"."""
    rows = session.exec(select(Process.ref, Obligation.key)
                        .join(Obligation, col(Obligation.process_id) == col(Process.id))
                        .join(Notice, col(Notice.obligation_id) == col(Obligation.id))
                        .where(Notice.message_id == message.id)
                        .order_by(col(Process.ref), col(Obligation.key))).all()
    return tuple(dict.fromkeys(f"{ref} {key}" for ref, key in rows))


def _audit_failure(session: Session, message: Message) -> None:
    audit(session, process=None, actor="sweep", action="message.failed",
          message=message.id, channel=message.channel, recipient=message.recipient)


def overdue(session: Session, *, as_of: date) -> list[dict[str, Any]]:
    """Every open obligation past its due date on ``as_of`` (escalated ones included), by the
    indexed (status, due_on) columns."""
    query = (select(Obligation, Process)
             .join(Process, col(Process.id) == col(Obligation.process_id))
             .where(col(Obligation.status).in_(OPEN_STATUSES), col(Obligation.due_on) < as_of)
             .order_by(col(Obligation.due_on), col(Process.ref), col(Obligation.key)))
    people = {p.id: p.email for p in session.exec(select(Person)).all()}
    return [{"ref": p.ref, "key": o.key, "owner": o.owner_role, "due": str(o.due_on),
             "days_late": (as_of - o.due_on).days if o.due_on else None, "status": o.status,
             "escalated_to": people.get(o.owner_person_id) if o.owner_person_id else ""}
            for o, p in session.exec(query).all()]


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, datetime.max.time(), LONDON)
