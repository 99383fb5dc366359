"""One engine for every declared process: whether an input is acceptable, and what it changes.

Pure functions over a snapshot of a case (:class:`CaseView`) and the declarations: a stage form
or an obligation's completion is parsed by its declared model, refused with one line naming the
field and the rule (the declaration's ``refuse`` entries and named checks, then its dates), and
once accepted turned into :class:`Effects` (obligations done, a stage started, the process
closed, exceptions reported). The records layer applies them; flows only orchestrate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from stepdown.domain import checks
from stepdown.domain.case import (
    CaseView,
    Effects,
    check_date,
    check_done_on,
    check_obligation_open,
    check_stage,
    early_effects,
)
from stepdown.domain.declarations import Catalogue, Condition, Exception_, FormDecl, render
from stepdown.domain.engine import occurrence_number
from stepdown.domain.forms import Done, FormError, parse_form


def _facts(case: CaseView) -> tuple[set[str], set[str]]:
    done = {k for k, o in case.obligations.items() if o.status == "done"}
    return done, set(case.forms)


def opening_values(case: CaseView) -> dict[str, Any]:
    """The process's opening form, as ``opening.<field>`` for conditions."""
    for key, records in case.forms.items():
        if key == case.opening and records:
            return {f"opening.{name}": value for name, value in records[0].items()}
    return {}


def holds(condition: Condition | None, case: CaseView, values: dict[str, Any],
          settings: dict[str, Any]) -> bool:
    if condition is None:
        return True
    done, forms = _facts(case)
    return condition.holds({**opening_values(case), **values}, done=done, forms=forms,
                           settings=settings)


def _refusals(form: FormDecl, case: CaseView, values: dict[str, Any],
              settings: dict[str, Any]) -> None:
    for refuse in form.refuse:
        if refuse.check is not None:
            checks.CHECKS[refuse.check](case, values, settings)
        elif holds(refuse.when, case, values, settings):
            raise FormError(refuse.field, render(refuse.rule, values, settings))


def check_opening(form: FormDecl, values: dict[str, Any], settings: dict[str, Any]) -> None:
    """An opening form's gates (an Early Help transfer needs both consents): its refusals read
    its own fields, since there is no record yet."""
    for refuse in form.refuse:
        if refuse.when is not None and refuse.when.holds(values, done=set(), forms=set(),
                                                         settings=settings):
            raise FormError(refuse.field, render(refuse.rule, values, settings))


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _not_before(form: FormDecl, case: CaseView) -> tuple[date | None, str]:
    if form.not_before is None:
        assert form.stage is not None
        if case.provisional_start and case.stages and form.stage == case.stages[0]:
            return None, ""  # the first day is not a practice date: recorded after the fact
        return case.stage_starts.get(form.stage), f"{form.stage} began"
    key, _, name = form.not_before.removeprefix("form:").rpartition(".")
    recorded = case.forms.get(key)
    value = recorded[-1].get(name) if recorded else None
    return (_day(value) if value is not None else None), form.not_before_what or key


def _parse(model: Any, decl: FormDecl | None, data: Any) -> Any:
    """``parse_form``, with a required field's own rule when it is left out (``missing``)."""
    try:
        return parse_form(model, data)
    except FormError as exc:
        declared = next((f for f in (decl.fields if decl else ()) if f.name == exc.field), None)
        if exc.rule == "is required" and declared is not None and declared.missing:
            raise FormError(exc.field, declared.missing) from None
        raise


def check_stage_form(catalogue: Catalogue, case: CaseView, form: FormDecl, data: Any, *,
                     today: date, settings: dict[str, Any]) -> Any:
    """The parsed form if it is acceptable for the case now; else a FormError."""
    check_stage(case, form.key, form.process, form.stage, form.not_yet)
    parsed = _parse(catalogue.model(form.key), form, data)
    if form.once and case.forms.get(form.key):
        raise FormError("form", f"{form.key} is already recorded for {case.ref}")
    values = parsed.model_dump(mode="json")
    _refusals(form, case, values, settings)
    not_before, what = _not_before(form, case)
    check_date(form.date_field, _day(getattr(parsed, form.date_field)), not_before=not_before,
               what=what, today=today)
    return parsed


def _links(catalogue: Catalogue, form: FormDecl, case: CaseView, values: dict[str, Any],
           on: date, settings: dict[str, Any], effects: Effects, number: int = 1) -> None:
    """The processes an accepted form opens for the child (a stability meeting's move);
    ``number`` is the occurrence of the obligation the form completes (``{number}``)."""
    for link in catalogue.process(form.process).links:
        if link.type not in ("opens", "ends") or link.form != form.key:
            continue
        if not holds(link.when, case, values, settings):
            continue
        if link.type == "ends":
            effects.ends.append((link.kind, link.stage, str(link.outcome or "ended"), on))
            continue
        opening: dict[str, Any] = {}
        for name, expression in link.data:
            if any(op in expression for op in ("==", "!=", ">", "<", " in ", "not ")):
                opening[name] = holds(Condition.parse(expression), case, values, settings)
            else:
                opening[name] = next((v for v in (_term(case, values, t)
                                                  for t in expression.split("|"))
                                      if v is not None), None)
        ref = render(link.ref, {**_dated(values), "ref": case.ref, "kind": link.kind,
                                "child": case.child, "number": number - 1 + link.number_from},
                     settings)
        opening["opened_by"] = case.ref
        effects.opens.append((link.kind, ref, opening, on))


