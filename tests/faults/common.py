"""What the fault suite shares: its two sizes, the figures it writes down, and the ways it kills.

The default run (CI) is the short version. ``STEPDOWN_FAULTS_LONG=1`` runs the long one, whose
figures docs/reliability.md reports; each test adds its figures to ``STEPDOWN_FAULTS_REPORT``
(a JSON-lines file) when that is set, so a long run leaves them in one place.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.e2e import BIN, Result, System
from tests.servers import SMTPSink

LONG = os.environ.get("STEPDOWN_FAULTS_LONG", "") == "1"
TIMEOUT = 4 * 3600 if LONG else 600  # seconds a test may take (pytest-timeout)


def size(short: int, long: int) -> int:
    """The short version's count, or the long version's under STEPDOWN_FAULTS_LONG=1."""
    return long if LONG else short


def report(test: str, **figures: Any) -> None:
    """Write a test's figures down (printed always; appended to STEPDOWN_FAULTS_REPORT)."""
    line = json.dumps({"test": test, "long": LONG, **figures}, sort_keys=True)
    print(line)
    path = os.environ.get("STEPDOWN_FAULTS_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


@contextmanager
def record_of(system: System) -> Iterator[None]:
    """This process's case-record access pointed at ``system``'s home, and back afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("STEPDOWN_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in system.env.items() if k.startswith("STEPDOWN_")})
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("STEPDOWN_")]:
            del os.environ[key]
        os.environ.update(saved)


def submissions(ref: str, key: str) -> list[tuple[str, Any]]:
    """(status, values) of each submission of ``key`` to case ``ref``, oldest first (inside
    :func:`record_of`)."""
    from sqlmodel import col, select

    from stepdown.db import session_scope
    from stepdown.models.tables import Submission
    from stepdown.records import get_process

    with session_scope() as session:
        process = get_process(session, ref=ref)
        return [(s.status, s.values) for s in session.exec(
            select(Submission).where(Submission.process_id == process.id, Submission.form == key)
            .order_by(col(Submission.id))).all()]


def waiting_run(ref: str) -> str:
    """The flow run case ``ref`` waits on (inside :func:`record_of`)."""
    from stepdown.db import session_scope
    from stepdown.records import get_process

    with session_scope() as session:
        return str(get_process(session, ref=ref).waiting_flow_run_id)


def input_at(system: System, barrier: threading.Barrier, ref: str, key: str,
             data: dict[str, Any]) -> Result:
    """``stepdown input REF KEY --data ...`` once every party to ``barrier`` is ready."""
    barrier.wait()
    return system.cli("input", ref, key, "--data", json.dumps(data))


def resume_at(system: System, barrier: threading.Barrier, run_id: str,
              data: dict[str, Any]) -> Result:
    """The UI's resume call (``POST /flow_runs/{id}/resume``) once ``barrier`` is passed."""
    import httpx

    barrier.wait()
    answer = httpx.post(f"{system.api}/flow_runs/{run_id}/resume", json={"run_input": data},
                        timeout=120)
    return Result(answer.status_code, answer.text, "")


class TriggerSink(SMTPSink):
    """The counting SMTP sink, which can call ``on_message`` after each message it accepts
    (after its 250: the callback runs on a timer, not in the handler)."""

    def __init__(self) -> None:
        super().__init__()
        self.on_message: Callable[[int], None] | None = None

    def _record(self, message: Any, mail_from: str, rcpt_tos: list[str]) -> None:
        super()._record(message, mail_from, rcpt_tos)
        hook = self.on_message
        if hook is not None:
            hook(len(self.messages))


def run_and_kill(system: System, *args: str, env: dict[str, str] | None = None,
                 after: float | None = None, kill: threading.Event | None = None,
                 timeout: float = 300) -> tuple[bool, Result]:
    """Run ``stepdown ARGS`` (or, when ARGS begin with ``-m``, ``python -m ...``) and ``kill
    -9`` it ``after`` seconds or when ``kill`` is set, whichever comes first, unless it ends
    before. A process that a STEPDOWN_FAULT point ended (exit 137, as os._exit gives it) counts
    as killed too. Returns (killed, result)."""
    command = [sys.executable, *args] if args[0] == "-m" else [str(BIN / "stepdown"), *args]
    process = subprocess.Popen(command, env={**system.env, **(env or {})},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    started = time.monotonic()
    killed = False
    while process.poll() is None:
        waited = time.monotonic() - started
        if (after is not None and waited >= after) or (kill is not None and kill.is_set()):
            os.killpg(process.pid, signal.SIGKILL)
            killed = True
            break
        if waited > timeout:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"stepdown {' '.join(args)} ran over {timeout:.0f}s")
        time.sleep(0.005)
    out, err = process.communicate()
    code = process.returncode
    return killed or code == 137, Result(code, out, err)
