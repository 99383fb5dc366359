"""End to end: the team's worklist artifact in the Prefect UI follows the record as it changes
(a case opened, assigned, given a form, closed), flow runs carry the child's reference, and the
audit trail names who made each change, from the command line and through the API as the UI."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests import scenario
from tests.e2e import System, served, wait_until

pytestmark = pytest.mark.e2e

STAFF = """email,role,manager_email,team,name
tm@la.example,team_manager,,north,Tia Manager
sw@la.example,social_worker,tm@la.example,north,Sam Worker
"""


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    yield from served(tmp_path_factory, "stepdown-worklist", scenario.TODAY)


def _worklist(system: System) -> list[dict[str, str]]:
    answer = httpx.get(f"{system.api}/artifacts/worklist-north/latest")
    if answer.status_code != 200:
        return []
    data = answer.json()["data"]
    return list(json.loads(data) if isinstance(data, str) else data)




def test_the_team_worklist_artifact_follows_a_case_from_opening_to_closing(
        system: System) -> None:
    staff = system.home / "staff.csv"
    staff.write_text(STAFF)
    system.ok("--as", "tm@la.example", "staff", "import", str(staff))
    system.ok("--as", "tm@la.example", "case", "open", "SD-WL1", "--child", "C-WL1",
              "--identified", "2027-11-22")
    system.ok("case", "assign", "SD-WL1", "social_worker", "sw@la.example")
    shown = system.wait_for_form("SD-WL1", "identification.suitability")

    def waiting_row() -> dict[str, str] | None:
        return next((r for r in _worklist(system) if r["ref"] == "SD-WL1"
                     and r["key"] == "identification.suitability"), None)

    row = wait_until(waiting_row, "the suitability form on the north worklist", 60, every=0.5)
    assert (row["status"], row["owner role"], row["owner person"]) == (
        "waiting for form", "social_worker", "Sam Worker <sw@la.example>")
    listed = system.ok("worklist", "--team", "north").stdout
    assert "waiting for form" in listed and "SD-WL1" in listed

    runs = httpx.post(f"{system.api}/flow_runs/filter",
                      json={"flow_runs": {"tags": {"all_": ["child:C-WL1"]}}}).json()
    assert [r["name"] for r in runs] == ["SD-WL1-identification"]

    # The suitability meeting through the API, as the UI's Resume form sends it.
    run_id = shown["flow_runs"][0]["flow_run_id"]
    resumed = httpx.post(f"{system.api}/flow_runs/{run_id}/resume", json={"run_input": {
        "held_on": "2027-11-29", "sdq_score": 9, "care_needs_band": "2.1",
        "care_plan_ratified": False, "submitted_by": "sw@la.example"}})
    assert resumed.status_code < 300, resumed.text
    system.wait_for_form("SD-WL1", "identification.pact_decision")
    closing = system.cli("input", "SD-WL1", "identification.pact_decision", "--data",
                         '{"decided_on": "2027-11-30", "decision": "not_now"}',
                         env={"STEPDOWN_ACTOR": "tm@la.example"})
    assert closing.code == 0, closing.stderr

    emptied = wait_until(lambda: (lambda rows: rows if rows and all(
        r["ref"] != "SD-WL1" for r in rows) else None)(_worklist(system)),
        "the closed case off the north worklist", 60, every=0.5)
    assert emptied[0]["title"] == "nothing to do"
    assert system.ok("worklist", "--team", "north").stdout.count("\n") == 1  # the header only

    trail = system.ok("case", "audit", "SD-WL1", "--json").json()
    actors = {(r["action"], r["detail"].get("form") or r["detail"].get("key")): r["actor"]
              for r in trail}
    assert actors[("process.opened", None)] == "tm@la.example"
    assert actors[("input.accepted", "identification.suitability")] == "sw@la.example"
    assert actors[("input.accepted", "identification.pact_decision")] == "tm@la.example"
    assert actors[("process.closed", None)] == "tm@la.example"
    channels = {r["detail"]["form"]: r["detail"].get("channel") for r in trail
                if r["action"] == "input.accepted"}
    assert channels == {"identification.suitability": "ui",
                        "identification.pact_decision": "cli"}
    listed = system.ok("case", "list", "--child", "C-WL1").stdout.splitlines()
    assert len(listed) == 2 and listed[1].split()[:5] == [
        "SD-WL1", "step_down", "C-WL1", "identification", "closed"]
