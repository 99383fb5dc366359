"""Process declarations: every kind of process as data (DOMAIN.md section 7).

A declaration file (TOML) says everything about one kind of process: its kind, title and
sources; its opening form; its stages in order, each with the steps its flow run waits for;
its forms (fields with titles, help, types, choices and bounds); the rules between fields that
data can say (``refuse``), what an accepted form completes, which outcomes start a stage or close
the process (``on``), what is reported as an exception; and its links to the child's other
processes. Its obligations are the policy's ``[[rule]]`` entries for its kind (a declaration
file may carry its own). Rules data cannot say are named checks (``stepdown.domain.checks``).

The shipped declarations are ``stepdown/processes/*.toml``; a local authority adds its own with
``STEPDOWN_PROCESSES`` (a file or a directory of them). ``docs/processes.md`` explains the format.
Pure: no database, no Prefect, no clock.
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from stepdown.domain.forms import BASES, FIELD_TYPES, Done, FieldDecl, Form, build_model
from stepdown.domain.vocabulary import ROLES

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FORM_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")
FORM_KINDS = ("opening", "stage", "completion")
LINK_TYPES = ("shows", "disrupts", "opens", "ends", "follows")


class DeclarationError(ValueError):
    """A declaration that cannot be used: the file, the entry and the reason."""


# ------------------------------------------------------------------------- conditions
_CLAUSE = re.compile(
    r"^(?P<neg>not\s+)?(?:(?P<ref>done|form):(?P<key>[a-z0-9_.#]+)"
    r"|(?P<field>(?:opening\.)?[a-z_][a-z0-9_]*)(?:\s*(?P<op>==|!=|>=|<=|>|<|\bin\b)\s*(?P<value>.+))?)$")
_LITERAL = re.compile(r"^'[^']*'$|^-?\d+$|^true$|^false$|^policy\.[a-z_]+$")


@dataclass(frozen=True)
class Clause:
    negate: bool
    ref: str | None  # done | form: an obligation done, a form recorded
    name: str  # the key, or the field
    op: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Condition:
    """``<clause> and <clause> ...``; a clause is ``field``, ``not field``, ``field <op>
    <literal>`` (== != >= <= > < in), ``done:<key>`` or ``form:<key>``; ``opening.<field>`` is
    a field of the process's opening form. A literal is 'text', a
    whole number, true, false, ``[a, b]`` after ``in``, or ``policy.<setting>``."""

    text: str
    clauses: tuple[Clause, ...]

    @classmethod
    def parse(cls, text: str) -> Condition:
        clauses = []
        for part in re.split(r"\s+and\s+", text.strip()):
            match = _CLAUSE.match(part.strip())
            if not match:
                raise DeclarationError(f"condition {text!r}: cannot read {part!r}")
            op, value = match.group("op"), match.group("value")
            if value is not None:
                value = value.strip()
                items = ([v.strip() for v in value.strip("[]").split(",")] if op == "in"
                         else [value])
                if op == "in" and not value.startswith("["):
                    raise DeclarationError(f"condition {text!r}: 'in' takes a list [a, b]")
                bad = [v for v in items if not _LITERAL.match(v)]
                if bad:
                    raise DeclarationError(f"condition {text!r}: {bad[0]} is not a literal "
                                           "('text', a number, true, false, policy.<name>)")
            clauses.append(Clause(bool(match.group("neg")), match.group("ref"),
                                  match.group("key") or match.group("field"), op, value))
        return cls(text, tuple(clauses))

    def holds(self, values: dict[str, Any], *, done: set[str], forms: set[str],
              settings: dict[str, Any]) -> bool:
        return all(_clause(c, values, done, forms, settings) for c in self.clauses)


def _literal(text: str, settings: dict[str, Any]) -> Any:
    if text.startswith("'"):
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if text.startswith("policy."):
        return settings[text.removeprefix("policy.")]
    return int(text)


def _clause(c: Clause, values: dict[str, Any], done: set[str], forms: set[str],
            settings: dict[str, Any]) -> bool:
    if c.ref == "done":
        result = c.name in done
    elif c.ref == "form":
        result = c.name in forms
    elif c.op is None:
        value = values.get(c.name)
        result = bool(value.strip() if isinstance(value, str) else value)
    else:
        assert c.value is not None
        value = values.get(c.name)
        if c.op == "in":
            result = value in [_literal(v.strip(), settings) for v in c.value.strip("[]")
                               .split(",")]
        else:
            other = _literal(c.value, settings)
            if c.op in ("==", "!="):
                result = (value == other) == (c.op == "==")
            elif value is None:
                result = False
            else:
                result = {">=": value >= other, "<=": value <= other, ">": value > other,
                          "<": value < other}[c.op]
    return result != c.negate


def render(template: str, values: dict[str, Any], settings: dict[str, Any]) -> str:
    """A message with ``{field}`` and ``{policy.<setting>}`` filled in."""
    return template.format_map({**values, "policy": SimpleNamespace(**settings)})


# ------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Refuse:
    """Refuse the form when ``when`` holds (or a named check fails), naming ``field``."""

    field: str = "form"
    rule: str = ""
    when: Condition | None = None
    check: str | None = None  # a named check (stepdown.domain.checks)


@dataclass(frozen=True)
class Complete:
    """An obligation an accepted stage form completes, on the form's date."""

    key: str
    when: Condition | None = None
    record: str = "form"  # form: the form's values; done_on: only the date


