"""Access: beyond this machine only with Prefect's auth string; secrets never in the logs."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e import System, free_port, system_env

pytestmark = pytest.mark.e2e


def test_serve_refuses_a_non_loopback_address_without_the_auth_string(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    system = System(tmp_path, port, system_env(tmp_path, port, "2027-12-01"))
    result = system.cli("serve", "--host", "0.0.0.0", "--port", str(port), timeout=60)
    assert result.code == 1
    assert "PREFECT_SERVER_API_AUTH_STRING" in result.stderr
    assert "refusing to listen" in result.stderr


def test_with_the_auth_string_the_api_needs_it_and_no_log_shows_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    secret = "ops:Correct-Horse-7731"
    env = system_env(tmp_path, port, "2027-12-01")
    env["PREFECT_SERVER_API_AUTH_STRING"] = secret
    env["STEPDOWN_EMAIL_URL"] = "mailto://relay:SmtpPassw0rd@127.0.0.1:1?from=a@b.example"
    env["STEPDOWN_SCHEDULES"] = "on"  # as in production
    system = System(tmp_path, port, env)
    system.start()
    try:
        assert httpx.get(f"{system.api}/flow_runs/filter").status_code in (401, 405)
        assert httpx.post(f"{system.api}/flow_runs/filter", json={}).status_code == 401
        refused = system.cli("case", "open", "SD-A1", "--child", "CH-A1",
                             "--identified", "2026-11-02")
        assert refused.code == 1 and "cannot reach deployment" in refused.stderr
        opened = system.cli("case", "open", "SD-A1", "--child", "CH-A1", "--identified",
                            "2026-11-02", env={"PREFECT_API_AUTH_STRING": secret})
        assert opened.code == 0, opened.stderr
        shown = system.cli("case", "show", "SD-A1", env={"PREFECT_API_AUTH_STRING": secret})
        assert "SD-A1-identification" in shown.stdout
        # `stepdown serve` schedules what the registry schedules, in Europe/London; a schedule
        # that needs a setting (the SSDA903 import's path) is off while it is unset.
        from stepdown.deployments import SPECS

        for spec in SPECS.values():
            deployment = httpx.get(f"{system.api}/deployments/name/{spec.deployment}",
                                   auth=("ops", "Correct-Horse-7731")).json()
            assert [(s["schedule"]["cron"], s["schedule"]["timezone"])
                    for s in deployment["schedules"]] == (
                [(spec.cron, "Europe/London")] if spec.cron and not spec.needs else []
            ), spec.deployment
        assert SPECS["import.ssda903"].needs == "ssda903_path"
    finally:
        system.stop()
    logs = "".join(system.log) + "".join(
        p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
    for leaked in ("Correct-Horse-7731", "SmtpPassw0rd"):
        assert leaked not in logs
