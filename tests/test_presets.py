"""The presets shipped for the source authorities' standards (issue 11, item 2): each loads as a
complete policy with every rule's source named; a timescale that differs between two presets,
on the same case, with hand-worked dates; `stepdown policy show` and `stepdown policy diff`;
STEPDOWN_POLICY by name, and an unknown name refused in one line.

Bank holidays used below: 2026-12-25, 2026-12-28 (the Boxing Day substitute), 2027-01-01,
2027-03-26 Good Friday, 2027-05-31 Spring bank holiday. Summer time begins Sun 2027-03-28.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepdown.cli import app
from stepdown.domain.calendar import Duration
from stepdown.domain.declarations import load_catalogue
from stepdown.domain.engine import Completion, Facts, Planned, plan
from stepdown.domain.policy import Anchor, Policy, PolicyError, load_policy, presets
from tests.builders import open_stability, submit, timeline_of

ROOT = str(Path(__file__).resolve().parents[1])
PRESETS = ("default", "lancashire-step-down", "somerset", "south-gloucestershire")
KNOWN = ("the shipped presets are default, lancashire-step-down, somerset, "
         "south-gloucestershire (or give the path of a policy file)")
runner = CliRunner()


def d(text: str) -> date:
    return date.fromisoformat(text)


def _plan(policy: Policy, kind: str, *, starts: dict[str, str],
          done: dict[str, Completion] | None = None,
          forms: dict[str, list[dict[str, Any]]] | None = None,
          child: dict[str, list[tuple[str, str]]] | None = None) -> dict[str, Planned]:
    facts = Facts(process=kind, stage_starts={k: d(v) for k, v in starts.items()},
                  forms=forms or {}, done=done or {},
                  child={k: [(d(on), ref) for on, ref in v] for k, v in (child or {}).items()})
    return {p.key: p for p in plan(policy, facts)}


# ------------------------------------------------------------------------------ each preset
def test_the_shipped_presets_are_the_four_authorities_and_the_default() -> None:
    assert presets() == PRESETS


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_is_a_complete_policy_whose_rules_name_their_source(name: str) -> None:
    """Loaded over the declarations, a preset has a rule for every obligation they name (no
    problem), rules for every declared kind, every rule of the default (a preset changes or
    adds, never drops), and every rule's source is a document 000-004 and its section."""
    catalogue = load_catalogue()
    policy = load_policy(name)
    assert (policy.name, policy.path, policy.problems) == (name, f"{name}.toml", ())
    assert [k for k in catalogue.kinds if not policy.rules_for(k)] == []
    assert {r.key for r in load_policy().rules} <= {r.key for r in policy.rules}
    unsourced = [r.key for r in policy.rules
                 if not r.source.startswith(("000", "001", "002", "003", "004"))
                 or len(r.source) < 8]
    assert unsourced == []
    assert policy.extends == (() if name == "default" else ("default",))


def test_the_default_preset_is_the_default_policy() -> None:
    assert load_policy("default").rules == load_policy().rules


def test_south_gloucestershire_holds_the_stability_meeting_within_24_hours() -> None:
    rule = load_policy("south-gloucestershire").rule_for_key("stability.meeting")
    assert rule.due.anchor == Anchor("form", "stability.request", "requested_at")
    assert rule.due.offset == Duration(24, "hours")
    assert rule.source.startswith("001 Appendix 3")
    assert "must be convened within 24 hours" in rule.source
    assert load_policy().rule_for_key("stability.meeting").due.offset == Duration(48, "hours")


