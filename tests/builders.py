"""Builders for tests: open a case and record inputs through the same code the flows use."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from stepdown.db import get_engine, session_scope
from stepdown.inputs import apply_input
from stepdown.records import get_process, open_process, timeline


def open_case(ref: str, *, child: str = "CHILD-1", identified: str = "2026-11-02") -> None:
    with session_scope() as session:
        open_process(session, ref=ref, kind="step_down", child_ref=child, stage="identification",
                     opened_on=date.fromisoformat(identified), actor="cli",
                     opening={"child_ref": child, "identified_on": identified})


def submit(ref: str, key: str, data: Any) -> None:
    with session_scope() as session:
        process = get_process(session, ref=ref, lock=True)
        apply_input(session, process=process, key=key, data=data, channel="cli")


def timeline_of(ref: str, as_of: str) -> dict[str, dict[str, Any]]:
    with session_scope() as session:
        items = timeline(session, process=get_process(session, ref=ref),
                         as_of=date.fromisoformat(as_of))
    return {item["key"]: item for item in items}


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: to show that a refused input changed nothing."""
    with get_engine().connect() as connection:
        return {
            table: [tuple(row) for row in connection.execute(sa.text(
                f"SELECT * FROM {table} ORDER BY id"))]
            for table in ("process", "stage_run", "obligation", "submission", "audit_event")
        }


def open_stability(ref: str, *, child: str, requested_at: str, by: str = "foster_carer") -> None:
    from datetime import datetime

    from stepdown.domain.calendar import LONDON

    moment = datetime.fromisoformat(requested_at)
    with session_scope() as session:
        open_process(session, ref=ref, kind="stability", child_ref=child, stage="meeting",
                     opened_on=moment.astimezone(LONDON).date(), actor="cli",
                     opening={"child_ref": child, "requested_at": requested_at,
                              "requested_by": by})


def record_ending(ref: str, *, child: str, ended_on: str, reason: str = "CARPL") -> str | None:
    """Record an unplanned ending; the disrupted Step Down case's reference, if any."""
    from stepdown.records import record_unplanned_ending

    with session_scope() as session:
        _process, disrupted = record_unplanned_ending(
            session, ref=ref, child_ref=child, ended_on=date.fromisoformat(ended_on),
            reason=reason, actor="cli")
        return disrupted.ref if disrupted else None


def audit_actions(ref: str) -> list[tuple[str, dict[str, Any]]]:
    with get_engine().connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT a.action, a.detail FROM audit_event a JOIN process p ON p.id = a.process_id "
            "WHERE p.ref = :ref ORDER BY a.id"), {"ref": ref}).all()
    import json

    return [(action, detail if isinstance(detail, dict) else json.loads(detail))
            for action, detail in rows]
