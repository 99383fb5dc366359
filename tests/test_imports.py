"""Importing SSDA903 returns into the case record (stepdown.imports), on SQLite and PostgreSQL:
the generated return of tests/ssda903_data.py (1,200 episodes, counts worked out there by hand),
a re-import, an overlapping later file, bad rows, an ending typed in first, a Step Down child's
ending, and the breakdown figures that count them."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from stepdown.db import get_engine, session_scope
from stepdown.imports import Summary, run_import, waiting_runs
from stepdown.records import accepted_forms, get_process, set_stage_flow_run, stage_runs
from tests import scenario
from tests import ssda903_data as data
from tests.builders import open_case, open_stability, record_ending, submit
from tests.servers import free_port

NOV = [f"UE-{data.child(i)}-20271110" for i in range(0, 400, 50)]
DEC = [f"UE-{data.child(i)}-20271220" for i in data.NEW_IN_LATER]


@pytest.fixture(autouse=True)
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens at the Prefect API: flow runs cannot start (tests that need them say)."""
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")


def _import(content: bytes, **kw: Any) -> Summary:
    return run_import(content, start_runs=kw.pop("start_runs", False), **kw)


def everything() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the case record."""
    engine = get_engine()
    with engine.connect() as connection:
        return {table: [tuple(row) for row in connection.execute(sa.text(
            f"SELECT * FROM {table}" + (" ORDER BY id" if table != "alembic_version" else "")))]
            for table in sorted(sa.inspect(engine).get_table_names())}


def counts(summary: Summary) -> tuple[int, ...]:
    return (summary.episodes_read, summary.endings_found, summary.processes_opened,
            summary.already_known, summary.history_kept, summary.rows_refused)


def endings_rows() -> list[tuple[Any, ...]]:
    from sqlmodel import select

    from stepdown.models.tables import PlacementEnding as Row

    with session_scope() as session:
        return [(r.child_ref, r.ended_on, r.placement, r.reason, r.process_ref, r.opened)
                for r in session.exec(select(Row).order_by(Row.ended_on, Row.child_ref))]


def test_a_generated_csv_opens_the_window_and_keeps_the_rest(db_url: str, today: str) -> None:
    summary = _import(data.to_csv(data.episodes()))
    assert counts(summary) == (1200, 508, 8, 0, 500, 0)
    assert (summary.format, summary.since, summary.opened) == ("csv", date(2027, 10, 20), NOV)
    with session_scope() as session:
        process = get_process(session, ref="UE-C0050-20271110")
        assert (process.kind, process.child_ref, process.stage, process.opened_on) == (
            "unplanned_ending", "C0050", "meeting", date(2027, 11, 10))
        record = accepted_forms(session, process=process)["unplanned_ending.record"][0]
        assert record == {"child_ref": "C0050", "ended_on": "2027-11-10", "reason": "CREQO",
                          "step_down_ref": None}
        runs = stage_runs(session, process=process)
        assert [(r.stage, r.flow_run_id) for r in runs] == [("meeting", None)]
        assert sorted(ref for ref, _k, _s in waiting_runs(session)) == sorted(NOV)
    rows = endings_rows()
    assert len(rows) == 508
    assert sum(1 for r in rows if r[4]) == 8 and all(r[5] for r in rows if r[4])
    assert rows[0] == ("C0000", date(2027, 2, 15), "U1", "CREQB", None, False)
    # Nothing beyond the child's ID, dates and codes is kept anywhere.
    dumped = repr(everything())
    for value in (data.POSTCODE, data.PLACE_POSTCODE, data.URN, "PR1", "N1"):
        assert value not in dumped


def test_a_re_import_changes_nothing(db_url: str, today: str) -> None:
    content = data.to_csv(data.episodes())
    _import(content)
    before = everything()
    again = _import(content)
    assert counts(again) == (1200, 508, 0, 508, 0, 0) and again.opened == []
    assert everything() == before  # not even an audit event: nothing happened


def test_the_xml_return_counts_as_the_csv_and_then_is_the_same_data(db_url: str,
                                                                    today: str) -> None:
    xml = _import(data.to_xml(data.episodes()))
    assert (xml.format, *counts(xml)) == ("xml", 1200, 508, 8, 0, 500, 0)
    assert xml.opened == NOV
    before = everything()
    csv = _import(data.to_csv(data.episodes()))
    assert counts(csv) == (1200, 508, 0, 508, 0, 0)
    assert everything() == before


def test_an_overlapping_later_file_opens_only_what_is_new(db_url: str, today: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _import(data.to_csv(data.episodes()))
    monkeypatch.setenv("STEPDOWN_TODAY", "2028-01-05")  # a month on: since 2027-11-24
    later = _import(data.to_xml(data.episodes(later=True)))
    assert counts(later) == (1208, 516, 8, 508, 0, 0)
    assert later.since == date(2027, 11, 24) and later.opened == DEC
    assert len(endings_rows()) == 516
    with session_scope() as session:
        assert sorted(ref for ref, _k, _s in waiting_runs(session)) == sorted(NOV + DEC)


def _typos() -> list[dict[str, str]]:
    """The generated return with three rows mistyped, each an unplanned ending: C0000's
    foster placement ended 15/02/2027 (line 2, history), C0002's residential one ended
    27/10/2027 (line 9, history) and C0050's foster placement ended 10/11/2027 (line 154,
    whose process opens)."""
    rows = data.episodes()
    rows[0]["PLACE"] = data.POSTCODE  # a postcode where the placement code goes
    rows[7]["REASON_PLACE_CHANGE"] = "BREAKUP"
    rows[152]["DEC"] = "31/11/2027"  # November has 30 days
    return rows


TYPOS = [
    "line 2 (child C0000, episode from 2027-01-02): PLACE: is not an SSDA903 placement type "
    "code",
    "line 9 (child C0002, episode from 2027-04-15): REASON_PLACE_CHANGE: is not an SSDA903 "
    "reason for placement change code",
    "line 154 (child C0050, episode from 2027-10-25): DEC: is not a real date",
]


def test_a_few_bad_rows_are_named_and_the_others_imported(db_url: str, today: str) -> None:
    summary = _import(data.to_csv(_typos()))
    assert counts(summary) == (1200, 505, 7, 0, 498, 3)
    assert (summary.outcome, summary.refused, summary.partly) == ("partly imported", False,
                                                                  True)
    assert summary.opened == [ref for ref in NOV if ref != "UE-C0050-20271110"]
    assert summary.error_lines() == TYPOS  # each, with the child and the episode's start
    assert summary.headline() == ("3 rows refused and not imported, the others imported; "
                                  "correct them in the source and import again")
    keys = {(child, day) for child, day, *_ in endings_rows()}
    assert len(keys) == 505
    assert not keys & {("C0000", date(2027, 2, 15)), ("C0002", date(2027, 10, 27)),
                       ("C0050", date(2027, 11, 10))}
    shown = json.dumps(summary.as_dict()) + repr(summary.table())
    assert data.POSTCODE not in shown and "BREAKUP" not in shown
    assert summary.as_dict()["errors"][2] == {
        "where": "line 154 (child C0050, episode from 2027-10-25)", "field": "DEC",
        "rule": "is not a real date"}

    # The same file again: nothing new, the same rows named.
    before = everything()
    again = _import(data.to_csv(_typos()))
    assert counts(again) == (1200, 505, 0, 505, 0, 3) and again.error_lines() == TYPOS
    assert everything() == before

    # Corrected in the source: the next import brings in exactly the three, once.
    fixed = _import(data.to_csv(data.episodes()))
    assert counts(fixed) == (1200, 508, 1, 505, 2, 0) and fixed.outcome == "imported"
    assert fixed.opened == ["UE-C0050-20271110"]
    rows = endings_rows()
    assert len(rows) == len({(child, day) for child, day, *_ in rows}) == 508
    assert ("C0000", date(2027, 2, 15), "U1", "CREQB", None, False) in rows
    assert ("C0002", date(2027, 10, 27), "R1", "LAREQ", None, False) in rows
    assert ("C0050", date(2027, 11, 10), "U3", "CREQO", "UE-C0050-20271110", True) in rows
    with session_scope() as session:
        assert sorted(ref for ref, _k, _s in waiting_runs(session)) == sorted(NOV)
    # ... and then nothing more: the clean record of a clean import.
    assert counts(_import(data.to_csv(data.episodes()))) == (1200, 508, 0, 508, 0, 0)


def test_a_row_corrected_after_its_meetings_window_is_history_and_can_be_typed_in(
        db_url: str, today: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _import(data.to_csv(_typos()))
    monkeypatch.setenv("STEPDOWN_TODAY", "2028-01-05")  # since 2027-11-24: past 10/11/2027
    late = _import(data.to_csv(data.episodes()))
    assert counts(late) == (1200, 508, 0, 505, 3, 0) and late.opened == []
    assert ("C0050", date(2027, 11, 10), "U3", "CREQO", None, False) in endings_rows()
    # Its meeting can still be held: typed in, it is the same ending, on record once.
    record_ending("UE-C0050-20271110", child="C0050", ended_on="2027-11-10", reason="CREQO")
    assert [r for r in endings_rows() if r[:2] == ("C0050", date(2027, 11, 10))] == [
        ("C0050", date(2027, 11, 10), "U3", "CREQO", None, False)]
    with session_scope() as session:
        assert get_process(session, ref="UE-C0050-20271110").stage == "meeting"


def test_two_refused_rows_named_alike_are_two_rows(db_url: str, today: str) -> None:
    """A return that repeats a child (two CHILD elements with one CHILDID) names both refused
    episodes alike; they are still two rows, both listed, none left uncounted."""
    good = "".join(f"<CHILD><HEADER><CHILDID>G{n}</CHILDID></HEADER><EPISODE>"
                   "<DECOM>01/01/2027</DECOM><PL>U1</PL></EPISODE></CHILD>" for n in range(40))
    bad = ("<CHILD><HEADER><CHILDID>K1</CHILDID></HEADER><EPISODE><DECOM>01/01/2027</DECOM>"
           "<PL>Q9</PL></EPISODE></CHILD>")
    summary = _import(f"<EXPSSDA903>{good}{bad}{bad}</EXPSSDA903>".encode())
    assert (summary.outcome, summary.rows_refused, summary.errors_not_shown) == (
        "partly imported", 2, 0)
    assert summary.error_lines() == 2 * [
        "child K1 episode 1 (from 2027-01-01): PLACE: is not an SSDA903 placement type code"]


def test_a_dry_run_of_a_file_with_bad_rows_counts_and_names_as_the_import_would(
        db_url: str, today: str) -> None:
    before = everything()
    dry = _import(data.to_csv(_typos()), dry_run=True)
    assert dry.dry_run and counts(dry) == (1200, 505, 7, 0, 498, 3)
    assert dry.error_lines() == TYPOS and everything() == before
    assert dry.line().endswith(", 3 rows refused: the others would be imported")
    assert dry.headline() == ("3 rows refused and not imported, the others would be imported "
                              "(dry run); correct them in the source and import again")


def test_strict_refuses_the_whole_file_for_one_bad_row(db_url: str, today: str) -> None:
    before = everything()
    strict = _import(data.to_csv(_typos()), strict=True)
    assert (strict.outcome, strict.refused_why) == (
        "refused", "strict: any refused row refuses the file")
    assert counts(strict) == (1200, 0, 0, 0, 0, 3) and strict.error_lines() == TYPOS
    assert strict.headline() == ("3 rows refused (strict: any refused row refuses the file); "
                                 "nothing imported")
    assert everything() == before


def test_a_file_with_more_than_5_percent_bad_rows_imports_nothing(db_url: str,
                                                                  today: str) -> None:
    rows = data.episodes()
    rows[10]["REASON_PLACE_CHANGE"] = "BREAKUP"  # line 12
    rows[20]["DEC"] = "31/09/2027"  # line 22: September has 30 days
    rows[30]["DEC"] = "01/01/2027"  # line 32: before its DECOM (02/01/2027)
    rows[40]["PLACE"] = data.POSTCODE  # line 42: a postcode where the placement code goes
    for row in rows[100:157]:  # lines 102-158: 57 more unknown placement codes
        row["PLACE"] = "Q1"
    before = everything()
    summary = _import(data.to_csv(rows))
    assert summary.rows_refused == 61 and summary.refused  # 60 would be 5%
    assert summary.refused_why == ("61 of its 1200 rows refused, more than 5%: a fault of "
                                   "the whole file, not a typo")
    assert (summary.endings_found, summary.processes_opened, summary.history_kept) == (0, 0, 0)
    assert everything() == before
    lines = summary.error_lines()
    assert len(lines) == 21
    assert lines[:4] == [
        "line 12 (child C0003, episode from 2027-05-15): REASON_PLACE_CHANGE: is not an SSDA903 "
        "reason for placement change code",
        "line 22 (child C0006, episode from 2027-10-26): DEC: is not a real date",
        "line 32 (child C0010, episode from 2027-01-02): DEC: is before DECOM: the episode ends "
        "before it starts",
        "line 42 (child C0013, episode from 2027-07-15): PLACE: is not an SSDA903 placement "
        "type code"]
    assert lines[4] == ("line 102 (child C0033, episode from 2027-03-15): PLACE: is not an "
                        "SSDA903 placement type code")
    assert lines[-1] == "... and 41 more refused rows"
    assert data.POSTCODE not in "\n".join(lines) + repr(summary.as_dict())
    # One row fewer is 5%: the others are imported, and all 60 named.
    rows[156]["PLACE"] = "U1"
    partly = _import(data.to_csv(rows))
    assert (partly.outcome, partly.rows_refused, len(partly.error_lines())) == (
        "partly imported", 60, 60)


def test_dates_written_month_first_refuse_the_file_rather_than_import_the_misread(
        db_url: str, today: str) -> None:
    """A fault of the whole file lets some rows pass misread. Written month first, K1's foster
    placement from 1 March ended on 10 November (11/10/2027), which the import reads as 11
    October: before --since (2027-10-20), history, and no meeting for an ending in the window.
    Every date after the 12th of a month is refused, so the file is refused whole."""
    from stepdown.ssda903 import read

    rows = ["K1,03/01/2027,P,C2,N1,U1,PR1,11/10/2027,X1,CREQB,,,"]
    rows += [f"K{n},{1 + n % 9:02d}/{n:02d}/2027,P,C2,N1,U1,PR1,,,,,," for n in range(2, 29)]
    content = ("\n".join([",".join(data.COLUMNS), *rows]) + "\n").encode()
    parsed = read(content, today=date(2027, 12, 1))
    assert ("K1", date(2027, 10, 11)) in {(e.child, e.ended_on) for e in parsed.episodes}
    assert (parsed.rows, parsed.refused) == (28, 17)  # K12 (04/12: after today), K13 to K28
    before = everything()
    summary = _import(content)
    assert summary.refused and summary.refused_why == (
        "17 of its 28 rows refused, more than 5%: a fault of the whole file, not a typo")
    assert everything() == before


def test_an_ending_typed_in_first_is_the_same_ending(db_url: str, today: str) -> None:
    record_ending("UE-0100", child="C0100", ended_on="2027-11-10", reason="CREQB")
    summary = _import(data.to_csv(data.episodes()))
    assert counts(summary) == (1200, 508, 7, 1, 500, 0)
    assert "UE-C0100-20271110" not in summary.opened and len(summary.opened) == 7
    assert ("C0100", date(2027, 11, 10), "U3", "CREQO", "UE-0100", False) in endings_rows()
    with session_scope() as session:
        assert "UE-0100" not in [ref for ref, _k, _s in waiting_runs(session)]


def test_a_step_down_childs_ending_disrupts_the_case_as_ending_record_does(
        db_url: str, today: str) -> None:
    open_case("SD-IMP", child="C0050", identified=scenario.OPENED)
    for key, values in scenario.STEPS[:-1]:  # moved in 2027-04-05: in support
        submit("SD-IMP", key, values)
    with session_scope() as session:
        process = get_process(session, ref="SD-IMP")
        set_stage_flow_run(session, process=process, stage="support",
                           flow_run_id="7d7c1b8e-0a55-4f3e-9d0c-1c1d2e3f4a5b")
    summary = _import(data.to_csv(data.episodes()))
    assert summary.disrupted == ["SD-IMP"]
    assert summary.cancel == {"SD-IMP": ["7d7c1b8e-0a55-4f3e-9d0c-1c1d2e3f4a5b"]}
    with session_scope() as session:
        case = get_process(session, ref="SD-IMP")
        assert (case.status, case.outcome, case.closed_on) == (
            "closed", "disrupted", date(2027, 11, 10))
        ending = get_process(session, ref="UE-C0050-20271110")
        record = accepted_forms(session, process=ending)["unplanned_ending.record"][0]
        assert record["step_down_ref"] == "SD-IMP"


def test_an_ending_before_the_step_down_move_is_of_an_earlier_placement(db_url: str,
                                                                        today: str) -> None:
    open_case("SD-EARLY", child="K7", identified=scenario.OPENED)
    for key, values in scenario.STEPS[:-1]:
        submit("SD-EARLY", key, values)
    content = (",".join(data.COLUMNS) + "\n"
               "K7,01/01/2027,P,C2,N1,U4,PR1,20/03/2027,X1,CREQB,,,\n"
               "K7,2027-04-05,P,C2,N1,U1,PR1,2027-11-02,X1,ALLEG,,,\n").encode()
    summary = _import(content, since=date(2027, 3, 1))
    assert summary.opened == ["UE-K7-20270320", "UE-K7-20271102"]
    assert summary.disrupted == ["SD-EARLY"]
    with session_scope() as session:
        first = get_process(session, ref="UE-K7-20270320")
        assert accepted_forms(session, process=first)["unplanned_ending.record"][0][
            "step_down_ref"] is None
        assert get_process(session, ref="SD-EARLY").closed_on == date(2027, 11, 2)


def test_a_dry_run_counts_as_the_import_would_and_records_nothing(db_url: str,
                                                                  today: str) -> None:
    record_ending("UE-0100", child="C0100", ended_on="2027-11-10", reason="CREQO")
    before = everything()
    dry = _import(data.to_csv(data.episodes()), dry_run=True, start_runs=True)
    assert dry.dry_run and counts(dry) == (1200, 508, 7, 1, 500, 0)
    assert everything() == before
    real = _import(data.to_csv(data.episodes()))
    assert (counts(real), real.opened) == (counts(dry), dry.opened)


def test_runs_not_started_while_the_server_is_down_wait_on_record(db_url: str,
                                                                  today: str) -> None:
    summary = _import(data.to_csv(data.episodes()), start_runs=True)
    assert (summary.flow_runs_started, summary.flow_runs_waiting) == (0, 8)
    assert summary.why_waiting and "cannot reach the Prefect server" in summary.why_waiting
    with session_scope() as session:
        assert len(waiting_runs(session)) == 8


def test_a_reference_taken_by_hand_gets_a_suffix(db_url: str, today: str) -> None:
    record_ending("UE-C0050-20271110", child="C0999", ended_on="2027-11-01", reason="ALLEG")
    summary = _import(data.to_csv(data.episodes()))
    assert "UE-C0050-20271110-2" in summary.opened and summary.processes_opened == 8


# ------------------------------------------------------------------------------ the figures
def test_the_breakdown_figures_count_history_and_processes_once(db_url: str,
                                                                today: str) -> None:
    from stepdown.reports import breakdowns, last_months, side_by_side, trend

    # The system has recorded stability meetings since 1 February 2027: one for C0000, two
    # weeks before its ending on 15 February.
    open_stability("ST-0", child="C0000", requested_at="2027-02-01T10:00:00+00:00")
    submit("ST-0", "stability.meeting", {
        "done_on": "2027-02-02", "chair": "team_manager",
        "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
        "child_views_recorded": True, "outcome": "stay", "actions": []})
    record_ending("UE-0100", child="C0100", ended_on="2027-11-10", reason="CREQO")
    _import(data.to_csv(data.episodes()))
    # Typed in after the import, for an ending the import kept as history: the same ending.
    record_ending("UE-0001", child="C0001", ended_on="2027-03-15", reason="ALLEG")

    with session_scope() as session:
        def month(m: str) -> dict[str, Any]:
            return dict(breakdowns(session, month=m, as_of=date(2027, 12, 1))[
                "unplanned_endings"])

        feb = month("2027-02")
        assert (feb["total"], feb["by_reason"], feb["by_placement_type"]) == (
            50, {"CREQB": 50}, {"U1": 17, "U3": 17, "U5": 16})
        # C0000's meeting is on record; the others' 84 days began before the record did.
        assert (feb["stability_meeting_first"], feb["no_stability_meeting_first"],
                feb["stability_meeting_first_unknown"]) == (1, 0, 49)
        mar = month("2027-03")
        assert (mar["total"], mar["by_reason"], mar["from_ssda903"]) == (50, {"ALLEG": 50}, 50)
        assert [e["ref"] for e in mar["endings"] if e["ref"]] == ["UE-0001"]
        assert month("2027-04")["total"] == 0  # CARPL: planned
        jun = month("2027-06")  # 84 days before 15 June is after 1 February: known
        assert (jun["stability_meeting_first"], jun["no_stability_meeting_first"],
                jun["stability_meeting_first_unknown"]) == (0, 50, 0)
        octo = month("2027-10")
        assert (octo["total"], octo["by_reason"], octo["by_placement_type"]) == (
            200, {"LAREQ": 200}, {"R1": 200})
        nov = month("2027-11")
        assert (nov["total"], nov["by_reason"], nov["by_placement_type"]) == (
            8, {"CREQO": 8}, {"U3": 8})
        assert sorted(e["ref"] for e in nov["endings"]) == sorted(
            ["UE-0100"] + [r for r in NOV if r != "UE-C0100-20271110"])
        assert (nov["from_ssda903"], nov["no_stability_meeting_first"]) == (8, 8)

        year = last_months(session, month="2027-11", as_of=date(2027, 12, 1))
    assert [r["month"] for r in year] == [f"{y}-{m:02d}" for y, m in
                                          [(2026, 12)] + [(2027, n) for n in range(1, 12)]]
    rows = trend(year)
    assert len({tuple(row) for row in rows}) == 1  # the same columns in every row: a chart
    assert [row["unplanned_endings"] for row in rows] == [
        0, 0, 50, 50, 0, 50, 50, 50, 0, 50, 200, 8]
    assert [row["reason_STAND"] for row in rows][5::4] == [50, 50]  # May, September
    assert rows[10]["placement_R1"] == 200 and rows[2]["placement_R1"] == 0
    table = {row["measure"]: row for row in side_by_side(year)}
    assert table["Unplanned endings"]["2027-10"] == 200
    assert table["  reason LAREQ"]["2027-02"] == 0 and table["  reason LAREQ"]["2027-10"] == 200


# ------------------------------------------------------------------------------ the command
@pytest.fixture
def cli(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`stepdown` as a subprocess on a SQLite record (the records-level tests above cover
    PostgreSQL), with no Prefect server listening."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    url = f"sqlite:///{tmp_path / 'stepdown.db'}"
    monkeypatch.setenv("STEPDOWN_DATABASE_URL", url)
    monkeypatch.setenv("STEPDOWN_TODAY", "2027-12-01")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "STEPDOWN_"))}
    env.update({"PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                "PREFECT_HOME": str(tmp_path / "prefect"), "STEPDOWN_DATABASE_URL": url,
                "STEPDOWN_HOME": str(tmp_path / "home"), "STEPDOWN_TODAY": "2027-12-01",
                "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"})
    stepdown = str(Path(sys.executable).parent / "stepdown")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([stepdown, *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    return run


def test_the_command_summarises_refuses_and_says_what_waits(cli: Any, tmp_path: Any) -> None:
    good = tmp_path / "episodes.csv"
    good.write_bytes(data.to_csv(data.episodes()))
    dry = cli("import", "ssda903", str(good), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    shown = json.loads(dry.stdout)
    assert (shown["dry_run"], shown["processes_opened"], shown["history_kept"]) == (True, 8, 500)
    assert not any(rows for table, rows in everything().items() if table != "alembic_version")

    ran = cli("import", "ssda903", str(good))
    assert ran.returncode == 1  # recorded, but the flow runs could not start
    lines = ran.stdout.splitlines()
    assert lines[0] == ("ssda903 import (csv, processes for endings from 2027-10-20): 1200 "
                        "episodes read, 508 endings found, 8 processes opened, 0 already known, "
                        "500 history kept, 0 rows refused")
    assert lines[1:] == [f"  opened {ref}" for ref in NOV]
    assert ran.stderr.startswith("error: 8 flow runs not started (cannot reach the Prefect ")
    assert ran.stderr.rstrip().endswith("they start on the next import or sweep")
    again = cli("import", "ssda903", str(good), "--json")
    assert json.loads(again.stdout)["already_known"] == 508 and again.returncode == 1

    rows = data.episodes()
    rows[3]["PLACE"] = data.POSTCODE
    for row in rows[200:225]:
        row["REASON_PLACE_CHANGE"] = "BREAKUP"
    bad = tmp_path / "bad.xml"
    bad.write_bytes(data.to_xml(rows))
    partly = cli("import", "ssda903", str(bad))
    assert partly.returncode == 1  # the others are on record: not 2, which says nothing is
    assert partly.stdout.splitlines()[0].endswith(", 26 rows refused: the others imported")
    errors = partly.stderr.splitlines()
    assert errors[0] == ("error: bad.xml: 26 rows refused and not imported, the others "
                         "imported; correct them in the source and import again")
    assert errors[1] == ("  child C0001 episode 1 (from 2027-01-02): PLACE: is not an SSDA903 "
                         "placement type code")
    assert errors[2] == ("  child C0066 episode 3 (from 2027-10-26): REASON_PLACE_CHANGE: is "
                         "not an SSDA903 reason for placement change code")
    assert errors[26] == ("  child C0074 episode 3 (from 2027-10-29): REASON_PLACE_CHANGE: is "
                          "not an SSDA903 reason for placement change code")  # all 26 named
    assert errors[27].startswith("error: 8 flow runs not started") and len(errors) == 28

    strict = cli("import", "ssda903", str(bad), "--strict")
    assert strict.returncode == 2
    errors = strict.stderr.splitlines()
    assert errors[0] == ("error: bad.xml: 26 rows refused (strict: any refused row refuses the "
                         "file); nothing imported")
    assert errors[1:3] == partly.stderr.splitlines()[1:3]
    assert len(errors) == 22 and errors[-1] == "  ... and 6 more refused rows"
    assert strict.stdout.rstrip().endswith("26 rows refused: nothing imported")

    for row in rows[225:260]:
        row["REASON_PLACE_CHANGE"] = "BREAKUP"
    bad.write_bytes(data.to_xml(rows))
    refused = cli("import", "ssda903", str(bad))
    assert refused.returncode == 2
    errors = refused.stderr.splitlines()
    assert errors[0] == ("error: bad.xml: 61 rows refused (61 of its 1200 rows refused, more "
                         "than 5%: a fault of the whole file, not a typo); nothing imported")
    assert len(errors) == 22 and errors[-1] == "  ... and 41 more refused rows"
    assert "nothing imported" in refused.stdout
    for output in (refused.stdout, refused.stderr, partly.stdout, partly.stderr, strict.stderr,
                   ran.stdout, ran.stderr, dry.stdout):
        assert data.POSTCODE not in output and data.URN not in output

    (tmp_path / "notes.txt").write_text("Dear team,\nplease find the figures attached.\n")
    neither = cli("import", "ssda903", str(tmp_path / "notes.txt"))
    assert (neither.returncode, neither.stdout) == (2, "")
    assert neither.stderr.splitlines() == [
        "error: file: neither an SSDA903 episodes CSV (its header has no CHILD, DECOM, PLACE, "
        "DEC, REASON_PLACE_CHANGE) nor an EXPSSDA903 XML return"]
    future = cli("import", "ssda903", str(good), "--since", "2027-12-02")
    assert future.returncode == 2 and "since: 2027-12-02 is in the future" in future.stderr
    missing = cli("import", "ssda903", str(tmp_path / "nowhere.csv"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: file: cannot read")

    side = cli("report", "breakdowns", "--from", "2027-09", "--to", "2027-11")
    assert side.returncode == 0, side.stderr
    table = side.stdout.splitlines()
    assert table[1].split() == ["measure", "2027-09", "2027-10", "2027-11"]
    assert table[2].split() == ["Unplanned", "endings", "50", "200", "8"]
    assert json.loads(cli("report", "breakdowns", "--from", "2027-10", "--to", "2027-10",
                          "--json").stdout)["table"][0] == {
        "measure": "Unplanned endings", "2027-10": 200}
    both = cli("report", "breakdowns", "--month", "2027-10", "--from", "2027-09")
    assert both.returncode == 2 and both.stderr == (
        "error: month: give --month M, or --from M1 --to M2\n")
    backwards = cli("report", "breakdowns", "--from", "2027-10", "--to", "2027-09")
    assert backwards.stderr == "error: to: 2027-09 is before --from 2027-10\n"
    wrong = cli("report", "breakdowns", "--from", "2027-10", "--to", "2027-13")
    assert wrong.stderr == "error: to: must be YYYY-MM (got '2027-13')\n"

