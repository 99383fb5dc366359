"""The escalation ladder, the outbox and delivery, with a real SMTP server (aiosmtpd) and a real
HTTPS endpoint for Teams payloads, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from stepdown.db import get_engine, session_scope
from stepdown.domain.forms import FormError
from stepdown.notifications import sweep as outbox
from stepdown.records import NotFound
from stepdown.staff import assign, import_staff
from tests.builders import audit_actions, open_case, open_stability, submit, timeline_of
from tests.servers import HTTPSSink, SMTPSink

STAFF = """email,role,manager_email,team,name,teams_channel
hos@la.example,head_of_service,,north,Hana Head,
tm@la.example,team_manager,hos@la.example,north,Tia Manager,env:TEAMS_NORTH
sw@la.example,social_worker,tm@la.example,north,Sam Worker,
ftm@la.example,fostering_team_manager,hos@la.example,fostering,Fran Manager,env:TEAMS_FOSTERING
ssw@la.example,supervising_social_worker,ftm@la.example,fostering,Sol Supervisor,
"""
# Things a practitioner might type that must never reach a message.
CHILD_NAME, CHILD_BORN, CHILD_ADDRESS = "Jamie Rowntree", "2012-03-04", "12 Acacia Avenue"




def sweep(day: str) -> tuple[outbox.Written, outbox.Delivered]:
    as_of = date.fromisoformat(day)
    with session_scope() as session:
        written = outbox.write(session, as_of=as_of, cutoff=outbox.end_of_day(as_of))
    return written, outbox.deliver()


def _staffed_case(ref: str, *, pact_on: str = "2026-12-10") -> None:
    with session_scope() as session:
        import_staff(session, text=STAFF, actor="test")
    open_case(ref, identified="2026-11-02")
    with session_scope() as session:
        assign(session, ref=ref, role="social_worker", email="sw@la.example", actor="test")
    submit(ref, "identification.suitability", {
        "held_on": "2026-11-09", "sdq_score": 15, "care_needs_band": "2.1",
        "care_plan_ratified": True,
        "discussion_notes": f"{CHILD_NAME}, born {CHILD_BORN}, of {CHILD_ADDRESS}"})
    submit(ref, "identification.pact_decision", {"decided_on": pact_on, "decision": "proceed"})


def _mail_to(smtp: SMTPSink, address: str) -> list[str]:
    return [m.get_content() for m in smtp.messages if address in str(m["To"])]


def test_the_whole_ladder_over_two_weeks_with_a_bank_holiday(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    """Due Thu 24 Dec: reminder Wed 23, due today Thu 24, overdue Tue 29 (25 and 28 are bank
    holidays), escalated Wed 6 Jan (five working days after the 29th, 1 Jan a holiday)."""
    smtp, https = sinks
    _staffed_case("SD-L1")  # P = 10 Dec: the planning meeting and first visit are due 24 Dec
    assert timeline_of("SD-L1", today)["preparation.planning_meeting"]["due"] == "2026-12-24"
    fired: dict[str, list[str]] = {}
    day = date(2026, 12, 21)
    while day <= date(2027, 1, 8):
        written, _ = sweep(str(day))
        fired[str(day)] = sorted({f["rung"] for f in written.fired
                                  if f["key"] == "preparation.planning_meeting"})
        day += timedelta(days=1)
    assert {d: r for d, r in fired.items() if r} == {
        "2026-12-23": ["reminder"], "2026-12-24": ["due_today"], "2026-12-29": ["overdue"],
        "2027-01-06": ["escalation"]}

    worker_mail = _mail_to(smtp, "sw@la.example")
    assert len(worker_mail) == 3  # one digest a day, on the three days the ladder spoke to them
    assert "DUE NEXT WORKING DAY" in worker_mail[0] and "[preparation.planning_meeting]" in worker_mail[0]
    assert "DUE TODAY" in worker_mail[1]
    assert "OVERDUE" in worker_mail[2] and "1 working day overdue" in worker_mail[2]
    assert "http://prefect.example" in worker_mail[0]  # the case's flow run (none here: no server)

    manager_mail = _mail_to(smtp, "tm@la.example")
    escalation = [m for m in manager_mail if "is yours now" in m or "escalated to" in m]
    assert escalation, manager_mail
    assert any("ESCALATED TO YOU" in m for m in manager_mail)  # and in the manager's digest
    assert "was owned by sw@la.example" in "\n".join(manager_mail)
    teams = " ".join(https.texts())
    assert "SD-L1" in teams and "Preparation planning meeting" in teams
    assert all(p.path.startswith("/workflows/north") for p in https.posts)

    items = timeline_of("SD-L1", "2027-01-06")
    assert items["preparation.planning_meeting"]["status"] == "escalated"
    assert items["preparation.planning_meeting"]["escalated_to"] == "tm@la.example"
    assert items["preparation.planning_meeting"]["owner"] == "social_worker"  # the role stays
    escalated = [d for a, d in audit_actions("SD-L1") if a == "obligation.escalated"]
    assert {(d["key"], d["owner_from"], d["owner_to"]) for d in escalated} >= {
        ("preparation.planning_meeting", "sw@la.example", "tm@la.example")}
    with get_engine().connect() as conn:
        owner = conn.execute(sa.text(
            "SELECT p.email, f.email FROM obligation o JOIN person p ON p.id = o.owner_person_id "
            "JOIN person f ON f.id = o.escalated_from_id "
            "WHERE o.key = 'preparation.planning_meeting'")).one()
    assert tuple(owner) == ("tm@la.example", "sw@la.example")


def test_the_escalation_comes_when_the_policy_says(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink], tmp_path, monkeypatch
) -> None:
    """An authority that escalates 3 working days after the overdue flag: due Thu 24 Dec,
    overdue Tue 29, escalated Mon 4 Jan (Wed 30, Thu 31, then Mon 4: 1 Jan is a bank holiday)."""
    local = tmp_path / "ours.toml"
    local.write_text('[policy]\nextends = "default"\n[settings]\n'
                     'escalate_after = "3 working days"\n', encoding="utf-8")
    monkeypatch.setenv("STEPDOWN_POLICY", str(local))
    _staffed_case("SD-L2")
    assert timeline_of("SD-L2", today)["preparation.planning_meeting"]["due"] == "2026-12-24"
    escalated = []
    day = date(2026, 12, 28)
    while day <= date(2027, 1, 8):
        written, _ = sweep(str(day))
        escalated += [str(day) for f in written.fired
                      if f["key"] == "preparation.planning_meeting" and f["rung"] == "escalation"]
        day += timedelta(days=1)
    assert escalated == ["2027-01-04"]
    assert timeline_of("SD-L2", "2027-01-04")["preparation.planning_meeting"]["status"] == (
        "escalated")


def test_a_catch_up_sweep_flags_first_and_escalates_five_working_days_after_the_flag(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    """Escalation needs its flag (DOMAIN.md section 3). Due Thu 24 Dec 2026; no sweep ran until
    Fri 15 Jan 2027, long after the planned escalation (Wed 6 Jan). That sweep flags the owner
    (the reminder and "due today" are skipped) and escalates nothing; the escalation comes five
    working days after the flag, on Fri 22 Jan, and its message is true: it names the day the
    owner was flagged and the standard the obligation is due by."""
    smtp, _ = sinks
    _staffed_case("SD-L3")
    fired: dict[str, list[str]] = {}
    day = date(2027, 1, 15)
    while day <= date(2027, 1, 26):
        written, _ = sweep(str(day))
        fired[str(day)] = sorted(f["rung"] for f in written.fired
                                 if f["key"] == "preparation.planning_meeting")
        if str(day) == "2027-01-15":
            assert written.escalated == 0
            assert timeline_of("SD-L3", str(day))["preparation.planning_meeting"]["status"] == (
                "overdue")
        day += timedelta(days=1)
    assert {d: r for d, r in fired.items() if r} == {
        "2027-01-15": ["overdue"], "2027-01-22": ["escalation"]}
    worker = _mail_to(smtp, "sw@la.example")
    assert "OVERDUE" in worker[0] and "[preparation.planning_meeting]" in worker[0]
    alert = next(m for m in _mail_to(smtp, "tm@la.example") if "so it is escalated to" in m
                 and "[preparation.planning_meeting]" in m)
    assert "flagged as overdue to its owner on Fri 15 Jan 2027" in alert
    assert "not followed through within 5 working days" in alert
    assert "000 Step 2 Preparation: planning meeting within 2 weeks" in alert


def test_an_hour_based_deadline_swept_late_is_flagged_before_it_escalates(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    """A 48-hour stability meeting due Thu 24 Dec 2026 09:15 that no sweep saw until Mon 11
    Jan 2027: the breach goes out then, and the escalation five working days after it (Mon 18
    Jan; Wed 6 Jan had the breach been told on time)."""
    with session_scope() as session:
        import_staff(session, text=STAFF, actor="test")
    open_stability("ST-L4", child="CHILD-L4", requested_at="2026-12-22T09:15:00+00:00")
    with session_scope() as session:
        assign(session, ref="ST-L4", role="social_worker", email="sw@la.example", actor="test")
    rungs: dict[str, list[str]] = {}
    day = date(2027, 1, 11)
    while day <= date(2027, 1, 19):
        written, _ = sweep(str(day))
        rungs[str(day)] = sorted(f["rung"] for f in written.fired
                                 if f["key"] == "stability.meeting")
        day += timedelta(days=1)
    assert {d: r for d, r in rungs.items() if r} == {
        "2027-01-11": ["breach"], "2027-01-18": ["escalation"]}


def test_two_sweeps_on_one_day_send_nothing_twice(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, _ = sinks
    _staffed_case("SD-L2")
    first, delivered = sweep("2026-12-24")
    assert first.fired and delivered.sent == len(smtp.messages) > 0
    again, delivered_again = sweep("2026-12-24")
    assert (again.fired, again.messages, delivered_again.sent) == ([], 0, 0)
    assert len(smtp.messages) == delivered.sent


def test_a_sweep_interrupted_between_writing_and_sending_sends_everything_once(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, https = sinks
    _staffed_case("SD-L3")
    with session_scope() as session:  # the write commits; then the process "dies"
        written = outbox.write(session, as_of=date(2027, 1, 6),
                               cutoff=outbox.end_of_day(date(2027, 1, 6)))
    assert written.messages > 0 and smtp.messages == []
    rerun, delivered = sweep("2027-01-06")
    assert rerun.fired == [] and delivered.sent == written.messages
    subjects = [m["Subject"] for m in smtp.messages]
    assert len(subjects) + len(https.posts) == written.messages
    assert len(set(subjects)) == len(subjects)


def test_smtp_down_for_one_sweep_and_back_for_the_next(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, _ = sinks
    _staffed_case("SD-L4")
    smtp.stop()
    _, down = sweep("2026-12-23")
    assert down.sent == 0 and down.retrying > 0
    with session_scope() as session:
        pending = session.exec(sa.select(sa.func.count()).select_from(
            sa.table("message")).where(sa.column("status") == "pending")).one()[0]
    assert pending == down.retrying
    smtp.start()
    _, back = sweep("2026-12-24")
    assert back.failed == 0
    subjects = [m["Subject"] for m in smtp.messages]
    assert len(subjects) == len(set(subjects)) == back.sent  # every message exactly once
    assert any("23 Dec" in s for s in subjects) and any("24 Dec" in s for s in subjects)


def test_a_message_that_keeps_failing_is_reported_through_the_other_channel(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, https = sinks
    _staffed_case("SD-L5")
    smtp.stop()
    day = date(2026, 12, 23)
    for _ in range(outbox.MAX_ATTEMPTS // outbox.TRIES_PER_SWEEP):
        sweep(str(day))
    with session_scope() as session:
        rows = session.exec(sa.text("SELECT status, attempts, recipient FROM message "
                                    "WHERE channel = 'email' ORDER BY id")).all()
    assert rows and all(r[0] == "failed" and r[1] == outbox.MAX_ATTEMPTS for r in rows)
    texts = " ".join(https.texts())
    assert "could not deliver an email to sw@la.example" in texts


def test_an_obligation_nobody_holds_is_reported_to_the_team_manager(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, _ = sinks
    _staffed_case("SD-L6")
    with session_scope() as session:
        assign(session, ref="SD-L6", role="team_manager", email="tm@la.example", actor="test")
    submit("SD-L6", "identification.scayt_referral", {"done_on": "2026-12-09"})
    open_stability("ST-L6", child="CHILD-1", requested_at="2026-12-21T09:00:00+00:00")
    written, _ = sweep("2026-12-22")
    # The SCAYT+ consultation (due 23 Dec) has nobody in the scayt role: the team manager hears.
    assert {(f["key"], f["rung"], f["to"]) for f in written.fired} >= {
        ("scayt.initial_consultation", "reminder", "tm@la.example")}
    digest = "\n".join(_mail_to(smtp, "tm@la.example"))
    assert "NOBODY ASSIGNED" in digest and "nobody holds scayt on SD-L6" in digest
    # The stability process's social worker is found on the child's open Step Down case.
    written, _ = sweep("2026-12-23")
    assert ("stability.meeting", "breach", "sw@la.example, tm@la.example") in {
        (f["key"], f["rung"], f["to"]) for f in written.fired}


def test_the_48_hour_meeting_breach_reaches_the_owner_and_the_chair_within_the_hour(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, _ = sinks
    with session_scope() as session:
        import_staff(session, text=STAFF, actor="test")
    open_stability("ST-L7", child="CHILD-7", requested_at="2027-03-22T10:00:00+00:00")
    with session_scope() as session:
        assign(session, ref="ST-L7", role="social_worker", email="sw@la.example", actor="test")
        assign(session, ref="ST-L7", role="fostering_team_manager", email="ftm@la.example",
               actor="test")
    breach = datetime.fromisoformat("2027-03-24T10:00:00+00:00")
    with session_scope() as session:
        early = outbox.write(session, as_of=breach.date(), cutoff=breach - timedelta(minutes=1),
                             hourly=True)
    assert early.fired == []
    with session_scope() as session:
        late = outbox.write(session, as_of=breach.date(), cutoff=breach + timedelta(minutes=59),
                            hourly=True)
    outbox.deliver()
    assert [(f["key"], f["rung"]) for f in late.fired] == [("stability.meeting", "breach")]
    for address in ("sw@la.example", "ftm@la.example"):
        mail = _mail_to(smtp, address)
        assert len(mail) == 1 and "deadline passed" in smtp.messages[0]["Subject"]


# The emergency duty team (DOMAIN.md section 3): told of a breach outside working hours.
STAFF_WITH_EDT = STAFF + "edt@la.example,emergency_duty_team,hos@la.example,north,Eddie Duty,\n"


def _hourly(at: str) -> outbox.Written:
    """The hourly sweep as its schedule runs it at ``at``: hour-based deadlines due by now."""
    moment = datetime.fromisoformat(at)
    with session_scope() as session:
        return outbox.write(session, as_of=moment.date(), cutoff=moment, hourly=True,
                            now=moment)


def _stability_with_owner_and_chair(ref: str, child: str, requested_at: str) -> None:
    open_stability(ref, child=child, requested_at=requested_at)
    with session_scope() as session:
        assign(session, ref=ref, role="social_worker", email="sw@la.example", actor="test")
        assign(session, ref=ref, role="fostering_team_manager", email="ftm@la.example",
               actor="test")


def test_a_friday_evening_breach_is_flagged_that_evening_with_the_emergency_duty_team_told(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, _ = sinks
    with session_scope() as session:
        import_staff(session, text=STAFF_WITH_EDT, actor="test")
    # Requested Wed 2027-03-17 19:00: the 48 hours run out on Fri 19 March at 19:00 (GMT).
    _stability_with_owner_and_chair("ST-H1", "CHILD-H1", "2027-03-17T19:00:00+00:00")
    assert _hourly("2027-03-19T18:30:00+00:00").fired == []  # not yet breached
    evening = _hourly("2027-03-19T19:30:00+00:00")  # the next hourly run, half an hour after
    outbox.deliver()
    assert [(f["key"], f["rung"], f["to"]) for f in evening.fired] == [
        ("stability.meeting", "breach", "sw@la.example, ftm@la.example, edt@la.example")]
    for address in ("sw@la.example", "ftm@la.example", "edt@la.example"):
        (mail,) = _mail_to(smtp, address)
        assert "ST-H1" in mail and "was due by Fri 19 Mar 2027 19:00" in mail
    (duty,) = _mail_to(smtp, "edt@la.example")
    assert "You are told as the emergency duty team" in duty
    assert "emergency duty team" not in _mail_to(smtp, "sw@la.example")[0]
    assert _hourly("2027-03-19T20:30:00+00:00").fired == []  # once
    # The escalation falls on Wed 31 March (five working days after Mon 22; Good Friday and
    # Easter Monday are bank holidays), at the start of the day: not by the night's hourly run,
    # which fires breaches only, but by the first run in working hours.
    assert _hourly("2027-03-31T03:30:00+01:00").fired == []
    assert [(f["key"], f["rung"]) for f in _hourly("2027-03-31T09:30:00+01:00").fired] == [
        ("stability.meeting", "escalation")]


def test_a_breach_in_working_hours_does_not_tell_the_emergency_duty_team(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, _ = sinks
    with session_scope() as session:
        import_staff(session, text=STAFF_WITH_EDT, actor="test")
    _stability_with_owner_and_chair("ST-H2", "CHILD-H2", "2027-03-22T10:00:00+00:00")
    written = _hourly("2027-03-24T10:30:00+00:00")  # breached Wed 24 March 10:00
    outbox.deliver()
    assert [(f["rung"], f["to"]) for f in written.fired] == [
        ("breach", "sw@la.example, ftm@la.example")]
    assert _mail_to(smtp, "edt@la.example") == []
    assert len(_mail_to(smtp, "sw@la.example")) == len(_mail_to(smtp, "ftm@la.example")) == 1


def test_working_hours_are_a_setting(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope() as session:
        import_staff(session, text=STAFF_WITH_EDT, actor="test")
    _stability_with_owner_and_chair("ST-H3", "CHILD-H3", "2027-03-22T08:00:00+00:00")
    monkeypatch.setenv("STEPDOWN_WORKING_HOURS", "10:00-18:00")
    written = _hourly("2027-03-24T09:30:00+00:00")  # 09:30 is before this authority's hours
    assert [f["to"] for f in written.fired] == ["sw@la.example, ftm@la.example, edt@la.example"]


def test_a_saturday_hourly_run_flags_breaches_and_leaves_the_daily_rungs_to_the_working_day(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, _ = sinks
    _staffed_case("SD-H4")  # the planning meeting is due Thu 24 Dec 2026: its rungs are daily
    _stability_with_owner_and_chair("ST-H4", "CHILD-H4", "2026-12-24T10:00:00+00:00")
    saturday = _hourly("2026-12-26T10:30:00+00:00")  # Boxing Day: breached at 10:00
    outbox.deliver()
    assert [(f["ref"], f["rung"]) for f in saturday.fired] == [("ST-H4", "breach")]
    assert not [m for m in smtp.messages if "digest" in str(m["Subject"])]
    with get_engine().connect() as conn:
        noticed = conn.execute(sa.text(
            "SELECT count(*) FROM notice n JOIN obligation o ON o.id = n.obligation_id "
            "JOIN process p ON p.id = o.process_id WHERE p.ref = 'SD-H4'")).scalar()
    assert noticed == 0
    # The next working day's daily sweep chases them (at the most advanced rung passed).
    written, _ = sweep("2026-12-29")
    assert ("preparation.planning_meeting", "overdue") in {
        (f["key"], f["rung"]) for f in written.fired}


def test_no_child_data_in_any_message(
    db_url: str, today: str, sinks: tuple[SMTPSink, HTTPSSink]
) -> None:
    smtp, https = sinks
    _staffed_case("SD-L8")
    submit("SD-L8", "preparation.readiness", {"decided_on": "2026-12-14", "outcome": "ready"})
    submit("SD-L8", "matching.decision", {"decided_on": "2026-12-15", "outcome": "declined",
                                          "reasons": f"{CHILD_NAME} wants to stay near "
                                                     f"{CHILD_ADDRESS}"})
    open_stability("ST-L8", child="CHILD-1", requested_at="2026-12-14T09:00:00+00:00")
    submit("ST-L8", "stability.meeting", {
        "done_on": "2026-12-15", "chair": "team_manager",
        "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
        "child_views_recorded": True, "outcome": "stay",
        "actions": [{"title": f"Call {CHILD_NAME} (born {CHILD_BORN})", "owner": "social_worker",
                     "due": "2026-12-18"}]})
    for day in ("2026-12-17", "2026-12-18", "2026-12-21", "2026-12-24", "2027-01-06"):
        sweep(day)
    rendered = [m.as_string() for m in smtp.messages] + [json.dumps(p.body) for p in https.posts]
    with get_engine().connect() as conn:
        rendered += [f"{s}\n{b}" for s, b in conn.execute(sa.text(
            "SELECT subject, body FROM message")).all()]
    assert len(rendered) > 5
    for text in rendered:
        for secret in (CHILD_NAME, "Jamie", "Rowntree", CHILD_BORN, CHILD_ADDRESS, "Acacia",
                       "CHILD-1"):
            assert secret not in text


def test_staff_import_refuses_bad_rows_and_a_reimport_updates(db_url: str, today: str) -> None:
    with session_scope() as session:
        assert import_staff(session, text=STAFF, actor="test") == {
            "created": 5, "updated": 0, "teams": 2}
    bad = [
        ("email,role,team\n", "header: missing column(s) manager_email"),
        (STAFF.replace("sw@la.example,social_worker", "sw@la.example,wizard"),
         "row 4: role: must be one of"),
        (STAFF + "x@la.example,social_worker,nobody@la.example,north,,\n",
         "row 7: manager_email: nobody@la.example is not in the file or the directory"),
        (STAFF.replace("env:TEAMS_NORTH", "https://prod.example/hook"),
         "row 3: teams_channel: must be a reference env:NAME or block:NAME"),
        (STAFF + "not-an-email,social_worker,,north,,\n", "row 7: email: is not an email"),
    ]
    for text, message in bad:
        with pytest.raises(FormError) as refused, session_scope() as session:
            import_staff(session, text=text, actor="test")
        assert message in str(refused.value)
    moved = STAFF.replace("sw@la.example,social_worker,tm@la.example,north",
                          "sw@la.example,social_worker,ftm@la.example,fostering")
    with session_scope() as session:
        assert import_staff(session, text=moved, actor="test")["updated"] == 5
    with get_engine().connect() as conn:
        row = conn.execute(sa.text(
            "SELECT m.email, t.name FROM person p JOIN person m ON m.id = p.manager_id "
            "JOIN team t ON t.id = p.team_id WHERE p.email = 'sw@la.example'")).one()
    assert tuple(row) == ("ftm@la.example", "fostering")
    open_case("SD-L9")
    with pytest.raises(FormError, match="email: nobody@la.example is not in the staff"), \
            session_scope() as session:
        assign(session, ref="SD-L9", role="social_worker", email="nobody@la.example",
               actor="test")
    with pytest.raises(NotFound), session_scope() as session:
        assign(session, ref="SD-NONE", role="social_worker", email="sw@la.example",
               actor="test")


@pytest.mark.parametrize(("day", "skipped"), [("2026-12-25", True), ("2026-12-28", True),
                                              ("2026-12-26", True), ("2026-12-24", False)])
def test_the_scheduled_sweep_does_nothing_on_bank_holidays_and_weekends(
    monkeypatch: pytest.MonkeyPatch, day: str, skipped: bool
) -> None:
    from stepdown.flows import sweep as flow

    monkeypatch.setenv("STEPDOWN_TODAY", day)
    monkeypatch.setattr(flow, "get_run_logger", lambda: (_ for _ in ()).throw(AssertionError))
    if skipped:
        assert flow.sweep.fn() == {"as_of": day, "skipped": "not a working day"}
    else:
        with pytest.raises(AssertionError):  # it went on to sweep
            flow.sweep.fn()


def test_the_hourly_sweep_runs_on_weekends_and_bank_holidays(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A breach is flagged at any hour of any day: the hourly run is not skipped."""
    from stepdown.flows import sweep as flow

    monkeypatch.setenv("STEPDOWN_TODAY", "2026-12-26")
    monkeypatch.setattr(flow, "get_run_logger", lambda: (_ for _ in ()).throw(AssertionError))
    assert flow.sweep.fn() == {"as_of": "2026-12-26", "skipped": "not a working day"}
    with pytest.raises(AssertionError):  # it went on to sweep
        flow.sweep.fn(hourly=True)


def test_out_of_hours_a_sweep_may_fire_only_the_breach() -> None:
    from stepdown.domain import ladder

    due_at = datetime.fromisoformat("2027-03-19T19:00:00+00:00")
    late = datetime.fromisoformat("2027-03-31T03:30:00+01:00")  # after the escalation's start
    breached = {"breach": date(2027, 3, 19)}
    assert ladder.due_now(None, due_at, breached, late)[0].name == "escalation"
    assert ladder.due_now(None, due_at, breached, late, only=("breach",)) == (None, [])
    rung, superseded = ladder.due_now(None, due_at, {}, late, only=("breach",))
    assert (rung.name, superseded) == ("breach", [])
