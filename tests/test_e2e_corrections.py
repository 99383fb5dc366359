"""End to end: `stepdown correct` against a running `stepdown serve`. A decision that closed a case
is corrected; the case reopens, its stage's flow run is replaced by a fresh one waiting for that
form again, and the right decision is then applied, as is a correction's undoing of a stage."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests import scenario
from tests.e2e import System, served

pytestmark = pytest.mark.e2e

REF = "SD-E2E-COR"
PACT = "identification.pact_decision"
SUITABILITY = {"held_on": "2026-11-09", "sdq_score": 12, "care_needs_band": "2.1",
               "care_plan_ratified": True}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    yield from served(tmp_path_factory, "stepdown-corrections", scenario.TODAY)


def _run(system: System, run_id: str) -> dict[str, Any]:
    return httpx.get(f"{system.api}/flow_runs/{run_id}").json()  # type: ignore[no-any-return]


def _runs(shown: dict[str, Any]) -> dict[str, str]:
    return {run["stage"]: run["flow_run_id"] for run in shown["flow_runs"]}


def _waits_in_a_fresh_run(system: System, key: str, stage: str, old: str) -> str:
    """The case waits for ``key`` in a new, suspended run of ``stage`` named and tagged as
    before; returns its id."""
    shown = system.wait_for_form(REF, key)
    new = _runs(shown)[stage]
    assert new and new != old
    deadline = time.monotonic() + 60
    while _run(system, new)["state"]["name"] != "Suspended" and time.monotonic() < deadline:
        time.sleep(1)
    run = _run(system, new)
    assert run["state"]["name"] == "Suspended"
    assert run["name"] == f"{REF}-{stage}"
    assert {f"ref:{REF}", f"stage:{stage}", "process:step_down"} <= set(run["tags"])
    return str(new)


def test_a_closing_decision_is_corrected_and_the_flow_run_waits_for_it_again(
    system: System,
) -> None:
    system.ok("case", "open", REF, "--child", "CHILD-COR", "--identified", "2026-11-02")
    system.ok("input", REF, "identification.suitability", "--data", json.dumps(SUITABILITY))
    system.ok("input", REF, PACT, "--data",
              '{"decided_on": "2026-11-16", "decision": "not_now"}')
    shown = system.ok("case", "show", REF, "--json").json()
    assert (shown["status"], shown["outcome"]) == ("closed", "not_now")
    first = _runs(shown)["identification"]

    # Refused: no reason, nothing recorded to correct. One line, exit 2, nothing changed.
    for args, message in (
        (["correct", REF, PACT, "--reason", " "], "error: reason: must say why"),
        (["correct", REF, "identification.mhmp_sent", "--reason", "x"],
         f"error: key: nothing to correct: {REF} has no accepted identification.mhmp_sent"),
    ):
        refused = system.cli(*args)
        assert refused.code == 2, refused
        assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
        assert refused.stderr.startswith(message)
    assert system.ok("case", "show", REF, "--json").json()["status"] == "closed"

    corrected = system.ok("correct", REF, PACT, "--reason", "the panel said proceed")
    line = corrected.stdout.strip()
    assert line.startswith(f"{REF}: {PACT} corrected; case reopened; flow run "
                           f"{REF}-identification restarted: http://127.0.0.1:{system.port}/")
    assert "the panel said proceed" not in line  # typed text stays out of what is printed
    shown = system.ok("case", "show", REF, "--json").json()
    assert (shown["status"], shown["outcome"], shown["stage"]) == ("open", None,
                                                                    "identification")
    second = _waits_in_a_fresh_run(system, PACT, "identification", first)
    assert _run(system, first)["state"]["type"] == "COMPLETED"  # the closing run, kept
    items = {i["key"]: i for i in system.ok("case", "timeline", REF, "--json").json()}
    assert items[PACT]["status"] == "pending"
    assert items["identification.child_views"]["status"] == "pending"  # restored

    # The right decision, through the fresh run: applied, and the next stage's run starts.
    system.ok("input", REF, PACT, "--data", '{"decided_on": "2026-11-16", "decision": "proceed"}')
    shown = system.wait_for_form(REF, "preparation.readiness")
    assert (shown["status"], shown["stage"]) == ("open", "preparation")
    preparation = _runs(shown)["preparation"]
    assert _run(system, second)["state"]["type"] == "COMPLETED"

    # Corrected again: back to identification; the waiting preparation run is cancelled.
    corrected = system.ok("correct", REF, PACT, "--reason", "decided on the wrong date")
    assert "back from preparation to identification" in corrected.stdout
    third = _waits_in_a_fresh_run(system, PACT, "identification", second)
    assert _run(system, preparation)["state"]["type"] == "CANCELLED"
    assert "preparation" not in _runs(system.ok("case", "show", REF, "--json").json())
    system.ok("input", REF, PACT, "--data", '{"decided_on": "2026-11-17", "decision": "proceed"}')
    shown = system.wait_for_form(REF, "preparation.readiness")
    assert _runs(shown)["preparation"] != preparation  # a new run, not the cancelled one back
    assert _run(system, _runs(shown)["preparation"])["name"] == f"{REF}-preparation"
    assert _run(system, third)["state"]["type"] == "COMPLETED"
    items = {i["key"]: i for i in system.ok("case", "timeline", REF, "--json").json()}
    assert items[PACT]["done_on"] == "2026-11-17"


def test_a_correction_while_the_server_is_down_is_recorded_and_finished_later(
    system: System,
) -> None:
    """The record is corrected at once; the flow run is restarted by the same command, repeated
    once the server answers. `case show` says so meanwhile."""
    ref = "SD-E2E-COR2"
    system.ok("case", "open", ref, "--child", "CHILD-COR2", "--identified", "2026-11-02")
    system.ok("input", ref, "identification.suitability", "--data", json.dumps(SUITABILITY))
    system.wait_for_form(ref, PACT)
    system.stop()
    try:
        down = system.cli("correct", ref, "identification.suitability", "--reason", "wrong band")
        assert down.code == 1, down
        assert (f"{ref}: identification.suitability corrected; but flow run "
                f"{ref}-identification was not restarted") in down.stderr
        assert "repeat this command once the server answers" in down.stderr
        shown = system.cli("case", "show", ref, "--json").json()
        assert shown["restart_pending"] == "identification.suitability"
        assert shown["waiting_for"] is None
        text = system.cli("case", "show", ref).stdout
        assert f"repeat `stepdown correct {ref} identification.suitability`" in text
    finally:
        system.start()
    again = system.ok("correct", ref, "identification.suitability", "--reason", "wrong band")
    assert again.stdout.startswith(f"{ref}: identification.suitability was already corrected; "
                                   f"flow run {ref}-identification restarted: ")
    shown = system.wait_for_form(ref, "identification.suitability")
    assert shown["restart_pending"] is None
    system.ok("input", ref, "identification.suitability", "--data",
              json.dumps({**SUITABILITY, "care_needs_band": "2.2"}))
    system.wait_for_form(ref, PACT)


def test_the_audit_trail_shows_what_people_wrote_and_nothing_else_carries_it(
    system: System,
) -> None:
    """A correction's reason, an early input's and an acting person's, as written, in `case
    audit` and its JSON; and in no flow-run name, state message, log line, artifact or
    notification."""
    from tests.test_sweep import STAFF

    ref = "UE-E2E-AUD"  # ended 1 Oct: the meeting falls 1 Nov to 12 Nov, overdue by 1 Dec
    acting = "Sol chairs while the IROs are at the regional panel"
    early = "The carers move abroad on 1 November; held before they leave"
    corrected = "Entered against the wrong ending; the meeting is still to be held"
    staff = system.home / "staff.csv"
    staff.write_text(STAFF)
    system.ok("staff", "import", str(staff))
    system.ok("ending", "record", ref, "--child", "CHILD-AUD", "--ended-on", "2027-10-01",
              "--reason", "CREQB")
    system.ok("case", "assign", ref, "iro", "ssw@la.example", "--acting", acting)
    system.wait_for_form(ref, "unplanned_ending.meeting")
    system.ok("input", ref, "unplanned_ending.meeting", "--data", json.dumps(
        {"done_on": "2027-10-28", "chair": "iro", "early_reason": early}))
    system.ok("correct", ref, "unplanned_ending.meeting", "--reason", corrected)
    system.wait_for_form(ref, "unplanned_ending.meeting")

    trail = system.ok("case", "audit", ref, "--json").json()
    reasons = {row["action"]: row["detail"].get("reason") for row in trail
               if row["action"] in ("role.acting", "input.early", "input.corrected")}
    assert reasons == {"role.acting": acting, "input.early": early,
                       "input.corrected": corrected}
    table = system.ok("case", "audit", ref).stdout
    for text in (acting, early, corrected):
        assert f'reason="{text}"' in table
    assert ("input.early              key=unplanned_ending.meeting earliest=2027-11-01 "
            f'reason="{early}"') in table

    system.cli("sweep")  # the meeting is overdue again: its owner is flagged in a digest
    records = sa.create_engine(f"sqlite:///{system.home / 'stepdown.db'}",
                               poolclass=sa.pool.NullPool)
    with records.connect() as connection:
        messages = "\n".join(str(value) for row in connection.execute(
            sa.text("SELECT * FROM message")).all() for value in row)  # whole: no repr cut
    assert f"stepdown input {ref} unplanned_ending.meeting" in messages, messages
    runs = httpx.post(f"{system.api}/flow_runs/filter", json={"limit": 200}).json()
    mine = [run for run in runs if f"ref:{ref}" in run["tags"]]
    assert len(mine) == 2  # the meeting's run, and the fresh one after the correction
    states = [httpx.get(f"{system.api}/flow_run_states/",
                        params={"flow_run_id": run["id"]}).json() for run in runs]
    logs = httpx.post(f"{system.api}/logs/filter", json={"limit": 200}).json()
    artifacts = httpx.post(f"{system.api}/artifacts/filter", json={}).json()
    assert any(ref in json.dumps(a) for a in artifacts)  # the case's timeline, published
    carried = json.dumps([[run["name"] for run in runs], states, logs, artifacts])
    for text in (acting, early, corrected):
        for where, found in (("flow runs, states, logs, artifacts", carried),
                             ("notifications", messages), ("server log", "".join(system.log))):
            assert text not in found, (where, text)
            assert text.split(";")[0] not in found, (where, text)
