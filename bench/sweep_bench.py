"""Benchmark: one sweep of the escalation ladder over a large synthetic caseload, its digests
delivered to a local SMTP server.

    .venv/bin/python bench/sweep_bench.py --processes 10000 --due 2000 [--database sqlite|postgres]

What it does, in order:

1. Creates a fresh database (a SQLite file in a temporary directory, or a fresh PostgreSQL
   database on the server, dropped afterwards) and builds the schema with
   ``stepdown.db.get_engine()`` (the Alembic migrations).
2. Bulk-loads (SQLAlchemy Core executemany, in chunks) a synthetic directory and caseload: 40
   teams with a team manager each, one head of service, ``processes / 25`` social workers, and
   ``processes`` open Step Down processes in stage ``support``, each with a stage run, an
   assignment of its social worker and 10 obligations (``support.weekly_review#1..6`` and
   ``support.sw_visit#1..4``). Exactly ``--due`` of those obligations have their next rung (the
   reminder) at the start of the benchmark day; every other one is due later in the coming year.
   The load runs in a child process: its time and memory are reported apart from the sweep's.
3. Starts an SMTP sink (``tests.servers.SMTPSink``, aiosmtpd), then times ``sweep.write`` (one
   transaction, in ``session_scope()``) and ``sweep.deliver()`` (Apprise, 8 threads), as
   ``tests/test_sweep.py`` runs a sweep; checks that every digest reached the sink, exactly once,
   and that a second sweep the same day writes and sends nothing.
4. Prints one result line and appends a JSON line to ``bench/results.jsonl``.

By default the due obligations are spread so that the number of digests depends on ``--due``
only (``--per-digest`` items each, to randomly chosen social workers): 10,000 and 100,000
processes with the same ``--due`` then send the same number of messages, and the growth ratio
measures the caseload's effect alone. ``--spread random`` picks the due obligations uniformly
from the whole caseload instead (more workers, fewer items each, as the caseload grows).
``--spread recipients --recipients R`` spreads them over exactly R randomly chosen social workers
(as evenly as they go: 2,000 over 1,600 is 400 digests of 2 and 1,200 of 1), so the digests are
R whatever the caseload; with ``--social-workers N`` the directory is the same size too (the
national day: ``--processes 10000|100000 --due 2000 --spread recipients --recipients 1600
--social-workers 4000 --sink raw``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.servers

RESULTS = Path(__file__).resolve().parent / "results.jsonl"
PG_ADMIN_URL = os.environ.get(
    "STEPDOWN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DEFAULT_AS_OF = "2027-03-09"  # a Tuesday, no bank holiday near it
TEAMS = 40
CASES_PER_WORKER = 25
KEYS = ([f"support.weekly_review#{n}" for n in range(1, 7)]
        + [f"support.sw_visit#{n}" for n in range(1, 5)])
TITLES = {"support.weekly_review": "Weekly support review meeting",
          "support.sw_visit": "Social worker weekly visit"}
SOURCES = {"support.weekly_review": "000 Step 5: weekly meeting for the first 6 weeks following "
                                    "the move",
           "support.sw_visit": "000 Step 5: social worker weekly visits for the first 4 weeks"}
CHUNK = 2000  # processes per executemany batch (x10 obligations)


def _mb(kilobytes: int) -> float:
    return round(kilobytes / 1024, 1)  # Linux: ru_maxrss is in KiB


# ------------------------------------------------------------------------------- the caseload
def worker_count(processes: int) -> int:
    return max(1, round(processes / CASES_PER_WORKER))


def worker_of(process_index: int, workers: int) -> int:
    """The social worker (0-based) who holds process ``process_index`` (0-based)."""
    return process_index % workers


def choose_due(*, processes: int, due: int, spread: str, per_digest: int,
               rng: random.Random, workers: int | None = None,
               recipients: int | None = None) -> dict[int, set[int]]:
    """Which obligations are due: {process index: {obligation slot}} (``due`` in all)."""
    slots = len(KEYS)
    if due > processes * slots:
        raise SystemExit(f"--due {due} is more than the {processes * slots} obligations")
    chosen: dict[int, set[int]] = {}
    if spread == "random":
        for flat in rng.sample(range(processes * slots), due):
            chosen.setdefault(flat // slots, set()).add(flat % slots)
        return chosen
    workers = workers or worker_count(processes)
    if spread == "recipients":
        if not recipients or recipients > min(due, workers):
            raise SystemExit(f"--recipients must be 1 to {min(due, workers)} (--due {due}, "
                             f"{workers} social workers)")
        shares = [due // recipients + (1 if n < due % recipients else 0)
                  for n in range(recipients)]
    else:
        recipients = math.ceil(due / per_digest) if due else 0
        if recipients > workers:
            raise SystemExit(f"--due {due} at --per-digest {per_digest} needs {recipients} "
                             f"social workers; there are {workers}: raise --per-digest or "
                             "--processes")
        shares = [min(per_digest, due - n * per_digest) for n in range(recipients)]
    for worker, take in zip(rng.sample(range(workers), recipients), shares, strict=True):
        mine = list(range(worker, processes, workers))  # that worker's processes
        if take > len(mine) * slots:
            raise SystemExit(f"{take} due items are more than a worker's obligations")
        for flat in rng.sample(range(len(mine) * slots), take):
            chosen.setdefault(mine[flat // slots], set()).add(flat % slots)
    return chosen


def generate(url: str, *, processes: int, due: int, as_of: date, spread: str, per_digest: int,
             seed: int, social_workers: int | None = None,
             recipients: int | None = None) -> dict[str, Any]:
    """Build the schema and bulk-load the synthetic directory and caseload (Core executemany)."""
    import sqlalchemy as sa

    from stepdown.db import get_engine
    from stepdown.domain import ladder
    from stepdown.domain.calendar import LONDON, is_working_day, next_working_day
    from stepdown.models.tables import (
        Assignment,
        Obligation,
        Person,
        Process,
        StageRun,
        Team,
    )

    if not is_working_day(as_of):
        raise SystemExit(f"--as-of {as_of} is not a working day: no reminder fires on it")
    started = time.perf_counter()
    engine = get_engine(url)
    migrated = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start_of_day = datetime.combine(as_of, datetime.min.time(), LONDON)
    cutoff = datetime.combine(as_of, datetime.max.time(), LONDON)

    # The due obligations: due on the next working day, so the reminder fires on ``as_of``.
    due_day = next_working_day(as_of + timedelta(days=1))
    first = ladder.next_rung(due_day, None, set())
    assert first is not None and first.name == ladder.REMINDER and first.at == start_of_day, first

    @cache
    def rung_of(day: date) -> ladder.Rung:
        rung = ladder.next_rung(day, None, set())
        assert rung is not None
        return rung

    # Everything else: due over the coming year, its first rung after the benchmark day.
    later = [d for d in (as_of + timedelta(days=n) for n in range(2, 366))
             if rung_of(d).at > cutoff]

    workers = social_workers or worker_count(processes)
    team_rows = [{"id": t, "name": f"team-{t:02d}", "teams_channel": None}
                 for t in range(1, TEAMS + 1)]
    hos_id, tm_base, sw_base = 1, 1, 1 + TEAMS  # team manager of team t: tm_base + t
    people = [{"id": hos_id, "email": "hos@la.example", "name": "Head of Service",
               "role": "head_of_service", "team_id": 1, "manager_id": None, "updated_at": now}]
    people += [{"id": tm_base + t, "email": f"tm{t:02d}@la.example", "name": f"Manager {t:02d}",
                "role": "team_manager", "team_id": t, "manager_id": hos_id, "updated_at": now}
               for t in range(1, TEAMS + 1)]
    for w in range(workers):
        team = w % TEAMS + 1
        people.append({"id": sw_base + 1 + w, "email": f"sw{w:06d}@la.example",
                       "name": f"Worker {w:06d}", "role": "social_worker", "team_id": team,
                       "manager_id": tm_base + team, "updated_at": now})

    chosen = choose_due(processes=processes, due=due, spread=spread, per_digest=per_digest,
                        rng=rng, workers=workers, recipients=recipients)
    expected: dict[str, int] = {}  # social worker's email -> due items in their digest
    for index, slots in chosen.items():
        email = f"sw{worker_of(index, workers):06d}@la.example"
        expected[email] = expected.get(email, 0) + len(slots)

    process_t = Process.__table__  # type: ignore[attr-defined]
    stage_t = StageRun.__table__  # type: ignore[attr-defined]
    assignment_t = Assignment.__table__  # type: ignore[attr-defined]
    obligation_t = Obligation.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(Team.__table__.insert(), team_rows)  # type: ignore[attr-defined]
        connection.execute(Person.__table__.insert(), people)  # type: ignore[attr-defined]

    obligation_id = 0
    for chunk_start in range(0, processes, CHUNK):
        procs, stages, assigns, obligations = [], [], [], []
        for index in range(chunk_start, min(processes, chunk_start + CHUNK)):
            pid = index + 1
            opened = as_of - timedelta(days=rng.randint(60, 400))
            moved_in = opened + timedelta(days=rng.randint(30, 55))
            procs.append({"id": pid, "ref": f"SD-{pid:06d}", "kind": "step_down",
                          "child_ref": f"C{pid:06d}", "stage": "support", "status": "open",
                          "outcome": None, "opened_on": opened, "closed_on": None,
                          "waiting_for": None, "waiting_flow_run_id": None,
                          "waiting_input_key": None, "created_at": now})
            stages.append({"id": pid, "process_id": pid, "stage": "support",
                           "started_on": moved_in, "ended_on": None,
                           "flow_run_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))})
            assigns.append({"id": pid, "process_id": pid, "role": "social_worker",
                            "person_id": sw_base + 1 + worker_of(index, workers),
                            "assigned_at": now})
            due_slots = chosen.get(index, ())
            for slot, key in enumerate(KEYS):
                obligation_id += 1
                base = key.split("#", 1)[0]
                if slot in due_slots:
                    due_on, rung = due_day, first
                else:
                    due_on = rng.choice(later)
                    rung = rung_of(due_on)
                obligations.append({
                    "id": obligation_id, "process_id": pid, "key": key, "stage": "support",
                    "owner_role": "social_worker", "title": TITLES[base],
                    "source": SOURCES[base], "opened_on": moved_in, "earliest_on": None,
                    "due_on": due_on, "due_at": None, "status": "pending", "done_on": None,
                    "data": None, "completion": "done_on", "next_rung": rung.name,
                    "next_rung_at": rung.at, "owner_person_id": None,
                    "escalated_from_id": None, "updated_at": now})
        with engine.begin() as connection:
            connection.execute(process_t.insert(), procs)
            connection.execute(stage_t.insert(), stages)
            connection.execute(assignment_t.insert(), assigns)
            connection.execute(obligation_t.insert(), obligations)
    loaded = time.perf_counter()

    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Explicit ids: move the sequences past them, as if the rows had been inserted one by
            # one.
            for table in ("team", "person", "process", "stage_run", "assignment", "obligation"):
                connection.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # What autovacuum would do minutes after such a load: planner statistics.
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                sa.text("VACUUM ANALYZE"))
        counted = {t: connection.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                   for t in ("process", "obligation", "person")}
        due_rows = connection.execute(
            sa.select(sa.func.count()).select_from(obligation_t)
            .where(obligation_t.c.next_rung_at <= cutoff)).scalar_one()
    assert counted["process"] == processes and counted["obligation"] == processes * len(KEYS)
    assert due_rows == due, (due_rows, due)
    engine.dispose()
    return {"migrate_s": round(migrated - started, 3),
            "load_s": round(loaded - migrated, 3),
            "generate_s": round(time.perf_counter() - started, 3),
            "obligations": counted["obligation"], "people": counted["person"],
            "workers": workers, "expected": expected,
            "generate_peak_rss_mb": _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)}


# ------------------------------------------------------------------------------ the SMTP sink
def _smtp_sink(latency: float) -> Any:
    """A started ``tests.servers.SMTPSink``; with ``latency``, each message is held that long
    before the 250 reply (a slow relay)."""
    import asyncio

    from aiosmtpd.controller import Controller

    from tests.servers import SMTPSink, _Collector

    class SlowCollector(_Collector):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            await asyncio.sleep(latency)
            return await super().handle_DATA(server, session, envelope)

    class SlowSink(SMTPSink):
        def start(self) -> SlowSink:
            if self._controller is None:
                controller = Controller(SlowCollector(self), hostname=self.host, port=self.port)
                controller.start()
                self._controller = controller
            return self

    return (SlowSink() if latency > 0 else SMTPSink()).start()


def _summary(sink: Any) -> list[tuple[str, str, list[str]]]:
    """(To, Subject, RCPT TO) of every message the sink received."""
    return [(str(m["To"]), str(m["Subject"]), rcpts)
            for m, (_, rcpts) in zip(sink.messages, sink.envelopes, strict=True)]


class _RawSink:
    """An SMTP sink that keeps each message's bytes and parses them only for the summary (a
    relay does not parse what it relays; SMTPSink parses each one as it arrives)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from tests.servers import HOST, SENDER, free_port

        self._received: list[tuple[list[str], bytes]] = []
        received = self._received

        class Keep:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                received.append((list(envelope.rcpt_tos), envelope.original_content or b""))
                return "250 OK"

        port = free_port()
        self._controller = Controller(Keep(), hostname=HOST, port=port)
        self._controller.start()
        self.url = f"mailto://{HOST}:{port}?from={SENDER}&mode=insecure"

    @property
    def messages(self) -> list[Any]:
        import email
        import email.policy

        return [email.message_from_bytes(raw, policy=email.policy.default)
                for _, raw in list(self._received)]

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        return [("", rcpts) for rcpts, _ in list(self._received)]

    def count(self) -> int:
        return len(self._received)

    def stop(self) -> None:
        self._controller.stop()


