"""End to end: a real Prefect server and served deployments (`stepdown serve`), driven by the CLI
as an operations officer or engineer would, and through the Prefect API as the UI does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests import scenario
from tests.conftest import fresh_pg_database
from tests.e2e import System, free_port, system_env, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The embedded default (SQLite for both), and production's PostgreSQL for both the Prefect
    server and the case record."""
    home: Path = tmp_path_factory.mktemp("stepdown-home")
    port = free_port()
    env = system_env(home, port, scenario.TODAY)
    with ExitStack() as stack:
        if request.param == "postgres":
            records = stack.enter_context(fresh_pg_database("stepdown_records"))
            server = stack.enter_context(fresh_pg_database("stepdown_prefect"))
            env["STEPDOWN_DATABASE_URL"] = records
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = server.replace(
                "postgresql+psycopg://", "postgresql+asyncpg://")
        running = System(home, port, env)
        running.start()
        try:
            yield running
        finally:
            running.stop()




def test_a_case_moves_through_all_five_stages_from_the_command_line(system: System) -> None:
    ref = "SD-E2E-1"
    opened = system.ok("case", "open", ref, "--child", scenario.CHILD,
                       "--identified", scenario.OPENED)
    assert f"{ref}-identification" in opened.stdout
    for n, (key, data) in enumerate(scenario.STEPS):
        import json

        if n % 2:  # half of them from a file, as a form saved by another tool would be
            path = system.home / f"{ref}-{n}.json"
            path.write_text(json.dumps(data))
            system.ok("input", ref, key, "--file", str(path))
        else:
            system.ok("input", ref, key, "--data", json.dumps(data))
        # exit 0 means applied: the timeline already shows it
        items = {i["key"]: i for i in system.ok("case", "timeline", ref, "--json").json()}
        if key in items:
            assert items[key]["status"] == "done" or key == "matching.decision", key
    items = {i["key"]: i for i in system.ok(
        "case", "timeline", ref, "--json", "--as-of", scenario.TODAY).json()}
    for key, (due, earliest) in scenario.EXPECTED.items():
        assert (items[key]["due"], items[key]["earliest"]) == (due, earliest), key
        assert items[key]["process"] == "step_down"
        assert {"key", "owner", "due", "earliest", "status", "done_on"} <= set(items[key])
    for key in scenario.ABSENT:
        assert key not in items
    for key, status in scenario.STATUS.items():
        assert items[key]["status"] == status, key

    shown = system.ok("case", "show", ref, "--json").json()
    assert (shown["status"], shown["outcome"]) == ("closed", "stepped_to_standard")
    assert [(r["name"], r["state"]) for r in shown["flow_runs"]] == [
        (f"{ref}-{stage}", "Completed")
        for stage in ("identification", "preparation", "matching", "introduction", "support")]
    # Flow runs carry the process, reference and stage as tags, for filtering in the UI.
    runs = httpx.post(f"{system.api}/flow_runs/filter",
                      json={"flow_runs": {"tags": {"all_": [f"ref:{ref}"]}}}).json()
    assert sorted(r["name"] for r in runs) == sorted(r["name"] for r in shown["flow_runs"])
    assert all("process:step_down" in r["tags"] for r in runs)
    listed = system.ok("case", "list", "--json").json()
    assert any(row["ref"] == ref and row["status"] == "closed" for row in listed)


