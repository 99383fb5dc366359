"""A case's audit trail as `stepdown case audit` prints it: when, who, what, and the detail's
keys and statuses.

The stored detail can hold what a person typed (a refusal's message quotes the value given), so
only values the system writes are shown: dates, keys, statuses, roles, emails and codes. Any
other value is withheld and its name shown as ``name=...``.
"""

from __future__ import annotations

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
})
# Sentences the domain writes, naming roles, dates and process references only: an exception,
# and why a due date moved ("brought forward: within 20 working days of the placement change...").
SYSTEM_TEXT = frozenset({"exception", "because"})
_TOKEN = re.compile(r"^[\w.:#@+-]{1,96}$")
_FIELD = re.compile(r"^([A-Za-z_][\w.]*): ")


def summary(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail as it may be printed; a refusal keeps only the field it names."""
    out: dict[str, Any] = {}
    for name, value in detail.items():
        if value is None or value == "":
            continue
        if name == "error":
            match = _FIELD.match(str(value))
            out["refused_field"] = match.group(1) if match else "..."
        elif name in SYSTEM_TEXT or (name in SHOWN and (
                isinstance(value, int | bool) or _TOKEN.match(str(value)))):
            out[name] = value
        else:
            out[name] = "..."
    return out


def case_audit(session: Session, *, ref: str) -> list[dict[str, Any]]:
    """Every audit event of the process, oldest first."""
    process = get_process(session, ref=ref)
    return [{"at": event.at.astimezone(LONDON).isoformat(timespec="seconds"),
             "actor": event.actor, "action": event.action,
             "detail": summary(event.detail or {})}
            for event in audit_trail(session, process=process)]