def test_somerset_has_its_minutes_review_and_visiting_timescales() -> None:
    """002 3.9: looked-after review outcomes in 20 working days, other minutes in 5; 002 3.26,
    3.31 and the table at a glance: reviews and visits; 003: the Early Help reviews."""
    somerset = load_policy("somerset")

    def due(key: str) -> tuple[Anchor, Duration | None]:
        rule = somerset.rule_for_key(key)
        return rule.due.anchor, rule.due.offset

    assert due("cla.review_outcomes") == (Anchor("done", "cla.review#k"),
                                          Duration(20, "working_days"))
    assert due("stability.minutes") == (Anchor("done", "stability.meeting"),
                                        Duration(5, "working_days"))
    assert due("unplanned_ending.minutes") == (Anchor("done", "unplanned_ending.meeting"),
                                               Duration(5, "working_days"))
    assert due("early_help.meeting_record")[1] == Duration(5, "working_days")
    assert due("support.cla_review") == (Anchor("stage", "support"),
                                         Duration(20, "working_days"))
    review = somerset.rule_for_key("cla.review")
    assert (review.first.offset, review.intervals, review.every, review.pulled_to) == (
        Duration(20, "working_days"), (Duration(3, "months"),), Duration(6, "months"),
        Duration(20, "working_days"))
    visit = somerset.rule_for_key("placement.visit")
    assert (visit.first.offset, visit.every, visit.then_every) == (
        Duration(7, "days"), Duration(6, "weeks"), Duration(6, "months"))
    assert sorted(str(r.every) for r in somerset.rules if r.key == "early_help.review") == [
        "6 months", "6 weeks"]
    assert all(somerset.rule_for_key(k).source.startswith("002") for k in (
        "cla.review_outcomes", "stability.minutes", "unplanned_ending.minutes",
        "support.cla_review", "cla.review", "placement.visit"))


# A Step Down move is a change of placement: where 000 is silent, 002 and 004 date it.
PLACEMENT_CHANGE = {"introduction.move_authorisation": "004",
                    "introduction.placement_planning_meeting": "002 3.24",
                    "introduction.support_plan": "004",
                    "introduction.placement_planning_minutes": "002 3.9",
                    "support.delegated_authority": "002 3.25",
                    "support.irs_informed": "002 3.24"}


def test_lancashire_step_down_is_source_000_with_the_residential_staff_visits() -> None:
    """000's rules, but the placement change's own from 002 and 004, as in the default: and
    PACT, not HARP or the Head of Service, agrees the move (no move authorisation)."""
    lancashire = load_policy("lancashire-step-down")
    others = {r.key: r.source for r in lancashire.rules_for("step_down")
              if not r.source.startswith("000")}
    assert {k: v[:len(PLACEMENT_CHANGE[k])] for k, v in others.items()} == PLACEMENT_CHANGE
    assert (lancashire.settings["step_down_move_authorisation"],
            load_policy().settings["step_down_move_authorisation"]) == (False, True)
    visits = lancashire.rule_for_key("support.residential_visits")
    assert (visits.owner, visits.due.anchor, visits.due.offset) == (
        "residential_key_worker", Anchor("stage", "support"), Duration(42, "days"))
    assert load_policy().rule_for_key("support.residential_visits") is None


# ----------------------------------------------------- one case, two presets, two due dates
def test_the_same_stability_request_is_due_48_hours_or_24_hours_by_preset() -> None:
    """Requested Good Friday, Fri 2027-03-26 16:00 GMT. Hours are elapsed and never moved to a
    working day. Default, 48 hours: Sun 2027-03-28 16:00 UTC, which is 17:00 BST (summer time
    began at 01:00 GMT that morning). South Gloucestershire, 24 hours: Sat 2027-03-27 16:00 GMT."""
    forms = {"stability.request": [{"requested_at": "2027-03-26T16:00:00+00:00",
                                    "requested_by": "foster_carer"}]}
    starts = {"meeting": "2027-03-26"}
    default = _plan(load_policy("default"), "stability", starts=starts, forms=forms)
    sglos = _plan(load_policy("south-gloucestershire"), "stability", starts=starts, forms=forms)
    assert default["stability.meeting"].due_at == datetime.fromisoformat(
        "2027-03-28T17:00:00+01:00")
    assert default["stability.meeting"].due_at.utcoffset().total_seconds() == 3600
    assert sglos["stability.meeting"].due_at == datetime.fromisoformat(
        "2027-03-27T16:00:00+00:00")
    assert sglos["stability.meeting"].due_at.utcoffset().total_seconds() == 0


