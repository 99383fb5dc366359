"""The staff directory: who is who, who manages whom, who holds which role on a case.

`stepdown staff import FILE.csv` loads people (columns ``email,role,manager_email,team``, and
optionally ``name`` and ``teams_channel``); a re-import updates them. `stepdown case assign`
puts a person on a process. The escalation ladder asks this module who to tell.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from stepdown import clock
from stepdown.domain.forms import FormError
from stepdown.domain.vocabulary import ROLES
from stepdown.models.tables import Assignment, Obligation, Person, Process, Team
from stepdown.records import audit, get_process

REQUIRED = ("email", "role", "manager_email", "team")
OPTIONAL = ("name", "teams_channel")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_CHANNEL = re.compile(r"^(env|block):[A-Za-z0-9_.-]+$")


def _row_error(line: int, name: str, rule: str) -> FormError:
    return FormError(f"row {line}: {name}", rule)


def import_staff(session: Session, *, text: str, actor: str) -> dict[str, int]:
    """Create or update people and teams from CSV text; all rows or none."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise FormError("header", f"missing column(s) {', '.join(missing)}: the file needs "
                        f"{','.join(REQUIRED)} (optional: {','.join(OPTIONAL)})")
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise FormError("header", f"unknown column(s) {', '.join(unknown)}")
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        email = row["email"].lower()
        if not _EMAIL.match(email):
            raise _row_error(line, "email", f"is not an email address (got {row['email']!r})")
        if email in seen:
            raise _row_error(line, "email", f"{email} appears twice in the file")
        seen.add(email)
        if row["role"] not in ROLES:
            raise _row_error(line, "role", f"must be one of {', '.join(ROLES)} "
                             f"(got {row['role']!r})")
        if not row["team"]:
            raise _row_error(line, "team", "is required")
        channel = row.get("teams_channel", "")
        if channel and not _CHANNEL.match(channel):
            raise _row_error(line, "teams_channel", "must be a reference env:NAME or block:NAME "
                             "(a Teams URL is a secret: keep it in the environment or a "
                             "Prefect Secret block)")
        row["email"], row["manager_email"] = email, row["manager_email"].lower()
        row["line"] = str(line)
        rows.append(row)
    known = {p.email for p in session.exec(select(Person)).all()}
    for row in rows:
        manager = row["manager_email"]
        if manager and manager not in seen and manager not in known:
            raise _row_error(int(row["line"]), "manager_email",
                             f"{manager} is not in the file or the directory")
        if manager == row["email"]:
            raise _row_error(int(row["line"]), "manager_email", "a person cannot manage themselves")

    teams = {t.name: t for t in session.exec(select(Team)).all()}
    for row in rows:
        team = teams.get(row["team"])
        if team is None:
            team = teams[row["team"]] = Team(name=row["team"])
            session.add(team)
        if row.get("teams_channel"):
            team.teams_channel = row["teams_channel"]
    session.flush()
    people = {p.email: p for p in session.exec(select(Person)).all()}
    created = updated = 0
    now = clock.now()
    for row in rows:
        person = people.get(row["email"])
        if person is None:
            person = people[row["email"]] = Person(email=row["email"], role=row["role"],
                                                   team_id=teams[row["team"]].id or 0,
                                                   updated_at=now)
            created += 1
        else:
            updated += 1
        person.role, person.team_id = row["role"], teams[row["team"]].id or 0
        person.name, person.updated_at = row.get("name") or None, now
        session.add(person)
    session.flush()
    for row in rows:
        boss = people.get(row["manager_email"]) if row["manager_email"] else None
        people[row["email"]].manager_id = boss.id if boss else None
    audit(session, process=None, actor=actor, action="staff.imported", created=created,
          updated=updated, teams=len(teams))
    session.flush()
    return {"created": created, "updated": updated, "teams": len(teams)}


def find_person(session: Session, *, email: str) -> Person:
    person = session.exec(select(Person).where(Person.email == email.lower())).first()
    if person is None:
        raise FormError("email", f"{email} is not in the staff directory "
                        "(stepdown staff import FILE.csv)")
    return person


def assign(session: Session, *, ref: str, role: str, email: str, actor: str,
           acting: str | None = None) -> Assignment:
    """Put a person on a process in ``role``. Their directory role must be that role, unless
    ``acting`` says why they act in it (kept in the audit trail): reminders and escalations
    meant for an IRO must not silently go to a social worker."""
    if role not in ROLES:
        raise FormError("role", f"must be one of {', '.join(ROLES)} (got {role!r})")
    acting = (acting or "").strip() or None
    if acting is not None and len(acting) > 500:
        raise FormError("acting", "must be at most 500 characters")
    process = get_process(session, ref=ref, lock=True)
    person = find_person(session, email=email)
    if person.role != role and acting is None:
        raise FormError("role", f"{person.email} is a {person.role} in the staff directory, not "
                        f"a {role}: an assignment must match the directory role, or give "
                        "--acting REASON")
    row = session.exec(select(Assignment).where(Assignment.process_id == process.id,
                                                Assignment.role == role)).first()
    previous = row.person_id if row else None
    if row is None:
        row = Assignment(process_id=process.id or 0, role=role, person_id=person.id or 0,
                         assigned_at=clock.now())
    row.person_id, row.assigned_at = person.id or 0, clock.now()
    session.add(row)
    audit(session, process=process, actor=actor, action="role.assigned", role=role,
          person=person.email, previous=previous)
    if person.role != role:
        audit(session, process=process, actor=actor, action="role.acting", role=role,
              person=person.email, directory_role=person.role, reason=acting)
    session.flush()
    return row


