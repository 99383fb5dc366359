"""Email in batches: many messages over one SMTP connection (channels.EmailBatch, and deliver()
from the outbox), against real local relays (aiosmtpd): plain, STARTTLS and implicit TLS with a
self-signed certificate, a login, and a relay that drops the connection mid-batch."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from stepdown.db import get_engine, session_scope
from stepdown.models.tables import Message
from stepdown.notifications import sweep as outbox
from stepdown.notifications.channels import EMAIL_URL_ENV, Delivery, EmailBatch, send_email
from tests.servers import (
    HOST,
    SENDER,
    SMTPSink,
    _Collector,
    _server_context,
    self_signed_certificate,
)

PASSWORD = "s3cr3t-Pa55"


class _Handler(_Collector):
    def __init__(self, sink: Relay) -> None:
        super().__init__(sink)
        self.relay = sink

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.relay.refuse:
            return self.relay.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.relay.drop_after is not None and len(self.relay.messages) >= self.relay.drop_after:
            # The data arrived, but the relay goes away before it answers: not accepted.
            assert server.transport is not None
            server.transport.close()
            return "421 going away"
        self.relay.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


class Relay(SMTPSink):
    """SMTPSink that also knows which connection each message came over, can speak TLS
    (``tls="starttls"`` or ``"ssl"``, a self-signed certificate), require a login, refuse
    recipients (with the reply given), and drop the connection instead of accepting once it holds ``drop_after``."""

    def __init__(self, *, tls: str | None = None, login: bool = False) -> None:
        super().__init__()
        self.tls, self.login = tls, login
        self.peers: list[Any] = []
        self.refuse: dict[str, str] = {}  # recipient: the reply to its RCPT
        self.drop_after: int | None = None
        self._context = _server_context(*self_signed_certificate()) if tls else None

    @property
    def url(self) -> str:
        credentials = f"stepdown:{PASSWORD}@" if self.login else ""
        if self.tls is None:
            return f"mailto://{credentials}{self.host}:{self.port}?from={SENDER}&mode=insecure"
        return (f"mailtos://{credentials}{self.host}:{self.port}?from={SENDER}"
                f"&mode={self.tls}&verify=no")

    def connections(self) -> int:
        return len(set(self.peers))

    def start(self) -> Relay:
        if self._controller is None:
            def authenticate(server: SMTP, session: Session, envelope: Envelope,
                             mechanism: str, auth_data: Any) -> AuthResult:
                ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"stepdown"
                      and auth_data.password == PASSWORD.encode())
                return AuthResult(success=ok, handled=False)  # aiosmtpd replies 535

            options: dict[str, Any] = {}
            if self.tls == "starttls":
                options.update(tls_context=self._context, require_starttls=True)
            if self.login:
                # aiosmtpd knows a STARTTLS session is secure, not an implicit TLS one.
                options.update(authenticator=authenticate,
                               auth_require_tls=self.tls == "starttls")
            controller = Controller(
                _Handler(self), hostname=self.host, port=self.port,
                ssl_context=self._context if self.tls == "ssl" else None, **options)
            controller.start()
            self._controller = controller
        return self


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Relay]:
    with Relay() as sink:
        monkeypatch.setenv(EMAIL_URL_ENV, sink.url)
        yield sink


def _batch(count: int, tag: str = "m") -> list[tuple[str, str, str]]:
    return [(f"sw{n:03d}@la.example", f"digest {tag}{n:03d}", f"Body {tag}{n:03d}")
            for n in range(count)]


def _subjects(sink: SMTPSink) -> Counter[str]:
    return Counter(str(m["Subject"]) for m in sink.messages)


# ------------------------------------------------------------------------------ EmailBatch
def test_a_batch_sends_every_message_once_over_one_connection(relay: Relay) -> None:
    messages = _batch(40)
    started = time.monotonic()
    with EmailBatch() as batch:
        deliveries = [batch.send(*m) for m in messages]
    elapsed = time.monotonic() - started

    assert deliveries == [Delivery(ok=True)] * 40
    assert batch.connections == 1 and relay.connections() == 1
    received = relay.wait_for(40)
    assert _subjects(relay) == Counter(subject for _, subject, _ in messages)
    assert [(str(m["To"]), rcpts) for m, (_, rcpts) in zip(received, relay.envelopes,
                                                            strict=True)] == [
        (to, [to]) for to, _, _ in messages]  # each to its own recipient only
    assert received[0].get_content_type() == "text/plain"
    assert received[0].get_content() == "Body m000\n"
    assert elapsed < 5, f"40 emails took {elapsed:.1f} s (Apprise's throttle is 5.5 s a send)"


def test_a_refused_recipient_fails_alone_and_the_connection_stays(relay: Relay) -> None:
    relay.refuse = {"sw001@la.example": "550 no such mailbox"}
    with EmailBatch() as batch:
        deliveries = [batch.send(*m) for m in _batch(3)]
    assert deliveries[0] == deliveries[2] == Delivery(ok=True)
    assert deliveries[1] == Delivery(False, "email to sw001@la.example refused by the relay (550)")
    assert relay.connections() == 1 and sorted(_subjects(relay)) == ["digest m000", "digest m002"]


def test_a_relay_closing_with_421_is_reconnected_to_for_the_next_message(relay: Relay) -> None:
    relay.refuse = {"sw001@la.example": "421 4.7.0 too many messages, closing"}
    with EmailBatch() as batch:
        deliveries = [batch.send(*m) for m in _batch(3)]
    assert deliveries[1] == Delivery(False, "email to sw001@la.example refused by the relay (421)")
    assert deliveries[0] == deliveries[2] == Delivery(ok=True)
    assert batch.connections == 2 and relay.connections() == 2


def test_a_dropped_connection_fails_that_message_and_the_next_one_reconnects(
    relay: Relay,
) -> None:
    with EmailBatch() as batch:
        assert batch.send(*_batch(1, "a")[0]).ok
        relay.drop_after = 1
        dropped = batch.send(*_batch(1, "b")[0])
        relay.drop_after = None
        assert batch.send(*_batch(1, "c")[0]).ok
    assert dropped.ok is False
    assert dropped.error == (f"the relay {HOST}:{relay.port} dropped the connection "
                             "(SMTPServerDisconnected)")
    assert batch.connections == 2 and relay.connections() == 2
    assert _subjects(relay) == Counter({"digest a000": 1, "digest c000": 1})


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_mailtos_with_a_self_signed_certificate_and_a_login(
    mode: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with Relay(tls=mode, login=True) as relay:
        monkeypatch.setenv(EMAIL_URL_ENV, relay.url)
        with EmailBatch() as batch:
            assert [batch.send(*m) for m in _batch(5)] == [Delivery(ok=True)] * 5
        assert relay.connections() == 1 and len(relay.wait_for(5)) == 5

        # Certificates checked (no verify=no): the self-signed one is refused, and said so.
        monkeypatch.setenv(EMAIL_URL_ENV, relay.url.replace("&verify=no", ""))
        with EmailBatch() as batch:
            refused = batch.send(*_batch(1, "v")[0])
        assert refused == Delivery(False, f"TLS with the relay {HOST}:{relay.port} failed "
                                          "(SSLCertVerificationError)")
        # A wrong password: the login is refused, and neither password is in the error.
        monkeypatch.setenv(EMAIL_URL_ENV, relay.url.replace(PASSWORD, "wr0ng-Pa55"))
        with EmailBatch() as batch:
            wrong = batch.send(*_batch(1, "w")[0])
        assert wrong == Delivery(False, f"the relay {HOST}:{relay.port} refused the login (535)")
        assert len(relay.messages) == 5
    for record in caplog.records:
        assert PASSWORD not in record.getMessage() and "wr0ng" not in record.getMessage()


def test_send_email_keeps_its_wording_when_the_relay_is_down(relay: Relay) -> None:
    relay.stop()
    assert send_email("sw@la.example", "Subject", "Body") == Delivery(
        False, "email to sw@la.example not accepted by the relay")
    with EmailBatch() as batch:
        assert batch.send("sw@la.example", "Subject", "Body") == Delivery(
            False, f"the relay {HOST}:{relay.port} refused the connection")


# ----------------------------------------------------------------------- deliver() in batches
def _outbox(messages: list[tuple[str, str, str]]) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        session.add_all(Message(dedupe_key=f"test:{subject}", channel="email", recipient=to,
                                subject=subject, body=body, next_attempt_at=now,
                                created_at=now) for to, subject, body in messages)


def _rows() -> Counter[tuple[str, int, str | None]]:
    with get_engine().connect() as connection:
        return Counter((status, attempts, error) for status, attempts, error in connection.execute(
            sa.text("SELECT status, attempts, last_error FROM message")))


def test_deliver_sends_the_outbox_over_few_connections_each_message_once(
    db_url: str, today: str, relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPDOWN_DELIVERY_BACKOFF", "0.01")
    messages = _batch(60)
    _outbox(messages)
    delivered = outbox.deliver(workers=3)

    assert (delivered.sent, delivered.retrying, delivered.failed) == (60, 0, 0)
    assert 1 <= relay.connections() <= 3
    relay.wait_for(60)
    assert _subjects(relay) == Counter(subject for _, subject, _ in messages)
    assert _rows() == Counter({("sent", 1, None): 60})
    assert outbox.deliver().sent == 0 and len(relay.messages) == 60


def test_a_relay_that_drops_the_connection_mid_batch_leaves_the_rest_for_the_next_delivery(
    db_url: str, today: str, relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPDOWN_DELIVERY_BACKOFF", "0.01")
    messages = _batch(30)
    _outbox(messages)
    relay.drop_after = 12  # accepts 12, then drops every connection at its next message's data

    first = outbox.deliver(workers=1)
    assert (first.sent, first.retrying, first.failed) == (12, 18, 0)
    error = f"the relay {HOST}:{relay.port} dropped the connection (SMTPServerDisconnected)"
    assert _rows() == Counter({("sent", 1, None): 12,
                               ("pending", outbox.TRIES_PER_SWEEP, error): 18})
    assert first.why() == f" (18 email: {error})"
    assert len(relay.messages) == 12

    relay.drop_after = None
    second = outbox.deliver(workers=2)
    assert (second.sent, second.retrying, second.failed) == (18, 0, 0)
    relay.wait_for(30)
    time.sleep(0.1)  # anything sent twice would have arrived by now
    assert _subjects(relay) == Counter(subject for _, subject, _ in messages)  # each once
    assert _rows() == Counter({("sent", 1, None): 12,
                               ("sent", outbox.TRIES_PER_SWEEP + 1, None): 18})
