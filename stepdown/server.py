"""`stepdown serve`: a Prefect server on the embedded default plus every deployment.

Two child processes: `prefect server start` (its database under STEPDOWN_HOME) and the runner
that serves the deployments. If either stops, the other is stopped too.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from stepdown.config import get_settings
from stepdown.db import get_engine
from stepdown.domain.calendar import LONDON


class ServeError(RuntimeError):
    pass


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _auth() -> httpx.BasicAuth | None:
    """Prefect's shared login ("user:password"), for our own calls to the API."""
    secret = os.environ.get("PREFECT_SERVER_API_AUTH_STRING")
    if not secret:
        return None
    user, _, password = secret.partition(":")
    return httpx.BasicAuth(user, password)


def serve_env(host: str, port: int) -> dict[str, str]:
    settings = get_settings()
    home = settings.home_dir
    prefect_home = home / "prefect"
    env = dict(os.environ)
    env.update({
        "STEPDOWN_HOME": str(home),
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": f"http://{host}:{port}/api",
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_LOCAL_STORAGE_PATH": str(prefect_home / "storage"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": env.get("PREFECT_RUNNER_POLL_FREQUENCY", "2"),
    })
    if env.get("PREFECT_SERVER_API_AUTH_STRING"):  # the runner is a client of the server too
        env.setdefault("PREFECT_API_AUTH_STRING", env["PREFECT_SERVER_API_AUTH_STRING"])
    return env


def _wait_until(check: Callable[[], bool], timeout: float, what: str,
                procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise ServeError(f"{what}: a child process exited with {proc.returncode}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ServeError(f"{what}: not ready after {timeout:.0f}s")


def _ignore_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the runner before the server (it says goodbye to the API), then the server."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def local_time(instant: str | None) -> str:
    if not instant:
        return "-"
    return datetime.fromisoformat(instant).astimezone(LONDON).strftime("%Y-%m-%d %H:%M %Z")


def check_schedules(api: str, timeout: float = 150, every: float = 5) -> bool:
    """Wait until Prefect's scheduler has created the next run of every scheduled deployment
    and say so; if it has not within ``timeout`` seconds, say so loudly (nothing would run by
    itself: no sweep, no reminders, no monthly report)."""
    from stepdown.deployments import schedules
    from stepdown.orchestration import OrchestrationError, schedule_status

    crons = schedules()
    if not crons:
        print("stepdown: schedules are off (STEPDOWN_SCHEDULES=off): the sweep and reports run "
              "only when started by hand", flush=True)
        return True
    deadline = time.monotonic() + timeout
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        try:
            rows = schedule_status(list(crons), api=api)
        except OrchestrationError:
            rows = []
        if rows and not any(row["problem"] for row in rows):
            print("stepdown: schedules running; next: " + "; ".join(
                f"{row['deployment']} {local_time(str(row['next_run']))}" for row in rows),
                flush=True)
            return True
        time.sleep(every)
    missing = [f"{row['deployment']} ({row['problem']})" for row in rows if row["problem"]]
    banner = "!" * 78
    print(f"{banner}\nstepdown: SCHEDULES ARE NOT RUNNING. After {timeout:.0f}s Prefect's "
          f"scheduler has not created the next runs of: {', '.join(missing) or 'any deployment'}."
          f"\nThe daily sweep (reminders, escalations) and the monthly report will NOT run by "
          f"themselves. Read the server log above for the scheduler's error, and check with "
          f"`stepdown status`.\n{banner}", file=sys.stderr, flush=True)
    return False


def serve(*, host: str, port: int, ready_message: bool = True) -> int:
    if not _loopback(host) and not os.environ.get("PREFECT_SERVER_API_AUTH_STRING"):
        raise ServeError(
            f"--host {host}: serving beyond this machine needs PREFECT_SERVER_API_AUTH_STRING "
            "(Prefect's shared login); refusing to listen without it"
        )
    get_engine()  # the case record exists and is migrated before anything runs
    env = serve_env(host, port)
    Path(env["PREFECT_LOCAL_STORAGE_PATH"]).mkdir(parents=True, exist_ok=True)
    api = env["PREFECT_API_URL"]
    procs: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # it may have been inherited as ignored
    try:
        # Prefect's server, its SQLite writers queued. Ctrl-C reaches the whole process group:
        # the server ignores it and waits for _stop, so that it outlives the runner, which
        # says goodbye to it (otherwise the runner's shutdown hangs on a dead API until killed).
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "stepdown.prefect_server", "server", "start",
             "--host", host, "--port", str(port)], env=env, preexec_fn=_ignore_interrupt))
        auth = _auth()
        _wait_until(lambda: httpx.get(f"{api}/health", timeout=2, auth=auth).status_code == 200,
                    180, "Prefect server", procs)
        procs.append(subprocess.Popen([sys.executable, "-m", "stepdown.deployments.serve"],
                                      env=env))
        from stepdown.deployments import all_specs

        names = [spec.deployment for spec in all_specs()]

        def deployments_ready() -> bool:
            return all(httpx.get(f"{api}/deployments/name/{name}", timeout=2,
                                 auth=auth).status_code == 200 for name in names)

        _wait_until(deployments_ready, 180, "deployments", procs)
        if ready_message:
            print(f"stepdown is serving {len(names)} deployments. UI: {api.removesuffix('/api')} "
                  f"API: {api} (set PREFECT_API_URL={api} for other commands). Ctrl-C stops.",
                  flush=True)
        # How long to give the scheduler before saying it is broken (tests shorten it).
        patience = get_settings().schedule_check_seconds
        threading.Thread(target=check_schedules, args=(api, patience), daemon=True,
                         name="schedule-check").start()
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.5)
        failed = next(proc for proc in procs if proc.poll() is not None)
        print(f"stepdown: a child process exited with {failed.returncode}; stopping",
              file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(procs)
