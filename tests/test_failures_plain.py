"""Failures are plain (issue 8, item 4, and the sweep's rehearsal from item 3): a sweep says why
it could not deliver, failed deliveries reach a manager as one report, an unreachable server is
one line and exit 1, a command's stderr is clean, tables have headers.

The command line runs as a subprocess of the installed `stepdown`, on SQLite and PostgreSQL,
with PREFECT_API_URL pointing at a port nothing listens on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stepdown.db import get_engine, session_scope
from stepdown.notifications import sweep as outbox
from stepdown.records import get_process, set_stage_flow_run
from stepdown.staff import assign, import_staff
from tests.builders import open_case
from tests.servers import HTTPSSink, SMTPSink, free_port
from tests.test_sweep import CHILD_ADDRESS, CHILD_BORN, CHILD_NAME, STAFF, _staffed_case, sweep

STEPDOWN = str(Path(sys.executable).parent / "stepdown")
ROOT = str(Path(__file__).resolve().parents[1])
TABLES = ("process", "stage_run", "obligation", "submission", "audit_event", "notice", "message",
          "assignment")
RUN_ID = "6f1c7a57-5f7e-4f61-9e0c-3a1f6b0a2c11"


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def lines(self) -> list[str]:
        return self.stdout.splitlines()


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Iterator[Any]:
    """The command line against the test's database, with no Prefect server listening."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PYTHONPATH": ROOT, "PREFECT_HOME": str(tmp_path / "prefect"),
                "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
                "STEPDOWN_INPUT_TIMEOUT": "60"})
    env.pop("STEPDOWN_SCHEDULES", None)

    def run(*args: str, today: str = "2027-12-01", **extra: str) -> Ran:
        done = subprocess.run([STEPDOWN, *args], env={**env, "STEPDOWN_TODAY": today, **extra},
                              capture_output=True, text=True, timeout=120, check=False)
        return Ran(done.returncode, done.stdout, done.stderr)

    yield run


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    with get_engine().connect() as connection:
        return {table: [tuple(row) for row in connection.execute(sa.text(
            f"SELECT * FROM {table} ORDER BY id"))] for table in TABLES}




def test_bad_working_hours_are_refused_in_one_line_naming_the_setting(
    db_url: str, today: str, cli: Any
) -> None:
    ran = cli("case", "list", STEPDOWN_WORKING_HOURS="9-5")
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr.splitlines() == [
        "error: STEPDOWN_WORKING_HOURS: '9-5' is not working hours: write HH:MM-HH:MM, "
        "e.g. 09:00-17:00"]


def _flagged_case(ref: str) -> None:
    """A case whose two items due Thu 24 Dec 2026 were flagged overdue on Tue 29 Dec, so that
    they escalate on Wed 6 Jan (escalation needs its flag, DOMAIN.md section 3)."""
    _staffed_case(ref)
    sweep("2026-12-29")


# ------------------------------------------------------------------ the sweep: no future, rehearse
def test_a_sweep_of_a_future_day_is_refused_and_changes_nothing(db_url: str, today: str,
                                                                 cli: Any) -> None:
    _staffed_case("SD-F1")
    before = snapshot()
    refused = cli("sweep", "--as-of", "2026-12-24", today="2026-12-20")
    assert refused.code == 2 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        "error: as-of: 2026-12-24 is in the future (today is 2026-12-20): a sweep would escalate "
        "and send now; rehearse it with --as-of 2026-12-24 --dry-run"]
    assert snapshot() == before


def test_a_rehearsal_prints_what_the_sweep_would_send_and_writes_nothing(
    db_url: str, today: str, cli: Any
) -> None:
    """The rehearsal of 6 Jan (the escalation day, the owner flagged on 29 Dec), run on 20 Dec
    with no server: the same messages the real sweep of that day then writes, and not a row
    changed."""
    _staffed_case("SD-F2")
    with session_scope() as session:  # the flag: escalation needs it (DOMAIN.md section 3)
        outbox.write(session, as_of=date(2026, 12, 29),
                     cutoff=outbox.end_of_day(date(2026, 12, 29)))
    with get_engine().connect() as connection:
        flagged = connection.execute(sa.text("SELECT max(id) FROM message")).scalar_one()
    before = snapshot()
    rehearsed = cli("sweep", "--as-of", "2027-01-06", "--dry-run", today="2026-12-20")
    assert rehearsed.code == 0, rehearsed.stderr
    assert rehearsed.stderr == ""
    assert snapshot() == before  # no notice, message, escalation or audit row
    header, *listed, count = rehearsed.lines()
    assert header.split() == ["channel", "to", "subject"]
    assert count == ("sweep 2027-01-06 (dry run, nothing written or sent): 2 rungs would fire, "
                     f"2 escalated; {len(listed)} messages would be sent")

    with session_scope() as session:
        outbox.write(session, as_of=date(2027, 1, 6), cutoff=outbox.end_of_day(date(2027, 1, 6)))
    with get_engine().connect() as connection:
        written = connection.execute(sa.text(
            "SELECT channel, recipient, subject FROM message WHERE id > :flagged ORDER BY id"),
            {"flagged": flagged}).all()
    assert len(written) == 5  # two escalation emails, two Teams posts, the manager's digest
    assert [line.split(None, 2) for line in listed] == [list(row) for row in written]


