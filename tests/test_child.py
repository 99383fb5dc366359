"""A child's processes see each other (DOMAIN.md section 1; issue 10, item 3), on the case record
(SQLite and PostgreSQL) and through the command line (a subprocess on SQLite, no server):
- the timeline of any of a child's processes lists the obligations of the child's other open
  processes, each under its own reference, and still those of its linked processes (closed ones
  too); a process's own items are those it had before;
- ``child_summary`` / ``stepdown child CHILD`` lists the child's processes, open first, each with
  what it waits for, who is assigned and its next three open obligations as the timeline judges
  them.

Dates worked by hand (England and Wales bank holidays: Mon 31 May 2027, Mon 30 Aug 2027):
- CLA-T: looked after from Tue 4 May 2027 (L). The IRS is told 1 working day after, Wed 5 May;
  the placement planning meeting and the support plan are due within 5 days, Sun 9 May, so Fri
  7 May. The first review and PEP are due L + 20 working days, Wed 2 Jun (past 31 May); the
  care plan is shared 5 working days before, Tue 25 May. The review was held Thu 15 Jul: the
  care plan update is due 10 working days later, Thu 29 Jul.
- PL-T1: moved in on Fri 27 Aug 2027, which pulls CLA-T's second review forward to 20 working
  days later, Mon 27 Sep. PL-T2's move on Fri 8 Oct 2027 ends PL-T1.
- PL-T2: a planned move on Fri 8 Oct 2027: its planning meeting, support plan, Virtual School
  consultation and telling the child are due that day; the IRS is told 1 working day after, Mon
  11 Oct; delegated authority 5 working days after and the first visit 7 days after, both Fri
  15 Oct.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from stepdown.db import session_scope
from stepdown.records import (
    NotFound,
    child_summary,
    get_process,
    set_waiting,
    timeline,
)
from stepdown.staff import assign, import_staff
from tests.builders import open_case, open_stability, record_ending, submit
from tests.test_records_placement import _moved, _open
from tests.test_stability_and_endings import MEETING
from tests.test_sweep import STAFF

CHILD = "CH-T"
STEPDOWN = str(Path(sys.executable).parent / "stepdown")
ROOT = str(Path(__file__).resolve().parents[1])


def _childs_processes() -> None:
    """CLA-T and PL-T2 open, PL-T1 closed (ended by PL-T2's move); another child's CLA-O."""
    _open("CLA-T", "cla", CHILD, looked_after_on="2027-05-04")
    submit("CLA-T", "cla.review#1", {"done_on": "2027-07-15"})
    _moved("PL-T1", CHILD, on="2027-08-27")
    _moved("PL-T2", CHILD, on="2027-10-08")
    _open("CLA-O", "cla", "CH-OTHER", looked_after_on="2027-05-04")


def _timeline(ref: str, as_of: str, *, child: bool = True) -> list[dict[str, Any]]:
    with session_scope() as session:
        return timeline(session, process=get_process(session, ref=ref),
                        as_of=date.fromisoformat(as_of), child=child)


def _summary(as_of: str, child: str = CHILD) -> dict[str, Any]:
    with session_scope() as session:
        return child_summary(session, child_ref=child, as_of=date.fromisoformat(as_of))


def _in_date_order(items: list[dict[str, Any]]) -> bool:
    days = [(item["due"] or "")[:10] for item in items if item["due"]]
    return days == sorted(days)


# ------------------------------------------------------------------ the child's timeline
def test_the_timeline_of_any_of_a_childs_processes_lists_its_other_open_processes(
    db_url: str, today: str
) -> None:
    _childs_processes()
    items = _timeline("PL-T2", "2027-10-11")
    # The child's open processes only: not the ended placement, nor another child's CLA.
    assert {item["ref"] for item in items} == {"PL-T2", "CLA-T"}
    assert len({(item["ref"], item["key"]) for item in items}) == len(items)  # each once
    assert _in_date_order(items)  # one timeline, the processes' obligations interleaved
    by_key = {(item["ref"], item["key"]): item for item in items}
    review = by_key["CLA-T", "cla.review#2"]
    assert (review["process"], review["due"], review["status"], review["owner"]) == (
        "cla", "2027-09-27", "overdue", "iro")
    assert "brought forward" in review["title"] and "PL-T1" in review["title"]
    assert by_key["PL-T2", "placement.irs_informed"]["due"] == "2027-10-11"
    assert by_key["PL-T2", "placement.irs_informed"]["status"] == "pending"  # due today
    assert by_key["CLA-T", "cla.review#1"]["status"] == "done"
    # Filtered by its reference, it is the process's own timeline, as before.
    own = _timeline("PL-T2", "2027-10-11", child=False)
    assert {item["ref"] for item in own} == {"PL-T2"}
    assert [item for item in items if item["ref"] == "PL-T2"] == own

    # A closed process's timeline shows the child's open processes too.
    ended = _timeline("PL-T1", "2027-10-11")
    assert {item["ref"] for item in ended} == {"PL-T1", "PL-T2", "CLA-T"}
    assert {item["status"] for item in ended if item["ref"] == "PL-T1"} == {
        "done", "cancelled"}
    # Another child's process shows only its own.
    assert {item["ref"] for item in _timeline("CLA-O", "2027-10-11")} == {"CLA-O"}


def test_a_step_down_case_still_shows_its_linked_processes_closed_or_open(
    db_url: str, today: str
) -> None:
    child = "CH-L"
    open_case("SD-L", child=child, identified="2026-11-02")
    open_stability("ST-L", child=child, requested_at="2026-12-22T09:15:00+00:00")
    submit("ST-L", "stability.meeting", MEETING)  # held 23 Dec 2026
    record_ending("UE-L", child=child, ended_on="2027-03-17", reason="ALLEG")
    submit("UE-L", "unplanned_ending.waiver", {"decided_on": "2027-03-19", "decision": "waive"})
    with session_scope() as session:
        assert get_process(session, ref="UE-L").status == "closed"
    linked = _timeline("SD-L", today, child=False)
    assert {item["ref"] for item in linked} == {"SD-L", "ST-L", "UE-L"}
    # The child's timeline of the case is the same: the linked processes once, the closed one
    # kept; the open stability process is both linked and open.
    assert _timeline("SD-L", today) == linked
    # The stability process shows the open Step Down case, not the closed ending (not linked).
    assert {item["ref"] for item in _timeline("ST-L", today)} == {"ST-L", "SD-L"}
    assert {item["ref"] for item in _timeline("ST-L", today, child=False)} == {"ST-L"}
    # The closed ending shows the child's open processes.
    assert {item["ref"] for item in _timeline("UE-L", today)} == {"UE-L", "SD-L", "ST-L"}
    waived = [i for i in _timeline("UE-L", today) if i["key"] == "unplanned_ending.meeting"]
    assert [(i["ref"], i["status"]) for i in waived] == [("UE-L", "waived")]


# ------------------------------------------------------------------ child_summary
def test_a_childs_summary_lists_its_processes_open_first_with_what_comes_next(
    db_url: str, today: str
) -> None:
    _childs_processes()
    with session_scope() as session:
        import_staff(session, text=STAFF, actor="test")
        assign(session, ref="PL-T2", role="social_worker", email="sw@la.example", actor="test")
        set_waiting(session, process=get_process(session, ref="PL-T2"), key="placement.end",
                    flow_run_id="6f1c7a57-5f7e-4f61-9e0c-3a1f6b0a2c11", input_key="end-1")
    summary = _summary("2027-10-08")
    assert (summary["child"], summary["as_of"]) == (CHILD, "2027-10-08")
    processes = summary["processes"]
    assert [(p["ref"], p["process"], p["stage"], p["status"], p["outcome"], p["opened_on"],
             p["closed_on"]) for p in processes] == [
        ("CLA-T", "cla", "looked_after", "open", None, "2027-05-04", None),
        ("PL-T2", "placement", "placement", "open", None, "2027-10-08", None),
        ("PL-T1", "placement", "placement", "closed", "ended", "2027-08-27", "2027-10-08"),
    ]
    cla, placement, ended = processes
    # The CLA's next three: what is most overdue first.
    assert [(i["key"], i["due"], i["status"], i["owner"]) for i in cla["next"]] == [
        ("cla.irs_informed", "2027-05-05", "overdue", "social_worker"),
        ("cla.placement_planning_meeting", "2027-05-07", "overdue", "social_worker"),
        ("cla.support_plan", "2027-05-07", "overdue", "supervising_social_worker"),
    ]
    assert cla["next"][0]["title"] == (
        "Independent Reviewing Service informed that the child is looked after")
    # Open: the three above, delegated authority, the first review's care plan shared, child
    # consulted and health assessment, the PEP, the chronology, the care plan, the review
    # outcomes, the second review (brought forward to 27 Sep) with its care plan shared, child
    # consulted and permanence meeting: 15 overdue; and, not overdue, the information pack (no
    # date) and the Permanence Panel (L + 9 months). The first review is done; the first visit
    # was cancelled when PL-T1 moved in (its own visits took over).
    assert (cla["open_obligations"], cla["overdue"]) == (17, 15)
    assert (cla["waiting_for"], cla["assigned"]) == (None, {})
    # On the day of the move, what was due by it is due today, not overdue.
    assert [(i["key"], i["due"], i["status"]) for i in placement["next"]] == [
        ("placement.planning_meeting", "2027-10-08", "pending"),
        ("placement.support_plan", "2027-10-08", "pending"),
        ("placement.virtual_school_consulted", "2027-10-08", "pending"),
    ]
    assert placement["next"][1]["owner"] == "supervising_social_worker"
    # (with the talk about telling the child, 004 H4)
    assert (placement["open_obligations"], placement["overdue"]) == (8, 0)
    assert placement["waiting_for"] == "placement.end"
    assert placement["assigned"] == {"social_worker": "sw@la.example"}
    assert (ended["next"], ended["open_obligations"], ended["waiting_for"]) == ([], 0, None)

    # A working day later they are overdue; what is recorded drops out of what comes next.
    submit("PL-T2", "placement.planning_meeting", {"done_on": "2027-10-08"})
    placement = _summary("2027-10-11")["processes"][1]
    assert [(i["key"], i["status"]) for i in placement["next"]] == [
        ("placement.support_plan", "overdue"),
        ("placement.virtual_school_consulted", "overdue"),
        ("placement.child_told", "overdue"),
    ]
    # with the planning meeting's minutes (due Fri 15 Oct) and the talk about telling the child
    assert (placement["open_obligations"], placement["overdue"]) == (8, 4)
    # Judged as of the day before, what was done on the day was still to come.
    before = _summary("2027-10-07")["processes"][1]
    assert [(i["key"], i["status"]) for i in before["next"]] == [
        ("placement.authorisation", "pending"),
        ("placement.planning_meeting", "pending"),
        ("placement.support_plan", "pending"),
    ]


def test_a_child_with_no_processes_is_not_found(db_url: str, today: str) -> None:
    _open("CLA-O", "cla", "CH-OTHER", looked_after_on="2027-05-04")
    with pytest.raises(NotFound, match=r"^child: no processes for CH-NOBODY$"):
        _summary("2027-10-11", child="CH-NOBODY")


# ------------------------------------------------------------------ the command line
@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """`stepdown` against the test's database; no Prefect server listens (none is needed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PYTHONPATH": ROOT, "PREFECT_HOME": str(tmp_path / "prefect"),
                "PREFECT_API_URL": "http://127.0.0.1:9/api", "STEPDOWN_TODAY": "2027-10-11"})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([STEPDOWN, *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    yield run


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_stepdown_child_prints_the_childs_processes_and_their_next_obligations(
    db_url: str, today: str, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    _childs_processes()
    as_json = cli("child", CHILD, "--json")
    assert (as_json.returncode, as_json.stderr) == (0, "")
    assert json.loads(as_json.stdout) == json.loads(json.dumps(_summary("2027-10-11")))
    assert json.loads(cli("child", CHILD, "--json", "--as-of", "2027-10-08").stdout) == (
        json.loads(json.dumps(_summary("2027-10-08"))))

    shown = cli("child", CHILD)
    assert (shown.returncode, shown.stderr) == (0, "")
    lines = shown.stdout.splitlines()
    assert lines[0] == f"child {CHILD} as of 2027-10-11: 2 open, 1 closed"
    header = lines.index("CLA-T  cla  stage looked_after  open  opened 2027-05-04")
    assert lines[header + 1] == "  waiting for: -"
    assert lines[header + 2] == "  assigned: nobody"
    assert lines[header + 3] == "  next (3 of 17 open, 15 overdue):"
    assert lines[header + 4].split()[:4] == ["overdue", "2027-05-05", "cla.irs_informed",
                                             "social_worker"]
    assert lines[header + 4].startswith("    ")  # under its process
    assert lines[header + 4].endswith(
        "Independent Reviewing Service informed that the child is looked after")
    placement = lines.index("PL-T2  placement  stage placement  open  opened 2027-10-08")
    assert placement > header + 6
    assert lines[placement + 3] == "  next (3 of 8 open, 5 overdue):"
    assert [line.split()[:3] for line in lines[placement + 4:placement + 7]] == [
        ["overdue", "2027-10-08", "placement.planning_meeting"],
        ["overdue", "2027-10-08", "placement.support_plan"],
        ["overdue", "2027-10-08", "placement.virtual_school_consulted"],
    ]
    assert lines[-2:] == [
        "closed:", "  PL-T1  placement  stage placement  closed (ended) on 2027-10-08  "
        "opened 2027-08-27"]
    assert "CLA-O" not in shown.stdout and "CH-OTHER" not in shown.stdout


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_stepdown_child_refuses_an_unknown_child_and_a_bad_reference(
    db_url: str, today: str, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    _open("CLA-O", "cla", "CH-OTHER", looked_after_on="2027-05-04")
    for args in (("child", "CH-NOBODY"), ("child", "CH-NOBODY", "--json")):
        ran = cli(*args)
        assert (ran.returncode, ran.stdout) == (2, ""), args
        assert ran.stderr == "error: child: no processes for CH-NOBODY\n"
    bad = cli("child", "CH 1/2")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr == ("error: child: must be 1-64 letters, digits, '.', '_' or '-', starting "
                          "with a letter or digit (got 'CH 1/2')\n")
    late = cli("child", "CH-OTHER", "--as-of", "11/10/2027")
    assert (late.returncode, late.stderr) == (
        2, "error: as-of: must be a date YYYY-MM-DD (got '11/10/2027')\n")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_stepdown_case_timeline_shows_the_childs_other_open_processes(
    db_url: str, today: str, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    _childs_processes()
    items = json.loads(cli("case", "timeline", "PL-T2", "--json").stdout)
    assert {item["ref"] for item in items} == {"PL-T2", "CLA-T"}
    assert items == json.loads(json.dumps(_timeline("PL-T2", "2027-10-11")))
    lines = cli("case", "timeline", "PL-T2").stdout.splitlines()
    # Once another process's obligations are on it, each line says whose it is.
    assert lines[0].split() == ["status", "due", "(earliest..due)", "obligation", "owner",
                                "done", "process"]
    review = next(line for line in lines if " cla.review#2 " in line)
    assert review.split() == ["overdue", "2027-09-27", "cla.review#2", "iro", "CLA-T"]
    done = next(line for line in lines if " placement.authorisation " in line)
    assert done.split() == ["done", "2027-10-08", "placement.authorisation", "head_of_service",
                            "2027-10-08", "PL-T2"]
    # A child with one process: the table as it always was.
    alone = cli("case", "timeline", "CLA-O").stdout.splitlines()
    assert alone[0].split() == ["status", "due", "(earliest..due)", "obligation", "owner",
                                "done"]
    assert all("CLA-T" not in line for line in alone)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_stepdown_child_shows_an_hour_deadline_in_london_time(
    db_url: str, today: str, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    # Requested Fri 8 Oct 2027 10:00 BST: the meeting is due 48 hours later, Sun 10 Oct 10:00.
    open_stability("ST-H", child="CH-H", requested_at="2027-10-08T10:00:00+01:00")
    item = _summary("2027-10-11", child="CH-H")["processes"][0]["next"][0]
    assert (item["key"], item["due"], item["status"]) == (
        "stability.meeting", "2027-10-10T10:00:00+01:00", "overdue")
    line = next(line for line in cli("child", "CH-H").stdout.splitlines()
                if "stability.meeting" in line)
    assert line.split()[:4] == ["overdue", "2027-10-10", "10:00", "stability.meeting"]