@dataclass(frozen=True)
class On:
    """What an accepted form changes when ``when`` holds: a stage starts, the process closes
    (with an outcome, ``{field}`` allowed), obligations take a status (waived)."""

    when: Condition | None = None
    start: str | None = None
    close: str | None = None
    statuses: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Exception_:
    """Accepted, but reported: when ``when`` holds, or when roles are missing from a list."""

    text: str
    when: Condition | None = None
    field: str | None = None  # a list of roles that must include ``roles``
    roles: tuple[str, ...] = ()
    name: str = ""  # what the monthly figures count it as (stepdown/reports.py)


@dataclass(frozen=True)
class FormDecl:
    key: str
    kind: str  # opening | stage | completion
    model_name: str
    title: str
    description: str
    fields: tuple[FieldDecl, ...]
    process: str
    stage: str | None = None
    date_field: str = "done_on"
    once: bool = True  # a stage form is recorded once per process
    not_before: str | None = None  # form:<key>.<field>; default: the stage's start
    not_before_what: str = ""
    opens_on: str = "date_field"  # an opening form: the process opens on its date, or "today"
    # With opens_on = "today": the field (a date) that, when given, is the day the process
    # opened (a move put forward). Without it the process opens on the earlier of its date and
    # the day it is recorded, provisionally: nothing in its first stage is refused for being
    # before that day (recorded after the fact, DOMAIN.md section 1).
    opens_from: str | None = None
    # A stage form submitted while the process is in an earlier stage: why it cannot be yet
    # (a move before it is authorised).
    not_yet: str = ""
    refuse: tuple[Refuse, ...] = ()
    complete: tuple[Complete, ...] = ()
    on: tuple[On, ...] = ()
    exceptions: tuple[Exception_, ...] = ()
    source: str = ""

    @property
    def base(self) -> str:
        return "done" if self.kind == "completion" else "form"


@dataclass(frozen=True)
class Step:
    """What a stage's flow run waits for: a stage form, the completion of one obligation, or
    of the open obligation that takes a completion; once, or again while the stage lasts."""

    form: str | None = None
    obligation: str | None = None
    completion: str | None = None
    repeat: bool = False
    when: str | None = None  # a named condition (stepdown.domain.checks) or a condition
    description: str = ""

    @property
    def label(self) -> str:
        return self.form or self.obligation or f"completion {self.completion}"


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    steps: tuple[Step, ...] = ()
    flow: str = ""  # the flow's name; the stage has a flow run only if it has steps


