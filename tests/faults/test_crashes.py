"""Crashes: `kill -9` of `stepdown sweep` and of `stepdown input` at random points, and two
clients submitting one waiting form at once, against one `stepdown serve` and a counting SMTP
sink.

A sweep is killed at one of three kinds of random point, in turn: a random delay after it
starts (up to as long as a whole sweep takes), just before or just after a random one of its
database commits (``STEPDOWN_FAULT``), or a random delay after the sink has accepted a random
one of the day's messages. A later sweep of the same day finishes the job. Every message the
day's sweep should write is then written once and delivered once. A message the relay had
accepted in the instant before the kill, before the outbox recorded it as sent, is sent again
(SMTP cannot tell the sender it already has it): the test counts those "in flight" at each kill
and requires every duplicate to be one of them.

An input is killed the same ways. It is then applied whole or not at all, and a retry of the
same command applies it once and exits 0.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e import System, served, wait_until
from tests.faults.common import (
    LONG,
    TIMEOUT,
    TriggerSink,
    input_at,
    record_of,
    report,
    resume_at,
    run_and_kill,
    size,
    submissions,
    waiting_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(TIMEOUT)]

TODAY = "2028-06-01"
WORKERS = 4  # social workers, one digest each a day
SEED = int(os.environ.get("STEPDOWN_FAULTS_SEED", "0")) or random.randrange(1, 10**6)
# The process killed: `stepdown sweep` in the long version; in the short one (and in the long
# one with STEPDOWN_FAULTS_SWEEP=tasks), the same outbox work without the Prefect engine
# (tests/faults/sweeper.py), several times quicker to start.
SWEEP = (("sweep", "--as-of") if LONG and os.environ.get("STEPDOWN_FAULTS_SWEEP") != "tasks"
         else ("-m", "tests.faults.sweeper"))
STAFF = ("email,role,manager_email,team,name,teams_channel\n"
         "hos@la.example,head_of_service,,north,H,\n"
         "tm@la.example,team_manager,hos@la.example,north,T,\n"
         + "".join(f"sw{i}@la.example,social_worker,tm@la.example,north,S{i},\n"
                   for i in range(WORKERS)))


@pytest.fixture(scope="module")
def sink() -> Iterator[TriggerSink]:
    smtp = TriggerSink()
    smtp.start()
    yield smtp
    smtp.stop()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, sink: TriggerSink) -> Iterator[System]:
    yield from served(tmp_path_factory, "stepdown-faults", TODAY, env={
        "STEPDOWN_EMAIL_URL": sink.url, "STEPDOWN_DELIVERY_BACKOFF": "0.01"})


def _working_days(start: date, count: int) -> list[date]:
    from stepdown.domain.calendar import is_working_day

    days, day = [], start
    while len(days) < count:
        if is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def _open_cases(pacts: list[date]) -> None:
    """WORKERS Step Down cases per day in ``pacts``, each in preparation from that day: their
    reminders, due dates, overdue flags and escalations fall on every working day after."""
    from stepdown.db import session_scope
    from stepdown.staff import assign, import_staff
    from tests.builders import open_case, submit

    with session_scope() as session:
        import_staff(session, text=STAFF, actor="test")
    for n, pact in enumerate(pacts):
        for worker in range(WORKERS):
            ref = f"SD-K{n:03d}-{worker}"
            open_case(ref, child=f"CH-K{n:03d}-{worker}", identified=str(pact - timedelta(30)))
            with session_scope() as session:
                assign(session, ref=ref, role="social_worker", email=f"sw{worker}@la.example",
                       actor="test")
            submit(ref, "identification.suitability", {
                "held_on": str(pact - timedelta(20)), "sdq_score": 4, "care_needs_band": "2.1",
                "care_plan_ratified": True})
            submit(ref, "identification.pact_decision", {"decided_on": str(pact),
                                                          "decision": "proceed"})


def _outbox() -> list[tuple[str, str, str]]:
    from sqlmodel import col, select

    from stepdown.db import session_scope
    from stepdown.models.tables import Message

    with session_scope() as session:
        return [(m.recipient, m.subject, m.status) for m in
                session.exec(select(Message).order_by(col(Message.id))).all()]


def _would_write(day: date) -> set[tuple[str, str]]:
    """What a sweep of ``day`` would still write to the outbox (a rolled-back rehearsal)."""
    from stepdown.notifications.rehearsal import rehearse

    return {(m["to"], m["subject"]) for m in rehearse(as_of=day, explicit_day=True).messages
            if m["new"]}


def _received(sink: TriggerSink) -> Counter[tuple[str, str]]:
    return Counter((str(m["To"]), str(m["Subject"])) for m in sink.messages)


def test_a_sweep_killed_anywhere_delivers_every_message_exactly_once(
        system: System, sink: TriggerSink) -> None:
    rng = random.Random(SEED)
    wanted = size(10, 100)
    per_day = 3 if LONG else 5  # runs killed a day (one that ends first is none), then one not
    days = _working_days(date(2027, 1, 4), wanted // per_day + 9 + 4)
    with record_of(system):
        _open_cases(days[:len(days) - 9])
    sweep_days = days[9:]  # the first reminders fall 9 working days after the first decision
    clean_s = 15.0 if LONG else 3.0  # how long a whole sweep takes: measured at each clean one
    kinds: Counter[str] = Counter()
    in_flight_by_kind: Counter[str] = Counter()
    injections = in_flight = 0
    expected: set[tuple[str, str]] = set()
    for day in sweep_days:
        with record_of(system):
            due = _would_write(day)
        assert due, f"nothing due on {day}: the test would prove nothing"
        expected |= due
        landed = 0
        for attempt in range(per_day * 3):  # until per_day kills have landed (or 3x the runs)
            if injections >= wanted or landed >= per_day:
                break
            kind = ("delay", "commit", "sink")[(injections + attempt) % 3]
            env: dict[str, str] = {}
            after: float | None = None
            trigger = threading.Event()
            with record_of(system):
                unsent = sum(1 for *_, status in _outbox() if status != "sent")
            if kind == "sink" and (len(due) if attempt == 0 else unsent) > 0:
                nth = len(sink.messages) + rng.randint(1, len(due) if attempt == 0 else unsent)
                delay = rng.uniform(0, 0.3)
                sink.on_message = lambda count, nth=nth, delay=delay, kill=trigger: (
                    threading.Timer(delay, kill.set).start() if count == nth else None)
            elif kind == "commit":
                env["STEPDOWN_FAULT"] = (f"{rng.choice(['before-commit', 'after-commit'])}:"
                                         f"{rng.randint(1, 24 if LONG else 8)}")
            else:
                kind = "delay"
                after = rng.uniform(0, clean_s)
            killed, result = run_and_kill(system, *SWEEP, str(day), env=env, after=after,
                                          kill=trigger)
            sink.on_message = None
            if not killed:  # it finished first: a clean sweep, not an injection
                assert result.code == 0, result.stderr
                continue
            injections += 1
            landed += 1
            kinds[kind] += 1
            time.sleep(0.4)  # a send under way when the process died has reached the sink
            with record_of(system):
                received = _received(sink)
                caught = sum(1 for to, subject, status in _outbox()
                             if status != "sent" and received[(to, subject)] > 0)
            in_flight += caught
            in_flight_by_kind[kind] += caught
        started = time.monotonic()
        _, finished = run_and_kill(system, *SWEEP, str(day))
        clean_s = time.monotonic() - started
        assert finished.code == 0, finished.stderr
        print(f"{day}: {len(due)} due, clean sweep {clean_s:.1f}s, {injections} kills so far")
        with record_of(system):
            outbox = _outbox()
            assert _would_write(day) == set(), f"{day}: rungs left unwritten"
        assert [m for m in outbox if m[2] != "sent"] == [], f"{day}: not all delivered"
        if injections >= wanted:
            break

    written = Counter((to, subject) for to, subject, _ in outbox)
    received = _received(sink)
    lost = [m for m in written if received[m] == 0]
    duplicated = sum(n - 1 for n in received.values() if n > 1)
    report("sweep_kill", seed=SEED, process=" ".join(SWEEP), injections=injections, kinds=dict(kinds),
           messages=len(written), received=sum(received.values()), lost=len(lost),
           duplicated=duplicated, in_flight_at_kill=in_flight,
           in_flight_by_kind=dict(in_flight_by_kind), days=len(sweep_days))
    assert injections >= wanted, f"only {injections} of {wanted} kills landed (seed {SEED})"
    assert set(written) == expected, "the outbox differs from what the sweeps were due to write"
    assert max(written.values()) == 1, "a message written twice"
    assert lost == [], f"lost (seed {SEED}): {lost}"
    assert set(received) <= set(written), "the sink has a message the outbox never had"
    assert duplicated <= in_flight, (
        f"{duplicated} duplicates but only {in_flight} messages in flight at a kill (seed {SEED})")


# ------------------------------------------------------------------------------ inputs
def _effects(ref: str, key: str) -> dict[str, Any]:
    """What an input changes on the case: the stage, and the key's obligation."""
    from stepdown.db import session_scope
    from stepdown.records import get_process
    from tests.builders import timeline_of

    with session_scope() as session:
        process = get_process(session, ref=ref)
        stage = process.stage
    item = timeline_of(ref, TODAY).get(key, {})
    return {"stage": stage, "status": item.get("status"), "done": item.get("done")}


