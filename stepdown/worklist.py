"""The operations view: what is escalated, overdue, due this week or waiting for a form, across
every open case, and who owns each item by name.

`stepdown worklist` prints it; each team's list is a table artifact in the Prefect UI
(``worklist-<team>``), refreshed whenever a record of one of the team's cases changes. The owner
is found as the sweep finds the recipient (:meth:`stepdown.staff.Directory.owner`), and the
title is the policy's, never wording a practitioner typed.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from stepdown import clock
from stepdown.db import session_scope
from stepdown.domain.forms import FormError
from stepdown.domain.vocabulary import OPEN_STATUSES
from stepdown.models.tables import Assignment, Obligation, Person, Process, Team
from stepdown.records import current_policy, judged_status
from stepdown.staff import Directory, find_person

# "This week" is the seven days from the day judged (as_of to as_of + 6): a rolling week, so a
# Friday's list still shows what falls due on Monday.
WEEK = timedelta(days=6)
STATUSES = ("escalated", "overdue", "due this week", "waiting for form")
NO_TEAM = ""  # the cases with no social worker assigned, so no team
MAX_ARTIFACT_ROWS = 500  # an artifact is a view, not an export: the CLI lists everything
COLUMNS = ("status", "due", "ref", "key", "title", "owner role", "owner person")


@dataclass(frozen=True)
class Item:
    status: str
    due: str | None
    ref: str
    key: str
    title: str
    owner_role: str
    owner: str | None  # the owner's email; None when nobody holds the role
    owner_name: str | None
    routed_to: str | None  # who hears of it: the owner, or the team manager if unassigned
    team: str | None

    @property
    def owner_text(self) -> str:
        if self.owner:
            return f"{self.owner_name} <{self.owner}>" if self.owner_name else self.owner
        return f"unassigned (team manager: {self.routed_to or 'none in the directory'})"

    def row(self) -> dict[str, str]:
        """The item under the column headers of the CLI and the artifact."""
        return dict(zip(COLUMNS, (self.status, self.due or "-", self.ref, self.key, self.title,
                                  self.owner_role, self.owner_text), strict=True))

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "owner_text": self.owner_text}


def _team_cases(team: str) -> Any:
    """The ids of the processes of a team, as team_of_case decides (the social worker's team);
    for NO_TEAM, those with no social worker of any team."""
    workers = (select(Assignment.process_id)
               .join(Person, col(Person.id) == col(Assignment.person_id))
               .join(Team, col(Team.id) == col(Person.team_id))
               .where(Assignment.role == "social_worker"))
    if team == NO_TEAM:
        return col(Process.id).not_in(workers)
    return col(Process.id).in_(workers.where(Team.name == team))


def _candidates(session: Session, *, as_of: date, team: str | None
                ) -> list[tuple[Obligation, Process]]:
    """The open obligations of open cases that may be on the list: dated up to the week's end
    (the indexed status and due_on), escalated, or the form a flow run waits for."""
    base = (select(Obligation, Process)
            .join(Process, col(Process.id) == col(Obligation.process_id))
            .where(Process.status == "open", col(Obligation.status).in_(OPEN_STATUSES)))
    if team is not None:
        base = base.where(_team_cases(team))
    queries = (
        base.where(col(Obligation.due_on) <= as_of + WEEK),
        base.where(Obligation.status == "escalated"),
        base.where(col(Process.waiting_for).is_not(None),
                   col(Obligation.key) == col(Process.waiting_for)),
    )
    found: dict[int, tuple[Obligation, Process]] = {}
    for query in queries:
        for obligation, process in session.exec(query).all():
            found[obligation.id or 0] = (obligation, process)
    return list(found.values())


def _status(obligation: Obligation, process: Process, as_of: date) -> str | None:
    if obligation.status == "escalated":
        return "escalated"
    if judged_status(obligation, as_of) == "overdue":
        return "overdue"
    if obligation.due_on is not None and obligation.due_on <= as_of + WEEK:
        return "due this week"
    if obligation.key == process.waiting_for and obligation.due_on is None:
        return "waiting for form"
    return None  # a form the flow waits for that falls due after this week


def _due(obligation: Obligation) -> str | None:
    if obligation.due_at is not None:
        return obligation.due_at.astimezone(clock.LONDON).strftime("%Y-%m-%d %H:%M")
    return obligation.due_on.isoformat() if obligation.due_on else None


def worklist(session: Session, *, as_of: date, team: str | None = None,
             owner: str | None = None) -> list[Item]:
    """Every item on the list as of ``as_of``, most urgent first. ``team`` keeps the cases of
    one team (NO_TEAM: of none); ``owner`` the items a person owns or, unassigned, hears of."""
    if owner is not None:
        owner = find_person(session, email=owner).email
    if team and session.exec(select(Team.id).where(Team.name == team)).first() is None:
        raise FormError("team", f"no team {team!r} in the staff directory")
    rows = _candidates(session, as_of=as_of, team=team)
    directory = Directory.load(session, {p.id: p for _, p in rows}.values())
    policy = current_policy()
    items = []
    for obligation, process in rows:
        status = _status(obligation, process, as_of)
        if status is None:
            continue
        person = directory.owner(obligation, process)
        routed = person or directory.team_manager(process)
        if owner is not None and (routed is None or routed.email != owner):
            continue
        case_team = directory.case_team(process)
        rule = policy.rule_for_key(obligation.key)
        items.append(Item(
            status=status, due=_due(obligation), ref=process.ref, key=obligation.key,
            title=rule.title if rule else obligation.key, owner_role=obligation.owner_role,
            owner=person.email if person else None, owner_name=person.name if person else None,
            routed_to=routed.email if routed else None,
            team=case_team.name if case_team else None))
    items.sort(key=lambda i: (STATUSES.index(i.status), i.due or "9999", i.ref, i.key))
    return items


# ------------------------------------------------------------------------------ the artifacts
def artifact_key(team: str | None) -> str:
    """Artifact keys allow lowercase letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", (team or "").lower()).strip("-")
    return f"worklist-{slug}" if slug else "worklist-no-team"


def artifact_table(items: list[Item]) -> list[dict[str, str]]:
    """The rows of a team's artifact: the most urgent first, at most MAX_ARTIFACT_ROWS, and a
    row saying so when there are more (or that there is nothing to do)."""
    rows = [item.row() for item in items[:MAX_ARTIFACT_ROWS]]
    if len(items) > MAX_ARTIFACT_ROWS:
        rows.append({**dict.fromkeys(COLUMNS, ""), "status": "more",
                     "title": f"{len(items) - MAX_ARTIFACT_ROWS} more: stepdown worklist --team"})
    return rows or [{**dict.fromkeys(COLUMNS, "-"), "title": "nothing to do"}]


def _create(team: str | None, items: list[Item], as_of: date) -> None:
    from stepdown.artifacts import publish_table

    counts = ", ".join(f"{sum(i.status == s for i in items)} {s}" for s in STATUSES)
    publish_table(
        key=artifact_key(team), table=artifact_table(items),
        description=(f"Worklist of team {team or '(no team: no social worker assigned)'} as of "
                     f"{as_of}: {counts}. Refreshed whenever a record of the team's cases "
                     "changes. Case references and policy titles only."))


def publish_team(team: str | None) -> None:
    """The next version of one team's worklist artifact (``None``: the cases with no team)."""
    as_of = clock.today()
    with session_scope() as session:
        items = worklist(session, as_of=as_of, team=NO_TEAM if team is None else team)
    _create(team, items, as_of)


def publish_all() -> int:
    """Every team's worklist artifact (the daily sweep: dates move on), from one worklist."""
    as_of = clock.today()
    with session_scope() as session:
        items = worklist(session, as_of=as_of)
        teams: set[str | None] = set(session.exec(select(Team.name)).all())
    by_team: dict[str | None, list[Item]] = defaultdict(list)
    for item in items:
        by_team[item.team].append(item)
    for team in sorted(teams | set(by_team), key=lambda t: t or ""):
        _create(team, by_team.get(team, []), as_of)
    return len(teams | set(by_team))


def refresh_for_case(ref: str, *, also: tuple[str | None, ...] = ()) -> None:
    """Refresh the worklist of the case's team (and of ``also``: the team a reassigned case
    left). A failure is a warning: the record is already right, and the next change publishes
    again."""
    from stepdown.records import get_process
    from stepdown.staff import team_of_case

    try:
        with session_scope() as session:
            team = team_of_case(session, process=get_process(session, ref=ref))
        for each in dict.fromkeys((team, *also)):
            publish_team(each)
    except Exception as exc:  # noqa: BLE001
        _warn(f"the team worklist of {ref} in the Prefect UI was not refreshed "
              f"({type(exc).__name__})")


def _warn(text: str) -> None:
    try:
        from prefect import get_run_logger

        get_run_logger().warning(text)
    except Exception:  # noqa: BLE001 - not in a flow run: the command line's stderr
        print(f"warning: {text}", file=sys.stderr)
