"""Email and Teams delivery against real local servers (tests/servers.py): no mocks."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest

from stepdown.notifications.channels import (
    EMAIL_URL_ENV,
    ChannelError,
    Delivery,
    email_url,
    resolve_teams_url,
    send_email,
    send_teams,
)
from tests.servers import SENDER, HTTPSSink, SMTPSink

# HTTPSSink's certificate is self-signed; the workflows URL turns verification off on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

RECIPIENT = "social.worker@example.org"
# Text that a markdown or HTML conversion would change.
BODY = (
    "Case SD-0042: the stability review is due on 2026-10-01.\n"
    "\n"
    "# not a heading\n"
    "* not a bullet *and not emphasis*\n"
    "- dash line with __underscores__ and `backticks`\n"
    "<b>not html</b> & an ampersand, 1 < 2 > 0\n"
    "Non-ASCII stays: café, £25, naïve"
)


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SMTPSink]:
    """A running SMTP sink that STEPDOWN_EMAIL_URL points at."""
    with SMTPSink() as sink:
        monkeypatch.setenv(EMAIL_URL_ENV, sink.url)
        yield sink


@pytest.fixture
def teams() -> Iterator[HTTPSSink]:
    with HTTPSSink() as sink:
        yield sink


# --------------------------------------------------------------------------------------------
# Email


def test_email_arrives_with_recipient_subject_and_body(smtp: SMTPSink) -> None:
    delivery = send_email(RECIPIENT, "Stability review due: SD-0042", BODY)

    assert delivery == Delivery(ok=True)
    [message] = smtp.wait_for(1)
    assert message["To"] == RECIPIENT
    assert message["From"] == SENDER
    assert message["Subject"] == "Stability review due: SD-0042"
    assert smtp.envelopes == [(SENDER, [RECIPIENT])]
    assert message.get_content_type() == "text/plain"
    assert not message.is_multipart()


def test_email_body_is_sent_as_plain_text_unaltered(smtp: SMTPSink) -> None:
    assert send_email(RECIPIENT, "Ünplanned ending — SD-0042 * # <b>", BODY).ok

    [message] = smtp.wait_for(1)
    assert message["Subject"] == "Ünplanned ending — SD-0042 * # <b>"
    # SMTP ends the last line with a newline; everything before it is exactly the body.
    assert message.get_content() == BODY + "\n"
    lines = message.get_content().splitlines()
    assert "# not a heading" in lines
    assert "* not a bullet *and not emphasis*" in lines
    assert "<b>not html</b> & an ampersand, 1 < 2 > 0" in lines


def test_a_batch_is_not_throttled(smtp: SMTPSink) -> None:
    # One reused Apprise instance would wait 5.5 s between sends: 11 s for three.
    started = time.monotonic()
    deliveries = [send_email(RECIPIENT, f"Reminder {n}", f"Body {n}") for n in range(3)]
    elapsed = time.monotonic() - started

    assert deliveries == [Delivery(ok=True)] * 3
    assert elapsed < 5, f"three emails took {elapsed:.1f} s"
    assert [m["Subject"] for m in smtp.wait_for(3)] == ["Reminder 0", "Reminder 1", "Reminder 2"]


def test_relay_down_fails_without_leaking_the_url_then_recovers_on_the_same_port(
    smtp: SMTPSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    smtp.stop()

    delivery = send_email(RECIPIENT, "Subject", "Body")
    assert delivery.ok is False
    assert delivery.error == f"email to {RECIPIENT} not accepted by the relay"
    assert smtp.url not in delivery.error

    # With credentials in the relay URL: neither the URL nor the password reaches the error
    # text or any log record (Apprise logs nothing below WARNING, and the URL not at all).
    secret_url = (
        f"mailto://stepdown:s3cr3t-Pa55@{smtp.host}:{smtp.port}?from={SENDER}&mode=insecure"
    )
    monkeypatch.setenv(EMAIL_URL_ENV, secret_url)
    delivery = send_email(RECIPIENT, "Subject", "Body")
    assert delivery.ok is False
    assert delivery.error is not None
    assert "s3cr3t-Pa55" not in delivery.error and secret_url not in delivery.error
    apprise_records = [r for r in caplog.records if r.name.startswith("apprise")]
    assert all(r.levelno >= logging.WARNING for r in apprise_records)
    for record in caplog.records:
        assert "s3cr3t-Pa55" not in record.getMessage()
        assert "mailto://" not in record.getMessage()

    monkeypatch.setenv(EMAIL_URL_ENV, smtp.url)
    smtp.start()
    assert send_email(RECIPIENT, "Back up", "Body").ok
    assert [m["Subject"] for m in smtp.wait_for(1)] == ["Back up"]


def test_concurrent_sends_all_arrive(smtp: SMTPSink) -> None:
    # The delivery sweep sends from a thread pool.
    with ThreadPoolExecutor(max_workers=4) as pool:
        deliveries = list(
            pool.map(lambda n: send_email(RECIPIENT, f"Parallel {n}", f"Body {n}"), range(8))
        )
    assert deliveries == [Delivery(ok=True)] * 8
    subjects = sorted(m["Subject"] for m in smtp.wait_for(8))
    assert subjects == sorted(f"Parallel {n}" for n in range(8))


def test_one_recipient_only(smtp: SMTPSink) -> None:
    delivery = send_email(f"{RECIPIENT},other@example.org", "Subject", "Body")
    assert delivery.ok is False
    assert smtp.messages == []


def test_missing_email_url_is_a_channel_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EMAIL_URL_ENV, raising=False)
    with pytest.raises(ChannelError, match="STEPDOWN_EMAIL_URL is not set"):
        email_url()
    with pytest.raises(ChannelError, match="STEPDOWN_EMAIL_URL"):
        send_email(RECIPIENT, "Subject", "Body")


@pytest.mark.parametrize(
    "url",
    [
        "json://user:s3cr3t@example.org/hook",
        "https://example.org/hook?token=s3cr3t",
        "mailto://user:s3cr3t@127.0.0.1:2525?from=a@example.org&to=b@example.org",
        "mailto://user:s3cr3t@127.0.0.1:2525/b@example.org?from=a@example.org",
    ],
)
def test_email_url_must_be_a_relay_without_recipients(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EMAIL_URL_ENV, url)
    with pytest.raises(ChannelError, match="STEPDOWN_EMAIL_URL") as raised:
        email_url()
    assert "s3cr3t" not in str(raised.value)


# --------------------------------------------------------------------------------------------
# Teams


def test_teams_reference_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPDOWN_TEAMS_FOSTERING_EAST", "workflows://host/abc/sig123/")
    assert resolve_teams_url("env:STEPDOWN_TEAMS_FOSTERING_EAST") == "workflows://host/abc/sig123/"

    monkeypatch.delenv("STEPDOWN_TEAMS_FOSTERING_EAST")
    with pytest.raises(ChannelError, match="STEPDOWN_TEAMS_FOSTERING_EAST"):
        resolve_teams_url("env:STEPDOWN_TEAMS_FOSTERING_EAST")


@pytest.mark.parametrize(
    "literal",
    [
        "workflows://host/abc/s3cr3tsig/",
        "https://prod-1.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke"
        "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s3cr3tsig",
        "env:",
        "block:",
        "",
    ],
)
def test_literal_teams_urls_are_refused(literal: str) -> None:
    with pytest.raises(ChannelError, match="literal URLs are refused") as raised:
        resolve_teams_url(literal)
    assert "s3cr3tsig" not in str(raised.value)


def test_teams_post_arrives_with_title_and_body(
    teams: HTTPSSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPDOWN_TEAMS_FOSTERING_EAST", teams.workflows_url())
    url = resolve_teams_url("env:STEPDOWN_TEAMS_FOSTERING_EAST")

    delivery = send_teams(url, "Visit overdue: SD-0042", BODY, team="Fostering East")

    assert delivery == Delivery(ok=True)
    [post] = teams.wait_for(1)
    target = urlsplit(post.path)
    assert target.path == "/workflows/abc/triggers/manual/paths/invoke"
    assert parse_qs(target.query)["sig"] == ["sig123"]
    assert post.body["type"] == "message"
    [attachment] = post.body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert teams.texts() == ["Visit overdue: SD-0042", BODY]


def test_teams_posts_are_not_throttled(teams: HTTPSSink) -> None:
    started = time.monotonic()
    deliveries = [send_teams(teams.workflows_url(), f"Title {n}", f"Body {n}") for n in range(3)]
    elapsed = time.monotonic() - started

    assert deliveries == [Delivery(ok=True)] * 3
    assert elapsed < 5, f"three posts took {elapsed:.1f} s"
    assert len(teams.wait_for(3)) == 3


def test_teams_endpoint_down_or_refusing_fails_without_the_url(teams: HTTPSSink) -> None:
    url = teams.workflows_url()
    teams.stop()

    delivery = send_teams(url, "Title", "Body", team="Fostering East")
    assert delivery == Delivery(ok=False, error="Teams post to Fostering East failed")
    assert send_teams(url, "Title", "Body") == Delivery(ok=False, error="Teams post failed")

    teams.status = 500
    teams.start()
    assert send_teams(url, "Title", "Body").ok is False
    teams.status = 202
    assert send_teams(url, "Title", "Body").ok is True
    assert len(teams.posts) == 2


def test_a_non_workflows_url_is_a_channel_error(teams: HTTPSSink) -> None:
    with pytest.raises(ChannelError, match="not a Power Automate workflows URL") as raised:
        send_teams("json://127.0.0.1/s3cr3t", "Title", "Body")
    assert "s3cr3t" not in str(raised.value)
    assert teams.posts == []
