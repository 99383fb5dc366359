"""A policy's timescales as rows a manager can check against their own document (`stepdown
policy show`), and where two policies differ (`stepdown policy diff`).

Pure: rows from loaded policies. Each rule's due date is written out in words ("placement.move.
moved_on + 1 working day"), chains and series with their first date and their intervals.
"""

from __future__ import annotations

import textwrap
from dataclasses import fields
from typing import Any

from stepdown.domain.calendar import Duration
from stepdown.domain.declarations import Condition
from stepdown.domain.policy import Anchor, ChildEvent, DateExpr, Policy, Rule

SHOW_COLUMNS = ("process", "key", "title", "due", "owner", "source")
DIFF_COLUMNS = ("process", "key", "attribute")
# Where `policy show` wraps a long cell, so that a row fits a wide terminal.
SHOW_WRAP = {"title": 32, "due": 48, "owner": 22, "source": 60}
# What identifies a rule across two policies; every other attribute is compared, its timing
# first and these last.
_IDENTITY = ("key", "process", "when")
_LAST = ("stage", "owner", "title", "source")


def duration_text(duration: Duration) -> str:
    unit = duration.unit.replace("_", " ")
    return f"{duration.amount} {unit.removesuffix('s') if duration.amount == 1 else unit}"


def anchor_text(anchor: Anchor) -> str:
    if anchor.kind == "stage":
        return f"start of {anchor.name}"
    if anchor.kind == "done":
        return f"{anchor.name} done"
    if anchor.kind == "due":
        return f"{anchor.name} due"
    if anchor.kind == "last_due":
        return f"last {' or '.join(anchor.name.split('|'))} due"
    where = f" (the one with {anchor.where[0]} = {anchor.where[1]})" if anchor.where else ""
    return f"{anchor.name}.{anchor.field}{where}"


def expr_text(expr: DateExpr) -> str:
    if expr.offset is None:
        return anchor_text(expr.anchor)
    sign = "-" if expr.before else "+"
    return f"{anchor_text(expr.anchor)} {sign} {duration_text(expr.offset)}"


def _chain(rule: Rule) -> str:
    assert rule.first is not None and rule.every is not None
    parts = [f"first: {expr_text(rule.first)}"]
    parts += [f"#{k}: {duration_text(gap)} after #{k - 1} is done"
              for k, gap in enumerate(rule.intervals, start=2)]
    parts.append(f"then every {duration_text(rule.every)} after the previous one is done")
    if rule.or_earlier_field:
        parts.append(f"or on the {rule.or_earlier_field} the one it follows recorded, if earlier")
    if rule.last_when is not None:
        parts.append(f"the last is one completed with {rule.last_when.text}")
    if rule.ends_with:
        parts.append(f"until {rule.ends_with} has ended")
    if rule.then_every is not None and rule.then_after is not None and rule.then_when:
        parts.append(f"every {duration_text(rule.then_every)} once {duration_text(rule.then_after)}"
                     f" have passed, when the previous one records {rule.then_when.text}")
    if rule.pulled_by and rule.pulled_to is not None:
        events = " or ".join(event.text for event in rule.pulled_by)
        parts.append(f"brought forward to {duration_text(rule.pulled_to)} after a "
                     f"{rule.pulled_what} ({events}) when due later")
    if rule.paused_by:
        events = " or ".join(event.text for event in rule.paused_by)
        again = (f"{duration_text(rule.first.offset)} after" if rule.first.offset is not None
                 else "on")
        parts.append(f"paused while the child's {events}; then {again} the day it ends")
    return "; ".join(parts)


def _series(rule: Rule) -> str:
    assert rule.start is not None and rule.every is not None
    first = rule.first_offset or rule.every
    text = (f"{expr_text(rule.start)} + {duration_text(first)}, then every "
            f"{duration_text(rule.every)}")
    text += f", {rule.count} times" if rule.count else ""
    text += f", until {anchor_text(rule.until)}" if rule.until is not None else ""
    if rule.earliest_last == "previous_due":
        text += "; the last not before the one before it is due"
    if rule.extend_field and rule.extend_count:
        text += (f"; {rule.extend_count} more when the last is completed with "
                 f"{rule.extend_field} = {rule.extend_value}")
    return text


