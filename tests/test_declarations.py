"""Process declarations: a declaration that cannot be used is refused in one line naming its file
and entry; the condition language; the domain package stays pure.

The declaration used here is the worked example of docs/processes.md, read from the page, so the
documented example is the one that is checked (and run end to end by
tests/test_e2e_declared_process.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from stepdown.domain.declarations import Condition, DeclarationError, load_catalogue
from stepdown.domain.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "processes.md"


def worked_example() -> str:
    """The worked example of docs/processes.md: its one ```toml block that declares a process."""
    blocks = re.findall(r"^```toml\n(.*?)^```$", DOC.read_text("utf-8"), re.S | re.M)
    (example,) = [b for b in blocks if b.startswith("#") and "\n[process]\n" in b]
    return example


def _write(folder: Path, text: str, name: str = "family_time.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, "utf-8")
    return path


def _changed(old: str, new: str) -> str:
    text = worked_example()
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_the_worked_example_loads_with_its_stages_forms_and_rules(tmp_path: Path) -> None:
    path = _write(tmp_path, worked_example())
    catalogue = load_catalogue(str(path))
    declared = catalogue.process("family_time")
    assert declared.path == str(path)
    assert declared.stage_names == ("assessment", "review")
    assert [s.flow for s in declared.flow_stages()] == ["family-time-assessment",
                                                        "family-time-review"]
    assert {"step_down", "stability", "unplanned_ending"} <= set(catalogue.kinds)
    forms = {k: f.kind for k, f in catalogue.forms.items() if f.process == "family_time"}
    assert forms == {"family_time.request": "opening", "family_time.assessment": "stage",
                     "family_time.decision": "stage"}
    schema = catalogue.model("family_time.decision").model_json_schema()
    assert schema["properties"]["carer_views_sought"]["title"] == "Foster carer's views sought"
    assert schema["required"] == ["decided_on", "decision"]
    rules = {r.key: r for r in load_policy(None, str(path)).rules_for("family_time")}
    assert list(rules) == ["family_time.assessment", "family_time.observation",
                           "family_time.meeting", "family_time.minutes", "family_time.decision"]
    assert (rules["family_time.observation"].kind, rules["family_time.meeting"].stage) == (
        "chain", "review")


def test_a_policy_file_overrides_a_declared_rule_by_its_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "processes", worked_example())
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rule]]\nkey = "family_time.meeting"\nprocess = "family_time"\n'
                      'stage = "review"\nowner = "iro"\ntitle = "Review meeting"\n'
                      'due = "stage + 5 working days"\nsource = "Local policy"\n')
    rules = {r.key: r for r in load_policy(str(policy), str(path)).rules_for("family_time")}
    assert rules["family_time.meeting"].owner == "iro"
    assert rules["family_time.meeting"].due.offset.amount == 5  # type: ignore[union-attr]
    assert "family_time.minutes" in rules  # the declaration's other rules stay


@pytest.mark.parametrize(
    ("old", "new", "entry", "reason"),
    [
        ('type = "choice"\nchoices = ["supervised"', 'type = "pick"\nchoices = ["supervised"',
         "form family_time.request field arrangement", "type must be one of date, datetime"),
        ('name = "review"\ntitle = "2 Review meeting and decision"\n[[stage.step]]\n'
         'form = "family_time.decision"',
         'name = "review"\ntitle = "2 Review meeting and decision"\n[[stage.step]]\n'
         'form = "family_time.assessment"',
         "stage review", "waits for 'family_time.assessment', not a form of that stage"),
        ('[[form.complete]]\nkey = "family_time.decision"',
         '[[form.refuse]]\ncheck = "carer_consulted"\n[[form.complete]]\n'
         'key = "family_time.decision"',
         "form family_time.decision", "check 'carer_consulted' is not a named check"),
        ("when = \"decision == 'reduce' and not reasons\"",
         "when = \"decision = 'reduce' and not reasons\"",
         "form family_time.decision", "cannot read \"decision = 'reduce'\""),
        ("when = \"decision == 'reduce' and not reasons\"",
         "when = \"decision == 'reduce' or not reasons\"",
         "form family_time.decision", "'reduce' or not reasons is not a literal"),
        ('[[form.on]]\nclose = "{decision}"', '[[form.on]]\nstart = "decided"',
         "form family_time.decision", "starts 'decided', not a stage of family_time"),
        ('default = 0\ntitle = "Sessions observed', 'default = 0\ncolour = "red"\n'
         'title = "Sessions observed',
         "form family_time.assessment field sessions_observed", "colour not allowed"),
        ("when = \"decision == 'reduce' and not reasons\"",
         "when = \"decison == 'reduce' and not reasons\"",
         "form family_time.decision", "names 'decison', not a field of the form"),
        ('rule = "must be true to {decision} family time',
         'rule = "must be true to {decison} family time',
         "form family_time.decision", "names {decison}, not a field of the form"),
    ],
    ids=["unknown-field-type", "step-names-another-stages-form", "unknown-named-check",
         "bad-condition", "no-or-in-conditions", "on-starts-an-unknown-stage",
         "unknown-field-key", "a-misspelt-field-in-a-condition",
         "a-misspelt-field-in-a-message"],
)
def test_a_bad_declaration_is_one_line_naming_its_file_and_entry(
    tmp_path: Path, old: str, new: str, entry: str, reason: str
) -> None:
    path = _write(tmp_path, _changed(old, new))
    with pytest.raises(DeclarationError) as refused:
        load_catalogue(str(path))
    message = str(refused.value)
    assert len(message.splitlines()) == 1, message
    assert message.startswith(f"{path} (family_time)"), message
    assert entry in message and reason in message, message


def test_a_kind_declared_twice_names_both_files(tmp_path: Path) -> None:
    first = _write(tmp_path, worked_example(), "a.toml")
    second = _write(tmp_path, worked_example(), "b.toml")
    with pytest.raises(DeclarationError) as refused:
        load_catalogue(str(tmp_path))
    assert str(refused.value) == (f"{second}: kind 'family_time' is declared twice "
                                  f"(also in {first})")


def test_a_local_declaration_cannot_redeclare_a_shipped_kind(tmp_path: Path) -> None:
    text = _changed('kind = "family_time"', 'kind = "stability"')
    path = _write(tmp_path, text)
    with pytest.raises(DeclarationError) as refused:
        load_catalogue(str(path))
    assert str(refused.value) == (f"{path}: kind 'stability' is declared twice "
                                  "(also in stepdown/processes/stability.toml)")


def test_a_missing_declaration_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match="STEPDOWN_PROCESSES: no declaration file or "
                                               "directory at"):
        load_catalogue(str(tmp_path / "nowhere.toml"))


# ------------------------------------------------------------------------- conditions
def holds(text: str, values: dict[str, object] | None = None, *, done: set[str] = frozenset(),
          forms: set[str] = frozenset(), settings: dict[str, object] | None = None) -> bool:
    return Condition.parse(text).holds(values or {}, done=set(done), forms=set(forms),
                                       settings=settings or {})


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("reasons", {"reasons": "carer moved"}, True),
        ("reasons", {"reasons": "   "}, False),  # blank text is not given
        ("reasons", {}, False),
        ("not reasons", {"reasons": ""}, True),
        ("attendees", {"attendees": []}, False),
        ("extend_weeks", {"extend_weeks": 0}, False),
        ("decision == 'reduce'", {"decision": "reduce"}, True),
        ("decision == 'reduce'", {"decision": "keep"}, False),
        ("decision != 'reduce'", {"decision": "keep"}, True),
        ("decision != 'reduce'", {}, True),  # a missing value differs from any literal
        ("sessions_observed == 0", {"sessions_observed": 0}, True),
        ("safeguarding_concern == true", {"safeguarding_concern": True}, True),
        ("safeguarding_concern == false", {"safeguarding_concern": True}, False),
        ("sdq_score >= 14", {"sdq_score": 14}, True),
        ("sdq_score >= 14", {"sdq_score": 13}, False),
        ("sdq_score > 14", {"sdq_score": 14}, False),
        ("sdq_score < 14", {"sdq_score": 13}, True),
        ("sdq_score <= -1", {"sdq_score": -1}, True),
        ("sdq_score < 14", {"sdq_score": None}, False),  # a comparison never holds for null
        ("not sdq_score < 14", {}, True),
        ("decision in ['increase', 'reduce']", {"decision": "reduce"}, True),
        ("decision in ['increase', 'reduce']", {"decision": "keep"}, False),
        ("decision in ['increase','reduce'] and not carer_views_sought",
         {"decision": "increase", "carer_views_sought": False}, True),
        ("decision in ['increase','reduce'] and not carer_views_sought",
         {"decision": "increase", "carer_views_sought": True}, False),
    ],
)
def test_a_condition_on_the_form_s_values(text: str, values: dict[str, object],
                                          expected: bool) -> None:
    assert holds(text, values) is expected


def test_a_condition_on_the_record_and_the_policy() -> None:
    assert holds("done:family_time.meeting", done={"family_time.meeting"})
    assert not holds("done:family_time.meeting", done={"family_time.minutes"})
    assert holds("not done:family_time.meeting")
    assert holds("done:preparation.review#2", done={"preparation.review#2"})
    assert holds("form:identification.suitability", forms={"identification.suitability"})
    assert not holds("not form:identification.suitability",
                     forms={"identification.suitability"})
    rule = "sdq_score >= policy.sdq_discussion_from and not discussion_notes"
    assert holds(rule, {"sdq_score": 14, "discussion_notes": ""},
                 settings={"sdq_discussion_from": 14})
    assert not holds(rule, {"sdq_score": 14, "discussion_notes": ""},
                     settings={"sdq_discussion_from": 15})
    assert not holds(rule, {"sdq_score": 20, "discussion_notes": "weighed"},
                     settings={"sdq_discussion_from": 14})


def test_a_condition_reads_a_policy_setting_as_a_clause_of_its_own() -> None:
    """The Step Down move's gate: a setting of the policy in use turns it on or off."""
    gate = "policy.step_down_move_authorisation and not done:introduction.move_authorisation"
    on, off = {"step_down_move_authorisation": True}, {"step_down_move_authorisation": False}
    assert holds(gate, settings=on)
    assert not holds(gate, settings=off)
    assert not holds(gate, done={"introduction.move_authorisation"}, settings=on)
    assert holds("not policy.step_down_move_authorisation", settings=off)
    assert holds("policy.term == 'autumn'", settings={"term": "autumn"})
    assert not holds("policy.term == 'autumn'", settings={"term": "spring"})
    # A submitted field of the same name is not the setting.
    assert not holds("policy.flag", {"policy.flag": True}, settings={"flag": False})
    (clause,) = Condition.parse("not policy.flag").clauses
    assert (clause.negate, clause.ref, clause.name) == (True, None, "policy.flag")


def test_a_declaration_naming_a_setting_the_policy_lacks_is_refused_when_it_loads(
    tmp_path: Path
) -> None:
    path = _write(tmp_path, _changed(
        "when = \"decision == 'reduce' and not reasons\"",
        "when = \"policy.family_time_reasons and decision == 'reduce' and not reasons\""))
    load_catalogue(str(path))  # the declaration itself is readable
    with pytest.raises(Exception) as refused:  # noqa: PT011 - the policy's own error type
        load_policy(None, str(path))
    assert str(refused.value) == (
        "default.toml: [settings] has no family_time_reasons, which the process declarations "
        "name (policy.<setting>)")


def test_a_repeating_step_s_until_names_the_fields_of_its_form(tmp_path: Path) -> None:
    step = 'form = "family_time.decision"'
    path = _write(tmp_path, _changed(
        f'[[stage.step]]\n{step}', f'[[stage.step]]\n{step}\nrepeat = true\n'
        'until = "decison == \'keep\'"'))
    with pytest.raises(DeclarationError) as refused:
        load_catalogue(str(path))
    assert str(refused.value) == (
        f"{path} (family_time): step family_time.decision until \"decison == 'keep'\" names "
        "decison, not a field of family_time.decision")
    path = _write(tmp_path, _changed(f'[[stage.step]]\n{step}',
                                     f'[[stage.step]]\n{step}\nuntil = "decision == \'keep\'"'))
    with pytest.raises(DeclarationError) as refused:
        load_catalogue(str(path))
    assert "'until' is for a form step with repeat = true" in str(refused.value)


def test_a_condition_keeps_its_text_and_clauses() -> None:
    condition = Condition.parse("  decision == 'proceed' and not done:x.y ")
    assert condition.text == "  decision == 'proceed' and not done:x.y "
    assert [(c.negate, c.ref, c.name, c.op, c.value) for c in condition.clauses] == [
        (False, None, "decision", "==", "'proceed'"), (True, "done", "x.y", None, None)]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("decision = 'reduce'", "cannot read"),
        ("decision == 'a' or reasons", "'a' or reasons is not a literal"),
        ("decision or reasons", "cannot read 'decision or reasons'"),
        ("decision == reduce", "reduce is not a literal"),
        ('decision == "reduce"', 'is not a literal'),  # text is in single quotes
        ("sdq_score >= 1.5", "1.5 is not a literal"),
        ("decision in 'reduce'", "'in' takes a list [a, b]"),
        ("decision in [reduce]", "reduce is not a literal"),
        ("policy.x.y == 1", "cannot read"),
        ("", "cannot read"),
    ],
)
def test_a_condition_that_cannot_be_read_is_refused(text: str, why: str) -> None:
    with pytest.raises(DeclarationError) as refused:
        Condition.parse(text)
    assert str(refused.value).startswith(f"condition {text!r}: ")
    assert why in str(refused.value)


# ------------------------------------------------------------------------- purity
FORBIDDEN = ("prefect", "sqlmodel", "sqlalchemy", "stepdown.db", "stepdown.models",
             "stepdown.records")


def _imports(path: Path) -> list[str]:
    """Every module a file imports, anywhere in it (a function's own imports included), as a
    dotted name: ``from stepdown import db`` is ``stepdown.db``."""
    names = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside stepdown.domain
                base = ".".join(["stepdown", "domain"][: max(0, 3 - node.level)]
                                + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_the_import_walk_finds_every_form_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import prefect.flows\nfrom stepdown import db\n"
                      "def f():\n    from sqlmodel import Session\n"
                      "from stepdown.models.tables import Process\nimport stepdown.recordsx\n")
    assert sorted(n for n in _imports(sample) if _forbidden(n)) == [
        "prefect.flows", "sqlmodel", "sqlmodel.Session", "stepdown.db", "stepdown.models.tables",
        "stepdown.models.tables.Process"]


def test_nothing_under_stepdown_domain_imports_prefect_or_the_database() -> None:
    files = sorted((ROOT / "stepdown" / "domain").rglob("*.py"))
    assert len(files) >= 10  # the walk sees the package
    found = {f"{path.relative_to(ROOT)}: {name}" for path in files
             for name in _imports(path) if _forbidden(name)}
    assert not found, sorted(found)
