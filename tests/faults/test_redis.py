"""Two Prefect API servers behind one PostgreSQL, with Redis carrying Prefect's messaging
(docs/production.md, section 4), run for real: a form resumed through either server is applied
once.

The deployments are served by one runner (`python -m stepdown.deployments.serve`, as `stepdown
serve` runs it) connected to server A only, with its poll slowed to once in ten minutes: it
finds work only through the server's events, so a run that server B schedules or resumes reaches
it only if B's events cross Redis to A. Prefect's background services (the scheduler and the
rest) run once, in a process of their own (`prefect server services start`).

- A case opened and its form submitted through server B (`stepdown input` with PREFECT_API_URL
  pointing at B) moves on; the next form, resumed through server A's API (the call the UI's
  Resume dialog makes), moves on too.
- One waiting form submitted at once through both servers, from the command line on one and
  the API on the other: exactly one is applied, and the other is told so.

Needs PostgreSQL and Redis (skipped with the reason when either is unreachable) and
prefect-redis (in the test extra).
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import fresh_pg_database
from tests.e2e import BIN, System, free_port, spawn, stop_group, system_env, wait_until
from tests.faults.common import input_at, record_of, resume_at, submissions, waiting_run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

TODAY = "2028-06-01"
REDIS_HOST = os.environ.get("STEPDOWN_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("STEPDOWN_TEST_REDIS_PORT", "6379"))
SUITABILITY = {"held_on": "2028-05-03", "sdq_score": 4, "care_needs_band": "2.1",
               "care_plan_ratified": True}
PACT = {"decided_on": "2028-05-05", "decision": "proceed"}


def _redis_reason() -> str | None:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2):
            pass
    except OSError as exc:
        return f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT} ({exc})"
    try:
        import prefect_redis  # noqa: F401
    except ImportError:
        return "prefect-redis is not installed (pip install -e '.[test]')"
    return None


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Cluster:
    a: System  # the runner's server
    b: System  # the other one
    home: Path
    redis_db: int
    logs: list[Path]

    def log_text(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.logs if path.exists())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = _redis_reason()
    if reason:
        pytest.skip(reason)
    import redis

    home = tmp_path_factory.mktemp("stepdown-redis")
    port_a, port_b = free_port(), free_port()
    # A database of Redis's own for this run, emptied first: no other run's streams.
    redis_db = random.randrange(1, 16)
    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=redis_db).flushdb()
    redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}"
    with fresh_pg_database("stepdown_records") as records, \
            fresh_pg_database("stepdown_prefect") as server_db:
        env = system_env(home, port_a, TODAY)
        env.update({
            "STEPDOWN_DATABASE_URL": records,
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": server_db.replace(
                "postgresql+psycopg://", "postgresql+asyncpg://"),
            "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
            "PREFECT_LOCAL_STORAGE_PATH": str(home / "results"),
            # docs/production.md, section 4: Prefect's messaging and its task queue in Redis.
            "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
            "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
            "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
            "PREFECT_REDIS_MESSAGING_HOST": REDIS_HOST,
            "PREFECT_REDIS_MESSAGING_PORT": str(REDIS_PORT),
            "PREFECT_REDIS_MESSAGING_DB": str(redis_db),
            "PREFECT_SERVER_DOCKET_URL": redis_url,
        })
        env_b = {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port_b}/api"}
        logs = [home / name for name in ("server-a.log", "server-b.log", "services.log",
                                         "runner.log")]
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(spawn([str(BIN / "prefect"), "server", "start", "--no-services",
                                 "--host", "127.0.0.1", "--port", str(port_a)], env, logs[0]))
            # Each server migrates on start: the second starts once the first has.
            wait_until(lambda: _healthy(env["PREFECT_API_URL"]), "server A", 180, 0.5)
            procs.append(spawn([str(BIN / "prefect"), "server", "start", "--no-services",
                                 "--host", "127.0.0.1", "--port", str(port_b)], env_b, logs[1]))
            procs.append(spawn([str(BIN / "prefect"), "server", "services", "start"], env,
                                logs[2]))
            wait_until(lambda: _healthy(env_b["PREFECT_API_URL"]), "server B", 180, 0.5)
            # The runner: on server A, finding work only through its events.
            runner_env = {**env, "PREFECT_RUNNER_POLL_FREQUENCY": "600"}
            procs.append(spawn([sys.executable, "-m", "stepdown.deployments.serve"],
                                runner_env, logs[3]))
            from stepdown.deployments import all_specs

            names = [spec.deployment for spec in all_specs()]

            def deployed() -> bool:  # as server B sees them
                assert all(proc.poll() is None for proc in procs), "a process exited"
                return all(httpx.get(f"{env_b['PREFECT_API_URL']}/deployments/name/{name}",
                                     timeout=5).status_code == 200 for name in names)

            wait_until(deployed, "the deployments", 240, 1)
            yield Cluster(System(home, port_a, env), System(home, port_b, env_b), home,
                          redis_db, logs)
        finally:
            for proc in reversed(procs):
                stop_group(proc)
            redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=redis_db).flushdb()


def _paused(system: System, run_id: str) -> bool:
    return bool(httpx.get(f"{system.api}/flow_runs/{run_id}", timeout=10).json()[
        "state"]["type"] == "PAUSED")


def test_redis_carries_prefects_messaging(cluster: Cluster) -> None:
    import redis

    keys = {key.decode() for key in
            redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=cluster.redis_db).keys("*")}
    assert "events" in keys, sorted(keys)  # the events stream every server publishes to


def test_a_form_resumed_through_either_server_is_applied_once(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    b.ok("case", "open", "SD-R1", "--child", "CH-R1", "--identified", "2028-05-01")
    b.wait_for_form("SD-R1", "identification.suitability")
    # Through server B, by the command line.
    b.ok("input", "SD-R1", "identification.suitability", "--data", json.dumps(SUITABILITY))
    b.wait_for_form("SD-R1", "identification.pact_decision")
    # Through server A, by the API call the UI makes.
    with record_of(a):
        run_id = waiting_run("SD-R1")
    wait_until(lambda: _paused(a, run_id), "the run to pause", 120, 0.5)
    answer = httpx.post(f"{a.api}/flow_runs/{run_id}/resume", json={"run_input": PACT},
                        timeout=60)
    assert answer.status_code == 201 and answer.json()["status"] == "ACCEPT", answer.text
    shown = a.wait_for_form("SD-R1", "preparation.readiness")
    assert [run["name"] for run in shown["flow_runs"]] == [
        "SD-R1-identification", "SD-R1-preparation"]
    with record_of(a):
        for key in ("identification.suitability", "identification.pact_decision"):
            assert [status for status, _ in submissions("SD-R1", key)] == ["accepted"], key
    items = {i["key"]: i for i in a.ok("case", "timeline", "SD-R1", "--json").json()}
    assert items["identification.pact_decision"]["status"] == "done"
    # Both servers tell the same story of the run.
    state_a = httpx.get(f"{a.api}/flow_runs/{run_id}", timeout=10).json()["state"]["type"]
    state_b = httpx.get(f"{b.api}/flow_runs/{run_id}", timeout=10).json()["state"]["type"]
    assert state_a == state_b == "COMPLETED"


@pytest.mark.parametrize("cli_on", ["a", "b"])
def test_one_form_submitted_through_both_servers_at_once_is_applied_once(
        cluster: Cluster, cli_on: str) -> None:
    ref = f"SD-R2{cli_on.upper()}"
    on = {"a": cluster.a, "b": cluster.b}
    cli, api = on[cli_on], on["b" if cli_on == "a" else "a"]
    cli.ok("case", "open", ref, "--child", f"CH-{ref}", "--identified", "2028-05-01")
    cli.wait_for_form(ref, "identification.suitability")
    with record_of(cli):
        run_id = waiting_run(ref)
    wait_until(lambda: _paused(api, run_id), "the run to pause", 120, 0.5)
    by_cli, by_api = SUITABILITY, {**SUITABILITY, "sdq_score": 5}
    barrier = threading.Barrier(2)
    with ThreadPoolExecutor(2) as pool:
        from_cli = pool.submit(input_at, cli, barrier, ref, "identification.suitability", by_cli)
        from_api = pool.submit(resume_at, api, barrier, run_id, by_api)
        told_cli, told_api = from_cli.result(), from_api.result()
    cli.wait_for_form(ref, "identification.pact_decision")
    with record_of(cli):
        rows = submissions(ref, "identification.suitability")
    assert [status for status, _ in rows] == ["accepted"], rows
    cli_won = rows[0][1]["sdq_score"] == 4
    answer = json.loads(told_api.stdout)
    assert told_api.code in (200, 201), told_api.stdout
    assert answer["status"] == ("ABORT" if cli_won else "ACCEPT"), (cli_won, answer)
    if cli_won:
        assert told_cli.code == 0, told_cli.stderr
    else:  # one line, nothing recorded
        assert told_cli.code == 2, told_cli
        assert told_cli.stderr.startswith("error: "), told_cli.stderr
        assert told_cli.stderr.count("\n") <= 1, told_cli.stderr


def test_no_process_logged_a_traceback(cluster: Cluster) -> None:
    assert "Traceback" not in cluster.log_text(), cluster.log_text()[-6000:]
