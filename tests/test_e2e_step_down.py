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


# ------------------------------------------------------------ the move, a change of placement
# A second case, its dates worked out from the sources across Christmas 2026, Easter 2027 and
# the Early May bank holiday (Mon 2027-05-03):
#   PACT proceeds Fri 2026-12-11 = P: the preparation planning meeting is due P + 14 days =
#     Fri 12-25, Christmas Day -> Thu 12-24, and the Preparation Plan with it (000 Step 2).
#   The match is agreed Fri 2027-03-12 = A: the introduction planning meeting is due A + 14 =
#     Fri 03-26, Good Friday -> Thu 03-25, and the RAMP assessment and the 'Getting to know you
#     and moving' plan with it (000 Steps 3-4).
#   The SCAYT+ referral is updated Mon 2027-03-15: its consultation within 2 weeks, Mon 03-29,
#     Easter Monday -> back past the weekend and Good Friday to Thu 03-25 (000 Roles, SCAYT+).
#   The introductions plan is made Mon 2027-03-22 = S: the final review is due S + 55 = Sun
#     05-16 -> Fri 05-14, and by then the move's authorisation (004), the placement planning
#     meeting (002 3.24) and the initial support plan (004).
#   Moved in Fri 2027-04-30 = V, before the final review: the planning meeting and support plan
#     were due by the move, Fri 04-30; delegated authority within 5 working days (002 3.25),
#     Mon 05-03 being a bank holiday: Tue 4, Wed 5, Thu 6, Fri 7, Mon 2027-05-10.
#   SCAYT+ support reviewed V + 6 months = Sat 10-30 -> Fri 2027-10-29, then V + 9 months = Sun
#     2028-01-30 -> Fri 2028-01-28 while the support continues.
MOVE_REF = "SD-E2E-MOVE"
MOVE_GATE = ("error: form: the move can only be recorded once it is authorised by HARP or the "
             "Head of Service (introduction.move_authorisation; Placement Stability guidance: a "
             "placement move can only be agreed through HARP or the relevant Head of Service)")


def _items(system: System, ref: str, as_of: str = scenario.TODAY) -> dict[str, dict[str, str]]:
    return {i["key"]: i for i in system.ok("case", "timeline", ref, "--json", "--as-of",
                                           as_of).json()}


def _input(system: System, ref: str, key: str, data: dict[str, object]) -> None:
    system.ok("input", ref, key, "--data", json.dumps(data))


def _refused_in_one_line(system: System, ref: str, key: str, data: dict[str, object]) -> str:
    before = _state(system, ref)
    result = system.cli("input", ref, key, "--data", json.dumps(data))
    assert result.code == 2, result
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert _state(system, ref) == before
    return result.stderr.strip()