def _state(system: System, ref: str) -> tuple[str, str]:
    return (system.ok("case", "timeline", ref, "--json").stdout,
            system.ok("case", "show", ref, "--json").stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["input", "SD-E2E-2", "identification.suitability", "--data", "{held_on:"],
         "data: not valid JSON"),
        (["input", "SD-NOPE", "identification.suitability", "--data", "{}"],
         "ref: no process 'SD-NOPE'"),
        (["input", "SD-E2E-2", "identification.nonsense", "--data", "{}"],
         "key: 'identification.nonsense' is not a form or an obligation of SD-E2E-2"),
        (["input", "SD-E2E-2", "matching.decision", "--data",
          '{"decided_on": "2026-11-10", "outcome": "approved"}'],
         "form: matching.decision belongs to matching; SD-E2E-2 is in identification"),
        (["input", "SD-E2E-2", "identification.suitability", "--data",
          '{"held_on": "2026-11-09", "sdq_score": 44, "care_needs_band": "2.1", '
          '"care_plan_ratified": true}'],
         "sdq_score: must be at most 40 (got 44)"),
        (["input", "SD-E2E-2", "identification.suitability", "--data",
          '{"held_on": "2028-01-01", "sdq_score": 4, "care_needs_band": "2.1", '
          '"care_plan_ratified": true}'],
         "held_on: 2028-01-01 is in the future (today is 2027-12-01)"),
        (["case", "open", "SD-E2E-2", "--child", "CHILD-9", "--identified", "2026-11-02"],
         "ref: a process 'SD-E2E-2' already exists"),
        (["case", "open", "SD-E2E-3", "--child", "CHILD-9", "--identified", "2028-11-02"],
         "identified: 2028-11-02 is in the future"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line_and_changes_nothing(
    system: System, args: list[str], message: str
) -> None:
    if system.cli("case", "show", "SD-E2E-2").code != 0:
        system.ok("case", "open", "SD-E2E-2", "--child", "CHILD-9", "--identified", "2026-11-02")

    def settled() -> bool:  # the new case's flow run has reached its first form and paused
        shown = json.loads(system.ok("case", "show", "SD-E2E-2", "--json").stdout)
        return shown["waiting_for"] == "identification.suitability" and all(
            run["state"] == "Suspended" for run in shown["flow_runs"])

    wait_until(settled, "SD-E2E-2's flow run to wait for the suitability form", timeout=120)
    before = _state(system, "SD-E2E-2")
    result = system.cli(*args)
    assert result.code == 2, result
    assert result.stderr.strip().splitlines() == [f"error: {result.stderr.strip()[7:]}"]
    assert message in result.stderr
    assert _state(system, "SD-E2E-2") == before
    assert system.cli("case", "show", "SD-E2E-3").code == 2


def test_a_waiting_form_is_completed_through_the_prefect_api_as_the_ui_does(
    system: System,
) -> None:
    """The UI's Resume dialog posts the form to /flow_runs/{id}/resume: the flow applies it.
    A rule the schema cannot express (proceed needs a ratified plan) is refused by the flow,
    recorded, and the form is asked for again."""
    ref = "SD-E2E-UI"
    system.ok("case", "open", ref, "--child", "CHILD-4", "--identified", "2026-11-02")
    shown = system.wait_for_form(ref, "identification.suitability")
    run_id = shown["flow_runs"][0]["flow_run_id"]
    run = httpx.get(f"{system.api}/flow_runs/{run_id}").json()
    keyset = run["state"]["state_details"]["run_input_keyset"]
    schema = httpx.get(f"{system.api}/flow_runs/{run_id}/input/{keyset['schema']}").json()
    props = schema["properties"]
    assert props["sdq_score"]["title"] == "SDQ score (0-40)"
    assert props["held_on"]["format"] == "date"
    assert all(p.get("description") for p in props.values())
    description = httpx.get(f"{system.api}/flow_runs/{run_id}/input/{keyset['description']}")
    assert "suitability meeting" in description.json()

    # The server validates the schema: an out-of-range SDQ never reaches the flow.
    bad = httpx.post(f"{system.api}/flow_runs/{run_id}/resume", json={"run_input": {
        "held_on": "2026-11-09", "sdq_score": 99, "care_needs_band": "2.1",
        "care_plan_ratified": False}})
    assert bad.json()["status"] == "REJECT"
    assert "sdq_score" in str(bad.json()["details"])
    good = httpx.post(f"{system.api}/flow_runs/{run_id}/resume", json={"run_input": {
        "held_on": "2026-11-09", "sdq_score": 5, "care_needs_band": "2.2",
        "care_plan_ratified": False}})
    assert good.json()["status"] == "ACCEPT"
    shown = system.wait_for_form(ref, "identification.pact_decision")
    items = {i["key"]: i for i in system.ok("case", "timeline", ref, "--json").json()}
    assert items["identification.suitability"]["done_on"] == "2026-11-09"

    run = httpx.get(f"{system.api}/flow_runs/{run_id}").json()
    assert run["state"]["name"] == "Suspended"
    keyset = run["state"]["state_details"]["run_input_keyset"]
    resumed = httpx.post(f"{system.api}/flow_runs/{run_id}/resume", json={"run_input": {
        "decided_on": "2026-11-16", "decision": "proceed"}})
    assert resumed.json()["status"] == "ACCEPT"
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = httpx.get(f"{system.api}/flow_runs/{run_id}").json()
        if (run["state"]["name"] == "Suspended"
                and run["state"]["state_details"]["run_input_keyset"] != keyset):
            break
        time.sleep(1)
    description = httpx.get(f"{system.api}/flow_runs/{run_id}/input/"
                            f"{run['state']['state_details']['run_input_keyset']['description']}")
    assert "proceed needs a care plan of fostering ratified by the IRO" in description.json()
    # The refusal is the run's state message, and the form comes back with what was entered.
    assert run["state"]["message"].startswith("Last input refused: decision: proceed needs a "
                                              "care plan of fostering ratified by the IRO")
    schema = httpx.get(f"{system.api}/flow_runs/{run_id}/input/"
                       f"{run['state']['state_details']['run_input_keyset']['schema']}").json()
    assert schema["properties"]["decision"]["default"] == "proceed"
    assert schema["properties"]["decided_on"]["default"] == "2026-11-16"
    assert schema["properties"]["decision"]["title"] == "Decision"
    shown = system.ok("case", "show", ref, "--json").json()
    assert (shown["stage"], shown["waiting_for"]) == ("identification",
                                                       "identification.pact_decision")
    # The refused decision is on record; a valid one from the command line then proceeds.
    system.ok("input", ref, "identification.pact_decision", "--data",
              '{"decided_on": "2026-11-16", "decision": "not_now"}')
    shown = system.ok("case", "show", ref, "--json").json()
    assert (shown["status"], shown["outcome"]) == ("closed", "not_now")
