"""Forms as pydantic models, built from their declarations (DOMAIN.md section 7).

A form is what a person fills in: a stage's decision, an obligation's completion, a process's
opening record. Its fields are declared with a title, help, a type, choices and bounds; this
module turns a declaration into a pydantic model. The orchestration layer wraps the model as the
Prefect ``RunInput`` the UI renders (``stepdown/flows/prompt.py``); nothing here knows Prefect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from stepdown.domain.vocabulary import Role


class FormError(ValueError):
    """Bad input: one line naming the field and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        self.field, self.rule = field, rule
        super().__init__(f"{field}: {rule}")


def _submitted_by_last(schema: dict[str, Any]) -> None:
    """The form's own fields first in the Resume dialog; who submitted it at the end (pydantic
    puts a base class's fields first)."""
    properties = schema.get("properties", {})
    if "submitted_by" in properties:
        properties["submitted_by"] = properties.pop("submitted_by")


class Form(BaseModel):
    """What every form carries besides its fields: who submitted it, for the audit trail."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_submitted_by_last)

    submitted_by: str = Field(
        default="",
        max_length=254,
        pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$",
        title="Submitted by (your email)",  # the UI adds "(Optional)"
        description="Your email in the staff directory: the case's audit trail names you as who "
        "made this change. Left empty, it records only that it came through the UI.",
    )


class Done(Form):
    """Record that an obligation was done."""

    done_on: date = Field(
        title="Date done",
        description="The day it happened. Not before the obligation opened, not in the future.",
    )
    early_reason: str | None = Field(
        default=None,
        max_length=500,
        title="Why before its earliest date (only if early)",
        description="Needed only when the date done is before the earliest date on the timeline: "
        "say why it could not wait. It is kept in the audit trail. Refer to the child by their "
        "case reference only: no names.",
    )


BASES: dict[str, type[Form]] = {"form": Form, "done": Done}
FIELD_TYPES = ("date", "datetime", "int", "bool", "text", "choice", "role", "roles", "list")
_TEXT_MAX = 5000


@dataclass(frozen=True)
class FieldDecl:
    """One field of a form: its name (DOMAIN.md's contract), type, title, help and bounds."""

    name: str
    type: str
    title: str
    description: str = ""
    required: bool = True
    default: Any = None
    nullable: bool = False
    choices: tuple[str, ...] = ()
    ge: int | None = None
    le: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    fields: tuple[FieldDecl, ...] = ()  # a list's items, when type is list
    item: str = ""  # the model name of a list's items
    missing: str = ""  # the rule shown when a required field is left out (else "is required")


def _annotation(decl: FieldDecl, owner: str) -> Any:
    simple: dict[str, Any] = {"date": date, "datetime": datetime, "int": int, "bool": bool,
                              "text": str, "role": Role, "roles": list[Role]}
    if decl.type == "choice":
        return Literal[decl.choices]
    if decl.type == "list":
        return list[item_model(decl, owner)]  # type: ignore[misc]  # a type made at run time
    return simple[decl.type]


def _field_info(decl: FieldDecl) -> Any:
    bounds = {name: value for name, value in (("ge", decl.ge), ("le", decl.le),
                                              ("min_length", decl.min_length),
                                              ("max_length", decl.max_length))
              if value is not None}
    if decl.type == "text" and "max_length" not in bounds:
        bounds["max_length"] = _TEXT_MAX
    text: dict[str, Any] = {"title": decl.title, "description": decl.description, **bounds}
    if decl.required:
        return Field(**text)
    if decl.type in ("roles", "list") and decl.default is None:
        return Field(default_factory=list, **text)
    default = decl.default
    if default is None and decl.type == "text" and not decl.nullable:
        default = ""
    return Field(default=default, **text)


def item_model(decl: FieldDecl, owner: str) -> type[BaseModel]:
    """The model of a list's items (an action agreed at a meeting: title, owner, due)."""
    fields: dict[str, Any] = {
        f.name: (_annotation(f, owner), _field_info(f)) for f in decl.fields}
    model: type[BaseModel] = create_model(
        decl.item or f"{owner}{decl.name.title()}Item",
        __config__=ConfigDict(extra="forbid"), __module__=__name__, **fields)
    return model


def build_model(name: str, doc: str, base: str, fields: tuple[FieldDecl, ...]) -> type[Form]:
    """A pydantic model for a declared form: ``base`` (form or done) and its fields in order."""
    members: dict[str, Any] = {}
    for decl in fields:
        annotation = _annotation(decl, name)
        if decl.nullable:
            annotation = annotation | None
        members[decl.name] = (annotation, _field_info(decl))
    model = create_model(name, __base__=BASES[base], __doc__=doc, __module__=__name__,
                         **members)
    return cast(type[Form], model)  # a subclass of the base: pydantic's plugin types it apart


# ------------------------------------------------------------------------- parsing
class _Shown(str):
    """Text whose repr is itself (the errors below format the refused value with ``!r``)."""

    def __repr__(self) -> str:
        return str(self)


def _shown(value: Any, most: int = 60) -> str:
    """A refused value as an error repeats it: the start of a long text (still quoted, so that
    prompt.reason_only can drop it), of anything else its repr cut to ``most`` characters."""
    if isinstance(value, str) and len(value) > most:
        return repr(value[:most - 10] + "...")
    text = repr(value)
    return text if len(text) <= most else text[:most - 3] + "..."


def _rule_text(error: Any) -> str:
    kind, ctx, raw = error["type"], error.get("ctx", {}), error.get("input")
    given = _Shown(_shown(raw))
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this form"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')} (got {given!r})"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')} (got {given!r})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {given!r})"
    if kind.startswith("datetime"):
        return f"must be a date and time YYYY-MM-DDTHH:MM[+offset] (got {given!r})"
    if kind.startswith("date"):
        return f"must be a date YYYY-MM-DD (got {given!r})"
    if kind.startswith("int"):
        return f"must be a whole number (got {given!r})"
    if kind == "string_pattern_mismatch" and error["loc"][-1:] == ("submitted_by",):
        return "must be an email address in the staff directory, or empty"  # no echo: a name
    if kind.startswith("bool"):
        return f"must be true or false (got {given!r})"
    if kind == "string_type":
        return f"must be text (got {given!r})"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return f"must be at least {ctx.get('min_length')} characters"
    return str(error.get("msg", "is not valid")).rstrip(".")


def _as_json(value: Any) -> str:
    if isinstance(value, (date, datetime)):  # a caller in Python may hand a date: exact
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def parse_form(model: type[BaseModel], data: Any) -> Any:
    """The form's data as its model, or a one-line :class:`FormError`.

    Strict, as JSON: a bool is true or false (not "yes"), a number is a number (not "16"), a
    date is a "YYYY-MM-DD" string (not a timestamp). A wrong guess at a type would otherwise be
    recorded as a fact, and some inputs (an outcome that closes a case) cannot be taken back.
    """
    if not isinstance(data, dict):
        raise FormError("data", "must be a JSON object of the form's fields")
    try:
        text = json.dumps(data, default=_as_json)
    except (TypeError, ValueError) as exc:
        raise FormError("data", f"must be JSON values only ({exc})") from None
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "data"
        raise FormError(name, _rule_text(first)) from None