@dataclass(frozen=True)
class Link:
    """A link to the child's other processes.

    shows: ``kind``'s processes opened while this one is open are on its timeline.
    disrupts: opening this process closes the child's open ``kind`` process in ``stage`` with
    ``outcome`` (recorded on the opening as ``<kind>_ref``).
    opens: an accepted ``form`` (when ``when`` holds) opens a ``kind`` process for the child,
    with reference ``ref`` (``{ref}`` is this process's, ``{child}`` the child's, a date field
    takes a format: ``{ended_on:%Y%m%d}``) and opening ``data``: each opening field from a
    condition (true or false), or ``a|b``: the first given of this form's fields, the opening's
    (``opening.<field>``) and quoted literals (``'OTHER'``).
    ends: an accepted ``form`` (when ``when`` holds) closes the child's other open ``kind``
    processes (in ``stage``, when given) with ``outcome``: a new move ends the last placement.
    follows: opening this process fills each opening field of ``data`` left empty from the
    child's open ``kind`` process's opening (``{field = "its field"}``): the placement a move
    is from."""

    type: str
    kind: str
    stage: str | None = None
    outcome: str | None = None
    form: str | None = None
    when: Condition | None = None
    ref: str = "{ref}-{kind}"
    data: tuple[tuple[str, str], ...] = ()
    # disrupts: the refusal when this process opens before the other entered its stage
    # ({date}, {began}, {ref} of the other, {stage}).
    rule: str = "{date} is before {ref} began {stage} ({began})"
    # opens: ``{number}`` in ``ref`` is the occurrence of the obligation whose completion opened
    # it (``#k``: k; no suffix: 1), counted from ``number_from``.
    number_from: int = 1


@dataclass(frozen=True)
class ProcessDecl:
    kind: str
    title: str
    sources: tuple[str, ...]
    opening: str
    stages: tuple[Stage, ...]
    one_at_a_time: bool = False
    links: tuple[Link, ...] = ()
    path: str = ""
    # A command of its own that opens it (`case open`), besides `stepdown open KIND`: its words,
    # and the opening form field each of its options fills.
    command: tuple[str, ...] = ()
    command_options: tuple[tuple[str, str], ...] = ()

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def flow_stages(self) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if s.steps)


@dataclass
class Catalogue:
    """Every declared process and form."""

    processes: dict[str, ProcessDecl] = field(default_factory=dict)
    forms: dict[str, FormDecl] = field(default_factory=dict)
    rules: list[dict[str, Any]] = field(default_factory=list)  # [[rule]]s from declarations
    _models: dict[str, type[Form]] = field(default_factory=dict)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.processes)

    def process(self, kind: str) -> ProcessDecl:
        try:
            return self.processes[kind]
        except KeyError:
            raise DeclarationError(f"kind: {kind!r} is not a declared process (one of "
                                   f"{', '.join(self.processes)})") from None

    def stage_forms(self) -> dict[str, FormDecl]:
        return {k: f for k, f in self.forms.items() if f.kind == "stage"}

    def completions(self) -> dict[str, FormDecl]:
        return {k: f for k, f in self.forms.items() if f.kind == "completion"}

    def model(self, key: str) -> type[Form]:
        """The pydantic model of a form (``None``/"done": the plain Done)."""
        if key in (None, "done"):
            return BASES["done"]
        if key not in self._models:
            decl = self.forms[key]
            self._models[key] = build_model(decl.model_name, decl.title, decl.base, decl.fields)
        return self._models[key]

    def completion_model(self, name: str | None) -> type[Done]:
        """The model of an obligation's completion (``None``: the plain Done)."""
        model = self.model(name or "done")
        assert issubclass(model, Done), name
        return model

    def flow_completions(self) -> frozenset[str]:
        """Completions a flow run waits for (the others are recorded directly)."""
        names: set[str] = set()
        for process in self.processes.values():
            for stage in process.stages:
                names.update(s.completion for s in stage.steps if s.completion)
        return frozenset(names)

    def read_by(self) -> dict[str, tuple[str, ...]]:
        """For each form or obligation key, the forms whose checks read its record (a
        condition's ``form:``/``done:`` or a ``not_before``)."""
        out: dict[str, list[str]] = {}
        for form in self.forms.values():
            read: set[str] = set()
            for refuse in form.refuse:
                if refuse.when is not None:
                    read.update(c.name for c in refuse.when.clauses if c.ref)
            if form.not_before:
                read.add(form.not_before.removeprefix("form:").rpartition(".")[0])
            for key in read:
                out.setdefault(key, []).append(form.key)
        return {k: tuple(v) for k, v in out.items()}

    def flow_obligations(self) -> frozenset[str]:
        """Obligation keys a flow run waits for."""
        return frozenset(s.obligation for p in self.processes.values() for st in p.stages
                         for s in st.steps if s.obligation)


