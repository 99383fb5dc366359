"""End to end: the sweep from the command line against `stepdown serve`, delivering to a real
SMTP server, surviving a crash between writing and sending, publishing its artifact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e import System, free_port, system_env
from tests.servers import HTTPSSink, SMTPSink
from tests.test_sweep import STAFF

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, SMTPSink,
                                                                         HTTPSSink, Path]]:
    home: Path = tmp_path_factory.mktemp("stepdown-sweep")
    smtp, https = SMTPSink().start(), HTTPSSink().start()
    port = free_port()
    env = system_env(home, port, "2027-12-01")
    env.update({"STEPDOWN_EMAIL_URL": smtp.url, "STEPDOWN_DELIVERY_BACKOFF": "0.01",
                "TEAMS_NORTH": https.workflows_url("north", "sig1"),
                "TEAMS_FOSTERING": https.workflows_url("fostering", "sig2")})
    system = System(home, port, env)
    system.start()
    yield system, smtp, https, home
    system.stop()
    smtp.stop()
    https.stop()


def test_the_sweep_from_the_command_line(running: tuple[System, SMTPSink, HTTPSSink, Path]) -> None:
    system, smtp, https, home = running
    staff = home / "staff.csv"
    staff.write_text(STAFF)
    assert "5 created" in system.ok("staff", "import", str(staff)).stdout
    bad = home / "bad.csv"
    bad.write_text("email,role\nx@la.example,social_worker\n")
    refused = system.cli("staff", "import", str(bad))
    assert refused.code == 2 and "header: missing column(s) manager_email, team" in refused.stderr

    system.ok("case", "open", "SD-S1", "--child", "CH-S1", "--identified", "2026-11-02")
    system.ok("input", "SD-S1", "identification.suitability", "--data", json.dumps({
        "held_on": "2026-11-09", "sdq_score": 4, "care_needs_band": "2.1",
        "care_plan_ratified": True}))
    system.ok("input", "SD-S1", "identification.pact_decision", "--data",
              '{"decided_on": "2026-12-10", "decision": "proceed"}')
    assert system.cli("case", "assign", "SD-S1", "social_worker", "who@la.example").code == 2
    system.ok("case", "assign", "SD-S1", "social_worker", "sw@la.example")

    swept = system.ok("sweep", "--as-of", "2026-12-23").stdout
    # the planning meeting, the first visit and the Preparation Plan, all due Thu 24 Dec
    assert "3 rungs fired" in swept and "1 sent" in swept
    (digest,) = smtp.messages
    assert digest["To"] == "sw@la.example"
    body = digest.get_content()
    assert "DUE NEXT WORKING DAY" in body and "Preparation planning meeting" in body
    shown = system.ok("case", "show", "SD-S1", "--json").json()
    assert shown["flow_runs"][-1]["url"] in body  # the link to the case's flow run

    # Killed between writing the outbox and sending: nothing is lost, nothing is sent twice.
    crashed = system.cli("sweep", "--as-of", "2026-12-24", env={"STEPDOWN_FAULT": "after-write"})
    assert crashed.code != 0
    pending = system.ok("outbox", "--status", "pending", "--json").json()
    assert [m["to"] for m in pending] == ["sw@la.example"] and len(smtp.messages) == 1
    resumed = system.ok("sweep", "--as-of", "2026-12-24").stdout
    assert "0 rungs fired" in resumed and "1 sent" in resumed
    assert len(smtp.messages) == 2 and "DUE TODAY" in smtp.messages[1].get_content()
    again = system.ok("sweep", "--as-of", "2026-12-24").stdout
    assert "0 rungs fired" in again and "0 sent" in again and len(smtp.messages) == 2
    outbox = system.ok("outbox", "--json").json()
    assert [m["status"] for m in outbox] == ["sent", "sent"]

    artifact = httpx.post(f"{system.api}/artifacts/filter", json={
        "artifacts": {"key": {"any_": ["sweep-2026-12-23"]}}}).json()
    assert artifact and artifact[0]["type"] == "table"
    table = json.loads(artifact[0]["data"]) if isinstance(artifact[0]["data"], str) else \
        artifact[0]["data"]
    assert {row["key"] for row in table} == {"preparation.planning_meeting",
                                            "preparation.sw_visit#1",
                                            "preparation.preparation_plan"}
    assert "CH-S1" not in json.dumps(artifact)
    overdue = httpx.post(f"{system.api}/artifacts/filter", json={
        "artifacts": {"key": {"any_": ["overdue-2026-12-24"]}}}).json()
    assert overdue and overdue[0]["type"] == "table"

    # The case's timeline in the UI: a Markdown artifact keyed by its reference.
    case = httpx.post(f"{system.api}/artifacts/latest/filter", json={
        "artifacts": {"key": {"any_": ["case-sd-s1"]}}}).json()
    markdown = case[0]["data"]
    assert "# SD-S1: step down" in markdown
    assert "**Waiting for:** `preparation.readiness`" in markdown
    assert "`preparation.planning_meeting`" in markdown and "CH-S1" not in markdown
    runs = httpx.post(f"{system.api}/flow_runs/filter", json={
        "flow_runs": {"tags": {"all_": ["ref:SD-S1", "team:north"]}}}).json()
    assert {r["name"] for r in runs} == {"SD-S1-identification", "SD-S1-preparation"}

    deployment = httpx.get(f"{system.api}/deployments/name/sweep/stepdown").json()
    assert deployment["name"] == "stepdown"
    hourly = httpx.get(f"{system.api}/deployments/name/sweep/hourly").json()
    assert hourly["parameters"] == {"hourly": True}


def test_commands_print_no_warnings_and_a_sweep_that_cannot_deliver_says_why(
    running: tuple[System, SMTPSink, HTTPSSink, Path],
) -> None:
    system, smtp, _https, home = running
    staff = home / "staff.csv"
    staff.write_text(STAFF)
    system.ok("staff", "import", str(staff))
    quiet = [system.ok("case", "open", "SD-S2", "--child", "CH-S2", "--identified", "2026-11-02"),
             system.ok("input", "SD-S2", "identification.suitability", "--data", json.dumps({
                 "held_on": "2026-11-09", "sdq_score": 4, "care_needs_band": "2.1",
                 "care_plan_ratified": True})),
             system.ok("input", "SD-S2", "identification.pact_decision", "--data",
                       '{"decided_on": "2026-12-10", "decision": "proceed"}'),
             system.ok("case", "assign", "SD-S2", "social_worker", "sw@la.example"),
             # recorded directly: the command line publishes the case's timeline itself
             system.ok("input", "SD-S2", "identification.child_views", "--data",
                       '{"done_on": "2026-11-09"}'),
             system.ok("case", "show", "SD-S2")]
    for result in quiet:  # no FutureWarning, no Prefect log lines, no "EventsWorker"
        assert result.stderr == "", result.stderr
    assert "  assigned: social_worker sw@la.example" in quiet[-1].stdout
    case = httpx.post(f"{system.api}/artifacts/latest/filter", json={
        "artifacts": {"key": {"any_": ["case-sd-s2"]}}}).json()
    assert "`identification.child_views`" in case[0]["data"]  # in the Done table

    sent_before = len(smtp.messages)
    swept = system.cli("sweep", "--as-of", "2026-12-29", env={"STEPDOWN_EMAIL_URL": ""})
    assert (swept.code, swept.stderr) == (0, "")
    assert swept.stdout.strip().endswith(
        "0 sent, 1 to retry, 0 failed (1 email: STEPDOWN_EMAIL_URL is not set)"), swept.stdout
    assert len(smtp.messages) == sent_before
    artifact = httpx.post(f"{system.api}/artifacts/filter", json={
        "artifacts": {"key": {"any_": ["sweep-2026-12-29"]}}}).json()
    assert "(1 email: STEPDOWN_EMAIL_URL is not set)" in artifact[0]["description"]

    refused = system.cli("sweep", "--as-of", "2027-12-02")
    assert refused.code == 2 and "as-of: 2027-12-02 is in the future" in refused.stderr
    rehearsed = system.ok("sweep", "--as-of", "2027-12-02", "--dry-run")
    assert "nothing written or sent" in rehearsed.stdout and rehearsed.stderr == ""
    runs = httpx.post(f"{system.api}/flow_runs/filter", json={
        "limit": 200}).json()
    assert not any(r["parameters"].get("as_of") == "2027-12-02" for r in runs)