INPUTS: list[tuple[str, dict[str, Any], str | None]] = [  # key, data, the form the flow awaits
    ("identification.child_views", {"done_on": "2028-05-02"}, None),
    ("identification.suitability", {"held_on": "2028-05-03", "sdq_score": 4,
                                    "care_needs_band": "2.1", "care_plan_ratified": True},
     "identification.suitability"),
    ("identification.scayt_referral", {"done_on": "2028-05-04"}, None),
    ("identification.pact_decision", {"decided_on": "2028-05-05", "decision": "proceed"},
     "identification.pact_decision"),
]


def test_an_input_killed_mid_submit_is_applied_whole_or_not_at_all(system: System) -> None:
    rng = random.Random(SEED + 1)
    wanted = size(2, 20)  # the short version: one completion recorded directly, one form
    cases = (wanted + len(INPUTS) - 1) // len(INPUTS)
    refs = [f"SD-I{n:03d}" for n in range(cases)]
    for ref in refs:
        system.ok("case", "open", ref, "--child", f"CH-{ref}", "--identified", "2028-05-01")
    clean_s = {"direct": 4.0, "flow": 12.0}
    figures: Counter[str] = Counter()
    injections = 0
    for ref in refs:
        for key, data, form in INPUTS:
            if injections >= wanted:
                break
            args = ("input", ref, key, "--data", json.dumps(data))
            if form is not None:
                system.wait_for_form(ref, form)
            with record_of(system):
                before = _effects(ref, key)
            killed = False
            for _ in range(3):  # a run that ends before its kill is tried again
                kind = ("delay", "commit")[rng.randrange(2)]
                env, after = {}, None
                if kind == "commit":
                    env["STEPDOWN_FAULT"] = (f"{rng.choice(['before-commit', 'after-commit'])}:"
                                             f"{rng.randint(1, 6)}")
                else:
                    after = rng.uniform(0, clean_s["flow" if form else "direct"])
                killed, result = run_and_kill(system, *args, env=env, after=after)
                if killed:
                    break
                assert result.code == 0, result.stderr  # applied, without a kill
            if not killed:
                continue
            injections += 1
            figures[kind] += 1
            time.sleep(2 if form else 0)  # a run resumed before the kill applies the input
            with record_of(system):
                rows = submissions(ref, key)
                accepted = [values for status, values in rows if status == "accepted"]
                assert len(accepted) <= 1, rows
                assert [s for s, _ in rows if s not in ("accepted", "received")] == [], rows
                after_kill = _effects(ref, key)
            if accepted:  # applied whole
                figures["applied_before_retry"] += 1
                assert after_kill["status"] == "done", (key, after_kill)
            elif not any(s == "received" for s, _ in rows):  # or not at all
                figures["not_applied_before_retry"] += 1
                assert after_kill == before, (key, before, after_kill)
            started = time.monotonic()
            retried = system.cli(*args)
            clean_s["flow" if form else "direct"] = time.monotonic() - started + 1
            assert retried.code == 0, (key, retried.stderr)
            if "already recorded" in retried.stdout:
                figures["retry_told_already_recorded"] += 1
            with record_of(system):
                rows = submissions(ref, key)
                assert [s for s, _ in rows] == ["accepted"], (key, rows)
                assert _effects(ref, key)["status"] == "done"
    report("input_kill", seed=SEED + 1, injections=injections, **figures)
    assert injections >= wanted, f"only {injections} of {wanted} kills landed"
    for ref in refs[:-1] if wanted % len(INPUTS) else refs:
        system.wait_for_form(ref, "preparation.readiness")


