"""A running system for end-to-end tests: `stepdown serve` in a subprocess, and the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class System:
    home: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)
    _records: Any = field(default=None, repr=False)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self, timeout: float = 300) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "stepdown"), "serve", "--port", str(self.port)], env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        ready = threading.Event()

        def pump() -> None:
            assert self.process and self.process.stdout
            for line in self.process.stdout:
                self.log.append(line)
                if "stepdown is serving" in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("stepdown serve did not start:\n" + "".join(self.log[-60:]))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def cli(self, *args: str, timeout: float = 240, env: dict[str, str] | None = None) -> Result:
        done = subprocess.run([str(BIN / "stepdown"), *args], env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)
        return Result(done.returncode, done.stdout, done.stderr)

    def waiting_for(self, ref: str) -> str | None:
        """What the case's flow run waits for, read from the records (``process.waiting_for``,
        which `stepdown case show` prints), without starting a CLI process: waiting loops poll
        this, which costs a query where a CLI call costs seconds of CPU that the system under
        test needs."""
        import sqlalchemy as sa

        if self._records is None:
            url = self.env.get("STEPDOWN_DATABASE_URL") or (
                f"sqlite:///{Path(self.env['STEPDOWN_HOME']).expanduser().resolve()}/stepdown.db")
            self._records = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with self._records.connect() as conn:
                row = conn.execute(sa.text("SELECT waiting_for FROM process WHERE ref = :ref"),
                                   {"ref": ref}).first()
        except sa.exc.OperationalError:  # not migrated yet, or SQLite busy: ask again
            return None
        return None if row is None else row[0]

    def wait_for_form(self, ref: str, key: str, timeout: float = 180) -> dict[str, Any]:
        """``stepdown case show --json`` once the case waits for ``key``."""
        deadline = time.monotonic() + timeout
        shown: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.waiting_for(ref) == key:
                shown = self.ok("case", "show", ref, "--json").json()
                if shown["waiting_for"] == key:
                    return shown
            time.sleep(0.25)
        shown = self.ok("case", "show", ref, "--json").json()
        raise AssertionError(f"{ref} never waited for {key}: {shown}")

    def ok(self, *args: str) -> Result:
        result = self.cli(*args)
        assert result.code == 0, f"stepdown {' '.join(args)} -> {result.code}: {result.stderr}"
        return result


def system_env(home: Path, port: int, today: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "STEPDOWN_"))}
    env.update({
        "STEPDOWN_HOME": str(home),
        "STEPDOWN_TODAY": today,
        "STEPDOWN_INPUT_TIMEOUT": "120",
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "STEPDOWN_SCHEDULES": "off",  # no scheduled sweep may run in the middle of a test
    })
    return env


def served(tmp_path_factory: Any, name: str, today: str,
           env: dict[str, str] | None = None) -> Iterator[System]:
    """A module's own `stepdown serve` (schedules off) in a fresh home, stopped afterwards:
    ``yield from served(tmp_path_factory, "stepdown-x", TODAY)`` in a module-scoped fixture.
    ``env`` adds to (or overrides) the system's environment."""
    home: Path = tmp_path_factory.mktemp(name)
    port = free_port()
    running = System(home, port, {**system_env(home, port, today), **(env or {})})
    running.start()
    try:
        yield running
    finally:
        running.stop()


def spawn(args: list[str], env: dict[str, str], log: Path,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a long-running process (a Prefect server, worker or runner) in a process group of
    its own, its output to ``log``; stop it with :func:`stop_group`."""
    return subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=cwd or Path(__file__).resolve().parents[1])


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to ``proc``'s process group; SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_until(check: Callable[[], Any], what: str, timeout: float, every: float = 1.0) -> Any:
    """``check()``'s first truthy answer within ``timeout`` seconds; else an AssertionError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
