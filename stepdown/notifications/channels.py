"""Delivery channels: one plain-text email, or one post to a team's Microsoft Teams channel.

Both go through Apprise. A Teams post takes a fresh ``apprise.Apprise`` (and so a fresh plugin
instance) per message: Apprise waits ``request_rate_per_sec`` (5.5 s) between two sends through
the same plugin instance, so a reused one would cap a batch at one post every 5.5 s.

Email goes in batches (:class:`EmailBatch`): Apprise's email plugin parses the relay URL (every
``mailto://``/``mailtos://`` form it knows, its provider templates included), and its notify
pipeline and ``prepare_emails`` build each message, exactly as Apprise sends it. Only the
transport differs: where Apprise's ``NotifyEmail.send`` opens a connection and builds an SSL
context (loading the CA bundle, ~25 ms of CPU) for every email, a batch holds one SMTP
connection for many emails, with one SSL context per process, and no throttle between them (an
SMTP session paces itself: each command waits for the relay's reply).

Secrets stay out of code and logs:

- the SMTP relay, password included, is the ``STEPDOWN_EMAIL_URL`` environment variable;
- a team's Teams channel is a reference, ``env:NAME`` or ``block:NAME`` (a Prefect ``Secret``
  block), resolved by :func:`resolve_teams_url`; a literal URL is refused;
- error texts (``ChannelError``, ``Delivery.error``) never contain a URL, and the ``apprise``
  logger is held at WARNING or above, since at INFO and DEBUG it logs recipients, URLs and
  message payloads.

Configuration problems raise :class:`ChannelError`; a message that could not be delivered is
``Delivery(ok=False, error=...)``.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import apprise
from apprise.plugins import url_to_dict
from apprise.plugins.email import NotifyEmail, SecureMailMode
from apprise.plugins.workflows import NotifyWorkflows

from stepdown.config import get_settings

__all__ = [
    "EMAIL_URL_ENV",
    "ChannelError",
    "Delivery",
    "EmailBatch",
    "email_url",
    "relay_problem",
    "resolve_teams_url",
    "send_email",
    "send_teams",
]

EMAIL_URL_ENV = "STEPDOWN_EMAIL_URL"

_EMAIL_SCHEMES = ("mailto", "mailtos")
# Query arguments that would add recipients to every email sent through the relay.
_RECIPIENT_ARGS = frozenset({"to", "cc", "bcc"})
# One bare address: no display name, no list separators, no URL or header syntax.
_ADDRESS = re.compile(r"[^@\s,;<>()\[\]\"'\\]+@[^@\s,;<>()\[\]\"'\\/?#&]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BLOCK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class ChannelError(RuntimeError):
    """A channel is not configured, or not configured usably.

    The message names the setting at fault and never contains a secret.
    """


@dataclass(frozen=True)
class Delivery:
    """The outcome of one send: ``ok``, or not with an ``error`` free of URLs and secrets."""

    ok: bool
    error: str | None = None


def _quiet_apprise() -> None:
    """Hold the ``apprise`` logger at WARNING or above (it logs URLs and payloads below)."""
    log = logging.getLogger("apprise")
    if log.level < logging.WARNING:  # NOTSET (0) included: it would inherit, e.g., INFO
        log.setLevel(logging.WARNING)


_quiet_apprise()


# --------------------------------------------------------------------------------------------
# Email


def email_url() -> str:
    """The Apprise URL of the SMTP relay, from ``STEPDOWN_EMAIL_URL``.

    It is a ``mailto://`` or ``mailtos://`` URL without recipients, for instance
    ``mailto://127.0.0.1:2525?from=stepdown@example.org&mode=insecure`` or
    ``mailtos://user:password@smtp.example.org?from=stepdown@example.org``.
    """
    secret = get_settings().email_url
    url = secret.get_secret_value().strip() if secret else ""
    if not url:
        raise ChannelError(
            f"{EMAIL_URL_ENV} is not set: it must be an Apprise mailto:// or mailtos:// URL "
            "of the SMTP relay, without recipients"
        )
    scheme, _, rest = url.partition("://")
    if not rest or scheme.lower() not in _EMAIL_SCHEMES:
        raise ChannelError(
            f"{EMAIL_URL_ENV} is not set to a mailto:// or mailtos:// URL "
            "(an Apprise email URL of the SMTP relay, without recipients)"
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ChannelError(f"{EMAIL_URL_ENV} is not a well-formed URL") from None
    named = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if parts.path.strip("/") or named & _RECIPIENT_ARGS:
        raise ChannelError(
            f"{EMAIL_URL_ENV} names recipients: it must name the SMTP relay only "
            "(no path, no to=, cc= or bcc=)"
        )
    return url


def send_email(to: str, subject: str, body: str) -> Delivery:
    """Send one plain-text email to one recipient through the relay of ``STEPDOWN_EMAIL_URL``.

    Subject and body go out as given (``text/plain``, no markdown or HTML conversion; Apprise
    strips trailing whitespace from the body). Raises :class:`ChannelError` when the relay is
    not configured usably; returns ``Delivery(ok=False, ...)`` when the email was not sent.
    Many emails go faster through one :class:`EmailBatch`.
    """
    with EmailBatch() as batch:
        delivery = batch.send(to, subject, body)
    if not delivery.ok and batch.relay_failed:
        return Delivery(False, f"email to {to.strip()} not accepted by the relay")
    return delivery


class _RelayEmail(NotifyEmail):  # type: ignore[no-untyped-call]  # Apprise's hook
    """Apprise's email plugin, sending over one held SMTP connection.

    Everything up to the wire is Apprise's own: URL parsing, provider defaults, the notify
    pipeline and ``NotifyEmail.prepare_emails``. ``send`` differs from ``NotifyEmail.send`` in
    that it keeps the connection open for the next email, uses one SSL context per process,
    and raises the ``smtplib``/``OSError`` exception instead of logging it (the batch turns it
    into an error text without the URL).
    """

    request_rate_per_sec = 0  # one session; the relay's replies pace it (see module docstring)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self.connection: smtplib.SMTP | None = None

    def open(self) -> smtplib.SMTP:
        """The held connection: connected, TLS set up and logged in as the URL says."""
        if self.connection is not None:
            return self.connection
        context = _tls_context(bool(self.verify_certificate))
        port = int(self.port or 0)  # NotifyEmail.__init__ sets it from the mode when unset
        connection: smtplib.SMTP
        if self.secure_mode == SecureMailMode.SSL:
            connection = smtplib.SMTP_SSL(self.smtp_host, port, None,
                                          timeout=self.socket_connect_timeout, context=context)
        else:
            connection = smtplib.SMTP(self.smtp_host, port, None,
                                      timeout=self.socket_connect_timeout)
        try:
            if self.secure_mode == SecureMailMode.STARTTLS:
                try:
                    connection.starttls(context=context)
                except smtplib.SMTPNotSupportedError:
                    raise _Unusable("does not offer STARTTLS (mode=starttls)") from None
            if self.user and self.password:
                try:
                    connection.login(self.user, self.password)
                except smtplib.SMTPNotSupportedError:
                    raise _Unusable("does not offer a login (SMTP AUTH)") from None
        except BaseException:
            connection.close()
            raise
        self.connection = connection
        return connection

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.quit()
            except (OSError, smtplib.SMTPException):
                connection.close()

    def send(self, body: str, title: str = "", notify_type: Any = None, attach: Any = None,
             **kwargs: Any) -> bool:
        headers = {"X-Application": self.app_id, **self.headers}
        for message in NotifyEmail.prepare_emails(
                subject=title, body=body, notify_format=self.notify_format,
                from_addr=self.from_addr, to=self.targets, cc=self.cc, bcc=self.bcc,
                reply_to=self.reply_to, smtp_host=self.smtp_host, attach=attach,
                headers=headers, names=self.names, pgp=self.pgp, pgp_mode=self.pgp_mode,
                inline=self.inline, tzinfo=self.tzinfo):
            self.open().sendmail(str(self.from_addr[1]), message.to_addrs, message.body)
        return True


class _Unusable(smtplib.SMTPException):
    """The relay answers, but not as the URL needs: says what, after "the relay HOST:PORT"."""


@lru_cache(maxsize=2)
def _tls_context(verify: bool) -> ssl.SSLContext:
    """One SSL context per process (per ``verify=``): creating one loads the CA bundle."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class EmailBatch:
    """Plain-text emails through the relay of ``STEPDOWN_EMAIL_URL``, over one SMTP connection.

    ::

        with EmailBatch() as batch:
            for to, subject, body in messages:
                delivery = batch.send(to, subject, body)

    The connection opens at the first send. ``Delivery(ok=True)`` means the relay accepted
    the email (it answered 250 to its data). When the relay refuses one email, the connection
    stays for the next; when the connection fails, it is dropped, that email is not sent, and
    the next send connects again. Not for use by two threads at once: give each its own.
    Raises :class:`ChannelError` when the relay is not configured usably.
    """

    def __init__(self) -> None:
        relay = email_url()
        separator = "&" if "?" in relay else "?"
        # format=text keeps Apprise from turning the text into HTML (its email default).
        # Apprise reads the last value of a repeated argument, so it wins over the relay's.
        results = url_to_dict(f"{relay}{separator}format=text")  # type: ignore[no-untyped-call]
        _quiet_apprise()
        plugin = None
        if results is not None and results.get("schema") in _EMAIL_SCHEMES:
            try:
                plugin = _RelayEmail(**results, asset=apprise.AppriseAsset(), tag=set())
            except TypeError:
                plugin = None
        if plugin is None:
            raise ChannelError(
                f"{EMAIL_URL_ENV} could not be used by Apprise: check its host, port, "
                "from= address and mode="
            )
        self._plugin = plugin
        self.relay = f"{plugin.smtp_host}:{plugin.port}"  # names the relay, never the URL
        self.relay_failed = False  # the last failure was the relay's, not the email's
        self.connections = 0  # connections opened so far

    def send(self, to: str, subject: str, body: str) -> Delivery:
        """Send one email to one recipient over the batch's connection (see the class)."""
        address = to.strip()
        if not _ADDRESS.fullmatch(address):
            self.relay_failed = False
            return Delivery(False, "email not sent: the recipient is not a single email address")
        if not body.strip():
            self.relay_failed = False
            return Delivery(False, f"email to {address} not sent: the body is empty")
        plugin = self._plugin
        self.relay_failed = True
        if plugin.connection is None:
            try:
                plugin.open()
            except (OSError, smtplib.SMTPException) as exc:
                return Delivery(False, self._connect_problem(exc))
            self.connections += 1
        plugin.targets = [(False, address)]
        try:
            plugin.notify(body=body, title=subject, body_format=apprise.NotifyFormat.TEXT)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            return Delivery(False, f"email to {address} refused by the relay "
                                   f"({', '.join(map(str, codes))})")
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            return Delivery(False, f"email to {address} not accepted by the relay "
                                   f"({exc.smtp_code})")
        except (OSError, smtplib.SMTPException) as exc:
            # Mid-conversation: this email is not known to be accepted, so it is not sent.
            self._plugin.close()
            return Delivery(False, f"the relay {self.relay} dropped the connection "
                                   f"({type(exc).__name__})")
        except Exception as exc:  # noqa: BLE001 - Apprise's own (AppriseEmailException)
            self.relay_failed = False
            return Delivery(False, f"email to {address} not sent ({type(exc).__name__})")
        finally:
            plugin.targets = []
            if plugin.connection is not None and plugin.connection.sock is None:
                plugin.connection = None  # smtplib closed it (a 421 reply): reconnect next time
        self.relay_failed = False
        return Delivery(True)

    def _connect_problem(self, exc: BaseException) -> str:
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return f"the relay {self.relay} refused the login ({exc.smtp_code})"
        if isinstance(exc, _Unusable):
            return f"the relay {self.relay} {exc}"
        if isinstance(exc, ssl.SSLError):
            return f"TLS with the relay {self.relay} failed ({type(exc).__name__})"
        return _unreachable(self.relay, exc, self._plugin.socket_connect_timeout)

    def close(self) -> None:
        """End the SMTP session (QUIT). The batch may send again: it reconnects."""
        self._plugin.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def _unreachable(relay: str, exc: BaseException, timeout: float) -> str:
    """Why a connection to ``relay`` (HOST:PORT) failed, in words that name no URL."""
    if isinstance(exc, ConnectionRefusedError):
        return f"the relay {relay} refused the connection"
    if isinstance(exc, TimeoutError):
        return f"the relay {relay} did not answer within {timeout:.0f} s"
    return f"the relay {relay} could not be reached ({type(exc).__name__})"


