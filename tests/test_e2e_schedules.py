"""Schedules run: `stepdown serve` with its schedules on creates the scheduled runs, and one of
them runs by itself. Tests elsewhere serve with schedules off, so they cannot see a broken
scheduler (the field trial's: Prefect 3.8.8's scheduler failed on SQLAlchemy 2.1)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e import System, free_port, system_env, wait_until

pytestmark = pytest.mark.e2e




def test_a_scheduled_sweep_runs_by_itself_and_status_shows_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = system_env(tmp_path, port, "2027-12-01")  # a Wednesday: the sweep does not skip it
    env.update({"STEPDOWN_SCHEDULES": "on",
                # test-only: the daily sweep every minute, so the next run is < 60 s ahead
                "STEPDOWN_CRON_SWEEP_DAILY": "* * * * *"})
    system = System(tmp_path, port, env)
    system.start()
    try:
        # serve checks at startup that the scheduler created the next runs, and says so
        wait_until(lambda: any("stepdown: schedules running" in line for line in system.log),
                   "serve's schedule check", 150, every=2)
        rows = {r["deployment"]: r for r in system.ok("status", "--json").json()}
        assert set(rows) == {"sweep/stepdown", "sweep/hourly", "breakdown-report/stepdown"}
        assert rows["sweep/stepdown"]["cron"] == "* * * * *"
        assert rows["sweep/hourly"]["cron"] == "30 * * * *"
        assert all(r["next_run"] and not r["problem"] for r in rows.values()), rows
        # Another shell, without serve's settings, sees what the server has (the field run's
        # `stepdown status` compared the server with its own environment's crons).
        elsewhere = system.cli("status", "--json", env={"STEPDOWN_CRON_SWEEP_DAILY": "",
                                                        "STEPDOWN_SCHEDULES": "off"})
        assert elsewhere.code == 0, elsewhere.stderr
        assert {r["deployment"]: (r["cron"], r["problem"]) for r in elsewhere.json()} == {
            name: (row["cron"], None) for name, row in rows.items()}
        scheduled = httpx.post(f"{system.api}/flow_runs/filter", json={
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}).json()
        assert {r["deployment_id"] for r in scheduled} >= {
            httpx.get(f"{system.api}/deployments/name/{name}").json()["id"] for name in rows}

        # one of the sweep's scheduled runs is picked up and runs by itself
        def ran() -> dict | None:  # type: ignore[type-arg]
            row = {r["deployment"]: r for r in system.ok("status", "--json").json()}[
                "sweep/stepdown"]
            return row if row["last_state"] == "Completed" else None

        row = wait_until(ran, "a scheduled sweep to complete", 240, every=2)
        assert row["next_run"] > row["last_run"]
        table = system.ok("status").stdout.splitlines()
        assert table[0].split()[:2] == ["deployment", "schedule"]
        assert any(line.startswith("sweep/stepdown") and "Completed" in line for line in table)
        artifact = httpx.post(f"{system.api}/artifacts/filter", json={
            "artifacts": {"key": {"any_": ["sweep-2027-12-01"]}}}).json()
        assert artifact, "the scheduled sweep published its table"
    finally:
        system.stop()
    log = "".join(system.log)
    assert "Traceback" not in log and "bulk DML" not in log
    assert "SCHEDULES ARE NOT RUNNING" not in log


def test_serve_says_loudly_when_the_scheduler_creates_no_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = system_env(tmp_path, port, "2027-12-01")
    env.update({"STEPDOWN_SCHEDULES": "on", "STEPDOWN_SCHEDULE_CHECK_SECONDS": "15",
                "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"})  # a broken scheduler
    system = System(tmp_path, port, env)
    system.start()
    try:
        wait_until(lambda: any("SCHEDULES ARE NOT RUNNING" in line for line in system.log),
                   "the loud warning", 90, every=2)
        status = system.cli("status")
        assert status.code == 1
        assert "PROBLEM: the scheduler has created no next run" in status.stdout
        assert status.stdout.splitlines()[0].split()[:2] == ["deployment", "schedule"]
    finally:
        system.stop()
    log = "".join(system.log)
    assert "sweep/stepdown (the scheduler has created no next run)" in log