# ------------------------------------------------------------------- concurrent submissions
def test_one_form_submitted_by_two_clients_at_once_is_applied_once(system: System) -> None:
    rounds = size(2, 10)
    outcomes: Counter[str] = Counter()
    refs = [f"SD-C{n:03d}" for n in range(rounds)]
    for ref in refs:  # all at once: their flow runs start meanwhile
        system.ok("case", "open", ref, "--child", f"CH-{ref}", "--identified", "2028-05-01")
    for n, ref in enumerate(refs):
        system.wait_for_form(ref, "identification.suitability")
        with record_of(system):
            run_id = waiting_run(ref)
        wait_until(lambda run_id=run_id: httpx.get(f"{system.api}/flow_runs/{run_id}").json()[
            "state"]["type"] == "PAUSED", "the run to pause", 120, 0.5)
        first = {"held_on": "2028-05-03", "sdq_score": 4, "care_needs_band": "2.1",
                 "care_plan_ratified": True}
        second = {**first, "sdq_score": 5}
        barrier = threading.Barrier(2)
        via_api = n % 2 == 1  # every other round, the second client is the UI's API call
        with ThreadPoolExecutor(2) as pool:
            a = pool.submit(input_at, system, barrier, ref, "identification.suitability", first)
            b = (pool.submit(resume_at, system, barrier, run_id, second) if via_api else
                 pool.submit(input_at, system, barrier, ref, "identification.suitability", second))
            results = {"a": a.result(), "b": b.result()}
        system.wait_for_form(ref, "identification.pact_decision")
        with record_of(system):
            rows = submissions(ref, "identification.suitability")
        accepted = [values for status, values in rows if status == "accepted"]
        assert len(accepted) == 1 and [s for s, _ in rows] == ["accepted"], rows
        won = "a" if accepted[0]["sdq_score"] == 4 else "b"
        lost = "b" if won == "a" else "a"
        if won == "a":
            assert results["a"].code == 0, results["a"].stderr
        if lost == "a":  # the command line is told, one line, nothing recorded
            assert results["a"].code == 2, results["a"]
            assert results["a"].stderr.startswith("error: identification.suitability: not "
                                                  "recorded") or "already" in results["a"].stderr
        if via_api:
            answer = json.loads(results["b"].stdout)
            assert answer["status"] == ("ACCEPT" if won == "b" else "ABORT"), answer
        elif won == "b":
            assert results["b"].code == 0, results["b"].stderr
        else:
            assert results["b"].code == 2 and results["b"].stderr.startswith("error: "), \
                results["b"]
        outcomes[f"{'cli+api' if via_api else 'cli+cli'}: {won} applied"] += 1
    report("concurrent_submit", rounds=rounds, **outcomes)
    assert "Traceback" not in "".join(system.log)
