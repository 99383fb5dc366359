"""Real local servers for tests that deliver notifications: an SMTP sink and an HTTPS sink.

Both bind 127.0.0.1 on a port chosen once, at construction, so a test can stop a server and
start it again on the same port (the URL it handed out stays valid). Both are plain classes
that are also context managers::

    with SMTPSink() as smtp:
        ...  # send to smtp.url, then look at smtp.messages

    with HTTPSSink() as teams:
        ...  # send to teams.workflows_url(), then look at teams.posts / teams.texts()
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
SENDER = "stepdown@example.org"


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


# --------------------------------------------------------------------------------------------
# SMTP


class _Collector:
    """aiosmtpd handler: parses every accepted message and hands it to the sink."""

    def __init__(self, sink: SMTPSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        # Wire line endings (CRLF) become "\n", as a mail client would show the text.
        content = content.replace(b"\r\n", b"\n")
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._sink._record(message, str(envelope.mail_from), list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class SMTPSink:
    """An SMTP server on 127.0.0.1 that accepts every message and keeps it.

    Plain SMTP: no TLS, no STARTTLS, no authentication. ``url`` is the Apprise URL for it
    (``mode=insecure`` stops Apprise from trying STARTTLS, which it does by default).
    """

    def __init__(self, port: int | None = None) -> None:
        self.host = HOST
        self.port = port if port is not None else free_port()
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._envelopes: list[tuple[str, list[str]]] = []
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """Apprise URL (no recipients) for this sink, in the form STEPDOWN_EMAIL_URL takes."""
        return f"mailto://{self.host}:{self.port}?from={SENDER}&mode=insecure"

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def messages(self) -> list[EmailMessage]:
        """A snapshot of the messages received so far, oldest first."""
        with self._lock:
            return list(self._messages)

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        """(MAIL FROM, RCPT TO list) of each message received, in step with ``messages``."""
        with self._lock:
            return [(sender, list(rcpts)) for sender, rcpts in self._envelopes]

    def _record(self, message: EmailMessage, mail_from: str, rcpt_tos: list[str]) -> None:
        with self._lock:
            self._messages.append(message)
            self._envelopes.append((mail_from, rcpt_tos))

    def clear(self) -> None:
        """Forget every message received so far."""
        with self._lock:
            self._messages.clear()
            self._envelopes.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Wait until at least ``count`` messages have arrived; return them all."""
        _wait_until(lambda: len(self.messages) >= count, timeout, f"{count} email(s)")
        return self.messages

    def start(self) -> Self:
        """Listen on the sink's port (again, after a ``stop``). Idempotent."""
        if self._controller is None:
            # A controller's event loop is closed by stop(): a restart needs a new controller.
            controller = Controller(_Collector(self), hostname=self.host, port=self.port)
            controller.start()
            self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until ``start``. Idempotent."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# HTTPS


class Post(NamedTuple):
    """One POST the HTTPS sink received."""

    path: str  # the request target as sent: path and query string
    body: Any  # the parsed JSON body (the raw text when it was not JSON)


def self_signed_certificate(names: tuple[str, ...] = (HOST, "localhost")) -> tuple[bytes, bytes]:
    """A fresh self-signed certificate and its private key, both PEM; CN is ``names[0]``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain reads files only: write them to a private directory, load, delete.
    with tempfile.TemporaryDirectory(prefix="httpssink-") as directory:
        cert_file = os.path.join(directory, "cert.pem")
        key_file = os.path.join(directory, "key.pem")
        with open(cert_file, "wb") as handle:
            handle.write(cert_pem)
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as handle:
            handle.write(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


def _texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from _texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item)


class HTTPSSink:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate that records every POST.

    It answers each POST with ``status`` (200 by default; set it to e.g. 500 to simulate a
    failing endpoint). ``workflows_url()`` is the Apprise ``workflows://`` URL that posts here.
    """

    def __init__(self, port: int | None = None, status: int = 200) -> None:
        self.host = HOST
        self.port = port if port is not None else free_port()
        self.status = status
        self.cert_pem, key_pem = self_signed_certificate()
        self._context = _server_context(self.cert_pem, key_pem)
        self._lock = threading.Lock()
        self._posts: list[Post] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def workflows_url(self, workflow: str = "abc", signature: str = "sig123") -> str:
        """Apprise URL for a Power Automate workflow served here, certificate checks off.

        Apprise posts it to ``/workflows/{workflow}/triggers/manual/paths/invoke``
        with ``?api-version=2016-06-01&sp=/triggers/manual/run&sv=1.0&sig={signature}``.
        """
        return f"workflows://{self.host}:{self.port}/{workflow}/{signature}/?verify=no"

    @property
    def posts(self) -> list[Post]:
        """A snapshot of the POSTs received so far, oldest first."""
        with self._lock:
            return list(self._posts)

    def texts(self) -> list[str]:
        """Every ``"text"`` string in the posted JSON bodies, in order, found recursively.

        For an Apprise Workflows post (an Adaptive Card) that is the title TextBlock, when
        there is a title, then the body TextBlock.
        """
        return [text for post in self.posts for text in _texts(post.body)]

    def clear(self) -> None:
        """Forget every POST received so far."""
        with self._lock:
            self._posts.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Post]:
        """Wait until at least ``count`` POSTs have arrived; return them all."""
        _wait_until(lambda: len(self.posts) >= count, timeout, f"{count} POST(s)")
        return self.posts

    def _record(self, post: Post) -> None:
        with self._lock:
            self._posts.append(post)

    def start(self) -> Self:
        """Listen on the sink's port (again, after a ``stop``). Idempotent."""
        if self._server is None:
            server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
            server.daemon_threads = True
            server.socket = self._context.wrap_socket(server.socket, server_side=True)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"HTTPSSink:{self.port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until ``start``. Idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _handler_for(sink: HTTPSSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", errors="replace")
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw
            sink._record(Post(self.path, body))
            reply = b'{"ok": true}' if 200 <= sink.status < 300 else b'{"ok": false}'
            self.send_response(sink.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            # Silent: request lines carry the workflow signature.
            pass

    return Handler
