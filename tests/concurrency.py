"""Concurrent submissions on the embedded default, shared by the end-to-end test
(tests/test_e2e_concurrency.py) and the benchmark (bench/concurrent_resume.py).

N stability processes are opened against a running `stepdown serve`; each one's flow run
suspends waiting for `stability.meeting`. Every resume is then sent at the same moment from N
threads through the Prefect API (`POST /flow_runs/{id}/resume`, the call the UI's Resume dialog
makes), with `stepdown sweep` running beside them. One input in five is one the flow refuses (an
action due before the meeting), so both outcomes are exercised. It waits until the case record
shows each input applied or refused.

"Lost" is an input the API accepted that the record never shows; "wrong" is an input applied
that should have been refused, or the other way round.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import httpx

from tests.e2e import BIN, System


def meeting(day: date, refused: bool) -> dict[str, object]:
    due = day - timedelta(days=1) if refused else day + timedelta(days=7)
    return {"done_on": str(day), "chair": "team_manager",
            "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
            "child_views_recorded": True, "outcome": "stay",
            "actions": [{"title": "Respite weekend", "owner": "supervising_social_worker",
                         "due": str(due)}]}


def _record_env(system: System) -> None:
    """Point this process's case-record access at the system's home."""
    os.environ.update({k: v for k, v in system.env.items() if k.startswith("STEPDOWN_")})


def _waiting(refs: list[str]) -> dict[str, str]:
    from stepdown.db import session_scope
    from stepdown.records import get_process

    found = {}
    with session_scope() as session:
        for ref in refs:
            process = get_process(session, ref=ref)
            if process.waiting_for == "stability.meeting" and process.waiting_flow_run_id:
                found[ref] = process.waiting_flow_run_id
    return found


def _settled(refs: list[str]) -> tuple[set[str], set[str]]:
    from sqlmodel import select

    from stepdown.db import session_scope
    from stepdown.models.tables import Submission
    from stepdown.records import get_process

    applied, rejected = set(), set()
    with session_scope() as session:
        for ref in refs:
            process = get_process(session, ref=ref)
            rows = session.exec(select(Submission).where(
                Submission.process_id == process.id,
                Submission.form == "stability.meeting")).all()
            if any(r.status == "accepted" for r in rows):
                applied.add(ref)
            elif any(r.status == "rejected" for r in rows):
                rejected.add(ref)
    return applied, rejected


def concurrent_resumes(system: System, *, runs: int, today: date, prefix: str = "ST-C",
                       settle_timeout: float = 900) -> dict[str, Any]:
    """Open ``runs`` stability processes, resume them all at once beside a sweep, and count
    what the API answered and what the record shows."""
    refs = [f"{prefix}{n:03d}" for n in range(runs)]
    requested = f"{today - timedelta(days=3)}T10:00"

    def open_one(ref: str) -> None:
        system.ok("stability", "request", ref, "--child", f"CH-{ref}", "--requested-at",
                  requested, "--by", "foster_carer")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(open_one, refs))
    _record_env(system)
    deadline = time.monotonic() + 600
    waiting = _waiting(refs)
    while len(waiting) < len(refs) or not all(
            httpx.get(f"{system.api}/flow_runs/{run}").json()["state"]["type"] == "PAUSED"
            for run in waiting.values()):
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(waiting)} of {len(refs)} runs suspended")
        time.sleep(2)
        waiting = _waiting(refs)

    sweep = subprocess.Popen([str(BIN / "stepdown"), "sweep"], env=system.env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    barrier = threading.Barrier(len(refs))
    refused = {ref for n, ref in enumerate(refs) if n % 5 == 4}

    def resume(ref: str) -> tuple[str, int, str]:
        with httpx.Client(timeout=120) as client:
            barrier.wait()
            answer = client.post(f"{system.api}/flow_runs/{waiting[ref]}/resume",
                                 json={"run_input": meeting(today, ref in refused)})
        status = answer.json().get("status", "") if answer.status_code < 300 else ""
        return ref, answer.status_code, status

    sent_at = time.monotonic()
    with ThreadPoolExecutor(len(refs)) as pool:
        answers = list(pool.map(resume, refs))
    codes = Counter(f"{code // 100}xx" for _, code, _ in answers)
    accepted = {ref for ref, code, status in answers if code < 300 and status == "ACCEPT"}

    deadline = time.monotonic() + settle_timeout
    applied, rejected = _settled(refs)
    while (applied | rejected) < accepted and time.monotonic() < deadline:
        time.sleep(2)
        applied, rejected = _settled(refs)
    settle_s = time.monotonic() - sent_at
    sweep_out = sweep.communicate(timeout=600)[0]
    lost = accepted - applied - rejected
    wrong = (applied & refused) | (rejected - refused)
    return {
        "runs": len(refs), "sent": len(answers),
        "2xx": codes.get("2xx", 0), "4xx": codes.get("4xx", 0), "5xx": codes.get("5xx", 0),
        "applied": len(applied), "refused": len(rejected), "lost": len(lost),
        "wrong_outcome": len(wrong), "settle_s": round(settle_s, 1),
        "sweep_exit": sweep.returncode, "sweep": sweep_out.strip().splitlines()[-1:],
    }


def log_counts(log: str) -> dict[str, int]:
    return {"server_log_503": log.count(" 503 "),
            "server_log_locked": log.count("database is locked"),
            "server_log_tracebacks": log.count("Traceback")}
