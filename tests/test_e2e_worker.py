"""Production shape, end to end: a Prefect server and the case record on PostgreSQL, the
deployments from prefect.yaml (`prefect deploy --all`) on a process work pool, and separate
worker processes. A case suspended under one worker is resumed and finished by another."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import fresh_pg_database
from tests.e2e import BIN, System, free_port, spawn, stop_group, system_env

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, Path]]:
    home = tmp_path_factory.mktemp("stepdown-production")
    port = free_port()
    env = system_env(home, port, "2027-12-01")
    with fresh_pg_database("stepdown_records") as records, \
            fresh_pg_database("stepdown_prefect") as server_db:
        env.update({
            "STEPDOWN_DATABASE_URL": records,
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": server_db.replace(
                "postgresql+psycopg://", "postgresql+asyncpg://"),
            # Result storage every worker can read (here: one machine, one shared directory).
            "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
            "PREFECT_LOCAL_STORAGE_PATH": str(home / "results"),
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "STEPDOWN_CODE_DIR": str(ROOT),
        })
        server = spawn([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                         "--port", str(port)], env, home / "server.log")
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(1)
            subprocess.run([str(BIN / "prefect"), "work-pool", "create", "stepdown", "--type",
                            "process"], env=env, cwd=ROOT, check=True, capture_output=True)
            deployed = subprocess.run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all"],
                                      env=env, cwd=ROOT, capture_output=True, text=True)
            assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
            yield System(home, port, env), home
        finally:
            stop_group(server)




def test_prefect_deploy_all_matches_stepdown_serve(production: tuple[System, Path]) -> None:
    from stepdown.deployments import SPECS

    system, _ = production
    for spec in SPECS.values():
        deployment = httpx.get(f"{system.api}/deployments/name/{spec.deployment}").json()
        assert deployment["work_pool_name"] == "stepdown", spec.deployment
        assert sorted(deployment["tags"]) == sorted(spec.tags)
        assert deployment["parameters"] == spec.parameters
        crons = [s["schedule"]["cron"] for s in deployment["schedules"]]
        assert crons == ([spec.cron] if spec.cron else [])
        assert all(s["schedule"]["timezone"] == "Europe/London" for s in deployment["schedules"])


def test_a_resumed_flow_is_picked_up_by_another_worker(production: tuple[System, Path]) -> None:
    system, home = production
    worker = [str(BIN / "prefect"), "worker", "start", "--pool", "stepdown"]
    first = spawn(worker + ["--name", "worker-a"], system.env, home / "worker-a.log")
    try:
        system.ok("case", "open", "SD-W1", "--child", "CH-W1", "--identified", "2026-11-02")
        shown = system.wait_for_form("SD-W1", "identification.suitability")
    finally:
        stop_group(first)
    run_id = shown["flow_runs"][0]["flow_run_id"]
    second = spawn(worker + ["--name", "worker-b"], system.env, home / "worker-b.log")
    try:
        system.ok("input", "SD-W1", "identification.suitability", "--data", json.dumps({
            "held_on": "2026-11-09", "sdq_score": 3, "care_needs_band": "2.1",
            "care_plan_ratified": True}))
        system.ok("input", "SD-W1", "identification.pact_decision", "--data",
                  '{"decided_on": "2026-11-16", "decision": "proceed"}')
        shown = system.wait_for_form("SD-W1", "preparation.readiness")
    finally:
        stop_group(second)
    items = {i["key"]: i for i in system.ok("case", "timeline", "SD-W1", "--json").json()}
    assert items["preparation.planning_meeting"]["due"] == "2026-11-30"
    run = httpx.get(f"{system.api}/flow_runs/{run_id}").json()
    assert run["state"]["type"] == "COMPLETED"
    worker_b = (home / "worker-b.log").read_text(errors="replace")
    assert run_id in worker_b  # the second worker ran the resumed identification flow
    assert shown["flow_runs"][1]["name"] == "SD-W1-preparation"