def _sink_process_main(connection: Any, latency: float, raw: bool = False) -> None:
    """The SMTP sink in a process of its own: answers "count", "summary" and "stop"."""
    sink = _RawSink() if raw else _smtp_sink(latency)
    connection.send(sink.url)
    try:
        while True:
            command = connection.recv()
            if command == "count":
                connection.send(sink.count() if raw else len(sink.messages))
            elif command == "summary":
                connection.send(_summary(sink))
            else:
                break
    finally:
        sink.stop()
        connection.send(None)


class Sink:
    """The SMTP sink, in this process (a thread, as in the tests) or in a process of its own
    (which keeps aiosmtpd's parsing off the sweep's CPU and GIL, as a real relay would be);
    ``raw``: in a process of its own, parsing nothing until the summary."""

    def __init__(self, where: str, latency: float) -> None:
        self._local = self._process = self._connection = None
        if where == "thread":
            self._local = _smtp_sink(latency)
            self.url = self._local.url
        else:
            import multiprocessing

            context = multiprocessing.get_context("spawn")
            self._connection, child = context.Pipe()
            self._process = context.Process(target=_sink_process_main,
                                            args=(child, latency, where == "raw"), daemon=True)
            self._process.start()
            self.url = self._connection.recv()

    def count(self) -> int:
        if self._local is not None:
            return len(self._local.messages)
        self._connection.send("count")
        return int(self._connection.recv())

    def summary(self) -> list[tuple[str, str, list[str]]]:
        if self._local is not None:
            return _summary(self._local)
        self._connection.send("summary")
        return list(self._connection.recv())

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        if self._local is not None:
            self._local.stop()
        elif self._process is not None:
            self._connection.send("stop")
            self._connection.recv()
            self._process.join(timeout=10)


