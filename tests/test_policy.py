"""The practice policy: the shipped default policy and the checks on a policy file."""

from __future__ import annotations

import textwrap

import pytest

from stepdown.domain.calendar import Duration
from stepdown.domain.policy import (
    KINDS,
    ROLES,
    Anchor,
    PolicyError,
    default_policy_text,
    load_policy,
    parse_policy,
)

# Every key of DOMAIN.md section 4 (Step Down) that carries a timescale.
DOMAIN_SECTION_4_KEYS = (
    "preparation.planning_meeting",
    "preparation.review",
    "preparation.sw_visit",
    "scayt.initial_consultation",
    "introduction.planning_meeting",
    "introduction.midpoint_review",
    "introduction.final_review",
    "introduction.extended_review",
    "introduction.sw_check_in",
    "introduction.ssw_check_in",
    "introduction.visit",
    "introduction.move_check_in",
    "support.weekly_review",
    "support.sw_visit",
    "support.ssw_visit",
    "support.stability_visit",
    "support.stability_review",
    "support.cla_review",
    "support.monthly_review",
    "support.scayt_review",
)


# ----------------------------------------------------------------------------- default policy

@pytest.fixture(scope="module")
def default():
    return load_policy()


def test_default_policy_loads_with_rules(default):
    assert default.name == "default"
    assert len(default.rules) > len(DOMAIN_SECTION_4_KEYS)


def test_every_default_rule_names_its_source_document(default):
    """Each rule's source is non-empty and starts with a seed document number."""
    bad = [r.key for r in default.rules
           if not r.source.strip() or not r.source.startswith(("000", "001", "002", "003", "004"))]
    assert bad == []


def test_every_default_owner_is_a_role(default):
    assert [r.key for r in default.rules if r.owner not in ROLES] == []


def test_every_default_kind_is_known(default):
    assert {r.kind for r in default.rules} <= set(KINDS)


def test_default_rule_keys_are_unique_but_for_conditioned_variants(default):
    # A key has one rule, or variants that each apply under their own condition (a planned
    # move's planning meeting and an emergency's, Early Help's 6-weekly and 6-monthly reviews).
    keys = [r.key for r in default.rules]
    repeated = {k for k in keys if keys.count(k) > 1}
    assert repeated == {"placement.planning_meeting", "early_help.review",
                        "placement.other_la_informed"}
    variants = [r for r in default.rules if r.key == "placement.other_la_informed"]
    assert sorted(r.when.text for r in variants) == [
        "opening.out_of_area and form:placement.move",
        "opening.out_of_area and not form:placement.move"]
    variants = [r for r in default.rules if r.key == "placement.planning_meeting"]
    assert sorted(r.when.text for r in variants) == ["not opening.emergency",
                                                      "opening.emergency"]
    variants = [r for r in default.rules if r.key == "early_help.review"]
    assert sorted(r.when.text for r in variants) == [
        "opening.outcome == 'transfer' and not opening.disabled_short_breaks",
        "opening.outcome == 'transfer' and opening.disabled_short_breaks"]


@pytest.mark.parametrize("key", DOMAIN_SECTION_4_KEYS)
def test_every_domain_section_4_key_is_a_default_rule(default, key):
    rule = default.rule_for_key(key)
    assert rule is not None and rule.key == key
    assert rule.process == "step_down"


def test_default_timescales_match_domain_section_4(default):
    """Spot checks of the timescales themselves (not just that the keys exist)."""
    planning = default.rule_for_key("preparation.planning_meeting")
    assert planning.due.anchor == Anchor("stage", "preparation")
    assert planning.due.offset == Duration(14, "days")
    midpoint = default.rule_for_key("introduction.midpoint_review")
    assert midpoint.earliest.offset == Duration(21, "days")
    assert midpoint.due.offset == Duration(27, "days")
    assert midpoint.due.anchor == Anchor("done", "introduction.planning_meeting")
    weekly = default.rule_for_key("support.weekly_review")
    assert (weekly.kind, weekly.count, weekly.every) == ("series", 6, Duration(7, "days"))
    monthly = default.rule_for_key("support.monthly_review")
    assert monthly.start.offset == Duration(42, "days")
    assert (monthly.every, monthly.count) == (Duration(1, "months"), 6)
    move_check_in = default.rule_for_key("introduction.move_check_in")
    assert move_check_in.due.anchor == Anchor("stage", "support")
    assert move_check_in.due.offset == Duration(1, "days")


