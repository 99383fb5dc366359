"""What every form takes, generated from the models that enforce it: `stepdown forms`.

A stage decision form and an obligation's completion are described from the JSON schema the
Prefect UI renders in its Resume dialog (``create_v2_schema``, as ``RunInput.save`` builds it), so
the command line, the UI and this listing cannot disagree. The opening forms are described from
the command line's own options. Which obligation takes which completion comes from the policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from stepdown.domain.declarations import Catalogue, FormDecl
from stepdown.domain.policy import Policy, Rule
from stepdown.records import declarations


class UnknownForm(LookupError):
    """A key that is neither a form nor an obligation of the policy."""


@dataclass
class FieldDoc:
    name: str
    type: str
    required: bool
    default: Any = None
    choices: list[Any] | None = None
    bounds: dict[str, Any] = field(default_factory=dict)  # ge, le, min_length, max_length
    title: str = ""
    help: str = ""
    fields: list[FieldDoc] = field(default_factory=list)  # a list's items, when they have fields

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required}
        if not self.required:
            out["default"] = self.default
        if self.choices is not None:
            out["choices"] = self.choices
        out.update(self.bounds)
        out["title"], out["help"] = self.title, self.help
        if self.fields:
            out["fields"] = [f.as_dict() for f in self.fields]
        return out


@dataclass
class FormDoc:
    key: str
    kind: str  # stage_form | completion | opening
    title: str
    help: str
    fields: list[FieldDoc]
    model: str | None = None
    takes: list[str] = field(default_factory=list)  # obligation keys a completion completes
    command: str = ""  # how the command line takes it

    def example(self) -> str:
        if self.kind == "opening" and self.model is None:
            parts = [self.command]
            for f in self.fields:
                value = f.choices[0] if f.choices else f.name.upper().replace("-", "_")
                parts.append(f"--{f.name} {value}" if f.title.startswith("--") else value)
            return " ".join(parts)
        return f"{self.command} --data '{json.dumps(_example(self.fields))}'"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "kind": self.kind, "title": self.title,
                               "help": self.help}
        if self.model:
            out["model"] = self.model
        if self.takes:
            out["takes"] = self.takes
        out["fields"] = [f.as_dict() for f in self.fields]
        out["example"] = self.example()
        return out


# ------------------------------------------------------------------------- from the schema
def ui_schema(model: type[Any]) -> dict[str, Any]:
    """The JSON schema the Prefect UI renders for ``model`` (as ``RunInput.save`` stores it)."""
    from prefect._internal.pydantic.v2_schema import create_v2_schema

    return create_v2_schema(model.__name__, model_base=model)


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        return dict(defs[prop["$ref"].rsplit("/", 1)[-1]])
    return prop


def _field(name: str, prop: dict[str, Any], required: bool,
           defs: dict[str, Any]) -> FieldDoc:
    prop = _resolve(prop, defs)
    options = [o for o in prop.get("anyOf", []) if o.get("type") != "null"]
    nullable = len(options) < len(prop.get("anyOf", []))
    shape = _resolve(options[0], defs) if options else prop
    kind, choices, nested = _type(shape, defs)
    bounds = {out: shape[key] for key, out in (("minimum", "ge"), ("maximum", "le"),
                                               ("minLength", "min_length"),
                                               ("maxLength", "max_length")) if key in shape}
    items = _resolve(shape.get("items", {}), defs)
    bounds.update({f"items_{out}": items[key] for key, out in (("minLength", "min_length"),
                                                              ("maxLength", "max_length"))
                   if key in items and not nested})
    return FieldDoc(name=name, type=kind + (" or null" if nullable else ""), required=required,
                    default=prop.get("default", [] if kind.startswith("list") else None),
                    choices=choices, bounds=bounds, title=prop.get("title", ""),
                    help=prop.get("description", ""), fields=nested)


def _type(shape: dict[str, Any], defs: dict[str, Any]) -> tuple[str, list[Any] | None,
                                                                   list[FieldDoc]]:
    if shape.get("type") == "array":
        item = _resolve(shape.get("items", {}), defs)
        if "properties" in item:
            return f"list of {item.get('title', 'item')}", None, _fields(item, defs)
        kind, choices, _ = _type(item, defs)
        return f"list of {kind}", choices, []
    if "enum" in shape:
        return "choice", list(shape["enum"]), []
    if "const" in shape:
        return "choice", [shape["const"]], []
    fmt = shape.get("format")
    if fmt in ("date", "date-time"):
        return ("date" if fmt == "date" else "datetime"), None, []
    return {"integer": "integer", "number": "number", "boolean": "boolean",
            "string": "text"}.get(shape.get("type", ""), shape.get("type", "any")), None, []


def _fields(schema: dict[str, Any], defs: dict[str, Any]) -> list[FieldDoc]:
    required = set(schema.get("required", []))
    return [_field(name, prop, name in required, defs)
            for name, prop in schema.get("properties", {}).items()]


def model_fields(model: type[Any]) -> list[FieldDoc]:
    schema = ui_schema(model)
    return _fields(schema, schema.get("definitions", schema.get("$defs", {})))


def _sample(f: FieldDoc) -> Any:
    if f.fields:  # a list of items with fields: show one
        return [_example(f.fields)]
    if not f.required:
        return f.default
    if f.choices:
        return [f.choices[0]] if f.type.startswith("list") else f.choices[0]
    base = f.type.removeprefix("list of ")
    value: Any = {"date": date(2026, 9, 7).isoformat(), "integer": f.bounds.get("ge", 0),
                  "number": f.bounds.get("ge", 0), "boolean": True,
                  "datetime": "2026-09-07T10:00:00+01:00"}.get(base, "...")
    return [value] if f.type.startswith("list") else value


# Optional fields every form has: left out of the examples, which show the form's own fields.
COMMON_OPTIONAL = ("submitted_by", "early_reason")


def _example(fields: list[FieldDoc]) -> dict[str, Any]:
    """Every required field, and the optional ones that have a default other than null (but
    the fields every form has)."""
    return {f.name: _sample(f) for f in fields
            if f.required or (f.default is not None and f.name not in COMMON_OPTIONAL)}


# ------------------------------------------------------------------------- the catalogue
def _doc(model: type[Any]) -> str:
    return (model.__doc__ or model.__name__).strip()


def stage_forms() -> list[FormDoc]:
    catalogue = declarations()
    return [FormDoc(key=form.key, kind="stage_form", title=_doc(catalogue.model(form.key)),
                    help=form.description, fields=model_fields(catalogue.model(form.key)),
                    model=form.model_name, command=f"stepdown input REF {form.key}")
            for form in catalogue.stage_forms().values()]


def _completion_of(rule: Rule) -> dict[str, str]:
    """The keys of ``rule`` that take a completion other than Done, described for people."""
    if rule.completion:
        if rule.kind == "chain" and not rule.number_first:
            return {rule.completion: f"{rule.key} (then {rule.key}#2, #3, ...)"}
        suffix = "#k" if rule.kind == "extension" else ""
        return {rule.completion: f"{rule.key}{suffix}"}
    if rule.completion_last and rule.count:
        more = (f", #{rule.count + rule.extend_count} and so on when extended"
                if rule.extend_count else "")
        return {rule.completion_last: f"{rule.key}#{rule.count} (the last{more})"}
    return {}


def completion_for_key(policy: Policy, key: str) -> str | None:
    """The completion an obligation key takes (None: the plain Done form); else UnknownForm."""
    rule = policy.rule_for_key(key)
    base, _, number = key.partition("#")
    if rule is None or (number and not number.replace(".", "", 1).isdigit()):
        raise UnknownForm(f"key: {key!r} is not a form or an obligation key of the policy "
                          "(see `stepdown forms`)")
    if rule.completion:
        return rule.completion
    if rule.completion_last and rule.count and number:
        k = int(number)
        step = rule.extend_count or 0
        last = k == rule.count or (step > 0 and k > rule.count and (k - rule.count) % step == 0)
        return rule.completion_last if last else None
    return None


def completions(policy: Policy) -> list[FormDoc]:
    takes: dict[str, list[str]] = {}
    for rule in policy.rules:
        for completion, completed in _completion_of(rule).items():
            takes.setdefault(completion, []).append(completed)
    catalogue = declarations()
    out = []
    names: list[str | None] = [None, *catalogue.completions()]
    for name in names:
        model = catalogue.completion_model(name)
        keys = takes.get(name, []) if name else ["every other obligation key"]
        out.append(FormDoc(key=name or "done", kind="completion", title=_doc(model),
                           help="Completes an obligation: `stepdown input REF KEY` with one of "
                           "the keys below.", fields=model_fields(model), model=model.__name__,
                           takes=keys, command="stepdown input REF KEY"))
    return out


def _choices(catalogue: Catalogue, form: FormDecl, field_name: str) -> list[str] | None:
    from stepdown.domain.vocabulary import ROLES

    decl = next((f for f in form.fields if f.name == field_name), None)
    if decl is None:
        return None
    if decl.type == "role":
        return list(ROLES)
    return list(decl.choices) or None


def openings() -> list[FormDoc]:
    """The opening forms: of a process with a command of its own (``case open``), from that
    command's arguments and options; of any other, as ``stepdown open KIND``'s --data."""
    import typer

    from stepdown.cli import app

    catalogue = declarations()
    root = typer.main.get_command(app)
    out = []
    for process in catalogue.processes.values():
        form = catalogue.forms[process.opening]
        path, options = process.command, dict(process.command_options)
        if not path:
            model = catalogue.model(form.key)
            out.append(FormDoc(
                key=form.key, kind="opening", title=_doc(model), help=form.description,
                fields=model_fields(model), model=form.model_name,
                command=f"stepdown open {process.kind} REF --child CHILD"))
            continue
        command: Any = root
        for name in path:
            command = command.commands[name]
        fields = []
        for param in command.params:
            option = param.opts[0].startswith("--")
            name = param.opts[0].removeprefix("--") if option else param.name
            choices = _choices(catalogue, form, options.get(name, ""))
            fields.append(FieldDoc(name=name, type="text", required=param.required,
                                   default=param.default if not param.required else None,
                                   choices=choices, title="--" + name if option else "argument",
                                   help=param.help or ""))
        help_text = (command.help or "").strip()
        out.append(FormDoc(key=form.key, kind="opening", title=help_text.split("\n")[0],
                           help=help_text, fields=fields, command="stepdown " + " ".join(path)))
    return out


def catalogue(policy: Policy) -> list[FormDoc]:
    return openings() + stage_forms() + completions(policy)


def find(policy: Policy, key: str) -> FormDoc:
    """The form ``key`` names: a form, a completion's name, or an obligation key."""
    for doc in catalogue(policy):
        if doc.key == key:
            return doc
    name = completion_for_key(policy, key)
    doc = next(d for d in completions(policy) if d.key == (name or "done"))
    doc.command = f"stepdown input REF {key}"
    return doc


# ------------------------------------------------------------------------- text
def _field_lines(fields: list[FieldDoc], indent: str = "  ") -> list[str]:
    lines = []
    for f in fields:
        facts = [f.type, "required" if f.required else f"default {json.dumps(f.default)}"]
        if f.choices is not None:
            facts.append("one of " + ", ".join(str(c) for c in f.choices))
        facts += [f"{name.replace('_', ' ')} {value}" for name, value in f.bounds.items()]
        lines.append(f"{indent}{f.name}: {'; '.join(facts)}")
        if f.title:
            lines.append(f"{indent}    {f.title}" + (f". {f.help}" if f.help else ""))
        lines += _field_lines(f.fields, indent + "    ")
    return lines


def render(doc: FormDoc, *, example: bool = True) -> str:
    head = f"{doc.key} ({doc.kind.replace('_', ' ')}" + (f", {doc.model}" if doc.model else "")
    lines = [head + f"): {doc.title}"]
    if doc.help and doc.help != doc.title:
        lines.append(f"  {doc.help}")
    if doc.takes:
        lines.append("  completes: " + "; ".join(doc.takes))
    lines += _field_lines(doc.fields)
    if example:
        lines.append(f"  example: {doc.example()}")
    return "\n".join(lines)