def relay_problem(timeout: float = 5.0) -> str | None:
    """Why the relay of ``STEPDOWN_EMAIL_URL`` cannot be reached (``"the relay 127.0.0.1:2525
    refused the connection"``), or ``None`` when it accepts a connection.

    Apprise reports only that an email was not sent; this says whether the relay was there at
    all. Names the host and port, never the URL (which may hold a password).
    """
    plugin = apprise.Apprise.instantiate(email_url())
    host, port = getattr(plugin, "host", None), getattr(plugin, "port", None)
    if not host or not port:
        return None
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        return _unreachable(f"{host}:{port}", exc, timeout)
    return None


# --------------------------------------------------------------------------------------------
# Microsoft Teams (Power Automate workflows)


def resolve_teams_url(reference: str) -> str:
    """The Apprise Teams URL a team's channel reference points at.

    ``env:NAME`` reads the environment variable ``NAME``; ``block:NAME`` reads the Prefect
    ``Secret`` block ``NAME`` (which needs the Prefect API). Anything else, a literal
    ``workflows://`` or ``https://`` URL in particular, is refused: secrets come from the
    environment or from Prefect blocks, never from configuration files or code.
    """
    kind, _, name = reference.strip().partition(":")
    kind = kind.lower()
    if kind == "env" and _ENV_NAME.fullmatch(name):
        value = os.environ.get(name, "").strip()
        if not value:
            raise ChannelError(f"environment variable {name} (Teams channel env:{name}) is not set")
        return value
    if kind == "block" and _BLOCK_NAME.fullmatch(name):
        return _secret_block(name)
    # Never echo the reference: it may be the very URL that must not be written down.
    raise ChannelError(
        "a Teams channel must be a reference, env:NAME or block:NAME; literal URLs are "
        "refused (secrets come from the environment or Prefect Secret blocks)"
    )