def _term(case: CaseView, values: dict[str, Any], term: str) -> Any:
    """One term of a link's opening value: a quoted literal, ``opening.<field>`` (the case's
    opening form), or a field of the accepted form."""
    term = term.strip()
    if len(term) >= 2 and term[0] == term[-1] == "'":
        return term[1:-1]
    if term.startswith("opening."):
        recorded = case.forms.get(case.opening) or [{}]
        return recorded[0].get(term.removeprefix("opening."))
    return values.get(term)


def _dated(values: dict[str, Any]) -> dict[str, Any]:
    """Values with ISO dates as dates, so that a template may format them ({on:%Y%m%d})."""
    out = dict(values)
    for name, value in values.items():
        if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
            with contextlib.suppress(ValueError):
                out[name] = date.fromisoformat(value)
    return out


def missing_roles(exception: Exception_, values: dict[str, Any]) -> list[str]:
    """The roles an exception's ``roles`` needs that its field's list does not have."""
    if exception.field is None:
        return []
    present = set(values.get(exception.field) or [])
    return [role for role in exception.roles if role not in present]


def exception_holds(exception: Exception_, values: dict[str, Any],
                    when: Callable[[Condition | None], bool]) -> bool:
    """Whether an exception is reported for a form's ``values``; ``when`` decides its
    condition (with the case, or on the values alone, as the monthly figures do)."""
    if exception.field is not None:
        return bool(missing_roles(exception, values))
    return when(exception.when)


def _outcomes(form: FormDecl, case: CaseView, values: dict[str, Any], on: date,
              settings: dict[str, Any], effects: Effects,
              catalogue: Catalogue | None = None, number: int = 1) -> Effects:
    if catalogue is not None:
        _links(catalogue, form, case, values, on, settings, effects, number)
    for change in form.on:
        if not holds(change.when, case, values, settings):
            continue
        if change.start is not None:
            effects.start_stage = (change.start, on)
        if change.close is not None:
            effects.close = (render(change.close, values, settings), on)
        effects.statuses.extend(change.statuses)
    for exception in form.exceptions:
        if exception_holds(exception, values,
                           lambda condition: holds(condition, case, values, settings)):
            missing = ", ".join(missing_roles(exception, values))
            effects.exceptions.append(render(exception.text, {**values, "missing": missing},
                                             settings))
    return effects


def stage_form_effects(form: FormDecl, parsed: Any, case: CaseView,
                       settings: dict[str, Any], catalogue: Catalogue | None = None) -> Effects:
    """An accepted stage form: the obligations it completes, the stage it starts or the
    outcome it closes the process with."""
    on = _day(getattr(parsed, form.date_field))
    values = parsed.model_dump(mode="json")
    effects = Effects()
    for complete in form.complete:
        if holds(complete.when, case, values, settings):
            data = values if complete.record == "form" else {"done_on": str(on)}
            effects.done.append((complete.key, on, data))
    return _outcomes(form, case, values, on, settings, effects, catalogue)


def check_completion(catalogue: Catalogue, case: CaseView, key: str, data: Any, *,
                     today: date, settings: dict[str, Any]) -> Done:
    """The parsed completion of obligation ``key`` if acceptable now; else a FormError."""
    obligation = check_obligation_open(case, key)
    if key in catalogue.stage_forms():
        raise FormError("key", f"{key} is a form: submit its fields, not done_on")
    decl = catalogue.forms.get(obligation.completion or "")
    parsed: Done = _parse(catalogue.completion_model(obligation.completion), decl, data)
    if decl is not None:
        _refusals(decl, case, parsed.model_dump(mode="json"), settings)
    check_done_on(key, obligation, parsed, today=today)
    return parsed


def completion_effects(catalogue: Catalogue, case: CaseView, key: str, parsed: Done,
                       settings: dict[str, Any]) -> Effects:
    values = parsed.model_dump(mode="json")
    effects = Effects(done=[(key, parsed.done_on, values)])
    obligation = case.obligations[key]
    effects.early.extend(early_effects(key, obligation, parsed))
    decl = catalogue.forms.get(obligation.completion or "")
    if decl is not None:
        _outcomes(decl, case, values, parsed.done_on, settings, effects, catalogue,
                  occurrence_number(key))
    return effects
