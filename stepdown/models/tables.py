"""The case record: processes, their stages, obligations, submitted forms and the audit trail.

These are the only classes that know about the database. Schema changes go through Alembic
(``stepdown/migrations``). A child appears only as the local authority's opaque reference.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Instants stored in UTC on every database (SQLite keeps no offset), returned aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give the UTC offset")
        return value.astimezone(UTC).replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _instant(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class Process(SQLModel, table=True):
    """One instance of a practice workflow for one child (``SD-0042``)."""

    __tablename__ = "process"

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=64, unique=True, index=True)
    kind: str = Field(max_length=32, index=True)  # step_down | stability | unplanned_ending
    child_ref: str = Field(max_length=64, index=True)
    stage: str = Field(max_length=32)
    status: str = Field(default="open", max_length=16, index=True)  # open | closed
    outcome: str | None = Field(default=None, max_length=32)
    opened_on: date
    closed_on: date | None = None
    waiting_for: str | None = Field(default=None, max_length=64)
    waiting_flow_run_id: str | None = Field(default=None, max_length=64)
    waiting_input_key: str | None = Field(default=None, max_length=128)
    created_at: datetime = _instant()


class StageRun(SQLModel, table=True):
    """A stage of a process: when it started and ended, and the flow run that drives it."""

    __tablename__ = "stage_run"
    __table_args__ = (sa.UniqueConstraint("process_id", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    process_id: int = Field(foreign_key="process.id", index=True)
    stage: str = Field(max_length=32)
    started_on: date
    ended_on: date | None = None
    flow_run_id: str | None = Field(default=None, max_length=64)


class Obligation(SQLModel, table=True):
    """Something that must happen (by a date, or an undated checklist item)."""

    __tablename__ = "obligation"
    __table_args__ = (
        sa.UniqueConstraint("process_id", "key"),
        sa.Index("ix_obligation_status_due_on", "status", "due_on"),
        sa.Index("ix_obligation_status_due_at", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    process_id: int = Field(foreign_key="process.id", index=True)
    key: str = Field(max_length=96)
    stage: str = Field(max_length=32)
    owner_role: str = Field(max_length=48)
    title: str = Field(max_length=200)
    source: str = Field(default="", max_length=300)
    opened_on: date
    earliest_on: date | None = None
    due_on: date | None = None
    due_at: datetime | None = _instant(default=None, nullable=True)
    # pending | done | escalated | waived | cancelled ("overdue" is judged as of a day, not stored)
    status: str = Field(default="pending", max_length=16)
    done_on: date | None = None
    data: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    completion: str | None = Field(default=None, max_length=48)
    # The escalation ladder (DOMAIN.md section 3): the next rung and when it fires.
    next_rung: str | None = Field(default=None, max_length=24)
    next_rung_at: datetime | None = _instant(default=None, nullable=True, index=True)
    # Set when escalated: the manager now owns it; the original owner stays on record.
    owner_person_id: int | None = Field(default=None, foreign_key="person.id")
    escalated_from_id: int | None = Field(default=None, foreign_key="person.id")
    updated_at: datetime = _instant()


class Submission(SQLModel, table=True):
    """A form exactly as it was submitted: when, through which channel, and what became of it."""

    __tablename__ = "submission"

    id: int | None = Field(default=None, primary_key=True)
    process_id: int = Field(foreign_key="process.id", index=True)
    form: str = Field(max_length=96)
    data: dict[str, Any] = Field(sa_type=sa.JSON)  # exactly as submitted
    values: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)  # as validated
    channel: str = Field(max_length=16)  # cli | ui | flow
    received_at: datetime = _instant()
    flow_run_id: str | None = Field(default=None, max_length=64)
    input_key: str | None = Field(default=None, max_length=128, index=True)
    status: str = Field(default="accepted", max_length=16)  # received | accepted | rejected
    error: str | None = Field(default=None, max_length=500)


class AuditEvent(SQLModel, table=True):
    """Append-only: every change to a case, who or what made it, and when."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _instant(index=True)
    process_id: int | None = Field(default=None, foreign_key="process.id", index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class Team(SQLModel, table=True):
    """A team, and where its Teams channel is configured (a reference: ``env:NAME`` or
    ``block:NAME``, never the URL itself)."""

    __tablename__ = "team"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    teams_channel: str | None = Field(default=None, max_length=128)


class Person(SQLModel, table=True):
    """A practitioner in the staff directory, with the manager an escalation goes to."""

    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str | None = Field(default=None, max_length=120)
    role: str = Field(max_length=48)
    team_id: int = Field(foreign_key="team.id", index=True)
    manager_id: int | None = Field(default=None, foreign_key="person.id")
    updated_at: datetime = _instant()


class Assignment(SQLModel, table=True):
    """Who holds a role on a process (the social worker of SD-0042, ...)."""

    __tablename__ = "assignment"
    __table_args__ = (sa.UniqueConstraint("process_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    process_id: int = Field(foreign_key="process.id", index=True)
    role: str = Field(max_length=48)
    person_id: int = Field(foreign_key="person.id", index=True)
    assigned_at: datetime = _instant()


class Notice(SQLModel, table=True):
    """The ladder's ledger: a rung fired for an obligation, for a recipient, on a channel.

    Unique, so that a re-run of the sweep (the same day, or after a crash) never notifies twice.
    """

    __tablename__ = "notice"
    __table_args__ = (sa.UniqueConstraint("obligation_id", "rung", "recipient", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    obligation_id: int = Field(foreign_key="obligation.id", index=True)
    rung: str = Field(max_length=24)  # reminder, due_today, overdue, escalation, breach
    recipient: str = Field(max_length=254)  # an email, a team's name, or "-" (superseded)
    channel: str = Field(max_length=16)  # digest | email | teams | none
    swept_on: date
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)


class Message(SQLModel, table=True):
    """The durable outbox: written before it is sent, delivered with retries, exactly once."""

    __tablename__ = "message"
    __table_args__ = (sa.Index("ix_message_status_next_attempt_at", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    channel: str = Field(max_length=16)  # email | teams
    recipient: str = Field(max_length=254)  # an email address, or a team's name
    subject: str = Field(max_length=300)
    body: str = Field(sa_type=sa.Text)
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime = _instant()
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = _instant()
    sent_at: datetime | None = _instant(default=None, nullable=True)


class PlacementEnding(SQLModel, table=True):
    """An unplanned placement ending found in the local authority's SSDA903 data: one per child
    and day (the same ending in a later file, or typed in with `ending record`, is this one).

    ``process_ref`` is its unplanned-ending process, when it has one: opened by the import
    (``opened``), or recorded before it. Without one, the row is history, kept for the monthly
    breakdown figures. Only the child's ID, dates and codes are kept (DOMAIN.md section 11).
    """

    __tablename__ = "placement_ending"
    __table_args__ = (sa.UniqueConstraint("child_ref", "ended_on"),)

    id: int | None = Field(default=None, primary_key=True)
    child_ref: str = Field(max_length=64, index=True)
    ended_on: date = Field(index=True)
    started_on: date  # DECOM of the episode that ended
    placement: str = Field(max_length=4)  # the SSDA903 PLACE code
    reason: str = Field(max_length=8)  # the SSDA903 REASON_PLACE_CHANGE code
    process_ref: str | None = Field(default=None, max_length=64, index=True)
    opened: bool = False  # the import opened process_ref (its flow run is the import's to start)
    imported_at: datetime = _instant()
