"""Server restart: flow runs suspended waiting for a form (5 in CI, 100 in the long version, or
STEPDOWN_FAULTS_RESTART_RUNS), then the Prefect server and the runner (`stepdown serve`'s
process group) killed with `kill -9` and started again on the same home. Every run is still waiting, can be resumed from the command
line (half of them) and through the API the UI calls (the other half), and completes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import httpx
import pytest

from tests.concurrency import meeting
from tests.e2e import System, served, wait_until
from tests.faults.common import TIMEOUT, record_of, report, size

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(TIMEOUT)]

TODAY = "2027-03-10"  # a Wednesday
RUNS = int(os.environ.get("STEPDOWN_FAULTS_RESTART_RUNS", "0")) or size(5, 100)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    yield from served(tmp_path_factory, "stepdown-restart", TODAY)


def _waiting(refs: list[str]) -> dict[str, str]:
    from stepdown.db import session_scope
    from stepdown.records import get_process

    with session_scope() as session:
        return {ref: str(p.waiting_flow_run_id) for ref in refs
                if (p := get_process(session, ref=ref)).waiting_for == "stability.meeting"
                and p.waiting_flow_run_id}


def _all(found: dict[str, str], count: int) -> dict[str, str] | None:
    return found if len(found) == count else None


def _states(api: str, runs: list[str]) -> dict[str, str]:
    found = httpx.post(f"{api}/flow_runs/filter", json={
        "flow_runs": {"id": {"any_": runs}}, "limit": 200}, timeout=60).json()
    return {run["id"]: run["state"]["type"] for run in found}


def _accepted(refs: list[str]) -> set[str]:
    from sqlmodel import select

    from stepdown.db import session_scope
    from stepdown.models.tables import Process, Submission

    with session_scope() as session:
        rows = session.exec(select(Process.ref).join(
            Submission, Submission.process_id == Process.id).where(
            Submission.form == "stability.meeting", Submission.status == "accepted")).all()
    return set(rows) & set(refs)


def test_suspended_runs_are_resumed_and_complete_after_the_server_and_runner_are_killed(
        system: System) -> None:
    today = date.fromisoformat(TODAY)
    refs = [f"ST-R{n:03d}" for n in range(RUNS)]

    def open_one(ref: str) -> None:
        system.ok("stability", "request", ref, "--child", f"CH-{ref}", "--requested-at",
                  f"{today - timedelta(days=3)}T10:00", "--by", "foster_carer")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(open_one, refs))
    with record_of(system):
        waiting = wait_until(lambda: _all(_waiting(refs), len(refs)), f"{RUNS} runs waiting",
                             900, 2)
    runs = list(waiting.values())
    wait_until(lambda: set(_states(system.api, runs).values()) == {"PAUSED"},
               "every run paused", 600, 2)

    assert system.process is not None
    os.killpg(system.process.pid, signal.SIGKILL)  # the server and the runner, at once
    system.process.wait()
    restarted_at = len(system.log)
    started = time.monotonic()
    system.start()
    restart_s = time.monotonic() - started
    assert set(_states(system.api, runs).values()) == {"PAUSED"}

    by_cli, by_api = refs[::2], refs[1::2]
    data = meeting(today, refused=False)

    def resume_cli(ref: str) -> None:
        import json

        system.ok("input", ref, "stability.meeting", "--data", json.dumps(data))

    for ref in by_api:
        answer = httpx.post(f"{system.api}/flow_runs/{waiting[ref]}/resume",
                            json={"run_input": data}, timeout=120)
        assert answer.status_code < 300 and answer.json()["status"] == "ACCEPT", answer.text
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(resume_cli, by_cli))
    wait_until(lambda: set(_states(system.api, runs).values()) == {"COMPLETED"},
               "every run completed", 1200, 3)
    with record_of(system):
        assert _accepted(refs) == set(refs)
    after = "".join(system.log[restarted_at:])
    assert "Traceback" not in after, after[-3000:]
    report("server_restart", runs=RUNS, resumed_by_cli=len(by_cli), resumed_by_api=len(by_api),
           completed=RUNS, restart_s=round(restart_s, 1))