def test_the_same_stability_meeting_minutes_are_due_3_or_5_working_days_by_preset() -> None:
    """Meeting held Wed 2026-12-23. Default (001), 3 working days: Thu 24, Tue 29, Wed 30 Dec
    (25 Dec and the substitute Boxing Day, Mon 28, are bank holidays). Somerset (002 3.9), 5:
    Thu 24, Tue 29, Wed 30, Thu 31 Dec, then Fri 1 Jan is a bank holiday: Mon 2027-01-04."""
    meeting = Completion(d("2026-12-23"), {"chair": "team_manager", "actions": []})
    kwargs: dict[str, Any] = dict(
        starts={"meeting": "2026-12-22", "follow_up": "2026-12-23"},
        done={"stability.meeting": meeting},
        forms={"stability.meeting": [{"done_on": "2026-12-23", "chair": "team_manager"}]})
    default = _plan(load_policy("default"), "stability", **kwargs)
    somerset = _plan(load_policy("somerset"), "stability", **kwargs)
    assert default["stability.minutes"].due_on == d("2026-12-30")
    assert somerset["stability.minutes"].due_on == d("2027-01-04")
    assert default["stability.minutes"].owner == somerset["stability.minutes"].owner == (
        "team_manager")  # the chair, under both


def test_a_step_down_childs_looked_after_review_after_the_move_by_preset() -> None:
    """Moved in Wed 2027-05-26. Default (000), 4 weeks: Wed 2027-06-23. Somerset (002), 20
    working days, Mon 31 May being the Spring bank holiday: 27, 28 May, 1-4 Jun (6), 7-11 (11),
    14-18 (16), 21, 22, 23, 24 Jun (20): Thu 2027-06-24. That is also the day the child's cla
    process brings its next review forward to (002: within 20 working days of any placement
    change), so under Somerset the two agree; under the default they are a day apart."""
    starts = {"support": "2027-05-26"}
    default = _plan(load_policy("default"), "step_down", starts=starts)
    somerset = _plan(load_policy("somerset"), "step_down", starts=starts)
    assert default["support.cla_review"].due_on == d("2027-06-23")
    assert somerset["support.cla_review"].due_on == d("2027-06-24")
    # The cla process: review #1 held Thu 2027-04-01, so #2 was due 3 months later (Thu
    # 2027-07-01); the Step Down move brings it to the move + 20 working days.
    cla = _plan(load_policy("somerset"), "cla", starts={"looked_after": "2027-03-08"},
                done={"cla.review#1": Completion(d("2027-04-01"), {"chair": "iro"})},
                child={"step_down:stage:support": [("2027-05-26", "SD-1")]})
    assert cla["cla.review#2"].due_on == somerset["support.cla_review"].due_on


def test_lancashire_adds_the_residential_staff_visits_to_the_same_move() -> None:
    """Moved in Wed 2027-05-26: the residential staff's 6 weeks end Wed 2027-07-07 (+ 42 days)."""
    starts = {"support": "2027-05-26"}
    lancashire = _plan(load_policy("lancashire-step-down"), "step_down", starts=starts)
    default = _plan(load_policy("default"), "step_down", starts=starts)
    assert lancashire["support.residential_visits"].due_on == d("2027-07-07")
    assert lancashire["support.residential_visits"].owner == "residential_key_worker"
    assert "support.residential_visits" not in default
    assert {k: p.due_on for k, p in default.items()} == {
        k: p.due_on for k, p in lancashire.items() if k != "support.residential_visits"}