def team_of_case(session: Session, *, process: Process) -> str | None:
    """The team of the case's social worker, for tagging its flow runs."""
    query = (select(Team.name)
             .join(Person, col(Person.team_id) == col(Team.id))
             .join(Assignment, col(Assignment.person_id) == col(Person.id))
             .where(Assignment.process_id == process.id, Assignment.role == "social_worker"))
    return session.exec(query).first()


@dataclass
class Directory:
    """Who holds what, loaded in a few set-based queries for the processes a sweep touches."""

    people: dict[int, Person] = field(default_factory=dict)
    teams: dict[int, Team] = field(default_factory=dict)
    roles: dict[tuple[int, str], int] = field(default_factory=dict)  # (process, role) -> person
    child_roles: dict[tuple[str, str], int] = field(default_factory=dict)  # (child, role)
    team_managers: dict[int, int] = field(default_factory=dict)  # team -> a team manager
    any_team_manager: int | None = None

    @classmethod
    def load(cls, session: Session, processes: Iterable[Process]) -> Directory:
        processes = list(processes)
        directory = cls()
        directory.people = {p.id or 0: p for p in session.exec(select(Person)).all()}
        directory.teams = {t.id or 0: t for t in session.exec(select(Team)).all()}
        children = sorted({p.child_ref for p in processes})
        # In chunks: a worklist can touch every open case, more than a query takes parameters.
        for start in range(0, len(children), 5000):
            query = (select(Assignment, Process)
                     .join(Process, col(Process.id) == col(Assignment.process_id))
                     .where(col(Process.child_ref).in_(children[start:start + 5000])))
            for assignment, process in session.exec(query).all():
                directory.roles[(process.id or 0, assignment.role)] = assignment.person_id
                if process.status == "open":
                    directory.child_roles.setdefault((process.child_ref, assignment.role),
                                                     assignment.person_id)
        for person in sorted(directory.people.values(), key=lambda p: p.id or 0):
            if person.role == "team_manager":
                directory.team_managers.setdefault(person.team_id, person.id or 0)
                if directory.any_team_manager is None:
                    directory.any_team_manager = person.id
        return directory

    def holder(self, process: Process, role: str) -> Person | None:
        """The person in ``role`` on the process, or on another open process for the child."""
        person_id = self.roles.get((process.id or 0, role)) or self.child_roles.get(
            (process.child_ref, role))
        return self.people.get(person_id) if person_id else None

    def owner(self, obligation: Obligation, process: Process) -> Person | None:
        """Who owns an obligation now: the manager it was escalated to, else the person in its
        owner role (None: nobody, and the team manager hears of it)."""
        if obligation.owner_person_id:
            return self.people.get(obligation.owner_person_id)
        return self.holder(process, obligation.owner_role)

    def case_team(self, process: Process) -> Team | None:
        """The team of the case's social worker, as :func:`team_of_case` finds it."""
        person = self.people.get(self.roles.get((process.id or 0, "social_worker"), 0))
        return self.team_of(person) if person else None

    def manager_of(self, person: Person) -> Person | None:
        return self.people.get(person.manager_id) if person.manager_id else None

    def team_manager(self, process: Process) -> Person | None:
        """Who hears of what has nobody: the case's team manager, else the social worker's
        manager, else the social worker's team's manager, else any team manager."""
        assigned = self.holder(process, "team_manager")
        if assigned:
            return assigned
        worker = self.holder(process, "social_worker")
        if worker is not None:
            found = self.manager_of(worker) or self.people.get(
                self.team_managers.get(worker.team_id, 0))
            if found:
                return found
        return self.people.get(self.any_team_manager or 0)

    def team_of(self, person: Person) -> Team | None:
        return self.teams.get(person.team_id)

    def with_role(self, role: str) -> list[Person]:
        """Everyone whose directory role is ``role`` (the emergency duty team, out of hours)."""
        return sorted((p for p in self.people.values() if p.role == role), key=lambda p: p.id or 0)


def assigned_people(session: Session, *, process: Process) -> dict[str, str]:
    """Who holds each role on the process: role -> email, by role."""
    query = (select(Assignment.role, Person.email)
             .join(Person, col(Person.id) == col(Assignment.person_id))
             .where(Assignment.process_id == process.id).order_by(col(Assignment.role)))
    return dict(session.exec(query).all())