# ------------------------------------------------------------------------- loading
def _text(raw: dict[str, Any], name: str, where: str, default: str | None = None) -> str:
    value = raw.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise DeclarationError(f"{where}: '{name}' is required (text)")
    return value


def _cond(raw: dict[str, Any], where: str) -> Condition | None:
    if "when" not in raw:
        return None
    try:
        return Condition.parse(str(raw["when"]))
    except DeclarationError as exc:
        raise DeclarationError(f"{where}: {exc}") from None


def _field(raw: dict[str, Any], where: str) -> FieldDecl:
    name = _text(raw, "name", where)
    where = f"{where} field {name}"
    kind = raw.get("type")
    if kind not in FIELD_TYPES:
        raise DeclarationError(f"{where}: type must be one of {', '.join(FIELD_TYPES)}")
    allowed = {"name", "type", "title", "description", "required", "default", "nullable",
               "choices", "ge", "le", "min_length", "max_length", "fields", "item", "missing"}
    unknown = set(raw) - allowed
    if unknown:
        raise DeclarationError(f"{where}: {', '.join(sorted(unknown))} not allowed")
    choices = tuple(str(c) for c in raw.get("choices", ()))
    if kind == "choice" and not choices:
        raise DeclarationError(f"{where}: a choice needs 'choices'")
    nested = tuple(_field(f, where) for f in raw.get("fields", ()))
    if kind == "list" and not nested:
        raise DeclarationError(f"{where}: a list needs its items' 'fields'")
    required = bool(raw.get("required", "default" not in raw and not raw.get("nullable")))
    return FieldDecl(name=name, type=kind, title=_text(raw, "title", where),
                     description=str(raw.get("description", "")), required=required,
                     default=raw.get("default"), nullable=bool(raw.get("nullable", False)),
                     choices=choices, ge=raw.get("ge"), le=raw.get("le"),
                     min_length=raw.get("min_length"), max_length=raw.get("max_length"),
                     fields=nested, item=str(raw.get("item", "")),
                     missing=str(raw.get("missing", "")))


