"""Benchmark: email delivery throughput to a local SMTP server, step by step, beside raw
``smtplib`` on one connection, all in one run against the same server.

    .venv/bin/python bench/delivery_bench.py [--messages 2000] [--slow-messages 200]

The SMTP server is aiosmtpd in a process of its own (as a relay would be: its work is not on
the sender's CPU or GIL). It keeps each message's bytes and envelope and parses them only when
asked for the check, after the timing. Every step sends its own messages (subject
``bench <step> <n>``, each to its own recipient, a body the size of a digest). After each step
the run checks that the server received exactly the messages sent: each once, to its
recipient only. The steps:

1. ``smtplib``: one connection, each message built with ``email.mime.text.MIMEText`` and sent
   with ``sendmail``. The ceiling of this server and this machine.
2. ``apprise per message``: the delivery path before this change, as ``channels.send_email``
   was: a fresh ``apprise.Apprise`` per message, so Apprise's ``NotifyEmail.send`` opens a
   connection and builds an SSL context for each. One thread, then 8 (what ``deliver`` used).
3. ``+ shared SSL context``: the same, with Apprise's ``ssl.create_default_context`` handing out
   one context (a connection per message still). 8 threads.
4. ``EmailBatch``: ``channels.EmailBatch``, Apprise's email plugin over one held connection
   with one SSL context: 1 connection, then 2, 4 and 8 connections in as many threads.
5. ``deliver()``: the product's path: ``--messages`` pending rows in the outbox of a fresh
   SQLite database (``--database postgres`` for PostgreSQL), sent by
   ``stepdown.notifications.sweep.deliver(workers=W)`` for W in ``--workers`` (1, 2, 4, 8),
   each message marked sent in the database as the relay accepts it. It also checks every
   row is ``sent`` with one attempt.

``--tls`` runs the same over STARTTLS (``mailtos://...?mode=starttls&verify=no``, a
self-signed certificate): a TLS handshake per connection. Prints a table and appends one JSON
line per step to ``bench/results.jsonl`` (``--no-record`` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.servers

RESULTS = Path(__file__).resolve().parent / "results.jsonl"
SENDER = "stepdown@example.org"
PG_ADMIN_URL = os.environ.get(
    "STEPDOWN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# A digest-sized body (the national day's digests are 1-2 items: ~600-900 characters).
BODY = "\n".join(
    ["stepdown digest Tue 9 Mar 2027: 2 due next working day", ""]
    + [f"DUE NEXT WORKING DAY  SD-{n:06d}  [support.weekly_review#{n % 6 + 1}]  Weekly support "
       f"review meeting, due Wed 10 Mar 2027 (social_worker)\n"
       f"    http://prefect.example/runs/flow-run/0000{n:04d}-aaaa-4bbb-8ccc-dddddddddddd"
       for n in range(1, 3)]
    + ["", "You are told as the owner of these obligations. Case references only."])


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------------------ the SMTP sink
def _sink_main(connection: Any, tls: bool) -> None:
    """aiosmtpd in this process: keeps raw messages; answers count / check / clear / stop."""
    import email
    import email.policy
    import ssl

    from aiosmtpd.controller import Controller

    from tests.servers import HOST, _server_context, free_port, self_signed_certificate

    received: list[tuple[list[str], bytes]] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append((list(envelope.rcpt_tos), envelope.original_content or b""))
            return "250 OK"

    port = free_port()
    context: ssl.SSLContext | None = None
    if tls:
        cert, key = self_signed_certificate()
        context = _server_context(cert, key)
    controller = Controller(Keep(), hostname=HOST, port=port, tls_context=context,
                            require_starttls=tls)
    controller.start()
    scheme, mode = ("mailtos", "starttls&verify=no") if tls else ("mailto", "insecure")
    connection.send(f"{scheme}://{HOST}:{port}?from={SENDER}&mode={mode}")
    try:
        while True:
            command = connection.recv()
            if command == "count":
                connection.send(len(received))
            elif command == "check":  # [(rcpt_tos, To, Subject)] of everything received
                out = []
                for rcpts, raw in received:
                    message = email.message_from_bytes(raw, policy=email.policy.default)
                    out.append((rcpts, str(message["To"]), str(message["Subject"])))
                connection.send(out)
            elif command == "clear":
                received.clear()
                connection.send(0)
            elif command == "cpu":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                connection.send(usage.ru_utime + usage.ru_stime)
            else:
                break
    finally:
        controller.stop()
        connection.send(None)


class Sink:
    def __init__(self, tls: bool) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_sink_main, args=(child, tls), daemon=True)
        self._process.start()
        self.url: str = self._connection.recv()
        hostport = self.url.split("://", 1)[1].split("?", 1)[0]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)

    def ask(self, command: str) -> Any:
        self._connection.send(command)
        return self._connection.recv()

    def wait_for(self, count: int, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while (got := self.ask("count")) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return int(got)

    def stop(self) -> None:
        self.ask("stop")
        self._process.join(timeout=10)


# ---------------------------------------------------------------------------------- the steps
def _messages(step: str, count: int) -> list[tuple[str, str, str]]:
    """(to, subject, body) for one step: a recipient and a subject of its own for each."""
    slug = step.replace(" ", "-")
    return [(f"sw{n:06d}@la.example", f"bench {slug} {n:06d}", BODY) for n in range(count)]


def raw_smtplib(sink: Sink, messages: list[tuple[str, str, str]], tls: bool) -> None:
    import smtplib
    import ssl
    from email.mime.text import MIMEText
    from email.utils import formatdate, make_msgid

    with smtplib.SMTP(sink.host, sink.port) as connection:
        if tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            connection.starttls(context=context)
        for to, subject, body in messages:
            message = MIMEText(body, "plain", "utf-8")
            message["Subject"], message["From"], message["To"] = subject, SENDER, to
            message["Message-ID"], message["Date"] = make_msgid(domain="la.example"), formatdate()
            connection.sendmail(SENDER, [to], message.as_string())


def _apprise_per_message(to: str, subject: str, body: str) -> bool:
    """``channels.send_email`` as it was before batching: a fresh Apprise per message."""
    from urllib.parse import quote

    import apprise

    from stepdown.notifications.channels import email_url

    relay = email_url()
    separator = "&" if "?" in relay else "?"
    plugin = apprise.Apprise.instantiate(
        f"{relay}{separator}format=text&to={quote(to, safe='')}")
    sender = apprise.Apprise()
    sender.add(plugin)
    return bool(sender.notify(body=body, title=subject,
                              body_format=apprise.NotifyFormat.TEXT))


def apprise_per_message(threads: int) -> Callable[[Sink, list[tuple[str, str, str]], bool], None]:
    def run(sink: Sink, messages: list[tuple[str, str, str]], tls: bool) -> None:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            sent = list(pool.map(lambda m: _apprise_per_message(*m), messages))
        assert all(sent), f"{sent.count(False)} not sent"
    return run


def shared_context(threads: int) -> Callable[[Sink, list[tuple[str, str, str]], bool], None]:
    """Apprise per message, with its ``ssl.create_default_context`` returning one context."""
    def run(sink: Sink, messages: list[tuple[str, str, str]], tls: bool) -> None:
        import ssl
        import types

        from apprise.plugins.email import base

        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        shared = types.SimpleNamespace(**{k: getattr(ssl, k) for k in dir(ssl)
                                          if not k.startswith("__")})
        shared.create_default_context = lambda *a, **k: context
        original, base.ssl = base.ssl, shared  # type: ignore[assignment]
        try:
            apprise_per_message(threads)(sink, messages, tls)
        finally:
            base.ssl = original
    return run


def email_batch(connections: int) -> Callable[[Sink, list[tuple[str, str, str]], bool], None]:
    def run(sink: Sink, messages: list[tuple[str, str, str]], tls: bool) -> None:
        from stepdown.notifications.channels import EmailBatch

        def one_connection(part: list[tuple[str, str, str]]) -> list[bool]:
            with EmailBatch() as batch:
                return [batch.send(*m).ok for m in part]

        parts = [messages[i::connections] for i in range(connections)]
        with ThreadPoolExecutor(max_workers=connections) as pool:
            sent = [ok for part in pool.map(one_connection, parts) for ok in part]
        assert all(sent), f"{sent.count(False)} not sent"
    return run


def _outbox(url: str, messages: list[tuple[str, str, str]]) -> None:
    """Fresh pending rows in the outbox for ``messages`` (the table emptied first)."""
    from stepdown.db import get_engine
    from stepdown.models.tables import Message

    table = Message.__table__  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    with get_engine(url).begin() as connection:
        connection.execute(table.delete())
        connection.execute(table.insert(), [
            {"dedupe_key": f"bench:{subject}", "channel": "email", "recipient": to,
             "subject": subject, "body": body, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "last_error": None, "created_at": now, "sent_at": None}
            for to, subject, body in messages])


def outbox_deliver(workers: int) -> Callable[[Sink, list[tuple[str, str, str]], bool], None]:
    def run(sink: Sink, messages: list[tuple[str, str, str]], tls: bool) -> None:
        from stepdown.notifications import sweep

        delivered = sweep.deliver(workers=workers)
        assert (delivered.sent, delivered.retrying, delivered.failed) == (len(messages), 0, 0), (
            delivered.sent, delivered.retrying, delivered.failed, delivered.why())
    return run


def _outbox_rows_ok(count: int) -> bool:
    import sqlalchemy as sa

    from stepdown.db import get_engine

    with get_engine().connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT status, attempts, count(*) FROM message GROUP BY status, attempts")).all()
    return [tuple(r) for r in rows] == [("sent", 1, count)]


# ---------------------------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000,
                        help="messages per fast step (smtplib, EmailBatch, deliver)")
    parser.add_argument("--slow-messages", type=int, default=200,
                        help="messages per step of the per-message Apprise path (~25 msg/s)")
    parser.add_argument("--workers", default="1,2,4,8", help="deliver(workers=...) to run")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--tls", action="store_true", help="STARTTLS, self-signed certificate")
    parser.add_argument("--skip-slow", action="store_true",
                        help="leave out the per-message Apprise steps")
    parser.add_argument("--rounds", type=int, default=3,
                        help="run every step this many times, interleaved; report medians")
    parser.add_argument("--label", default="")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="delivery-bench-")
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if args.database == "sqlite":
        url = f"sqlite:///{Path(tmp.name) / 'stepdown.db'}"
    else:
        import uuid

        import sqlalchemy as sa

        name = f"stepdown_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

        def drop() -> None:
            from stepdown import db

            db._engine(url).dispose()
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    os.environ.update({"STEPDOWN_DATABASE_URL": url, "STEPDOWN_HOME": str(Path(tmp.name)),
                       "STEPDOWN_DELIVERY_BACKOFF": "0.01",
                       "STEPDOWN_TODAY": "2027-03-09"})
    sink = Sink(args.tls)
    os.environ["STEPDOWN_EMAIL_URL"] = sink.url

    from stepdown.db import get_engine

    get_engine()  # migrate now, not inside a step
    fast, slow = args.messages, args.slow_messages
    steps: list[tuple[str, int, Callable[[Sink, list[tuple[str, str, str]], bool], None]]] = [
        ("smtplib, 1 connection", fast, raw_smtplib)]
    if not args.skip_slow:
        steps += [("apprise per message, 1 thread", slow, apprise_per_message(1)),
                  ("apprise per message, 8 threads", slow, apprise_per_message(8)),
                  ("+ shared SSL context, 8 threads", slow, shared_context(8))]
    steps += [(f"EmailBatch, {n} connection{'s' if n > 1 else ''}", fast, email_batch(n))
              for n in (1, 2, 4, 8)]
    steps += [(f"deliver(workers={w}), {args.database}", fast, outbox_deliver(w))
              for w in (int(x) for x in args.workers.split(","))]

    runs: dict[str, list[dict[str, Any]]] = {step: [] for step, _, _ in steps}
    failed = False
    try:
        # Warm up: imports, the first SSL context, the first connection (not timed).
        raw_smtplib(sink, _messages("warm", 5), args.tls)
        email_batch(1)(sink, _messages("warm batch", 5), args.tls)
        _apprise_per_message(*_messages("warm apprise", 1)[0])
        sink.wait_for(11)
        sink.ask("clear")
        for round_no in range(1, args.rounds + 1):
            for step, count, run in steps:
                messages = _messages(f"{step} {round_no}", count)
                if step.startswith("deliver"):
                    _outbox(url, messages)
                load = os.getloadavg()[0]
                sink_cpu, cpu, started = sink.ask("cpu"), _cpu(), time.perf_counter()
                run(sink, messages, args.tls)
                elapsed, cpu_used = time.perf_counter() - started, _cpu() - cpu
                got = sink.wait_for(count)
                sink_cpu_used = sink.ask("cpu") - sink_cpu
                time.sleep(0.1)  # anything sent twice would arrive now
                received = sink.ask("check")
                sink.ask("clear")
                expected = sorted(([to], to, subject) for to, subject, _ in messages)
                ok = got == count and sorted(received) == expected
                if step.startswith("deliver"):
                    ok = ok and _outbox_rows_ok(count)
                failed |= not ok
                runs[step].append({"s": elapsed, "rate": count / elapsed, "cpu": cpu_used,
                                   "sink_cpu": sink_cpu_used, "load": load, "ok": ok})
                print(f"round {round_no} {step:40s} {count:5d} msgs {elapsed:7.2f} s "
                      f"{count / elapsed:7.1f} msg/s  CPU {cpu_used:5.2f} s "
                      f"(sink {sink_cpu_used:5.2f} s)  load {load:4.2f}  "
                      + ("ok" if ok else f"CHECK FAILED ({got} received)"), flush=True)
    finally:
        sink.stop()
        drop()
        tmp.cleanup()

    records = []
    at = datetime.now(UTC).isoformat(timespec="seconds")
    base = statistics.median(r["rate"] for r in runs[steps[0][0]])
    print(f"\nmedians of {args.rounds} rounds (steps interleaved); vs = / smtplib's median")
    for step, count, _ in steps:
        done = runs[step]
        rate = statistics.median(r["rate"] for r in done)
        cpu_ms = statistics.median(r["cpu"] for r in done) / count * 1000
        loads = [round(r["load"], 2) for r in done]
        records.append({
            "bench": "delivery", "at": at, "step": step, "messages": count,
            "rounds": len(done), "msgs_per_s": round(rate, 1),
            "msgs_per_s_all": [round(r["rate"], 1) for r in done],
            "vs_smtplib": round(rate / base, 3), "cpu_ms_per_msg": round(cpu_ms, 2),
            "sink_cpu_ms_per_msg": round(
                statistics.median(r["sink_cpu"] for r in done) / count * 1000, 2),
            "tls": args.tls, "database": args.database, "loadavg_1m": loads,
            "ok": all(r["ok"] for r in done), "nproc": os.cpu_count(),
            "python": platform.python_version(), "label": args.label})
        print(f"{step:40s} {rate:7.1f} msg/s ({min(r['rate'] for r in done):.0f}-"
              f"{max(r['rate'] for r in done):.0f})  vs {rate / base:5.2f}  "
              f"CPU {cpu_ms:5.2f} ms/msg  load {min(loads)}-{max(loads)}")
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
