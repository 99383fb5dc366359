"""Delivery channels: one plain-text email, or one post to a team's Microsoft Teams channel.

Both go through Apprise, with a fresh ``apprise.Apprise`` (and so a fresh plugin instance) for
every message. Apprise waits ``request_rate_per_sec`` (5.5 s) between two sends through the
same plugin instance; a reused instance would cap a batch at one message every 5.5 s.

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
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

import apprise
from apprise.plugins.email import NotifyEmail
from apprise.plugins.workflows import NotifyWorkflows

from stepdown.config import get_settings

__all__ = [
    "EMAIL_URL_ENV",
    "ChannelError",
    "Delivery",
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
    """
    relay = email_url()
    address = to.strip()
    if not _ADDRESS.fullmatch(address):
        return Delivery(False, "email not sent: the recipient is not a single email address")
    if not body.strip():
        return Delivery(False, f"email to {address} not sent: the body is empty")

    # The recipient goes in as to= (fully encoded: Apprise splits URLs on ',' and ' ');
    # format=text keeps Apprise from turning the text into HTML (its email default). Apprise
    # reads the last value of a repeated argument, so these win over the relay URL's own.
    separator = "&" if "?" in relay else "?"
    url = f"{relay}{separator}format=text&to={quote(address, safe='')}"

    _quiet_apprise()
    plugin = apprise.Apprise.instantiate(url)
    if not isinstance(plugin, NotifyEmail):
        raise ChannelError(
            f"{EMAIL_URL_ENV} could not be used by Apprise: check its host, port, "
            "from= address and mode="
        )
    sender = apprise.Apprise()  # one per message: see the module docstring
    sender.add(plugin)
    sent = sender.notify(body=body, title=subject, body_format=apprise.NotifyFormat.TEXT)
    if not sent:
        return Delivery(False, f"email to {address} not accepted by the relay")
    return Delivery(True)


def relay_problem(timeout: float = 5.0) -> str | None:
    """Why the relay of ``STEPDOWN_EMAIL_URL`` cannot be reached (``"the relay 127.0.0.1:2525
    refused the connection"``), or ``None`` when it accepts a connection.

    Apprise reports only that an email was not sent; this says whether the relay was there at
    all. Names the host and port, never the URL (which may hold a password).
    """
    import socket

    plugin = apprise.Apprise.instantiate(email_url())
    host, port = getattr(plugin, "host", None), getattr(plugin, "port", None)
    if not host or not port:
        return None
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except ConnectionRefusedError:
        return f"the relay {host}:{port} refused the connection"
    except TimeoutError:
        return f"the relay {host}:{port} did not answer within {timeout:.0f} s"
    except OSError as exc:
        return f"the relay {host}:{port} could not be reached ({type(exc).__name__})"
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