def _form(raw: dict[str, Any], process: str, where: str) -> FormDecl:
    key = _text(raw, "key", where)
    where = f"{where} form {key}"
    kind = raw.get("kind")
    if kind not in FORM_KINDS:
        raise DeclarationError(f"{where}: kind must be one of {', '.join(FORM_KINDS)}")
    allowed = {"key", "kind", "model", "title", "description", "field", "stage", "date_field",
               "once", "not_before", "not_before_what", "refuse", "complete", "on", "exception",
               "source", "opens_on", "opens_from", "not_yet"}
    unknown = set(raw) - allowed
    if unknown:
        raise DeclarationError(f"{where}: {', '.join(sorted(unknown))} not allowed")
    if kind == "stage" and "stage" not in raw:
        raise DeclarationError(f"{where}: a stage form needs its 'stage'")
    fields = tuple(_field(f, where) for f in raw.get("field", ()))
    date_field = str(raw.get("date_field", "done_on"))
    names = {f.name for f in fields} | ({"done_on"} if kind == "completion" else set())
    if date_field not in names:
        raise DeclarationError(f"{where}: date_field {date_field!r} is not one of its fields")
    opens_from = raw.get("opens_from")
    if opens_from is not None and (opens_from not in names or raw.get("opens_on") != "today"):
        raise DeclarationError(f"{where}: opens_from {opens_from!r} must be one of its fields, "
                               "with opens_on = \"today\"")
    refuse = tuple(Refuse(field=str(r.get("field", "form")), rule=str(r.get("rule", "")),
                          when=_cond(r, where), check=r.get("check"))
                   for r in raw.get("refuse", ()))
    for r in refuse:
        if (r.when is None) == (r.check is None):
            raise DeclarationError(f"{where}: each refuse needs exactly one of when and check")
        if r.when is not None and not r.rule:
            raise DeclarationError(f"{where}: a refuse with 'when' needs its 'rule' text")
    complete = tuple(Complete(key=_text(c, "key", where), when=_cond(c, where),
                              record=str(c.get("record", "form")))
                     for c in raw.get("complete", ()))
    on = tuple(On(when=_cond(o, where), start=o.get("start"), close=o.get("close"),
                  statuses=tuple((str(k), str(v)) for k, v in o.get("statuses", {}).items()))
               for o in raw.get("on", ()))
    exceptions = tuple(Exception_(text=_text(e, "text", where), when=_cond(e, where),
                                  field=e.get("field"), roles=tuple(e.get("roles", ())),
                                  name=str(e.get("name", "")))
                       for e in raw.get("exception", ()))
    for e in exceptions:
        if e.name and not _NAME.match(e.name):
            raise DeclarationError(f"{where}: exception name {e.name!r} must be lowercase a-z, "
                                   "0-9, _")
    return FormDecl(key=key, kind=kind, model_name=str(raw.get("model") or _camel(key)),
                    title=_text(raw, "title", where),
                    description=str(raw.get("description", raw.get("title", ""))),
                    fields=fields, process=process, stage=raw.get("stage"),
                    date_field=date_field, once=bool(raw.get("once", True)),
                    not_before=raw.get("not_before"),
                    not_before_what=str(raw.get("not_before_what", "")),
                    opens_on=str(raw.get("opens_on", "date_field")),
                    opens_from=str(opens_from) if opens_from is not None else None,
                    not_yet=str(raw.get("not_yet", "")), refuse=refuse,
                    complete=complete, on=on, exceptions=exceptions,
                    source=str(raw.get("source", "")))


def _camel(key: str) -> str:
    return "".join(part.title() for part in re.split(r"[._]", key))


def _stage(raw: dict[str, Any], kind: str, where: str) -> Stage:
    name = _text(raw, "name", where)
    if not _NAME.match(name):
        raise DeclarationError(f"{where}: stage name {name!r} must be lowercase a-z, 0-9, _")
    steps = []
    for s in raw.get("step", ()):
        step = Step(form=s.get("form"), obligation=s.get("obligation"),
                    completion=s.get("completion"), repeat=bool(s.get("repeat", False)),
                    when=s.get("when"), description=str(s.get("description", "")))
        if sum(x is not None for x in (step.form, step.obligation, step.completion)) != 1:
            raise DeclarationError(f"{where} stage {name}: each step waits for exactly one of "
                                   "form, obligation and completion")
        steps.append(step)
    flow = str(raw.get("flow") or f"{kind}-{name}".replace("_", "-"))
    return Stage(name=name, title=str(raw.get("title", name.replace("_", " ").title())),
                 steps=tuple(steps), flow=flow)