# ---------------------------------------------------------------------------------- the sweep
def _cpu() -> float:
    """CPU seconds (user + system) used by this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _counted(subject: str) -> int:
    """The items a digest's subject counts ("stepdown digest <day>: 3 overdue, 2 due ...")."""
    counts = subject.rpartition(": ")[2]
    return sum(int(n) for n in re.findall(r"(?:^|, )(\d+) ", counts))


def run_sweep(*, as_of: date, expected: dict[str, int], due: int, profile: str | None,
              sink_where: str, latency: float, profile_clock: str = "wall",
              workers: int = 8) -> dict[str, Any]:
    """One sweep (write, then deliver) with a live SMTP sink; then the same-day re-run."""
    from sqlalchemy import func
    from sqlmodel import select

    from stepdown.db import get_engine, session_scope
    from stepdown.models.tables import Message, Notice
    from stepdown.notifications import sweep as outbox

    get_engine()  # connect (the schema is already at head): not part of the sweep
    sink = Sink(sink_where, latency)
    os.environ["STEPDOWN_EMAIL_URL"] = sink.url
    cutoff = outbox.end_of_day(as_of)
    profiler = deliver_profiler = None
    thread_profiles: list[Any] = []
    if profile:
        import cProfile
        from concurrent.futures import ThreadPoolExecutor

        # wall: time.perf_counter (waits included); cpu: each thread's own CPU time.
        timer = time.thread_time if profile_clock == "cpu" else time.perf_counter
        profiler, deliver_profiler = cProfile.Profile(timer), cProfile.Profile(timer)

        class ProfiledPool(ThreadPoolExecutor):
            """The delivery pool, each worker thread under its own cProfile (wall clock)."""

            def __init__(self, max_workers: int | None = None, **kw: Any) -> None:
                def start() -> None:
                    thread_profile = cProfile.Profile(timer)
                    thread_profiles.append(thread_profile)
                    thread_profile.enable()

                super().__init__(max_workers=max_workers, initializer=start, **kw)

        outbox.ThreadPoolExecutor = ProfiledPool  # type: ignore[misc,assignment]
    load_before = os.getloadavg()[0]
    try:
        c0, t0 = _cpu(), time.perf_counter()
        if profiler:
            profiler.enable()
        with session_scope() as session:
            written = outbox.write(session, as_of=as_of, cutoff=cutoff)
        if profiler:
            profiler.disable()
        c1, t1 = _cpu(), time.perf_counter()
        if deliver_profiler:
            deliver_profiler.enable()
        delivered = outbox.deliver(workers=workers)
        if deliver_profiler:
            deliver_profiler.disable()
        c2, t2 = _cpu(), time.perf_counter()
        messages = written.messages
        sink.wait_for(messages)
        received = sink.summary()

        # The same day again: every rung has fired and every digest is sent.
        t3 = time.perf_counter()
        with session_scope() as session:
            again = outbox.write(session, as_of=as_of, cutoff=cutoff)
        again_delivered = outbox.deliver()
        t4 = time.perf_counter()
        time.sleep(0.2)
        received_after = sink.count()
        with session_scope() as session:
            notices = session.exec(select(func.count()).select_from(Notice)).one()
            sent_rows = session.exec(select(func.count()).select_from(Message)
                                     .where(Message.status == "sent")).one()
    finally:
        sink.stop()
    if profile and profiler and deliver_profiler:
        import pstats

        profiler.dump_stats(f"{profile}.write")
        deliver_profiler.dump_stats(f"{profile}.deliver-main")
        # The pool's worker threads have ended (the pool is shut down): sum their profiles.
        merged = None
        for thread_profile in thread_profiles:
            thread_profile.disable()
            thread_profile.create_stats()
            merged = pstats.Stats(thread_profile) if merged is None else merged.add(thread_profile)
        if merged is not None:
            merged.dump_stats(f"{profile}.deliver-threads")

    checks = {
        "fired == due": len(written.fired) == due,
        "messages == digests expected": messages == len(expected),
        "delivered == messages": (delivered.sent, delivered.failed, delivered.retrying)
                                 == (messages, 0, 0),
        "sink received == messages": len(received) == messages,
        "one digest per expected worker, to that worker only": sorted(
            to for to, _, rcpts in received if rcpts == [to]) == sorted(expected),
        "digest subjects count the items": all(
            _counted(subject) == expected.get(to) for to, subject, _ in received),
        "notices == due": notices == due,
        "message rows sent == messages": sent_rows == messages,
        "second sweep writes nothing": (len(again.fired), again.messages) == (0, 0),
        "second sweep sends nothing": again_delivered.sent == 0 and received_after == messages,
    }
    if not all(checks.values()):
        odd = [(to, subject, rcpts) for to, subject, rcpts in received
               if rcpts != [to] or _counted(subject) != expected.get(to)]
        print(f"{len(received)} received; {len(odd)} unexpected, e.g. {odd[:3]}",
              file=sys.stderr)
    write_s, deliver_s = t1 - t0, t2 - t1
    return {"write_s": round(write_s, 3), "deliver_s": round(deliver_s, 3),
            "total_s": round(t2 - t0, 3), "messages": messages,
            "msgs_per_s": round(messages / deliver_s, 1) if deliver_s else None,
            "write_cpu_s": round(c1 - c0, 3), "deliver_cpu_s": round(c2 - c1, 3),
            "second_sweep_s": round(t4 - t3, 3),
            # The machine's 1-minute load average before the sweep and after it (this process
            # included): well above nproc means other work shared the CPUs during the run.
            "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "peak_rss_mb": _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
            "checks": checks, "ok": all(checks.values())}