def _secret_block(name: str) -> str:
    from prefect.blocks.system import Secret

    try:
        # _sync: a sync call even inside a flow's event loop (load would return a coroutine).
        # Prefect's async_dispatch pops _sync at run time; its typed signature omits it.
        block = Secret.load(name, _sync=True)  # type: ignore[call-arg]
        if not isinstance(block, Secret):
            raise TypeError("Secret.load returned a coroutine")
        value = block.get()
    except Exception as exc:  # noqa: BLE001 - any failure is "cannot read the setting"
        raise ChannelError(
            f"Prefect Secret block {name} (Teams channel block:{name}) could not be loaded "
            f"({type(exc).__name__})"
        ) from None
    if not isinstance(value, str) or not value.strip():
        raise ChannelError(
            f"Prefect Secret block {name} (Teams channel block:{name}) does not hold a URL"
        )
    return value.strip()


def send_teams(url: str, title: str, body: str, *, team: str | None = None) -> Delivery:
    """Post one message (title and plain-text body) to a Teams channel's workflow.

    ``url`` is what :func:`resolve_teams_url` returned: an Apprise ``workflows://`` URL or the
    ``https://`` trigger URL Power Automate gives. ``team`` only names the channel in the
    error text. Raises :class:`ChannelError` when the URL is not a workflows URL; returns
    ``Delivery(ok=False, "Teams post to <team> failed")`` when the post was not accepted.
    """
    what = f"Teams post to {team}" if team else "Teams post"
    if not body.strip():
        return Delivery(False, f"{what} not sent: the body is empty")
    _quiet_apprise()
    plugin = apprise.Apprise.instantiate(url.strip())
    if not isinstance(plugin, NotifyWorkflows):
        raise ChannelError(
            "the Teams channel's URL is not a Power Automate workflows URL "
            "(workflows://HOST/WORKFLOW/SIGNATURE or the workflow's https:// trigger URL)"
        )
    sender = apprise.Apprise()  # one per message: see the module docstring
    sender.add(plugin)
    sent = sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
    if not sent:
        return Delivery(False, f"{what} failed")
    return Delivery(True)
