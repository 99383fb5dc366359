"""End to end: a local authority's own process, declared in a file of its own (the worked example
of docs/processes.md), served by `stepdown serve` with STEPDOWN_PROCESSES pointing at it: listed,
opened, driven through its stages from the command line, its forms in the Prefect API's schema,
its obligations on the timeline and reached by the sweep."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import System, free_port, system_env, wait_until
from tests.test_declarations import worked_example
from tests.test_sweep import STAFF

pytestmark = pytest.mark.e2e

TODAY = "2027-02-01"
REF, CHILD = "FT-1", "C-1"
DECLARED = tomllib.loads(worked_example())
FORMS = {form["key"]: form for form in DECLARED["form"]}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """One `stepdown serve` (schedules off) for the module, with the worked example as the
    local authority's declaration directory."""
    home: Path = tmp_path_factory.mktemp("stepdown-declared")
    processes = home / "processes"
    processes.mkdir()
    (processes / "family_time.toml").write_text(worked_example(), "utf-8")
    port = free_port()
    env = system_env(home, port, TODAY)
    env["STEPDOWN_PROCESSES"] = str(processes)
    running = System(home, port, env)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _timeline(system: System, ref: str, as_of: str | None = None) -> dict[str, dict[str, Any]]:
    args = ("case", "timeline", ref, "--json") + (("--as-of", as_of) if as_of else ())
    return {item["key"]: item for item in system.ok(*args).json()}


def _state(system: System) -> tuple[str, str, str]:
    """The case's record: its timeline, its row (stage, status, what it waits for) and its
    audit trail."""
    return (system.ok("case", "timeline", REF, "--json").stdout,
            system.ok("case", "list", "--json").stdout,
            system.ok("case", "audit", REF, "--json").stdout)


def _refused(system: System, before: tuple[str, str, str], *args: str) -> str:
    """A command refused as bad input: exit 2, one line on stderr, the record as ``before``."""
    result = system.cli(*args)
    assert result.code == 2, result
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert _state(system) == before, f"stepdown {' '.join(args)} changed the record"
    return result.stderr.strip()


def _suspended_input(system: System, run_id: str) -> tuple[dict[str, Any], str]:
    """The form a suspended flow run waits for, as the Prefect UI reads it: its JSON schema
    and the description shown above it."""
    run = httpx.get(f"{system.api}/flow_runs/{run_id}").json()
    assert run["state"]["name"] == "Suspended", run["state"]
    keyset = run["state"]["state_details"]["run_input_keyset"]
    schema = httpx.get(f"{system.api}/flow_runs/{run_id}/input/{keyset['schema']}").json()
    description = httpx.get(f"{system.api}/flow_runs/{run_id}/input/{keyset['description']}")
    return schema, description.json()


def _assert_declared_fields(schema: dict[str, Any], form: str) -> None:
    props = schema["properties"]
    for field in FORMS[form]["field"]:
        assert props[field["name"]]["title"] == field["title"], field["name"]
        assert props[field["name"]]["description"] == field["description"], field["name"]
    assert list(props)[: len(FORMS[form]["field"])] == [f["name"] for f in FORMS[form]["field"]]


def test_kinds_lists_the_local_process_with_its_stages(system: System) -> None:
    rows = {row["kind"]: row for row in system.ok("kinds", "--json").json()}
    assert {"step_down", "stability", "unplanned_ending", "family_time"} <= set(rows)
    row = rows["family_time"]
    assert (row["title"], row["opening"]) == ("Family time review", "family_time.request")
    assert row["declared_in"] == str(system.home / "processes" / "family_time.toml")
    assert [(s["name"], s["flow"], s["waits_for"], s["obligations"]) for s in row["stages"]] == [
        ("assessment", "family-time-assessment", ["family_time.assessment"], 2),
        ("review", "family-time-review", ["family_time.decision"], 3)]
    assert row["links"] == [{"type": "shows", "kind": "stability"}]
    text = system.ok("kinds").stdout
    assert "family_time: Family time review  (opened with family_time.request;" in text
    form = system.ok("forms", "family_time.decision").stdout
    assert "carer_views_sought: boolean; default false" in form
    assert "Foster carer's views sought." in form


def test_a_bad_opening_is_refused_in_one_line(system: System) -> None:
    for data, message in [
        ({"requested_on": "2026-12-14", "arrangement": "weekly"},
         "error: arrangement: must be one of 'supervised', 'supported' or 'unsupervised' "
         "(got 'weekly')"),
        ({"requested_on": "2027-02-02", "arrangement": "supervised"},
         "error: requested_on: 2027-02-02 is in the future (today is 2027-02-01)"),
        ({"arrangement": "supervised"}, "error: requested_on: is required"),
    ]:
        result = system.cli("open", "family_time", "FT-BAD", "--child", CHILD,
                            "--data", json.dumps(data))
        assert (result.code, result.stderr.strip()) == (2, message), result
    unknown = system.cli("open", "family_tme", "FT-BAD", "--child", CHILD, "--data", "{}")
    assert unknown.code == 2 and unknown.stderr.startswith(
        "error: kind: 'family_tme' is not a declared process"), unknown
    assert system.cli("case", "show", "FT-BAD").code == 2