def parse_declaration(text: str, *, path: str) -> tuple[ProcessDecl, list[FormDecl],
                                                        list[dict[str, Any]]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeclarationError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"process", "stage", "form", "rule", "link"}
    if unknown:
        raise DeclarationError(f"{path}: {', '.join(sorted(unknown))} is not part of a "
                               "declaration ([process], [[stage]], [[form]], [[link]], [[rule]])")
    raw = data.get("process")
    if not isinstance(raw, dict):
        raise DeclarationError(f"{path}: [process] is required")
    kind = _text(raw, "kind", path)
    if not _NAME.match(kind):
        raise DeclarationError(f"{path}: kind {kind!r} must be lowercase a-z, 0-9, _")
    where = f"{path} ({kind})"
    stages = tuple(_stage(s, kind, where) for s in data.get("stage", ()))
    if not stages:
        raise DeclarationError(f"{where}: at least one [[stage]] is required")
    forms = [_form(f, kind, where) for f in data.get("form", ())]
    links = tuple(Link(type=str(link.get("type")), kind=_text(link, "kind", where),
                       stage=link.get("stage"), outcome=link.get("outcome"),
                       form=link.get("form"), when=_cond(link, where),
                       ref=str(link.get("ref", "{ref}-{kind}")),
                       rule=str(link.get("rule", Link.rule)),
                       number_from=int(link.get("number_from", 1)),
                       data=tuple((str(k), str(v)) for k, v in link.get("data", {}).items()))
                  for link in data.get("link", ()))
    for link in links:
        if link.type not in LINK_TYPES:
            raise DeclarationError(f"{where}: a link's type must be one of "
                                   f"{', '.join(LINK_TYPES)}")
    rules = [dict(r) for r in data.get("rule", ())]
    for r in rules:
        r.setdefault("process", kind)
        if r["process"] != kind:
            raise DeclarationError(f"{where}: rule {r.get('key')} is for {r['process']}: a "
                                   "declaration's rules are its own process's")
    sources = raw.get("sources", ())
    command = raw.get("command", {})
    process = ProcessDecl(kind=kind, title=_text(raw, "title", where),
                          sources=tuple(str(s) for s in sources),
                          opening=_text(raw, "opening", where), stages=stages,
                          one_at_a_time=bool(raw.get("one_at_a_time", False)), links=links,
                          path=path, command=tuple(command.get("words", ())),
                          command_options=tuple((str(k), str(v)) for k, v in
                                                command.get("options", {}).items()))
    return process, forms, rules


