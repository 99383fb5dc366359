"""A case's audit trail as `stepdown case audit` prints it: when, who, what, and the detail.

What people wrote to explain a decision is what an audit trail is for, so it is shown as they
wrote it: a correction's reason (``input.corrected``), why an input was recorded before its
window (``input.early``) and why a person acts in a role not theirs (``role.acting``). Those
texts stay in the case record and in this trail: notifications, logs, flow-run names, state
messages and artifacts never carry them.

Any other stored detail can hold what a person typed by accident (a refusal's message quotes
the value given), so only values the system writes are shown: dates, keys, statuses, roles,
emails and codes. Any other value is withheld and its name shown as ``name=...``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlmodel import Session

from stepdown.domain.calendar import LONDON
from stepdown.records import audit_trail, get_process

SHOWN = frozenset({
    "channel", "closed_on", "done_on", "due", "form", "input_key", "key", "kind", "on",
    "opened_on", "outcome", "owner_from", "owner_to", "person", "previous", "reason", "role",
    "stage", "started_on", "status", "unplanned_ending", "created", "updated", "teams",
    "by", "opened",  # the process references of a link (a move that ended this placement)
    "earliest", "directory_role",  # an early input's window; an acting person's own role
    "recorded_in",  # the child's other process where the same event was recorded (one review)
})
# Sentences the domain writes, naming roles, dates and process references only: an exception,
# and why a due date moved ("brought forward: within 20 working days of the placement change...").
SYSTEM_TEXT = frozenset({"exception", "because"})
# What a person wrote to explain a decision, by action: shown as written.
WRITTEN: dict[str, frozenset[str]] = {
    "input.corrected": frozenset({"reason"}),  # stepdown correct --reason
    "input.early": frozenset({"reason"}),  # a form's early_reason
    "role.acting": frozenset({"reason"}),  # stepdown case assign --acting
}
_TOKEN = re.compile(r"^[\w.:#@+-]{1,96}$")
_FIELD = re.compile(r"^([A-Za-z_][\w.]*): ")


def summary(detail: dict[str, Any], action: str | None = None) -> dict[str, Any]:
    """The detail as it may be printed; a refusal keeps only the field it names, and what a
    person wrote to explain ``action`` is kept as written."""
    written = WRITTEN.get(action or "", frozenset())
    out: dict[str, Any] = {}
    for name, value in detail.items():
        if value is None or value == "":
            continue
        if name in written and isinstance(value, str):
            out[name] = value
        elif name == "error":
            match = _FIELD.match(str(value))
            out["refused_field"] = match.group(1) if match else "..."
        elif name in SYSTEM_TEXT or (name in SHOWN and (
                isinstance(value, int | bool) or _TOKEN.match(str(value)))):
            out[name] = value
        else:
            out[name] = "..."
    return out


def shown(value: Any) -> str:
    """One value on the printed trail's line: a token as it is, text in double quotes with its
    line breaks and other control characters escaped, so that it stays on its line."""
    text = str(value)
    if _TOKEN.match(text) or text == "...":
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in quoted)


def line(detail: dict[str, Any]) -> str:
    """The printed detail, ``name=value`` apart by spaces."""
    return " ".join(f"{name}={shown(value)}" for name, value in detail.items())


def case_audit(session: Session, *, ref: str) -> list[dict[str, Any]]:
    """Every audit event of the process, oldest first."""
    process = get_process(session, ref=ref)
    return [{"at": event.at.astimezone(LONDON).isoformat(timespec="seconds"),
             "actor": event.actor, "action": event.action,
             "detail": summary(event.detail or {}, event.action)}
            for event in audit_trail(session, process=process)]