# -------------------------------------------------------------- STEPDOWN_POLICY by name
def test_stepdown_policy_names_a_preset_and_the_case_follows_it(
    db_url: str, today: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the case record (SQLite and PostgreSQL): a request at Fri 2026-12-18 09:00 GMT
    is due Sat 19 Dec 09:00 under south-gloucestershire; the meeting held Wed 2026-12-23 has
    its minutes due Mon 2027-01-04 under somerset (5 working days across Christmas)."""
    monkeypatch.setenv("STEPDOWN_POLICY", "south-gloucestershire")
    open_stability("ST-P1", child="CHILD-P1", requested_at="2026-12-18T09:00:00+00:00")
    assert timeline_of("ST-P1", today)["stability.meeting"]["due"] == (
        "2026-12-19T09:00:00+00:00")
    monkeypatch.setenv("STEPDOWN_POLICY", "somerset")
    open_stability("ST-P2", child="CHILD-P2", requested_at="2026-12-22T09:15:00+00:00")
    assert timeline_of("ST-P2", today)["stability.meeting"]["due"] == (
        "2026-12-24T09:15:00+00:00")  # 48 hours: Somerset's sources give none of their own
    submit("ST-P2", "stability.meeting", {
        "done_on": "2026-12-23", "chair": "fostering_team_manager",
        "attendees": ["foster_carer", "supervising_social_worker", "social_worker"],
        "child_views_recorded": True, "outcome": "stay", "actions": []})
    minutes = timeline_of("ST-P2", today)["stability.minutes"]
    assert (minutes["due"], minutes["owner"]) == ("2027-01-04", "fostering_team_manager")


def test_an_unknown_preset_name_is_one_line_naming_the_presets() -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy("somerst")
    assert str(raised.value) == f"STEPDOWN_POLICY: unknown preset 'somerst': {KNOWN}"


def _main(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, `stepdown` (its main(), which turns a policy error into exit 2)."""
    full = {**os.environ, "PYTHONPATH": ROOT, **env}
    return subprocess.run([sys.executable, "-c", "from stepdown.cli import main; main()", *args],
                          env=full, capture_output=True, text=True, timeout=120, check=False)


def test_an_unknown_stepdown_policy_stops_a_command_that_loads_it_in_one_line(
    tmp_path: Path
) -> None:
    ran = _main("kinds", STEPDOWN_POLICY="somerst", STEPDOWN_HOME=str(tmp_path))
    assert ran.returncode == 2 and ran.stdout == ""
    assert ran.stderr.splitlines() == [f"error: STEPDOWN_POLICY: unknown preset 'somerst': {KNOWN}"]
    ran = _main("kinds", STEPDOWN_POLICY="somerset", STEPDOWN_HOME=str(tmp_path))
    assert ran.returncode == 0, ran.stderr
    assert "stability" in ran.stdout


def test_stepdown_serve_refuses_an_unknown_preset_before_it_starts_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPDOWN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STEPDOWN_POLICY", "lancashire")
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: STEPDOWN_POLICY: unknown preset 'lancashire': {KNOWN}"]
    assert not (tmp_path / "home").exists()  # no database, no Prefect home


# ------------------------------------------------------------------------ stepdown policy
def _rows(output: str) -> list[dict[str, str]]:
    """A printed table's rows, cut at its header's column starts (a line with no first cell
    goes on with the row above: a long cell wraps), until the first line that is not a row
    (the settings and the count)."""
    header, *lines = output.splitlines()
    names = header.split()
    starts = [header.index(f"{n}  " if i < len(names) - 1 else n) for i, n in enumerate(names)]
    rows: list[dict[str, str]] = []
    for line in lines:
        if (re.match(r"\[settings\] \S+ = ", line) or line.startswith("policy ")
                or " differences between " in line):
            break
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        if cells[0]:
            rows.append(dict(zip(names, cells, strict=True)))
            continue
        for name, cell in zip(names, cells, strict=True):
            rows[-1][name] = f"{rows[-1][name]} {cell}".strip() if cell else rows[-1][name]
    return rows


def test_policy_show_prints_every_timescale_with_its_owner_and_source() -> None:
    result = runner.invoke(app, ["policy", "show", "somerset"])
    assert result.exit_code == 0, result.output
    rows = {row["key"]: row for row in _rows(result.stdout)}
    assert len(rows) == len({r.key for r in load_policy("somerset").rules})
    assert rows["stability.minutes"] == {
        "process": "stability", "key": "stability.minutes",
        "title": "Stability meeting minutes circulated (by the chair)",
        "due": "stability.meeting done + 5 working days",
        "owner": "team_manager (or stability.meeting.chair)",
        "source": load_policy("somerset").rule_for_key("stability.minutes").source}
    assert rows["placement.irs_informed"]["due"] == "placement.move.moved_on + 1 working day"
    assert rows["support.cla_review"]["due"] == "start of support + 20 working days"
    assert rows["cla.review"]["due"] == (
        "first: start of looked_after + 20 working days; #2: 3 months after #1 is done; then "
        "every 6 months after the previous one is done; brought forward to 20 working days "
        "after a placement change (placement:form:placement.move.moved_on or "
        "step_down:stage:support) when due later")
    assert rows["cla.review_outcomes"]["due"] == (
        "for each cla.review: cla.review#k done + 20 working days")
    assert rows["support.weekly_review"]["due"] == (
        "start of support + 7 days, then every 7 days, 6 times")
    assert rows["unplanned_ending.meeting"]["due"] == (
        "unplanned_ending.record.ended_on + 42 days, not before "
        "unplanned_ending.record.ended_on + 1 month")
    assert rows["identification.child_views"]["due"] == "no due date (a checklist item)"
    lines = result.stdout.splitlines()
    assert "[settings] waiver_window = 84 days" in lines
    assert lines[-1] == (f"policy somerset (somerset.toml, extends default): "
                         f"{len(load_policy('somerset').rules)} rules")


def test_policy_show_without_a_name_shows_the_configured_policy_and_as_json(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPDOWN_POLICY", "south-gloucestershire")
    result = runner.invoke(app, ["policy", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["name"], shown["path"], shown["extends"]) == (
        "south-gloucestershire", "south-gloucestershire.toml", ["default"])
    meeting = next(r for r in shown["rules"] if r["key"] == "stability.meeting")
    assert (meeting["due"], meeting["owner"]) == (
        "stability.request.requested_at + 24 hours", "social_worker")
    assert meeting["source"].startswith("001 Appendix 3")
    variants = [r["due"] for r in shown["rules"] if r["key"] == "placement.planning_meeting"]
    assert variants == ["when not opening.emergency: placement.open.planned_on",
                        "when opening.emergency: placement.move.moved_on + 5 days"]
    assert shown["settings"]["sdq_discussion_from"] == 14


def test_policy_diff_lists_each_differing_attribute_and_exits_0() -> None:
    result = runner.invoke(app, ["policy", "diff", "default", "south-gloucestershire"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert header.split() == ["process", "key", "attribute", "default", "south-gloucestershire"]
    sglos = load_policy("south-gloucestershire").rule_for_key("stability.meeting").source
    assert _rows(result.stdout) == [
        {"process": "stability", "key": "stability.meeting", "attribute": "due",
         "default": "stability.request.requested_at + 48 hours",
         "south-gloucestershire": "stability.request.requested_at + 24 hours"},
        {"process": "stability", "key": "stability.meeting", "attribute": "source",
         "default": load_policy().rule_for_key("stability.meeting").source,
         "south-gloucestershire": sglos}]
    assert result.stdout.splitlines()[-1] == (
        "2 differences between default (default.toml) and south-gloucestershire "
        "(south-gloucestershire.toml)")


def test_policy_diff_of_somerset_and_lancashire_as_json() -> None:
    result = runner.invoke(app, ["policy", "diff", "somerset", "lancashire-step-down", "--json"])
    assert result.exit_code == 0, result.output
    rows = [(r["key"], r["attribute"], r["a"], r["b"]) for r in json.loads(result.stdout)
            if r["attribute"] in ("due", "rule")]
    assert rows == [
        ("support.cla_review", "due", "start of support + 20 working days",
         "start of support + 28 days"),
        ("stability.minutes", "due", "stability.meeting done + 5 working days",
         "stability.meeting done + 3 working days"),
        ("support.residential_visits", "rule", "(no such rule)", "start of support + 42 days")]


def test_policy_diff_of_identical_policies_says_so_and_exits_0(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "diff", "default", "default"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "default (default.toml) and default (default.toml) are identical: every rule and "
        "setting is the same"]
    assert runner.invoke(app, ["policy", "diff", "somerset", "somerset", "--json"]).stdout == (
        "[]\n")


def test_policy_diff_of_a_local_file_extending_a_preset(tmp_path: Path) -> None:
    """A local authority's file, by path: Somerset's preset with a slower IRO check and a
    longer waiver window."""
    local = tmp_path / "our-policy.toml"
    local.write_text(
        '[policy]\nname = "ours"\nextends = "somerset"\n\n[settings]\n'
        'waiver_window = "12 weeks"\n\n[[rule]]\nkey = "stability.iro_check"\n'
        'process = "stability"\nstage = "follow_up"\nowner = "iro"\n'
        'title = "IRO checks the stability plan is progressing"\n'
        'due = "done:stability.meeting + 8 weeks"\nsource = "001 Appendix 1, as agreed locally"\n',
        encoding="utf-8")
    result = runner.invoke(app, ["policy", "diff", "somerset", str(local)])
    assert result.exit_code == 0, result.output
    assert [(r["process"], r["key"], r["attribute"], r["somerset"], r["ours"])
            for r in _rows(result.stdout)] == [
        ("stability", "stability.iro_check", "due", "stability.meeting done + 42 days",
         "stability.meeting done + 8 weeks"),
        ("stability", "stability.iro_check", "source",
         "001 Appendix 1: the IRO checks progress within 6 weeks",
         "001 Appendix 1, as agreed locally"),
        ("[settings]", "waiver_window", "value", "84 days", "12 weeks")]


def test_policy_commands_refuse_an_unknown_preset_in_one_line() -> None:
    shown = runner.invoke(app, ["policy", "show", "somerst"])
    assert shown.exit_code == 2 and shown.stdout == ""
    assert shown.stderr.splitlines() == [f"error: name: unknown preset 'somerst': {KNOWN}"]
    diffed = runner.invoke(app, ["policy", "diff", "default", "glos"])
    assert diffed.exit_code == 2 and diffed.stdout == ""
    assert diffed.stderr.splitlines() == [f"error: b: unknown preset 'glos': {KNOWN}"]
    missing = runner.invoke(app, ["policy", "show", "nowhere/ours.toml"])
    assert missing.exit_code == 2
    assert missing.stderr.splitlines() == ["error: name: no policy file at nowhere/ours.toml"]


def test_policy_show_of_a_file_with_an_unknown_field_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[policy]\nextends = "default"\n\n[[rule]]\nkey = "stability.meeting"\n'
                   'process = "stability"\nstage = "meeting"\nowner = "social_worker"\n'
                   'title = "Stability meeting"\nsource = "001 section 5"\n'
                   'due = "form:stability.request.requested_on + 24 hours"\n', encoding="utf-8")
    result = runner.invoke(app, ["policy", "show", str(bad)])
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line == (f"error: {bad}: rule stability.meeting: due "
                    "'form:stability.request.requested_on' names 'requested_on', not a field of "
                    "stability.request (requested_at, requested_by, submitted_by)")


def test_the_lancashire_residential_visits_are_an_obligation_of_a_real_case(
    db_url: str, today: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole scenario case (tests/scenario.py) under lancashire-step-down, through the case
    record: moved in Mon 2027-04-05, the residential staff's 6 weeks end Mon 2027-05-17; done on
    2027-05-14, it is done; every other obligation is as under the default."""
    from tests import scenario
    from tests.builders import open_case

    monkeypatch.setenv("STEPDOWN_POLICY", "lancashire-step-down")
    open_case("SD-L1", child=scenario.CHILD, identified=scenario.OPENED)
    moved = [k for k, _ in scenario.STEPS].index("introduction.move")
    for key, data in scenario.STEPS[:moved + 1]:
        if key != "introduction.move_authorisation":  # PACT agreed the move: none is asked
            submit("SD-L1", key, data)
    item = timeline_of("SD-L1", "2027-04-06")["support.residential_visits"]
    assert (item["due"], item["owner"], item["status"]) == (
        "2027-05-17", "residential_key_worker", "pending")
    submit("SD-L1", "support.residential_visits", {"done_on": "2027-05-14"})
    lancashire = timeline_of("SD-L1", "2027-05-18")
    assert lancashire["support.residential_visits"]["status"] == "done"
    monkeypatch.delenv("STEPDOWN_POLICY")
    open_case("SD-L2", child="CHILD-L2", identified=scenario.OPENED)
    for key, data in scenario.STEPS[:moved + 1]:
        submit("SD-L2", key, data)
    default = timeline_of("SD-L2", "2027-05-18")
    assert "support.residential_visits" not in default
    assert "introduction.move_authorisation" not in lancashire
    assert default["introduction.move_authorisation"]["status"] == "done"
    assert {k: v["due"] for k, v in default.items() if k != "introduction.move_authorisation"} == {
        k: v["due"] for k, v in lancashire.items() if k != "support.residential_visits"}


def test_policy_show_warns_of_an_obligation_a_declaration_names_without_a_rule(
    tmp_path: Path
) -> None:
    from stepdown.domain.policy import default_policy_text

    partial = tmp_path / "partial.toml"
    partial.write_text(default_policy_text().replace(
        'key = "identification.care_plan_ratified"', 'key = "identification.care_plan_ok"'),
        encoding="utf-8")
    result = runner.invoke(app, ["policy", "show", str(partial)])
    assert result.exit_code == 0
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("warning: ") and "'identification.care_plan_ratified'" in warning
    assert f"which {partial} has no rule for" in warning
    keys = [row["key"] for row in _rows(result.stdout)]
    assert "identification.care_plan_ok" in keys and "identification.care_plan_ratified" not in keys