def test_a_rehearsal_without_a_day_rehearses_today_and_lists_what_waits(
    db_url: str, today: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _staffed_case("SD-F3")
    monkeypatch.setenv("STEPDOWN_TODAY", "2026-12-23")
    with session_scope() as session:  # yesterday's sweep wrote a digest it could not send
        outbox.write(session, as_of=date(2026, 12, 23), cutoff=outbox.end_of_day(
            date(2026, 12, 23)))
    before = snapshot()
    rehearsed = cli("sweep", "--dry-run", today="2026-12-24")
    assert rehearsed.code == 0 and rehearsed.stderr == ""
    assert rehearsed.lines()[1:] == [
        "email   sw@la.example                    stepdown digest Wed 23 Dec 2026: 2 due next "
        "working day  (already in the outbox)",
        "email   sw@la.example                    stepdown digest Thu 24 Dec 2026: 2 due today",
        "sweep 2026-12-24 (dry run, nothing written or sent): 2 rungs would fire, 0 escalated; "
        "2 messages would be sent"]
    assert snapshot() == before


# ------------------------------------------------------------------ why a sweep could not deliver
def test_a_sweep_without_an_email_url_says_so(db_url: str, today: str,
                                              sinks: tuple[SMTPSink, HTTPSSink],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _staffed_case("SD-F4")
    monkeypatch.delenv("STEPDOWN_EMAIL_URL")
    _, delivered = sweep("2026-12-23")
    assert (delivered.sent, delivered.retrying) == (0, 1)
    assert delivered.why() == " (1 email: STEPDOWN_EMAIL_URL is not set)"


def test_a_sweep_whose_relay_refuses_the_connection_says_so(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, _ = sinks
    _flagged_case("SD-F5")
    smtp.stop()
    _, delivered = sweep("2027-01-06")  # three emails to the manager, two Teams posts
    assert (delivered.sent, delivered.retrying) == (2, 3)
    assert delivered.why() == (f" (3 email: the relay {smtp.host}:{smtp.port} refused the "
                               "connection)")
    with get_engine().connect() as connection:
        errors = {e for (e,) in connection.execute(sa.text(
            "SELECT last_error FROM message WHERE status = 'pending'"))}
    assert errors == {f"the relay {smtp.host}:{smtp.port} refused the connection"}


def test_a_sweep_whose_teams_reference_is_missing_says_which(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    _flagged_case("SD-F6")
    monkeypatch.delenv("TEAMS_NORTH")
    _, delivered = sweep("2027-01-06")
    assert (delivered.sent, delivered.retrying) == (3, 2)
    assert delivered.why() == (" (2 teams: environment variable TEAMS_NORTH (Teams channel "
                               "env:TEAMS_NORTH) is not set)")


# ------------------------------------------------------------------ one failure report per person
def test_failed_teams_posts_reach_the_manager_as_one_report(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, https = sinks
    _flagged_case("SD-F7")
    https.stop()
    for _ in range(outbox.MAX_ATTEMPTS // outbox.TRIES_PER_SWEEP):
        _, delivered = sweep("2027-01-06")
    assert delivered.failed == 2  # both escalations' Teams posts, on the last sweep
    reports = [m for m in smtp.messages if "could not deliver" in str(m["Subject"])]
    assert len(reports) == 1
    (report,) = reports
    assert report["To"] == "tm@la.example"
    assert report["Subject"] == "stepdown could not deliver 2 messages"
    body = report.get_content()
    assert body.count("- could not deliver a Teams post to north (Teams post to north failed)") \
        == 2
    assert "SD-F7 preparation.planning_meeting" in body and "SD-F7 preparation.sw_visit#1" in body
    for secret in (CHILD_NAME, CHILD_BORN, CHILD_ADDRESS, "CHILD-1", "is yours now"):
        assert secret not in body  # case references and keys only, not the messages' words
    _, later = sweep("2027-01-07")
    assert not [m for m in smtp.messages if "could not deliver" in str(m["Subject"])][1:]
    assert later.failed == 0


# ------------------------------------------------------------------ an unreachable server
def _case_with_a_run(ref: str) -> None:
    with session_scope() as session:
        import_staff(session, text=STAFF, actor="test")
    open_case(ref, identified="2026-11-02")
    with session_scope() as session:
        set_stage_flow_run(session, process=get_process(session, ref=ref),
                           stage="identification", flow_run_id=RUN_ID)


SUITABILITY = json.dumps({"held_on": "2026-11-09", "sdq_score": 4, "care_needs_band": "2.1",
                          "care_plan_ratified": True})


@pytest.mark.parametrize("args", [
    ("input", "SD-U1", "identification.suitability", "--data", SUITABILITY),
    ("case", "open", "SD-U2", "--child", "C-U2", "--identified", "2026-11-02"),
    ("stability", "request", "ST-U1", "--child", "C-U3", "--requested-at", "2027-11-30T10:00",
     "--by", "foster_carer"),
    ("ending", "record", "UE-U1", "--child", "C-U4", "--ended-on", "2027-11-30", "--reason",
     "CARPL"),
    ("case", "assign", "SD-U1", "social_worker", "sw@la.example"),
    ("sweep", "--as-of", "2027-11-30"),
    ("sweep",),
    ("status",),
], ids=lambda args: " ".join(args[:2]))
def test_a_command_that_needs_the_server_says_so_in_one_line_and_exits_1(
    db_url: str, today: str, cli: Any, args: tuple[str, ...]
) -> None:
    _case_with_a_run("SD-U1")
    before = snapshot()
    ran = cli(*args)
    assert ran.code == 1, (ran.stdout, ran.stderr)
    (line,) = ran.stderr.splitlines()
    assert line.startswith("error: cannot reach ") and "is `stepdown serve` running" in line
    assert ran.stdout == ""
    assert snapshot() == before  # nothing recorded


def test_commands_that_read_the_record_answer_without_the_server(
    db_url: str, today: str, cli: Any
) -> None:
    _case_with_a_run("SD-U3")
    with session_scope() as session:
        assign(session, ref="SD-U3", role="social_worker", email="sw@la.example", actor="test")
    shown = cli("case", "show", "SD-U3")
    assert (shown.code, shown.stderr) == (0, "")
    assert "  flow run SD-U3-identification: unknown (server unreachable)  " in shown.stdout
    assert "None" not in shown.stdout
    for args in (("case", "timeline", "SD-U3"), ("case", "list"), ("outbox",)):
        ran = cli(*args)
        assert (ran.code, ran.stderr) == (0, ""), args
    # Recorded directly (not a flow's input): on record, with one line saying the UI is stale.
    direct = cli("input", "SD-U3", "identification.child_views", "--data",
                 '{"done_on": "2026-11-09"}')
    assert direct.code == 0 and direct.stdout == "SD-U3: identification.child_views recorded\n"
    assert direct.stderr.splitlines() == [
        "warning: the timeline of SD-U3 in the Prefect UI was not refreshed (server unreachable)"]


# ------------------------------------------------------------------ headers, people, runs
def test_case_show_lists_the_assigned_people_and_only_the_runs_that_exist(
    db_url: str, today: str, cli: Any
) -> None:
    _staffed_case("SD-H1")  # its stages were recorded without flow runs (no server here)
    with session_scope() as session:
        assign(session, ref="SD-H1", role="iro", email="hos@la.example", actor="test",
               acting="covering the IRO for this test")
    shown = cli("case", "show", "SD-H1")
    assert shown.code == 0 and shown.stderr == ""
    assert "  assigned: iro hos@la.example, social_worker sw@la.example" in shown.lines()
    assert "flow run" not in shown.stdout and "None" not in shown.stdout
    due = shown.lines().index("  assigned: iro hos@la.example, social_worker sw@la.example") + 1
    assert shown.lines()[due].split() == ["due", "obligation", "owner"]
    as_json = json.loads(cli("case", "show", "SD-H1", "--json").stdout)
    assert as_json["assigned"] == {"iro": "hos@la.example", "social_worker": "sw@la.example"}
    assert as_json["flow_runs"] == []


def test_tables_have_headers(db_url: str, today: str, cli: Any) -> None:
    _staffed_case("SD-H2")
    with session_scope() as session:
        outbox.write(session, as_of=date(2026, 12, 23), cutoff=outbox.end_of_day(
            date(2026, 12, 23)))
    listed = cli("case", "list").lines()
    assert listed[0].split() == ["ref", "process", "child", "stage", "status", "outcome",
                                 "waiting", "for"]
    assert listed[1].split()[:5] == ["SD-H2", "step_down", "CHILD-1", "preparation", "open"]
    timeline = cli("case", "timeline", "SD-H2").lines()
    assert timeline[0].split() == ["status", "due", "(earliest..due)", "obligation", "owner",
                                   "done"]
    assert len(timeline) > 10
    messages = cli("outbox").lines()
    assert messages[0].split() == ["id", "status", "channel", "to", "subject"]
    assert messages[1].split()[:4] == ["1", "pending", "email", "sw@la.example"]
    report = cli("report", "breakdowns", "--month", "2026-12").lines()
    assert report[1].split() == ["measure", "value"]