def due_text(rule: Rule) -> str:
    """When the rule's obligations are due, in words."""
    if rule.kind == "chain":
        text = _chain(rule)
    elif rule.kind == "series":
        text = _series(rule)
    elif rule.kind == "extension":
        text = (f"{rule.weeks_field} weeks after the previous review is due, when "
                f"{rule.after} (or the extension before) is completed with "
                f"{rule.field} = {rule.value}")
    elif rule.kind == "actions":
        text = (f"as agreed at {rule.after}: each item of its {rule.list_field}, with its own "
                "due date and owner")
    elif rule.kind == "each" and rule.due is None:
        assert rule.opens is not None
        text = f"for each {rule.of}: no due date (a checklist item), from {expr_text(rule.opens)}"
    elif rule.kind == "each":
        assert rule.due is not None
        text = f"for each {rule.of}: {expr_text(rule.due)}"
    elif rule.due is None:
        text = "no due date (a checklist item)"
        if rule.opens is not None:
            text += f", from {expr_text(rule.opens)}"
    else:
        text = expr_text(rule.due)
        if rule.earliest is not None:
            text += f", not before {expr_text(rule.earliest)}"
        if rule.or_earlier is not None:
            text += f", or {expr_text(rule.or_earlier)} if earlier"
    return f"when {rule.when.text}: {text}" if rule.when is not None else text


def owner_text(rule: Rule) -> str:
    if rule.owner_field is not None:
        return f"{rule.owner} (or {rule.of}.{rule.owner_field})"
    if rule.owner_from is None:
        return rule.owner
    return f"{rule.owner} (or {anchor_text(rule.owner_from)})"


def show_rows(policy: Policy) -> list[dict[str, str]]:
    """One row per rule, in the policy's order."""
    return [{"process": r.process, "key": r.key, "title": r.title, "due": due_text(r),
             "owner": owner_text(r), "source": r.source} for r in policy.rules]


def settings_text(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _value(value: Any) -> str:
    """An attribute of a rule in words, to compare and to show."""
    if value is None or value == ():
        return "-"
    if isinstance(value, DateExpr):
        return expr_text(value)
    if isinstance(value, Anchor):
        return anchor_text(value)
    if isinstance(value, Duration):
        return duration_text(value)
    if isinstance(value, (Condition, ChildEvent)):
        return value.text
    if isinstance(value, tuple):
        return ", ".join(_value(v) for v in value)
    return str(value)


def _label(rule: Rule) -> str:
    return f"{rule.key} [when {rule.when.text}]" if rule.when is not None else rule.key


def _identity(rule: Rule) -> tuple[str, str, str]:
    return rule.process, rule.key, rule.when.text if rule.when is not None else ""


def diff_rows(a: Policy, b: Policy) -> list[dict[str, str]]:
    """Where ``b`` differs from ``a``: a rule only in one (attribute ``rule``, its due date
    shown), each differing attribute of a rule in both, and each differing setting. Rules in
    ``a``'s order, then those only in ``b``; keys ``process``, ``key``, ``attribute``, ``a``,
    ``b``."""
    rows: list[dict[str, str]] = []
    theirs = {_identity(r): r for r in b.rules}
    ours = {_identity(r) for r in a.rules}
    compared = [f.name for f in fields(Rule) if f.name not in (*_IDENTITY, *_LAST)]
    compared += _LAST
    for rule in a.rules:
        other = theirs.get(_identity(rule))
        if other is None:
            rows.append({"process": rule.process, "key": _label(rule), "attribute": "rule",
                         "a": due_text(rule), "b": "(no such rule)"})
            continue
        for name in compared:
            mine, yours = _value(getattr(rule, name)), _value(getattr(other, name))
            if mine != yours:
                rows.append({"process": rule.process, "key": _label(rule), "attribute": name,
                             "a": mine, "b": yours})
    rows += [{"process": r.process, "key": _label(r), "attribute": "rule",
              "a": "(no such rule)", "b": due_text(r)}
             for r in b.rules if _identity(r) not in ours]
    for name in sorted(set(a.settings) | set(b.settings)):
        mine = settings_text(a.settings[name]) if name in a.settings else "(not set)"
        yours = settings_text(b.settings[name]) if name in b.settings else "(not set)"
        if mine != yours:
            rows.append({"process": "[settings]", "key": name, "attribute": "value",
                         "a": mine, "b": yours})
    return rows


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]],
          wrap: dict[str, int] | None = None) -> list[str]:
    """Aligned columns, the last not padded; a cell longer than its column's ``wrap`` width
    goes on over the next lines, the other columns blank there."""
    wrap = wrap or {}
    cells = [[textwrap.wrap(cell, wrap[h], break_long_words=False,
                                        break_on_hyphens=False) or [""] if h in wrap
              else [cell] for h, cell in zip(headers, row, strict=True)] for row in rows]
    widths = [max([len(h), *(len(part) for row in cells for part in row[i])])
              for i, h in enumerate(headers)]
    lines = [[h] for h in headers], *cells
    out = []
    for row in lines:
        for k in range(max(len(parts) for parts in row)):
            out.append("  ".join((parts[k] if k < len(parts) else "").ljust(width)
                                 for parts, width in zip(row, widths, strict=True)).rstrip())
    return out
