"""Concurrent submissions on the embedded default: N suspended flow runs resumed at once through
the Prefect API (as N people pressing Submit in the UI's Resume dialog), while a sweep runs.

It starts a real `stepdown serve` (SQLite for the Prefect server and the case record, schedules
off) in a temporary home, opens N stability processes (each one's flow run suspends waiting for
`stability.meeting`), then sends every resume at the same moment from N threads, with
`stepdown sweep` running beside them. One in five inputs is one the flow refuses (an action due
before the meeting), so both outcomes are exercised. It then waits until the case record shows
each input applied or refused, and prints one line:

    resumes sent, answered 2xx, 4xx and 5xx, applied, refused, lost, seconds to settle

and appends a JSON record to bench/results.jsonl. "Lost" is an input the API accepted that the
record never shows. Run: `.venv/bin/python bench/concurrent_resume.py --runs 50`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e import System, free_port, system_env  # noqa: E402


def meeting(day: date, refused: bool) -> dict[str, object]:
    due = day - timedelta(days=1) if refused else day + timedelta(days=7)
    return {"done_on": str(day), "chair": "team_manager",
            "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
            "child_views_recorded": True, "outcome": "stay",
            "actions": [{"title": "Respite weekend", "owner": "supervising_social_worker",
                         "due": str(due)}]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--today", default="2027-03-10")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="stepdown-concurrency-"))
    port = free_port()
    env = system_env(home, port, args.today)
    system = System(home, port, env)
    started = time.monotonic()
    system.start()
    print(f"served in {time.monotonic() - started:.0f}s at {system.api}", flush=True)
    today = date.fromisoformat(args.today)
    refs = [f"ST-C{n:03d}" for n in range(args.runs)]
    try:
        requested = f"{today - timedelta(days=3)}T10:00"

        def open_one(ref: str) -> None:
            system.ok("stability", "request", ref, "--child", f"CH-{ref}", "--requested-at",
                      requested, "--by", "foster_carer")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(open_one, refs))
        os.environ.update({k: v for k, v in env.items() if k.startswith("STEPDOWN_")})
        from stepdown.db import session_scope
        from stepdown.records import get_process

        def waiting() -> dict[str, str]:
            found = {}
            with session_scope() as session:
                for ref in refs:
                    process = get_process(session, ref=ref)
                    if process.waiting_for == "stability.meeting" and process.waiting_flow_run_id:
                        found[ref] = process.waiting_flow_run_id
            return found

        deadline = time.monotonic() + 600
        runs = waiting()
        while len(runs) < len(refs) or not all(
                httpx.get(f"{system.api}/flow_runs/{run}").json()["state"]["type"] == "PAUSED"
                for run in runs.values()):
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(runs)} of {len(refs)} runs suspended")
            time.sleep(2)
            runs = waiting()
        print(f"{len(runs)} runs suspended", flush=True)

        sweep = subprocess.Popen([str(ROOT / ".venv/bin/stepdown"), "sweep"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        barrier = threading.Barrier(len(refs))
        refused = {ref for n, ref in enumerate(refs) if n % 5 == 4}

        def resume(ref: str) -> tuple[str, int, str]:
            with httpx.Client(timeout=120) as client:
                barrier.wait()
                answer = client.post(f"{system.api}/flow_runs/{runs[ref]}/resume",
                                     json={"run_input": meeting(today, ref in refused)})
            status = answer.json().get("status", "") if answer.status_code < 300 else ""
            return ref, answer.status_code, status

        sent_at = time.monotonic()
        with ThreadPoolExecutor(len(refs)) as pool:
            answers = list(pool.map(resume, refs))
        codes = Counter(f"{code // 100}xx" for _, code, _ in answers)
        accepted = {ref for ref, code, status in answers if code < 300 and status == "ACCEPT"}
        print(f"answers: {dict(codes)}; {len(accepted)} ACCEPT", flush=True)

        def settled() -> tuple[set[str], set[str]]:
            from sqlmodel import select

            from stepdown.models.tables import Submission

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

        deadline = time.monotonic() + 900
        applied, rejected = settled()
        while (applied | rejected) < accepted and time.monotonic() < deadline:
            time.sleep(2)
            applied, rejected = settled()
        settle_s = time.monotonic() - sent_at
        sweep_out = sweep.communicate(timeout=600)[0]
        lost = accepted - applied - rejected
        wrong = (applied & refused) | (rejected - refused)
        log = "".join(system.log)
        record = {
            "bench": "concurrent_resume", "runs": len(refs), "sent": len(answers),
            "2xx": codes.get("2xx", 0), "4xx": codes.get("4xx", 0), "5xx": codes.get("5xx", 0),
            "applied": len(applied), "refused": len(rejected), "lost": len(lost),
            "wrong_outcome": len(wrong), "settle_s": round(settle_s, 1),
            "sweep_exit": sweep.returncode, "sweep": sweep_out.strip().splitlines()[-1:],
            "server_log_503": log.count(" 503 "), "server_log_locked": log.count(
                "database is locked"), "server_log_tracebacks": log.count("Traceback"),
            "cpus": os.cpu_count(), "load": os.getloadavg()[0],
        }
        print(json.dumps(record), flush=True)
        with (ROOT / "bench" / "results.jsonl").open("a") as out:
            out.write(json.dumps(record) + "\n")
        (home / "serve.log").write_text(log)
        print(f"server log: {home / 'serve.log'}")
        return 0 if not (codes.get("5xx") or lost or wrong) else 1
    finally:
        system.stop()


if __name__ == "__main__":
    sys.exit(main())
