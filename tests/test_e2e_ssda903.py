"""End to end: an SSDA903 import against a running `stepdown serve`. The flow runs of what it
opens start after its commit; while the server is unreachable they wait on record, and the next
import or sweep starts them. The scheduled import's deployment and the 12-month breakdown table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import System, free_port, served, wait_until

pytestmark = pytest.mark.e2e

TODAY = "2027-12-01"  # --since defaults to 2027-10-20
HEADER = ("CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,"
          "PL_POST,URN")
POSTCODE, URN = "BS16 1AA", "SC483621"
ROWS = [
    f"CA1,01/03/2027,P,C2,N1,U1,PR1,25/10/2027,X1,CREQB,{POSTCODE},GL7 2QZ,{URN}",  # opens
    f"CB2,01/03/2027,P,C2,N1,U2,PR1,02/11/2027,X1,ALLEG,{POSTCODE},GL7 2QZ,{URN}",  # opens
    f"CB2,02/11/2027,P,C2,N1,R1,PR1,,,,{POSTCODE},GL7 2QZ,{URN}",
    f"CC3,01/03/2027,P,C2,N1,U3,PR1,01/06/2027,X1,STAND,{POSTCODE},GL7 2QZ,{URN}",  # history
    f"CD4,01/03/2027,P,C2,N1,R1,PR1,05/11/2027,X1,LAREQ,{POSTCODE},GL7 2QZ,{URN}",  # history
    f"CD4,05/11/2027,P,C2,N1,U4,PR1,,,CHILD,{POSTCODE},GL7 2QZ,{URN}",  # not ended: ignored
]
LATER = f"CE5,01/03/2027,P,C2,N1,U4,PR1,20/11/2027,X1,CHILD,{POSTCODE},GL7 2QZ,{URN}"
OPENED = ["UE-CA1-20271025", "UE-CB2-20271102"]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    yield from served(tmp_path_factory, "stepdown-ssda903", TODAY)


def _file(path: Path, *rows: str) -> str:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return str(path)


def _run_deployment(system: System, name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    deployment = httpx.get(f"{system.api}/deployments/name/{name}").json()
    run = httpx.post(f"{system.api}/deployments/{deployment['id']}/create_flow_run",
                     json={"parameters": parameters}).json()

    def finished() -> dict[str, Any] | None:
        state = httpx.get(f"{system.api}/flow_runs/{run['id']}").json()
        return state if state["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED") else None

    return wait_until(finished, f"{name} to finish", 120)  # type: ignore[no-any-return]


def _artifact(system: System, key: str) -> Any:
    found = httpx.post(f"{system.api}/artifacts/filter",  # the latest of the key
                       json={"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC"}).json()
    assert found, key
    table = found[0]["data"]
    return json.loads(table) if isinstance(table, str) else table


def test_an_import_starts_its_flow_runs_now_or_on_the_next_import_or_sweep(
        system: System, tmp_path: Path) -> None:
    episodes = _file(tmp_path / "episodes.csv", *ROWS)
    dead = {"PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}
    down = system.cli("import", "ssda903", episodes, env=dead)
    assert down.code == 1, down.stderr
    assert "4 endings found, 2 processes opened" in down.stdout
    assert "error: 2 flow runs not started" in down.stderr
    for ref in OPENED:  # on record, waiting for its run
        shown = system.ok("case", "show", ref, "--json").json()
        assert (shown["stage"], shown["flow_runs"]) == ("meeting", [])

    again = system.ok("import", "ssda903", episodes, "--json").json()
    assert (again["processes_opened"], again["already_known"], again["flow_runs_started"],
            again["flow_runs_waiting"]) == (0, 4, 2, 0)
    for ref in OPENED:
        shown = system.wait_for_form(ref, "unplanned_ending.meeting")
        assert [run["name"] for run in shown["flow_runs"]] == [f"{ref}-meeting"]
    run = httpx.get(f"{system.api}/flow_runs/{shown['flow_runs'][0]['flow_run_id']}").json()
    assert {"process:unplanned_ending", f"ref:{OPENED[1]}", "child:CB2"} <= set(run["tags"])

    # A later file, imported while the server is unreachable; the sweep starts the run.
    later = _file(tmp_path / "later.csv", *ROWS, LATER)
    assert system.cli("import", "ssda903", later, env=dead).code == 1
    assert system.ok("case", "show", "UE-CE5-20271120", "--json").json()["flow_runs"] == []
    system.ok("sweep")
    system.wait_for_form("UE-CE5-20271120", "unplanned_ending.meeting")

    # An imported ending's meeting, through its flow run like any other.
    system.ok("input", OPENED[0], "unplanned_ending.meeting", "--data",
              '{"done_on": "2027-11-30", "chair": "iro", "carer_feedback_taken": true, '
              '"child_feedback_taken": true}')
    assert system.ok("case", "show", OPENED[0], "--json").json()["stage"] == "follow_up"

    # The scheduled import's deployment (served without its schedule: no path is set) reads a
    # file it is given, and publishes its summary.
    done = _run_deployment(system, "ssda903-import/stepdown", {"path": later})
    assert done["state"]["type"] == "COMPLETED"
    rows = {row["measure"]: row["value"] for row in _artifact(system, "ssda903-import-2027-12-01")}
    assert (rows["endings found"], rows["already known"], rows["processes opened"]) == (5, 5, 0)

    # The monthly report's 12-month table: every ending once, history included.
    assert _run_deployment(system, "breakdown-report/stepdown",
                           {"month": "2027-11"})["state"]["type"] == "COMPLETED"
    months = {row["month"]: row for row in _artifact(system, "breakdowns-12-months")}
    assert list(months)[0] == "2026-12" and list(months)[-1] == "2027-11"
    assert [months[m]["unplanned_endings"] for m in ("2027-06", "2027-10", "2027-11")] == [
        1, 1, 3]
    assert (months["2027-11"]["reason_ALLEG"], months["2027-11"]["reason_LAREQ"],
            months["2027-11"]["reason_CHILD"], months["2027-11"]["placement_R1"]) == (1, 1, 1, 1)

    # A file with too many bad rows (2 of 10): the run ends Refused, a failed state, and says
    # why, row by row, without a traceback; nothing of it is imported, not even its good rows.
    bad = _file(tmp_path / "bad.csv", *ROWS, LATER,
                f"CF6,01/03/2027,P,C2,N1,U1,PR1,21/11/2027,X1,CREQB,{POSTCODE},GL7 2QZ,{URN}",
                f"CG7,01/03/2027,P,C2,N1,U1,PR1,21/11/2027,X1,OOPS,{POSTCODE},GL7 2QZ,{URN}",
                f"CH8,01/03/2027,P,C2,N1,U1,PR1,21/02/2027,X1,CREQB,{POSTCODE},GL7 2QZ,{URN}")
    refused = _run_deployment(system, "ssda903-import/stepdown", {"path": bad})
    assert (refused["state"]["type"], refused["state"]["name"]) == ("FAILED", "Refused")
    assert refused["state"]["message"] == (
        "the SSDA903 extract: 2 rows refused (2 of its 10 rows refused, more than 5%: a fault of "
        "the whole file, not a typo); nothing imported; the artifact ssda903-import-2027-12-01 "
        "names the refused rows")
    table = _artifact(system, "ssda903-import-2027-12-01")
    rows = {row["measure"]: row["value"] for row in table}
    assert (rows["outcome"], rows["rows refused"], rows["processes opened"]) == (
        "refused", 2, 0)
    assert [row["value"] for row in table if row["measure"] == "refused"] == [
        "line 10 (child CG7, episode from 2027-03-01): REASON_PLACE_CHANGE: is not an SSDA903 "
        "reason for placement change code",
        "line 11 (child CH8, episode from 2027-03-01): DEC: is before DECOM: the episode ends "
        "before it starts"], table
    assert system.cli("case", "show", "UE-CF6-20271121").code != 0
    log = "".join(system.log)
    assert "Traceback" not in log, log[log.find("Traceback") - 1500:log.find("Traceback") + 3000]

    everything = json.dumps(httpx.post(f"{system.api}/artifacts/filter", json={}).json())
    flow_logs = json.dumps(httpx.post(f"{system.api}/logs/filter", json={
        "logs": {"flow_run_id": {"any_": [done["id"]]}}}).json())
    assert "5 endings found" in flow_logs
    for text in (everything, flow_logs, down.stdout, down.stderr, log):
        assert POSTCODE not in text and URN not in text


def test_an_import_of_many_endings_leaves_every_flow_run_waiting_for_its_meeting(
        system: System, tmp_path: Path) -> None:
    """The import starts its runs one after another while the first of them already run and
    write to the case record. A start that held the record's write lock across its API call
    starved them: on SQLite their writes waited out the busy timeout and the runs failed on
    "database is locked" (seen with 1,000 endings in bench/ssda903_bench.py --served)."""
    count = 60
    rows = [f"CM{n:03d},01/03/2027,P,C2,N1,U1,PR1,{21 + n % 9}/10/2027,X1,CREQB,{POSTCODE},"
            f"GL7 2QZ,{URN}" for n in range(count)]
    summary = system.ok("import", "ssda903", _file(tmp_path / "many.csv", *rows),
                        "--json").json()
    assert (summary["processes_opened"], summary["flow_runs_started"]) == (count, count), summary
    query = {"flow_runs": {"tags": {"all_": ["process:unplanned_ending"]},
                           "name": {"like_": "UE-CM"}}, "limit": 200}

    def settled() -> dict[str, int] | None:
        runs = httpx.post(f"{system.api}/flow_runs/filter", json=query, timeout=30).json()
        states: dict[str, int] = {}
        for run in runs:
            states[run["state"]["type"]] = states.get(run["state"]["type"], 0) + 1
        waiting = states.get("PAUSED", 0) + states.get("FAILED", 0) + states.get("CRASHED", 0)
        return states if len(runs) == count and waiting == count else None

    states = wait_until(settled, f"the {count} runs to settle", 600, 2)
    assert states == {"PAUSED": count}, states
    log = "".join(system.log)
    assert "database is locked" not in log


TYPO = [  # PB2's reason for the change is mistyped (ALEG for ALLEG) on line 3
    f"PA1,01/03/2027,P,C2,N1,U1,PR1,28/10/2027,X1,CREQB,{POSTCODE},GL7 2QZ,{URN}",  # opens
    f"PB2,01/03/2027,P,C2,N1,U2,PR1,04/11/2027,X1,ALEG,{POSTCODE},GL7 2QZ,{URN}",  # refused
    f"PB2,04/11/2027,P,C2,N1,R1,PR1,,,,{POSTCODE},GL7 2QZ,{URN}",
    f"PC3,01/03/2027,P,C2,N1,U3,PR1,12/11/2027,X1,CHILD,{POSTCODE},GL7 2QZ,{URN}",  # opens
    f"PD4,01/03/2027,P,C2,N1,U3,PR1,01/06/2027,X1,STAND,{POSTCODE},GL7 2QZ,{URN}",  # history
]
ROW_3 = ("line 3 (child PB2, episode from 2027-03-01): REASON_PLACE_CHANGE: is not an SSDA903 "
         "reason for placement change code")


def _processes(system: System) -> list[tuple[str, str, str]]:
    """(ref, status, stage) of every process on record."""
    return [(p["ref"], p["status"], p["stage"])
            for p in system.ok("case", "list", "--json").json()]


def test_a_bad_row_is_named_the_others_imported_and_the_corrected_row_comes_in_once(
        system: System, tmp_path: Path) -> None:
    typo = tmp_path / "typo.csv"
    _file(typo, *TYPO)
    # Through the command line: the others are imported, the row is named, exit 1.
    ran = system.cli("import", "ssda903", str(typo))
    assert ran.code == 1, ran.stderr
    assert ran.stdout.splitlines() == [
        "ssda903 import (csv, processes for endings from 2027-10-20): 5 episodes read, 3 endings "
        "found, 2 processes opened, 0 already known, 1 history kept, 1 row refused: the others "
        "imported",
        "  opened UE-PA1-20271028", "  opened UE-PC3-20271112"]
    assert ran.stderr.splitlines() == [
        "error: typo.csv: 1 row refused and not imported, the others imported; correct it in "
        "the source and import again", f"  {ROW_3}"]
    for ref in ("UE-PA1-20271028", "UE-PC3-20271112"):  # their flow runs started
        system.wait_for_form(ref, "unplanned_ending.meeting")
    assert system.cli("child", "PB2").code == 2  # nothing of PB2's

    # The scheduled import's run: a failed state named Partly imported, the row in the
    # artifact, no traceback in the server's log.
    done = _run_deployment(system, "ssda903-import/stepdown", {"path": str(typo)})
    assert (done["state"]["type"], done["state"]["name"]) == ("FAILED", "Partly imported")
    assert done["state"]["message"] == (
        "the SSDA903 extract: 1 row refused and not imported, the others imported; correct it "
        "in the source and import again; the artifact ssda903-import-2027-12-01 names the "
        "refused rows")
    table = _artifact(system, "ssda903-import-2027-12-01")
    rows = {row["measure"]: row["value"] for row in table}
    assert (rows["outcome"], rows["rows refused"], rows["already known"],
            rows["processes opened"]) == ("partly imported", 1, 3, 0)
    assert [row["value"] for row in table if row["measure"] == "refused"] == [ROW_3]

    def logged() -> str | None:  # the run's log lines reach the API a moment after it ends
        text = json.dumps(httpx.post(f"{system.api}/logs/filter", json={
            "logs": {"flow_run_id": {"any_": [done["id"]]}}}).json())
        return text if "1 row refused and not imported" in text else None

    logs = wait_until(logged, "the run's log", 60)
    failed = httpx.post(f"{system.api}/flow_runs/filter", json={  # the UI's failed runs
        "flow_runs": {"state": {"type": {"any_": ["FAILED"]}}}}).json()
    assert done["id"] in [run["id"] for run in failed]
    log = "".join(system.log)
    assert "Traceback" not in log, log[log.find("Traceback") - 1500:log.find("Traceback") + 3000]

    # --strict, and a file with too many bad rows: refused whole, nothing changes, exit 2. Each
    # has a good row of a new child (PE5), not imported.
    before = _processes(system)
    new = f"PE5,01/03/2027,P,C2,N1,U1,PR1,15/11/2027,X1,CREQO,{POSTCODE},GL7 2QZ,{URN}"
    strict = system.cli("import", "ssda903", _file(tmp_path / "new.csv", *TYPO, new),
                        "--strict")
    assert strict.code == 2
    assert strict.stderr.splitlines() == [
        "error: new.csv: 1 row refused (strict: any refused row refuses the file); nothing "
        "imported", f"  {ROW_3}"]
    worse = _file(tmp_path / "worse.csv", *TYPO, new, TYPO[0].replace(",U1,", ",UU1,"))
    refused = system.cli("import", "ssda903", worse)
    assert refused.code == 2
    assert refused.stderr.splitlines() == [
        "error: worse.csv: 2 rows refused (2 of its 7 rows refused, more than 5%: a fault of "
        "the whole file, not a typo); nothing imported", f"  {ROW_3}",
        "  line 8 (child PA1, episode from 2027-03-01): PLACE: is not an SSDA903 placement type "
        "code"]
    strict_run = _run_deployment(system, "ssda903-import/stepdown",
                                 {"path": str(tmp_path / "new.csv"), "strict": True})
    assert (strict_run["state"]["type"], strict_run["state"]["name"]) == ("FAILED", "Refused")
    assert _processes(system) == before
    assert system.cli("child", "PE5").code == 2

    # Corrected in the source: the next import brings in PB2's ending, once.
    _file(typo, *[row.replace(",ALEG,", ",ALLEG,") for row in TYPO])
    fixed = system.ok("import", "ssda903", str(typo), "--json").json()
    assert (fixed["outcome"], fixed["opened"], fixed["already_known"], fixed["rows_refused"],
            fixed["flow_runs_started"]) == ("imported", ["UE-PB2-20271104"], 3, 0, 1)
    system.wait_for_form("UE-PB2-20271104", "unplanned_ending.meeting")
    again = _run_deployment(system, "ssda903-import/stepdown", {"path": str(typo)})
    assert again["state"]["type"] == "COMPLETED"
    rows = {row["measure"]: row["value"] for row in _artifact(system, "ssda903-import-2027-12-01")}
    assert (rows["outcome"], rows["already known"], rows["processes opened"]) == (
        "imported", 4, 0)
    child = system.ok("child", "PB2", "--json").json()
    assert [p["ref"] for p in child["processes"]] == ["UE-PB2-20271104"]
    assert len(_processes(system)) == len(before) + 1

    everything = json.dumps(httpx.post(f"{system.api}/artifacts/filter", json={}).json())
    for text in (everything, logs, ran.stdout, ran.stderr, refused.stderr, strict.stderr,
                 done["state"]["message"], "".join(system.log)):
        assert POSTCODE not in text and URN not in text