def _check(catalogue: Catalogue) -> None:
    from stepdown.domain import checks

    for process in catalogue.processes.values():
        where = f"{process.path} ({process.kind})"
        opening = catalogue.forms.get(process.opening)
        if opening is None or opening.kind != "opening" or opening.process != process.kind:
            raise DeclarationError(f"{where}: opening {process.opening!r} is not an opening "
                                   "form of this process")
        names = process.stage_names
        if len(set(names)) != len(names):
            raise DeclarationError(f"{where}: a stage is declared twice")
        flows = [s.flow for s in process.flow_stages()]
        for stage in process.stages:
            for step in stage.steps:
                if step.form is not None:
                    form = catalogue.forms.get(step.form)
                    if form is None or form.kind != "stage" or form.stage != stage.name:
                        raise DeclarationError(f"{where}: stage {stage.name} waits for "
                                               f"{step.form!r}, not a form of that stage")
                if step.completion is not None and step.completion not in catalogue.forms:
                    raise DeclarationError(f"{where}: stage {stage.name} waits for completion "
                                           f"{step.completion!r}, which is not declared")
                if step.when is not None and step.when not in checks.CONDITIONS:
                    _check_step_condition(catalogue, process, step.when, where)
        for link in process.links:
            if link.kind not in catalogue.processes:
                raise DeclarationError(f"{where}: a link names kind {link.kind!r}, which is "
                                       "not declared")
            if link.type in ("opens", "ends") and (
                    link.form is None or link.form not in catalogue.forms
                    or catalogue.forms[link.form].process != process.kind):
                raise DeclarationError(f"{where}: an {link.type} link needs 'form', a form of "
                                       f"{process.kind}")
            if link.stage is not None and link.stage not in catalogue.processes[
                    link.kind].stage_names:
                raise DeclarationError(f"{where}: a link names stage {link.stage!r}, not a "
                                       f"stage of {link.kind}")
        for other in catalogue.processes.values():
            if other is not process and set(flows) & {s.flow for s in other.flow_stages()}:
                raise DeclarationError(f"{where}: a flow name is used by {other.kind} too")
    for form in catalogue.forms.values():
        where = f"{catalogue.processes[form.process].path} ({form.process}) form {form.key}"
        stages = catalogue.processes[form.process].stage_names
        if form.stage is not None and form.stage not in stages:
            raise DeclarationError(f"{where}: stage {form.stage!r} is not a stage of "
                                   f"{form.process}")
        for on in form.on:
            if on.start is not None and on.start not in stages:
                raise DeclarationError(f"{where}: starts {on.start!r}, not a stage of "
                                       f"{form.process}")
        _check_names(catalogue, form, where)
        for refuse in form.refuse:
            clauses = refuse.when.clauses if refuse.when is not None else ()
            if form.kind == "opening" and (refuse.check is not None or any(
                    c.ref is not None or c.name.startswith("opening.") for c in clauses)):
                raise DeclarationError(f"{where}: an opening form's refusal reads its own "
                                       "fields only (there is no record yet)")
            if refuse.check is not None and refuse.check not in checks.CHECKS:
                raise DeclarationError(f"{where}: check {refuse.check!r} is not a named check "
                                       f"({', '.join(checks.CHECKS)})")
        for f in form.fields:
            roles = set(f.choices) if f.type == "choice" and f.name in ("chair",) else set()
            if roles - set(ROLES):
                raise DeclarationError(f"{where}: chair choices must be roles")
        try:
            catalogue.model(form.key)
        except Exception as exc:  # noqa: BLE001 - a field pydantic cannot build
            raise DeclarationError(f"{where}: {exc}") from None


_BASE_FIELDS = {"form": {"submitted_by"}, "done": {"submitted_by", "done_on", "early_reason"}}