def test_a_step_down_move_is_authorised_first_and_dated_as_a_placement_change(
    system: System,
) -> None:
    ref = MOVE_REF
    system.ok("case", "open", ref, "--child", "CHILD-MOVE", "--identified", "2026-11-30")
    # 000 Step 1: "a multi-agency meeting including the IRO". Recorded without the IRO: accepted,
    # and an exception on the audit trail.
    _input(system, ref, "identification.suitability", {
        "held_on": "2026-12-02", "sdq_score": 9, "care_needs_band": "2.2",
        "care_plan_ratified": True,
        "attendees": ["social_worker", "residential_key_worker", "scayt"]})
    audit = system.ok("case", "audit", ref, "--json").json()
    assert [row["detail"]["exception"] for row in audit
            if row["action"] == "exception.reported"] == [
        "minimum attendance not met: iro not recorded as attending (Step Down practice "
        "standards, Step 1: a multi-agency meeting including the IRO)"]

    _input(system, ref, "identification.pact_decision",
           {"decided_on": "2026-12-11", "decision": "proceed"})
    items = _items(system, ref, "2026-12-14")
    assert items["preparation.planning_meeting"]["due"] == "2026-12-24"
    assert items["preparation.preparation_plan"]["due"] == "2026-12-24"
    _input(system, ref, "preparation.planning_meeting", {"done_on": "2026-12-22"})
    # Held on Tue 12-22: the plan made there was due that day.
    assert _items(system, ref, "2026-12-22")["preparation.preparation_plan"]["due"] == (
        "2026-12-22")
    _input(system, ref, "preparation.readiness", {"decided_on": "2027-01-29", "outcome": "ready"})
    _input(system, ref, "matching.decision", {"decided_on": "2027-03-12", "outcome": "approved"})

    items = _items(system, ref, "2027-03-12")
    for key in ("introduction.planning_meeting", "matching.ramp_assessment",
                "introduction.getting_to_know_you_plan"):
        assert items[key]["due"] == "2027-03-25", key
    authorisation = items["introduction.move_authorisation"]
    assert (authorisation["due"], authorisation["owner"], authorisation["status"]) == (
        None, "head_of_service", "pending")
    _input(system, ref, "matching.scayt_referral_updated", {"done_on": "2027-03-15"})
    consultation = _items(system, ref, "2027-03-15")["scayt.match_consultation"]
    assert (consultation["due"], consultation["owner"]) == ("2027-03-25", "scayt")

    _input(system, ref, "introduction.planning_meeting", {"done_on": "2027-03-22"})
    items = _items(system, ref, "2027-03-22")
    assert items["matching.ramp_assessment"]["due"] == "2027-03-22"
    assert items["introduction.getting_to_know_you_plan"]["due"] == "2027-03-22"
    assert items["introduction.final_review"]["due"] == "2027-05-14"
    for key in ("introduction.move_authorisation", "introduction.placement_planning_meeting",
                "introduction.support_plan"):
        assert items[key]["due"] == "2027-05-14", key
    assert items["introduction.support_plan"]["owner"] == "supervising_social_worker"

    # The gate: no move before HARP or the Head of Service approves it, even after a refusal.
    move = {"moved_in_on": "2027-04-30"}
    system.wait_for_form(ref, "introduction.move_authorisation")
    assert _refused_in_one_line(system, ref, "introduction.move", move) == MOVE_GATE
    _input(system, ref, "introduction.move_authorisation", {
        "decided_on": "2027-04-23", "route": "harp", "decision": "refused",
        "reasons": "The carers' training is not finished."})
    shown = system.wait_for_form(ref, "introduction.move_authorisation")  # asked again
    assert shown["stage"] == "introduction"
    assert _items(system, ref, "2027-04-23")["introduction.move_authorisation"][
        "status"] == "pending"
    assert _refused_in_one_line(system, ref, "introduction.move", move) == MOVE_GATE
    _input(system, ref, "introduction.move_authorisation", {
        "decided_on": "2027-04-28", "route": "head_of_service", "decision": "approved"})
    system.wait_for_form(ref, "introduction.move")
    assert _refused_in_one_line(system, ref, "introduction.move",
                                {"moved_in_on": "2027-04-27"}) == (
        "error: moved_in_on: 2027-04-27 is before the move was authorised (2027-04-28)")
    _input(system, ref, "introduction.move", move)

    items = _items(system, ref, "2027-05-04")
    assert (items["introduction.move_authorisation"]["status"],
            items["introduction.move_authorisation"]["done_on"]) == ("done", "2027-04-28")
    assert items["introduction.move"]["done_on"] == "2027-04-30"
    for key in ("introduction.placement_planning_meeting", "introduction.support_plan"):
        assert (items[key]["due"], items[key]["status"]) == ("2027-04-30", "overdue"), key
    delegated = items["support.delegated_authority"]
    assert (delegated["due"], delegated["owner"], delegated["status"]) == (
        "2027-05-10", "social_worker", "pending")
    assert items["support.scayt_review"]["due"] == "2027-10-29"
    assert "support.scayt_review#2" not in items

    # SCAYT+ reviews go on every 3 months while the support does.
    _input(system, ref, "support.scayt_review", {"done_on": "2027-10-28"})
    second = _items(system, ref, "2027-10-28")["support.scayt_review#2"]
    assert (second["due"], second["status"]) == ("2028-01-28", "pending")
    _input(system, ref, "support.scayt_review#2",
           {"done_on": "2027-11-30", "support_continues": False})
    items = _items(system, ref)
    assert items["support.scayt_review#2"]["status"] == "done"
    assert "support.scayt_review#3" not in items
    shown = system.ok("case", "show", ref, "--json").json()
    assert (shown["status"], shown["stage"]) == ("open", "support")
