"""End to end: how `stepdown serve` runs flow runs (stepdown/deployments/runner.py).

Each flow run is a process forked from a warm interpreter, started as soon as the server says a
run was scheduled or resumed. Served here with the runner's own poll ten minutes apart, so a
run that starts at all within a minute was started on the server's event. A run killed
mid-flight is still its own process: Crashed, retried, and its form applied once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e import System, free_port, system_env, wait_until

pytestmark = pytest.mark.e2e

TODAY = "2027-12-01"
FORM = "identification.suitability"
SUITABILITY = {"held_on": "2027-11-08", "sdq_score": 12, "care_needs_band": "2.1",
               "care_plan_ratified": True}
PICKED_UP = 60  # seconds; the runner's own poll is 600 s apart


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    home: Path = tmp_path_factory.mktemp("stepdown-warm")
    port = free_port()
    env = system_env(home, port, TODAY)
    env["PREFECT_RUNNER_POLL_FREQUENCY"] = "600"
    running = System(home, port, env)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _submissions(system: System, ref: str, form: str) -> list[str]:
    from sqlmodel import select

    from stepdown.db import session_scope
    from stepdown.models.tables import Process, Submission

    with session_scope(f"sqlite:///{system.home / 'stepdown.db'}") as session:
        return list(session.exec(select(Submission.status).join(
            Process, Process.id == Submission.process_id).where(  # type: ignore[arg-type]
            Process.ref == ref, Submission.form == form)).all())


def _open_waiting(system: System, ref: str) -> str:
    """Open a case and return its flow run once it is suspended waiting for the form."""
    system.ok("case", "open", ref, "--child", f"CH-{ref}", "--identified", "2027-11-01")
    shown = system.wait_for_form(ref, FORM, timeout=PICKED_UP)
    run_id = str(shown["flow_runs"][0]["flow_run_id"])
    wait_until(lambda: _state(system, run_id) == "PAUSED", f"{ref} suspended", PICKED_UP, 0.5)
    return run_id


def _state(system: System, run_id: str) -> str:
    return str(httpx.get(f"{system.api}/flow_runs/{run_id}").json()["state"]["type"])


def _done(system: System, ref: str) -> bool:
    items = {i["key"]: i for i in system.ok("case", "timeline", ref, "--json").json()}
    return bool(items[FORM]["status"] == "done")


def test_runs_start_and_resume_on_the_servers_events_not_the_runners_poll(
        system: System) -> None:
    for n in range(3):
        ref = f"SD-W{n}"
        run_id = _open_waiting(system, ref)
        answer = httpx.post(f"{system.api}/flow_runs/{run_id}/resume",
                            json={"run_input": SUITABILITY}).json()
        assert answer["status"] == "ACCEPT", answer
        wait_until(lambda ref=ref: _done(system, ref), f"{ref} applied", PICKED_UP, 0.5)
        system.wait_for_form(ref, "identification.pact_decision", timeout=PICKED_UP)
        assert _submissions(system, ref, FORM) == ["accepted"]
        # The forked run's logs reach the API, as a spawned run's did: the UI shows them.
        logs = httpx.post(f"{system.api}/logs/filter", json={
            "logs": {"flow_run_id": {"any_": [run_id]}}}).json()
        assert any(f"{FORM} accepted for {ref}" in log["message"] for log in logs), logs


def test_a_refused_resume_is_one_line_and_the_run_keeps_waiting(
        system: System, monkeypatch: pytest.MonkeyPatch) -> None:
    from stepdown import orchestration

    monkeypatch.setenv("PREFECT_API_URL", system.api)
    run_id = system.ok("case", "show", "SD-W0", "--json").json()["flow_runs"][0]["flow_run_id"]
    assert orchestration.run_state(run_id) == ("PAUSED", "Suspended")
    with pytest.raises(orchestration.OrchestrationError, match="Cannot resume this run"):
        orchestration.resume(run_id, {"decided_on": 5})
    assert orchestration.run_state(run_id) == ("PAUSED", "Suspended")
    with pytest.raises(orchestration.OrchestrationError, match="answered 404"):
        orchestration.run_state("00000000-0000-0000-0000-000000000000")


def _forkserver(system: System) -> int:
    assert system.process is not None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            if b"multiprocessing.forkserver" in cmd and os.getpgid(int(entry.name)) == (
                    system.process.pid):
                return int(entry.name)
        except (OSError, ProcessLookupError):
            continue
    raise AssertionError("no warm interpreter (forkserver) under stepdown serve")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def test_a_run_killed_mid_flight_is_crashed_and_its_retry_applies_the_form_once(
        system: System) -> None:
    ref = "SD-WK"
    run_id = _open_waiting(system, ref)
    warm = _forkserver(system)
    # Every run is suspended: no flow run process is left (a run's process exits just after
    # its Suspended state is written, so under load it can still be there a moment).
    wait_until(lambda: not _children(warm), "the suspended runs' processes exit",
               PICKED_UP, 0.05)
    answer = httpx.post(f"{system.api}/flow_runs/{run_id}/resume",
                        json={"run_input": SUITABILITY}).json()
    assert answer["status"] == "ACCEPT", answer
    deadline = time.monotonic() + PICKED_UP
    while not (forked := _children(warm)):  # the resumed run's process, forked warm
        assert time.monotonic() < deadline, "the resumed run never started"
        time.sleep(0.005)
    os.kill(forked[0], signal.SIGKILL)
    wait_until(lambda: _state(system, run_id) == "CRASHED", f"{ref} crashed", PICKED_UP, 0.5)

    # Retried as `prefect flow-run retry` (or the UI's Retry) does.
    retried = httpx.post(f"{system.api}/flow_runs/{run_id}/set_state", json={
        "state": {"type": "SCHEDULED", "message": "Retried"}, "force": True}).json()
    assert retried["status"] == "ACCEPT", retried
    system.wait_for_form(ref, "identification.pact_decision", timeout=PICKED_UP)
    assert _done(system, ref)
    assert _submissions(system, ref, FORM) == ["accepted"]
    wait_until(lambda: _state(system, run_id) == "PAUSED", f"{ref} waits again", PICKED_UP,
               0.5)


def test_the_server_log_has_no_traceback_through_ctrl_c(system: System) -> None:
    """Last: Ctrl-C (SIGINT to the process group, as a terminal sends it) stops everything
    cleanly. The runner got SIGINT, then SIGTERM from `stepdown serve`; its handler used to
    raise SystemExit wherever the main thread was (once in a weakref callback: a traceback,
    ignored) and to leave Runner.stop()'s coroutine unawaited."""
    assert system.process is not None
    system.stop()
    assert system.process.returncode == 0, system.process.returncode
    time.sleep(1)  # the log's reader thread drains the pipe
    log = "".join(system.log)
    assert "Traceback" not in log, log[log.find("Traceback") - 2000:][:6000]
    for sign in ("Exception ignored", "never awaited", "RuntimeWarning"):
        assert sign not in log, log[log.find(sign) - 2000:][:4000]
    assert "received, initiating graceful shutdown" in log
