"""A rehearsal of a sweep (`stepdown sweep --as-of DAY --dry-run`): what it would fire, escalate
and send, with nothing written.

The sweep's own :func:`~stepdown.notifications.sweep.write` runs in a transaction that is then
rolled back, so the rehearsal cannot drift from the real thing: no notice, message, escalation or
audit row stays, nothing is delivered, no artifact is published and no flow run is created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from stepdown import clock
from stepdown.db import get_engine
from stepdown.models.tables import Message
from stepdown.notifications.sweep import end_of_day, write


@dataclass
class Rehearsal:
    as_of: date
    rungs: int = 0
    escalated: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)  # channel, to, subject, new


def rehearse(*, as_of: date, explicit_day: bool, hourly: bool = False) -> Rehearsal:
    """What a sweep of ``as_of`` would do: the rungs it would fire, and every message it would
    then try to send (those it would write, and those already waiting in the outbox)."""
    cutoff = end_of_day(as_of) if explicit_day else clock.now()
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            before = session.exec(select(Message.id).order_by(col(Message.id).desc())).first()
            written = write(session, as_of=as_of, cutoff=cutoff, hourly=hourly)
            due = session.exec(select(Message).where(
                Message.status == "pending", col(Message.next_attempt_at) <= clock.now()
            ).order_by(col(Message.id))).all()
            rehearsal = Rehearsal(as_of=as_of, rungs=len(written.fired),
                                  escalated=written.escalated,
                                  messages=[{"channel": m.channel, "to": m.recipient,
                                             "subject": m.subject,
                                             "new": before is None or (m.id or 0) > before}
                                            for m in due])
        finally:
            session.rollback()
    return rehearsal