# ------------------------------------------------------------------------------- the databases
def create_database(kind: str, workdir: Path) -> tuple[str, Any]:
    """A fresh database URL, and how to drop it."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'stepdown.db'}", lambda: None
    import sqlalchemy as sa

    name = f"stepdown_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", drop


def _environment(url: str, workdir: Path, as_of: date) -> None:
    os.environ["STEPDOWN_DATABASE_URL"] = url  # before stepdown.db is imported
    os.environ["STEPDOWN_HOME"] = str(workdir / "home")
    os.environ["STEPDOWN_TODAY"] = as_of.isoformat()  # clock.now(): noon on the benchmark day
    os.environ["STEPDOWN_DELIVERY_BACKOFF"] = "0.01"
    os.environ.setdefault("STEPDOWN_UI_URL", "http://prefect.example")
    os.environ.pop("STEPDOWN_POLICY", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=2_000,
                        help="obligations whose next rung fires on the benchmark day")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--as-of", default=DEFAULT_AS_OF, help="the benchmark day (a working day)")
    parser.add_argument("--spread", choices=("fixed", "random", "recipients"), default="fixed",
                        help="fixed: --per-digest due items per digest (messages = due / "
                             "per-digest, whatever the caseload); random: uniform over the "
                             "caseload; recipients: over exactly --recipients social workers")
    parser.add_argument("--recipients", type=int, default=None,
                        help="with --spread recipients: the number of digests")
    parser.add_argument("--social-workers", type=int, default=None,
                        help="social workers in the directory (default processes / 25)")
    parser.add_argument("--workers", type=int, default=8,
                        help="deliver(workers=...): SMTP connections at once")
    parser.add_argument("--per-digest", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20270309)
    parser.add_argument("--sink", choices=("thread", "process", "raw"), default="thread",
                        help="run the SMTP sink in this process (as the tests do; its parsing "
                             "competes with delivery for the CPU and the GIL) or in its own")
    parser.add_argument("--smtp-latency", type=float, default=0.0, metavar="SECONDS",
                        help="hold each message this long before accepting it (a slow relay)")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile into FILE.write, FILE.deliver-main and "
                             "FILE.deliver-threads (the delivery pool's threads, summed)")
    parser.add_argument("--profile-clock", choices=("wall", "cpu"), default="wall",
                        help="what the profiles measure: elapsed time, or each thread's CPU time")
    parser.add_argument("--label", default="", help="a note kept with the result")
    parser.add_argument("--no-record", action="store_true", help="do not append to results")
    parser.add_argument("--_generate", help=argparse.SUPPRESS)  # internal: the loader child
    args = parser.parse_args(argv)
    as_of = date.fromisoformat(args.as_of)

    if args._generate:  # the child: load, report as JSON on the last line of stdout
        stats = generate(args._generate, processes=args.processes, due=args.due, as_of=as_of,
                         spread=args.spread, per_digest=args.per_digest, seed=args.seed,
                         social_workers=args.social_workers, recipients=args.recipients)
        print(json.dumps(stats))
        return 0

    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        workdir = Path(tmp)
        url, drop = create_database(args.database, workdir)
        try:
            _environment(url, workdir, as_of)
            child = subprocess.run(
                [sys.executable, __file__, "--_generate", url, "--processes", str(args.processes),
                 "--due", str(args.due), "--as-of", args.as_of, "--spread", args.spread,
                 "--per-digest", str(args.per_digest), "--seed", str(args.seed)]
                + (["--social-workers", str(args.social_workers)] if args.social_workers else [])
                + (["--recipients", str(args.recipients)] if args.recipients else []),
                check=True, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
            stats = json.loads(child.stdout.strip().splitlines()[-1])
            expected = stats.pop("expected")
            result = run_sweep(as_of=as_of, expected=expected, due=args.due,
                               profile=args.profile, sink_where=args.sink,
                               latency=args.smtp_latency, profile_clock=args.profile_clock,
                               workers=args.workers)
            if args.database == "sqlite":
                stats["db_size_mb"] = round((workdir / "stepdown.db").stat().st_size / 2**20, 1)
        finally:
            from stepdown import db

            for engine_url in list(db._migrated):
                db._engine(engine_url).dispose()
            drop()

    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "processes": args.processes, "obligations": stats["obligations"], "due": args.due,
        "database": args.database, "spread": args.spread,
        "per_digest": args.per_digest if args.spread == "fixed" else None,
        "recipients": args.recipients if args.spread == "recipients" else None,
        "delivery_workers": args.workers,
        "social_workers": stats["workers"], "sink": args.sink,
        "smtp_latency_s": args.smtp_latency,
        **{k: result[k] for k in ("write_s", "deliver_s", "total_s", "messages", "msgs_per_s",
                                  "write_cpu_s", "deliver_cpu_s", "second_sweep_s",
                                  "loadavg_1m", "peak_rss_mb", "ok")},
        **{k: v for k, v in stats.items() if k not in ("obligations", "workers")},
        "nproc": os.cpu_count(), "python": platform.python_version(), "label": args.label,
    }
    failed = [name for name, passed in result["checks"].items() if not passed]
    print(f"{args.database} (sink: {args.sink}"
          + (f", SMTP latency {args.smtp_latency} s" if args.smtp_latency else "")
          + f") processes={args.processes} obligations={stats['obligations']} "
          f"due={args.due} messages={result['messages']}: write {result['write_s']:.2f} s, "
          f"deliver {result['deliver_s']:.2f} s ({result['msgs_per_s']} msg/s), "
          f"total {result['total_s']:.2f} s (CPU {result['write_cpu_s']:.1f} + "
          f"{result['deliver_cpu_s']:.1f} s; load avg {result['loadavg_1m'][0]}); "
          f"peak RSS {result['peak_rss_mb']} MB; "
          f"load {stats['generate_s']:.1f} s; re-run {result['second_sweep_s']:.2f} s; "
          + ("checks OK" if not failed else f"FAILED: {', '.join(failed)}"))
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
