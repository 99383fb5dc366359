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
           if not r.source.strip() or not r.source.startswith(("000", "001", "002", "004"))]
    assert bad == []


def test_every_default_owner_is_a_role(default):
    assert [r.key for r in default.rules if r.owner not in ROLES] == []


def test_every_default_kind_is_known(default):
    assert {r.kind for r in default.rules} <= set(KINDS)


def test_default_rule_keys_are_unique(default):
    keys = [r.key for r in default.rules]
    assert len(keys) == len(set(keys))


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
            escalation = "10 working days"
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
    assert policy.duration("escalation", "5 working days") == Duration(10, "working_days")
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