def _template_names(template: str) -> set[str]:
    return {name.split(".")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def _uses(form: FormDecl) -> list[tuple[str, Condition | None, str | None]]:
    """Every condition and message template of a form, with what it is (for errors)."""
    out: list[tuple[str, Condition | None, str | None]] = []
    out += [("refuse", r.when, r.rule or None) for r in form.refuse]
    out += [("complete", c.when, None) for c in form.complete]
    out += [("on", o.when, o.close) for o in form.on]
    out += [("exception", e.when, e.text) for e in form.exceptions]
    return out


def _check_names(catalogue: Catalogue, form: FormDecl, where: str) -> None:
    """A condition or template names the form's fields (or the opening's, or a policy setting):
    a misspelt field would otherwise never hold, and a template fail only when submitted."""
    opening = catalogue.forms.get(catalogue.processes[form.process].opening)
    fields = {f.name for f in form.fields} | _BASE_FIELDS[form.base]
    known = fields | {f"opening.{f.name}" for f in (opening.fields if opening else ())}
    for what, condition, template in _uses(form):
        for clause in condition.clauses if condition else ():
            if clause.ref is None and clause.name not in known:
                raise DeclarationError(f"{where}: {what} condition {condition.text!r} names "  # type: ignore[union-attr]
                                       f"{clause.name!r}, not a field of the form")
        extra = {"missing"} if what == "exception" else set()
        for name in _template_names(template or "") - fields - extra - {"policy"}:
            raise DeclarationError(f"{where}: {what} text {template!r} names {{{name}}}, not a "
                                   "field of the form")
    for exception in form.exceptions:
        if exception.field is not None and exception.field not in fields:
            raise DeclarationError(f"{where}: exception field {exception.field!r} is not a "
                                   "field of the form")


def _check_step_condition(catalogue: Catalogue, process: ProcessDecl, text: str,
                          where: str) -> None:
    """A step's ``when``: a named condition, or a condition on the process's record only
    (``opening.<field>``, ``done:<key>``, ``form:<key>``), as the run reaches the step."""
    from stepdown.domain import checks

    try:
        condition = Condition.parse(text)
    except DeclarationError as exc:
        raise DeclarationError(f"{where}: step condition {text!r} is neither a named condition "
                               f"({', '.join(checks.CONDITIONS)}) nor a condition: {exc}") from None
    opening = catalogue.forms.get(process.opening)
    known = {f"opening.{f.name}" for f in (opening.fields if opening else ())}
    for clause in condition.clauses:
        if clause.ref is None and clause.name not in known:
            raise DeclarationError(f"{where}: step condition {text!r} names {clause.name!r}: a "
                                   "step's condition reads opening.<field>, done:<key> or "
                                   f"form:<key> (or is a named condition: "
                                   f"{', '.join(checks.CONDITIONS)})")


def settings_named(catalogue: Catalogue) -> set[str]:
    """The policy settings the declarations' conditions and messages name (``policy.<x>``)."""
    names: set[str] = set()
    for form in catalogue.forms.values():
        for _, condition, template in _uses(form):
            for clause in condition.clauses if condition else ():
                for value in re.findall(r"policy\.([a-z_]+)", clause.value or ""):
                    names.add(value)
            names.update(re.findall(r"\{policy\.([a-z_]+)\}", template or ""))
    return names


def obligations_named(catalogue: Catalogue) -> dict[str, str]:
    """The obligation keys declarations name (a form's ``complete``, a step's obligation, a
    condition's ``done:``), with where, so a policy can be checked to have them."""
    out: dict[str, str] = {}
    for process in catalogue.processes.values():
        for stage in process.stages:
            for step in stage.steps:
                if step.obligation:
                    out[step.obligation] = f"{process.path} ({process.kind}) stage {stage.name}"
    for form in catalogue.forms.values():
        where = f"{catalogue.processes[form.process].path} ({form.process}) form {form.key}"
        for complete in form.complete:
            out[complete.key] = where
        for _, condition, _ in _uses(form):
            for clause in condition.clauses if condition else ():
                if clause.ref == "done":
                    out[clause.name] = where
    return out


def builtin_texts() -> list[tuple[str, str]]:
    folder = resources.files("stepdown.processes")
    return sorted((f"stepdown/processes/{entry.name}", entry.read_text("utf-8"))
                  for entry in folder.iterdir() if entry.name.endswith(".toml"))


def _local_texts(path: str) -> list[tuple[str, str]]:
    where = Path(path).expanduser()
    if where.is_dir():
        files = sorted(where.glob("*.toml"))
    elif where.is_file():
        files = [where]
    else:
        raise DeclarationError(f"STEPDOWN_PROCESSES: no declaration file or directory at {path}")
    return [(str(f), f.read_text("utf-8")) for f in files]


@lru_cache(maxsize=8)
def load_catalogue(local: str | None = None) -> Catalogue:
    """The shipped declarations and, when given, a local authority's own (a file or a
    directory of ``*.toml``)."""
    catalogue = Catalogue()
    texts = builtin_texts() + (_local_texts(local) if local else [])
    for path, text in texts:
        process, forms, rules = parse_declaration(text, path=path)
        if process.kind in catalogue.processes:
            raise DeclarationError(f"{path}: kind {process.kind!r} is declared twice "
                                   f"(also in {catalogue.processes[process.kind].path})")
        catalogue.processes[process.kind] = process
        for form in forms:
            if form.key in catalogue.forms:
                raise DeclarationError(f"{path}: form {form.key!r} is declared twice")
            catalogue.forms[form.key] = form
        catalogue.rules.extend(rules)
    _check(catalogue)
    return catalogue