# ----------------------------------------------------------------------------- parse_policy

_FIELDS = dict(key="x.y", process="step_down", stage="preparation", owner="social_worker",
               title="A rule", source="000 Step 2")


def _toml(**fields) -> str:
    """One [[rule]] from the valid defaults, with ``fields`` replacing them (None drops one)."""
    merged = {**_FIELDS, **fields}
    lines = ["[[rule]]"]
    for name, value in merged.items():
        if value is None:
            continue
        lines.append(f"{name} = {value}" if isinstance(value, int) else f'{name} = "{value}"')
    return "\n".join(lines) + "\n"


def test_a_small_valid_policy_parses():
    policy = parse_policy(_toml(due="stage + 14 days"))
    (rule,) = policy.rules
    assert rule.key == "x.y" and rule.due.offset == Duration(14, "days")


def _refused(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    return str(info.value)


def test_unknown_owner_is_refused_naming_the_rule_and_owner():
    message = _refused(_toml(owner="dog_walker"))
    assert "x.y" in message and "dog_walker" in message and "owner" in message


def test_missing_source_is_refused_naming_the_rule():
    message = _refused(_toml(source=None))
    assert "x.y" in message and "source" in message


def test_blank_source_is_refused_naming_the_rule():
    message = _refused(_toml(source="   "))
    assert "x.y" in message and "source" in message


def test_unknown_kind_is_refused_naming_the_rule():
    message = _refused(_toml(kind="sometimes"))
    assert "x.y" in message and "kind" in message


def test_bad_duration_is_refused_naming_the_rule_and_the_text():
    message = _refused(_toml(due="stage + 14 fortnights"))
    assert "x.y" in message and "14 fortnights" in message


def test_bad_chain_every_is_refused_naming_the_rule():
    message = _refused(_toml(kind="chain", first="stage + 14 days", every="14 fortnights"))
    assert "x.y" in message and "14 fortnights" in message


def test_bad_anchor_is_refused_naming_the_rule_and_the_anchor():
    message = _refused(_toml(due="yesterday + 3 days"))
    assert "yesterday" in message and "anchor" in message
    assert "x.y" in message


def test_bad_series_until_anchor_is_refused_naming_the_rule():
    message = _refused(_toml(kind="series", start="stage", every="7 days", until="tomorrow"))
    assert "tomorrow" in message
    assert "x.y" in message


def test_duplicate_key_is_refused_naming_the_key():
    message = _refused(_toml(due="stage + 1 day") + _toml(key="a.b") + _toml(title="Again"))
    assert "x.y" in message and "twice" in message
    assert "a.b" not in message


def test_series_with_both_count_and_until_is_refused():
    message = _refused(_toml(kind="series", start="stage", every="7 days", count=6,
                             until="last_due:x.z"))
    assert "x.y" in message and "count" in message and "until" in message


def test_series_with_neither_count_nor_until_is_refused():
    message = _refused(_toml(kind="series", start="stage", every="7 days"))
    assert "x.y" in message and "count" in message and "until" in message


def test_field_not_allowed_for_the_kind_is_refused_naming_it():
    message = _refused(_toml(kind="chain", first="stage + 14 days", every="14 days",
                             due="stage + 1 day"))
    assert "x.y" in message and "due" in message and "chain" in message


def test_invalid_toml_is_refused():
    message = _refused('[[rule]]\nkey = "x.y\nowner = social_worker\n')
    assert "not valid TOML" in message
    assert "<string>" in message


# ----------------------------------------------------------------------------- load_policy

def test_load_policy_of_a_missing_file_names_stepdown_policy(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyError) as info:
        load_policy(str(missing))
    assert "STEPDOWN_POLICY" in str(info.value)
    assert str(missing) in str(info.value)


def test_load_policy_of_a_file_returns_its_rules(tmp_path):
    file = tmp_path / "local.toml"
    file.write_text(
        textwrap.dedent("""\
            [policy]
            name = "local"

            [settings]
            escalate_after = "10 working days"
        """)
        + "\n" + _toml(kind="chain", first="stage + 7 days", every="7 days")
        + "\n" + _toml(key="x.z", owner="iro", due="done:x.y + 3 working days"),
        encoding="utf-8",
    )
    policy = load_policy(str(file))
    assert policy.name == "local"
    assert policy.path == str(file)
    # The file's rules, then those the process declarations carry for keys it does not have.
    from stepdown.domain.declarations import load_catalogue

    declared = [raw["key"] for raw in load_catalogue().rules]
    assert declared  # the placement declaration carries its authorisation
    assert [r.key for r in policy.rules] == ["x.y", "x.z", *declared]
    assert policy.rule_for_key("x.y#3").key == "x.y"
    assert policy.rule_for_key("x.y").every == Duration(7, "days")
    assert policy.rule_for_key("x.z").owner == "iro"
    assert policy.rule_for_key("x.w#1") is None
    assert policy.duration("escalate_after", "5 working days") == Duration(10, "working_days")
    assert policy.duration("absent", "5 working days") == Duration(5, "working_days")
    assert [r.key for r in policy.rules_for("step_down")] == ["x.y", "x.z"]
    assert policy.rules_for("stability") == ()


def test_the_roles_are_the_vocabularys_everywhere() -> None:
    from typing import get_args

    from stepdown import staff
    from stepdown.domain import forms, vocabulary

    assert ROLES is vocabulary.ROLES and staff.ROLES is vocabulary.ROLES
    assert get_args(forms.Role) == vocabulary.ROLES
    assert {"lead_practitioner", "school", "health", "emergency_duty_team"} <= set(ROLES)


def test_the_shipped_policy_and_declarations_agree_and_a_gap_is_reported(tmp_path) -> None:
    """Every obligation a shipped declaration names (a form's completes, a step's obligation, a
    condition's done:) has a rule in the default policy; a policy without one is loaded with the
    gap as a problem, which `stepdown kinds` shows."""
    assert load_policy().problems == ()
    file = tmp_path / "partial.toml"
    file.write_text(default_policy_text().replace(
        'key = "identification.care_plan_ratified"', 'key = "identification.care_plan_ok"'),
        encoding="utf-8")
    problems = load_policy(str(file)).problems
    assert any("'identification.care_plan_ratified'" in p and "has no rule" in p
               for p in problems), problems


def test_a_setting_a_declaration_names_must_be_in_the_policy(tmp_path, monkeypatch) -> None:
    from stepdown.domain.declarations import load_catalogue

    declared = tmp_path / "extra.toml"
    declared.write_text(textwrap.dedent("""\
        [process]
        kind = "extra"
        title = "Extra"
        opening = "extra.open"
        [[stage]]
        name = "one"
        [[stage.step]]
        form = "extra.form"
        [[form]]
        key = "extra.open"
        kind = "opening"
        title = "Open"
        date_field = "on"
        [[form.field]]
        name = "on"
        type = "date"
        title = "On"
        [[form]]
        key = "extra.form"
        kind = "stage"
        stage = "one"
        title = "A form"
        date_field = "on"
        [[form.field]]
        name = "on"
        type = "date"
        title = "On"
        [[form.field]]
        name = "score"
        type = "int"
        title = "Score"
        [[form.refuse]]
        when = "score >= policy.extra_threshold"
        field = "score"
        rule = "is at least {policy.extra_threshold}"
        """), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"\[settings\] has no extra_threshold"):
        load_policy(None, str(declared))
    assert load_catalogue(str(declared)).process("extra").title == "Extra"


# ----------------------------------------------------------------------------- extends
def _file(folder, name: str, text: str):  # type: ignore[no-untyped-def]
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_policy_extending_another_overrides_its_rules_in_place_and_adds_its_own(tmp_path):
    """The base's rules in its order, each overridden one where it was; a new key at the end;
    the settings merged; the name the file's own."""
    ours = _file(tmp_path, "ours.toml", """\
        [policy]
        name = "ours"
        extends = "default"

        [settings]
        waiver_window = "8 weeks"

        [[rule]]
        key = "stability.minutes"
        process = "stability"
        stage = "follow_up"
        owner = "team_manager"
        title = "Minutes"
        due = "done:stability.meeting + 2 working days"
        source = "001 Appendix 1, sooner here"

        [[rule]]
        key = "support.extra_visit"
        process = "step_down"
        stage = "support"
        owner = "iro"
        title = "An extra visit"
        due = "stage + 10 days"
        source = "000 Step 5"
        """)
    policy = load_policy(str(ours))
    default = load_policy()
    assert (policy.name, policy.extends) == ("ours", ("default",))
    own = [r.key for r in policy.rules]
    assert own.count("stability.minutes") == 1
    assert own.index("stability.minutes") == [r.key for r in default.rules].index(
        "stability.minutes")
    assert policy.rule_for_key("stability.minutes").due.offset == Duration(2, "working_days")
    assert policy.rule_for_key("stability.minutes").owner_from is None  # the whole rule replaced
    assert [r for r in policy.rules if r.key not in ("stability.minutes",
                                                     "support.extra_visit")] == [
        r for r in default.rules if r.key != "stability.minutes"]
    step_down = [r.key for r in policy.rules_for("step_down")]
    assert step_down[-1] == "support.extra_visit"
    assert policy.settings["waiver_window"] == "8 weeks"
    assert policy.settings["sdq_discussion_from"] == 14


def test_an_override_of_a_key_replaces_all_its_variants(tmp_path):
    ours = _file(tmp_path, "ours.toml", """\
        [policy]
        extends = "default"

        [[rule]]
        key = "placement.planning_meeting"
        process = "placement"
        stage = "move"
        owner = "social_worker"
        title = "Placement planning meeting"
        opens = "stage:authorisation"
        due = "form:placement.open.planned_on"
        source = "002 3.24"
        """)
    policy = load_policy(str(ours))
    (meeting,) = [r for r in policy.rules if r.key == "placement.planning_meeting"]
    assert meeting.when is None and policy.name == "ours"


def test_a_policy_may_extend_a_file_beside_it_which_extends_a_preset(tmp_path):
    _file(tmp_path, "county.toml", """\
        [policy]
        name = "county"
        extends = "somerset"

        [settings]
        sdq_discussion_from = 17
        """)
    district = _file(tmp_path, "district.toml", """\
        [policy]
        name = "district"
        extends = "county.toml"

        [settings]
        waiver_window = "10 weeks"
        """)
    policy = load_policy(str(district))
    assert policy.extends == ("county", "somerset", "default")
    assert (policy.settings["sdq_discussion_from"], policy.settings["waiver_window"]) == (
        17, "10 weeks")
    assert policy.rules == load_policy("somerset").rules


@pytest.mark.parametrize(("text", "expected"), [
    ('[policy]\nextends = "glos"\n',
     "{path}: [policy] extends: unknown preset 'glos': the shipped presets are default, "
     "lancashire-step-down, somerset, south-gloucestershire (or give the path of a policy "
     "file)"),
    ('[policy]\nextends = "other/base.toml"\n',
     "{path}: [policy] extends: no policy file at {dir}/other/base.toml"),
    ('[policy]\nextend = "default"\n',
     "{path}: [policy] 'extend' is not allowed: [policy] has extends, name, timezone"),
    ('[policy]\nextends = 3\n', "{path}: [policy] extends must name a preset or a policy file"),
    ('[rules]\nkey = "x"\n',
     "{path}: 'rules' is not a table of a policy file: it has [policy], [settings] and "
     "[[rule]]s"),
    ('[policy]\nextends = "default"\n[settings]\nwaiver_windw = "8 weeks"\n',
     "{path}: [settings] 'waiver_windw' is not a setting: the settings are escalate_after, "
     "sdq_discussion_from, ssda903_unplanned_reasons, term_ends, waiver_window"),
    ('[policy]\nextends = "default"\n[settings]\nescalate_after = "1 week"\n',
     "{path}: [settings] escalate_after: must be a number of working days (at least 1), as "
     "'5 working days'"),
    ('[policy]\nextends = "default"\n[settings]\nescalate_after = "soon"\n',
     "{path}: [settings] 'soon' is not a duration: write "
     "'<n> hours|days|weeks|months|working days|terms'"),
])
def test_a_bad_extends_table_or_setting_is_one_line(tmp_path, text, expected):
    path = _file(tmp_path, "ours.toml", text)
    with pytest.raises(PolicyError) as raised:
        load_policy(str(path))
    assert str(raised.value) == expected.format(path=path, dir=tmp_path)


def test_policies_that_extend_each_other_are_refused_naming_the_cycle(tmp_path):
    a = _file(tmp_path, "a.toml", '[policy]\nextends = "b.toml"\n')
    b = _file(tmp_path, "b.toml", '[policy]\nextends = "a.toml"\n')
    with pytest.raises(PolicyError) as raised:
        load_policy(str(a))
    assert str(raised.value) == (f"{b}: [policy] extends 'a.toml', which extends it: "
                                 f"{a} -> {b} -> {a}")


# ------------------------------------------------- names a rule reads: stages, obligations, fields
_STABILITY = dict(key="stability.meeting", process="stability", stage="meeting",
                  owner="social_worker", title="Stability meeting", source="001 section 5")


@pytest.mark.parametrize(("fields", "expected"), [
    ({"due": "form:stability.request.requested_on + 24 hours"},
     "rule stability.meeting: due 'form:stability.request.requested_on' names 'requested_on', "
     "not a field of stability.request (requested_at, requested_by, submitted_by)"),
    ({"due": "form:stability.requests.requested_at + 24 hours"},
     "rule stability.meeting: due 'form:stability.requests.requested_at' names "
     "'stability.requests', neither a form of stability nor one of its obligations"),
    ({"due": "form:placement.move.moved_on + 1 day"},  # another process's form
     "rule stability.meeting: due 'form:placement.move.moved_on' names 'placement.move', "
     "neither a form of stability nor one of its obligations"),
    ({"due": "stage:meetings + 1 day"},
     "rule stability.meeting: due 'stage:meetings' names stage 'meetings', not a stage of "
     "stability (meeting, follow_up)"),
    ({"due": "done:stability.request + 1 day"},
     "rule stability.meeting: due 'done:stability.request' names 'stability.request', not an "
     "obligation (a rule) of stability"),
    ({"due": "stage + 2 days", "owner_from": "form:stability.meeting.chiar"},
     "rule stability.meeting: owner_from 'form:stability.meeting.chiar' names 'chiar', not a "
     "field of stability.meeting (actions, attendees, chair, child_views_recorded, done_on, "
     "early_reason, move_planned_on, next_meeting_on, outcome, safeguarding_concern, "
     "submitted_by, support_plan_reviewed)"),
    ({"due": "stage + 2 days",
      "opens": "form:stability.request.requested_at[requested_bye=school]"},
     "rule stability.meeting: opens 'form:stability.request.requested_at[requested_bye=school]' "
     "names 'requested_bye', not a field of stability.request (requested_at, requested_by, "
     "submitted_by)"),
])
def test_a_rule_naming_an_unknown_stage_obligation_form_or_field_is_one_line(
    tmp_path, fields, expected
):
    """Else the obligation would never be dated, and nobody told. The rule keeps its
    completion (stability_meeting), whose fields an owner_from of stability.meeting reads."""
    path = _file(tmp_path, "ours.toml", '[policy]\nextends = "default"\n\n'
                 + _toml(**{**_STABILITY, "completion": "stability_meeting", **fields}))
    with pytest.raises(PolicyError) as raised:
        load_policy(str(path))
    assert str(raised.value) == f"{path}: {expected}"
    assert "\n" not in str(raised.value)


def test_an_actions_list_or_an_extensions_field_must_be_a_field_of_the_completion(tmp_path):
    path = _file(tmp_path, "ours.toml", '[policy]\nextends = "default"\n\n' + _toml(
        key="stability.action", process="stability", stage="follow_up", kind="actions",
        after="stability.meeting", list_field="agreed_actions"))
    with pytest.raises(PolicyError) as raised:
        load_policy(str(path))
    assert str(raised.value) == (
        f"{path}: rule stability.action: list_field 'agreed_actions' is not a field of "
        "stability.meeting's completion (actions, attendees, chair, child_views_recorded, "
        "done_on, early_reason, move_planned_on, next_meeting_on, outcome, "
        "safeguarding_concern, submitted_by, support_plan_reviewed)")
    path = _file(tmp_path, "ours2.toml", '[policy]\nextends = "default"\n\n' + _toml(
        key="introduction.extended_review", process="step_down", stage="introduction",
        kind="extension", after="introduction.final_review", field="outcome", value="extend",
        weeks_field="weeks", completion="review_outcome"))
    with pytest.raises(PolicyError, match=r"rule introduction.extended_review: weeks_field "
                       r"'weeks' is not a field of introduction.final_review's completion "
                       r"\(done_on, early_reason, extend_weeks, outcome, submitted_by\)$"):
        load_policy(str(path))


@pytest.mark.parametrize(("fields", "expected"), [
    ({"due": "stage + 2 days", "completion": "stability_meetng"},
     "rule stability.meeting: completion 'stability_meetng' is not a declared completion form"),
    ({"due": "stage + 2 days", "when": "opening.requested_from == 'school'"},
     "rule stability.meeting: when \"opening.requested_from == 'school'\" names "
     "'opening.requested_from': it may name opening.requested_at, opening.requested_by"),
])
def test_a_rule_naming_an_unknown_completion_or_condition_field_is_one_line_naming_the_file(
    tmp_path, fields, expected
):
    path = _file(tmp_path, "ours.toml", '[policy]\nextends = "default"\n\n'
                 + _toml(**{**_STABILITY, **fields}))
    with pytest.raises(PolicyError) as raised:
        load_policy(str(path))
    assert str(raised.value) == f"{path}: {expected}"


def test_a_bad_rule_a_declaration_carries_is_named_with_the_declarations_file(tmp_path):
    declared = _file(tmp_path, "extra.toml", """\
        [process]
        kind = "extra"
        title = "Extra"
        opening = "extra.open"
        [[stage]]
        name = "one"
        [[form]]
        key = "extra.open"
        kind = "opening"
        title = "Open"
        date_field = "on"
        [[form.field]]
        name = "on"
        type = "date"
        title = "On"
        [[rule]]
        key = "extra.visit"
        stage = "one"
        owner = "iro"
        title = "A visit"
        due = "form:extra.open.of + 7 days"
        source = "000"
        """)
    with pytest.raises(PolicyError) as raised:
        load_policy(None, str(declared))
    assert str(raised.value) == (
        f"{declared}: rule extra.visit: due 'form:extra.open.of' names 'of', not a field of "
        "extra.open (on, submitted_by)")
    other = _file(tmp_path, "other.toml", declared.read_text().replace(
        'owner = "iro"', 'owner = "the_iro"'))
    with pytest.raises(PolicyError) as raised:
        load_policy(None, str(other))
    assert str(raised.value) == (
        f"{other}: rule extra.visit: owner 'the_iro' is not a role of DOMAIN.md")


def test_a_bad_rule_of_a_policy_extended_is_named_with_its_own_file(tmp_path):
    base = _file(tmp_path, "county.toml", '[policy]\nextends = "default"\n\n' + _toml(
        key="support.extra_visit", process="step_down", stage="support",
        due="stage:suport + 10 days"))
    ours = _file(tmp_path, "ours.toml", '[policy]\nextends = "county.toml"\n')
    with pytest.raises(PolicyError) as raised:
        load_policy(str(ours))
    assert str(raised.value) == (
        f"{base}: rule support.extra_visit: due 'stage:suport' names stage 'suport', not a "
        "stage of step_down (identification, preparation, matching, introduction, support)")


_NEXT = dict(key="stability.next_meeting", process="stability", stage="follow_up",
             kind="chain", first="done:stability.meeting + 3 months", every="3 months",
             completion="stability_follow_up_meeting", source="001 Appendix 1")


@pytest.mark.parametrize(("fields", "expected"), [
    ({**_NEXT, "or_earlier_field": "chair"},
     "rule stability.next_meeting: or_earlier_field 'chair' is not a date field of "
     "stability_follow_up_meeting (move_planned_on, next_meeting_on)"),
    ({**_NEXT, "last_when": "outcom == 'stable'"},
     "rule stability.next_meeting: last_when \"outcom == 'stable'\" names 'outcom': it may name"),
    ({**_NEXT, "last_when": "outcome == 'stable'", "completion": None},
     "rule stability.next_meeting: last_when needs the completion whose fields it reads"),
    ({**_NEXT, "key": "stability.supervision_check", "completion": None,
      "ends_with": "stability.minutes"},
     "rule stability.supervision_check: ends_with 'stability.minutes' is not a chain of "
     "stability before it with a last_when"),
    ({"key": "stability.follow_up_minutes", "process": "stability", "stage": "follow_up",
      "kind": "each", "of": "stability.next_meeting", "owner_field": "outcome",
      "due": "done:stability.next_meeting#k + 3 working days"},
     "rule stability.follow_up_minutes: owner_field 'outcome' is not a role field of "
     "stability.next_meeting's completion (chair)"),
    ({"key": "stability.follow_up_minutes", "process": "stability", "stage": "follow_up",
      "kind": "each", "of": "stability.next_meeting"},
     "rule stability.follow_up_minutes: an each rule needs 'of', and 'due' or (a checklist "
     "item) 'opens'"),
])
def test_the_stability_cycles_rule_options_are_checked_in_one_line(tmp_path, fields,
                                                                    expected) -> None:
    path = _file(tmp_path, "ours.toml", '[policy]\nextends = "default"\n\n' + _toml(**fields))
    with pytest.raises(PolicyError) as raised:
        load_policy(str(path))
    assert str(raised.value).startswith(f"{path}: {expected}"), str(raised.value)
    assert "\n" not in str(raised.value)
