"""SMTP outage: the relay refuses connections through ten minutes of sweeps (the injected clock
moves 30 s a sweep; the backoff between tries is shortened), then comes back. Every message is
delivered after it does, and none twice: one failed and reported meanwhile (the
report waits for the relay too) is still tried at each sweep.

And a message the relay has accepted is on record as sent before the next one goes: a crash in
the middle of a batch sends none of the batch's earlier messages again (tests/faults/
test_crashes.py kills real processes; this shows the order deterministically)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from stepdown import clock
from stepdown.db import session_scope
from stepdown.models.tables import Message
from stepdown.notifications import sweep as outbox
from tests.faults.common import TriggerSink, report
from tests.faults.test_crashes import _open_cases, _working_days

DAYS = _working_days(date(2027, 1, 4), 10)
DAY = DAYS[9]  # the first decisions' reminders are due


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> TriggerSink:
    sink = TriggerSink()  # not started: the port refuses connections
    monkeypatch.setenv("STEPDOWN_EMAIL_URL", sink.url)
    monkeypatch.setenv("STEPDOWN_DELIVERY_BACKOFF", "0.001")
    monkeypatch.setenv("STEPDOWN_TODAY", "2028-06-01")
    yield sink
    sink.stop()
    clock.set_clock(None)


def _statuses() -> Counter[str]:
    with session_scope() as session:
        return Counter(m.status for m in session.exec(select(Message)).all())


def test_every_message_is_delivered_once_after_ten_minutes_of_refused_connections(
        db_url: str, relay: TriggerSink) -> None:
    _open_cases(DAYS[:2])
    start = datetime(2027, 1, 15, 7, 0, tzinfo=clock.LONDON)
    moment = [start]
    clock.set_clock(lambda: moment[0])
    sweeps = 0
    while moment[0] < start + timedelta(minutes=10):
        with session_scope() as session:
            outbox.write(session, as_of=DAY, cutoff=outbox.end_of_day(DAY))
        delivered = outbox.deliver(now=moment[0])
        sweeps += 1
        assert delivered.sent == 0, delivered
        assert "refused the connection" in delivered.why(), delivered.why()
        moment[0] += timedelta(seconds=30)
    written = _statuses()
    # Past MAX_ATTEMPTS a message is failed and reported (the report waits for the relay too),
    # and is still tried at each sweep.
    assert set(written) <= {"pending", "failed"} and written["failed"] >= 4, written
    with session_scope() as session:
        attempts = {m.attempts for m in session.exec(select(Message)).all()
                    if m.status == "failed"}
    assert min(attempts) > outbox.MAX_ATTEMPTS  # tried past the limit: not given up for good

    relay.start()
    with session_scope() as session:
        outbox.write(session, as_of=DAY, cutoff=outbox.end_of_day(DAY))
    back = outbox.deliver(now=moment[0])
    assert back.sent == sum(written.values()) and back.retrying == back.failed == 0
    again = outbox.deliver(now=moment[0] + timedelta(minutes=1))
    assert again.sent == 0
    received = Counter((str(m["To"]), str(m["Subject"])) for m in relay.messages)
    with session_scope() as session:
        sent = Counter((m.recipient, m.subject) for m in session.exec(select(Message)).all())
    assert received == sent and max(received.values()) == 1
    assert _statuses() == {"sent": sum(written.values())}
    report("smtp_outage", database=db_url.split(":")[0], sweeps_refused=sweeps,
           messages=sum(written.values()), delivered=sum(received.values()),
           lost=len(set(sent) - set(received)),
           duplicated=sum(n - 1 for n in received.values() if n > 1))


def test_each_message_is_on_record_as_sent_before_the_next_is_sent(
        db_url: str, relay: TriggerSink) -> None:
    _open_cases(DAYS[:2])
    with session_scope() as session:
        outbox.write(session, as_of=DAY, cutoff=outbox.end_of_day(DAY))
    seen: list[tuple[int, int]] = []  # (messages received, messages on record as sent) then

    def check(count: int) -> None:
        with session_scope() as session:
            seen.append((count, sum(1 for m in session.exec(select(Message)).all()
                                    if m.status == "sent")))

    relay.on_message = check
    relay.start()
    delivered = outbox.deliver(workers=1)
    assert delivered.sent == len(seen) >= 4
    assert seen == [(n, n - 1) for n in range(1, len(seen) + 1)], seen