def test_the_declared_process_runs_through_its_stages(system: System) -> None:
    # ------------------------------------------------------------ opened; stage 1 waits
    opened = system.ok("open", "family_time", REF, "--child", CHILD, "--data", json.dumps(
        {"requested_on": "2026-12-14", "arrangement": "supervised"}))
    assert f"opened {REF} (family_time, assessment); flow run {REF}-assessment" in opened.stdout
    shown = system.wait_for_form(REF, "family_time.assessment")
    assert (shown["process"], shown["stage"], shown["status"]) == (
        "family_time", "assessment", "open")
    (run,) = shown["flow_runs"]
    assert (run["name"], run["stage"]) == (f"{REF}-assessment", "assessment")
    flow_run = httpx.get(f"{system.api}/flow_runs/{run['flow_run_id']}").json()
    assert flow_run["name"] == f"{REF}-assessment"
    assert "process:family_time" in flow_run["tags"] and f"ref:{REF}" in flow_run["tags"]

    # The form the UI renders is the declared one: its fields' titles and help, its help text.
    schema, description = _suspended_input(system, run["flow_run_id"])
    _assert_declared_fields(schema, "family_time.assessment")
    assert schema["properties"]["sessions_observed"]["maximum"] == 20
    assert schema["properties"]["recommendation"]["enum"] == ["increase", "keep", "reduce"]
    assert description == FORMS["family_time.assessment"]["description"]

    items = _timeline(system, REF)
    assert items["family_time.assessment"]["status"] == "pending"
    assert items["family_time.assessment"]["due"] is None  # a form's own item: no date
    # 14 Dec + 14 days is Mon 28 Dec, the substitute Boxing Day: back to Thu 24 Dec.
    observation = items["family_time.observation#1"]
    assert (observation["due"], observation["owner"], observation["process"]) == (
        "2026-12-24", "supervising_social_worker", "family_time")
    assert "family_time.meeting" not in items  # stage 2's: not yet

    # ------------------------------------------------------------ stage 1's form
    before = _state(system)
    refused = _refused(system, before, "input", REF, "family_time.assessment", "--data",
                       json.dumps({"assessed_on": "2026-12-18", "recommendation": "increase",
                                   "sessions_observed": 21}))
    assert refused == "error: sessions_observed: must be at most 20 (got 21)"
    refused = _refused(system, before, "input", REF, "family_time.assessment", "--data",
                       json.dumps({"assessed_on": "2026-12-11", "recommendation": "increase"}))
    assert refused.startswith("error: assessed_on: 2026-12-11 is before assessment began")
    system.ok("input", REF, "family_time.assessment", "--data", json.dumps(
        {"assessed_on": "2026-12-18", "recommendation": "increase"}))
    shown = system.wait_for_form(REF, "family_time.decision")
    assert shown["stage"] == "review"
    assert [r["name"] for r in shown["flow_runs"]] == [f"{REF}-assessment", f"{REF}-review"]
    schema, description = _suspended_input(system, shown["flow_runs"][1]["flow_run_id"])
    _assert_declared_fields(schema, "family_time.decision")
    assert schema["required"] == ["decided_on", "decision"]
    assert description == FORMS["family_time.decision"]["description"]
    audit = system.ok("case", "audit", REF, "--json").json()
    assert {"exception": "the assessment observed no family time session"} in [
        {k: v for k, v in row["detail"].items() if k == "exception"} for row in audit
        if row["action"] == "exception.reported"]

    items = _timeline(system, REF, as_of="2026-12-21")
    assert (items["family_time.assessment"]["status"],
            items["family_time.assessment"]["done_on"]) == ("done", "2026-12-18")
    # A recurring obligation of the assessment, due after it ended, ends with it.
    assert items["family_time.observation#1"]["status"] == "cancelled"
    # The 10th working day after Fri 18 Dec 2026: 21-24 Dec, 29-31 Dec, 4-6 Jan (25 and 28
    # Dec and 1 Jan are bank holidays).
    meeting = items["family_time.meeting"]
    assert (meeting["due"], meeting["owner"], meeting["status"]) == (
        "2027-01-06", "social_worker", "pending")
    assert "family_time.minutes" not in items  # anchored on the meeting's done_on
    assert _timeline(system, REF, as_of="2027-01-07")["family_time.meeting"]["status"] == (
        "overdue")

    # ------------------------------------------------------------ the sweep reaches it
    staff = system.home / "staff.csv"
    staff.write_text(STAFF)
    system.ok("staff", "import", str(staff))
    system.ok("case", "assign", REF, "social_worker", "sw@la.example")
    # Due Wed 6 Jan, flagged Thu 7 Jan, escalated 5 working days later: Thu 14 Jan. With no
    # sweep before it, a sweep of the 14th would only flag (escalation needs its flag).
    unflagged = system.ok("sweep", "--as-of", "2027-01-14", "--dry-run").stdout
    assert "1 rungs would fire, 0 escalated" in unflagged, unflagged
    assert system.ok("outbox", "--json").json() == []  # a rehearsal writes nothing
    system.ok("sweep", "--as-of", "2027-01-07")  # the flag goes out
    rehearsal = system.ok("sweep", "--as-of", "2027-01-14", "--dry-run").stdout
    lines = [line.split(maxsplit=2) for line in rehearsal.splitlines()]
    assert ["email", "tm@la.example",
            f"stepdown escalation: {REF} Family time review meeting is yours now"] in lines, (
        rehearsal)
    assert "1 rungs would fire, 1 escalated" in rehearsal, rehearsal
    earlier = system.ok("sweep", "--as-of", "2027-01-13", "--dry-run").stdout
    assert "escalation" not in earlier and "0 escalated" in earlier, earlier
    assert _timeline(system, REF, as_of="2027-01-14")["family_time.meeting"]["status"] == (
        "overdue")

    # ------------------------------------------------------------ stage 2's gates
    decision = {"decided_on": "2027-01-20", "decision": "increase"}
    refused = _refused(system, _state(system), "input", REF, "family_time.decision",
                       "--data", json.dumps(decision))
    assert refused == ("error: form: the review meeting (family_time.meeting) must be recorded "
                       "before the decision")
    system.ok("input", REF, "family_time.meeting", "--data", '{"done_on": "2027-01-08"}')
    items = _timeline(system, REF, as_of="2027-01-11")
    assert (items["family_time.meeting"]["status"],
            items["family_time.meeting"]["done_on"]) == ("done", "2027-01-08")
    minutes = items["family_time.minutes"]  # Fri 8 Jan + 5 working days
    assert (minutes["due"], minutes["owner"], minutes["status"]) == (
        "2027-01-15", "team_manager", "pending")
    assert system.ok("case", "show", REF, "--json").json()["waiting_for"] == (
        "family_time.decision")

    before = _state(system)
    refused = _refused(system, before, "input", REF, "family_time.decision",
                       "--data", json.dumps(decision))
    assert refused == ("error: carer_views_sought: must be true to increase family time: a "
                       "change needs the foster carer's views")
    refused = _refused(system, before, "input", REF, "family_time.decision", "--data",
                       json.dumps({"decided_on": "2027-01-20", "decision": "reduce",
                                   "carer_views_sought": True}))
    assert refused == "error: reasons: is required when family time is reduced"
    refused = _refused(system, before, "input", REF, "family_time.decision", "--data",
                       json.dumps({**decision, "decided_on": "2026-12-17",
                                   "carer_views_sought": True}))
    assert refused.startswith("error: decided_on: 2026-12-17 is before the assessment")
    system.ok("input", REF, "family_time.decision", "--data", json.dumps(
        {**decision, "carer_views_sought": True}))

    # ------------------------------------------------------------ closed with its outcome
    shown = system.ok("case", "show", REF, "--json").json()
    assert (shown["status"], shown["outcome"], shown["closed_on"]) == (
        "closed", "increase", "2027-01-20")
    assert shown["assigned"] == {"social_worker": "sw@la.example"}

    def completed() -> dict[str, Any] | None:
        now = system.ok("case", "show", REF, "--json").json()
        states = [r["state"] for r in now["flow_runs"]]
        return now if states == ["Completed", "Completed"] else None

    wait_until(completed, f"both flow runs of {REF} completed", timeout=60)
    items = _timeline(system, REF)
    assert (items["family_time.decision"]["status"],
            items["family_time.decision"]["done_on"]) == ("done", "2027-01-20")
    assert items["family_time.decision"]["owner"] == "team_manager"
    text = system.ok("case", "show", REF).stdout
    assert f"{REF}  family_time  child {CHILD}" in text
    assert "status: closed (increase)" in text
    listed = {row["ref"]: row for row in system.ok("case", "list", "--json").json()}
    assert (listed[REF]["process"], listed[REF]["status"], listed[REF]["outcome"]) == (
        "family_time", "closed", "increase")
    assert [row["ref"] for row in system.ok("case", "list", "--child", CHILD, "--json").json()
            ] == [REF]
    assert "FT-1             family_time" in system.ok("case", "list").stdout
