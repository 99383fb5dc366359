"""Import the local authority's SSDA903 data (DOMAIN.md section 11): no unplanned ending missed.

Every unplanned ending of a foster placement on or after ``since`` opens its unplanned-ending
process ``UE-<CHILD>-<YYYYMMDD>``, linked to the child's Step Down case as `ending record`
links it; every other unplanned ending is kept as history for the monthly breakdown figures
(``placement_ending``). One ending per child and day: a later file that repeats it, or the same
ending typed in with `ending record`, is the same ending. The records change in one transaction;
the opened processes' flow runs start after it commits, and those not started (the server was
down) start on the next import or sweep (:func:`start_waiting_runs`).

A refused row does not stop the rest: the good rows are imported and each refused row is named,
so that it can be corrected in the source; the next import brings it in, and nothing twice
(one ending per child and day). The whole file is refused, and nothing recorded, when it is
strict (``--strict``) or when its refused rows say the fault is the file's
(:meth:`stepdown.ssda903.Return.refused_whole`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from stepdown import clock
from stepdown.domain.forms import FormError
from stepdown.models.tables import PlacementEnding, Process, StageRun
from stepdown.records import audit, current_policy, declarations, open_with_links, stage_runs
from stepdown.ssda903 import Ending, Return, RowError, read, unplanned_endings, unplanned_reasons

KIND = "unplanned_ending"
CHANNEL = "ssda903"  # the channel of the opening records and of the scheduled import's actor
WINDOW = timedelta(days=42)  # the end of the unplanned ending meeting's window (001 section 6)
ERRORS_SHOWN = 20  # refused rows listed when the whole file is refused; the rest are counted
IMPORTED, PARTLY, REFUSED = "imported", "partly imported", "refused"


def default_since(today: date | None = None) -> date:
    """Endings on or after this day open processes: today minus 42 days, the last day whose
    ending's meeting is still due (DOMAIN.md section 6)."""
    return (today or clock.today()) - WINDOW


def ending_ref(child: str, ended_on: date) -> str:
    return f"UE-{child}-{ended_on:%Y%m%d}"


@dataclass
class Summary:
    """What an import read and did; the same for its text line, its JSON and its artifact."""

    format: str
    since: date
    dry_run: bool = False
    strict: bool = False
    episodes_read: int = 0
    endings_found: int = 0
    processes_opened: int = 0
    already_known: int = 0
    history_kept: int = 0
    rows_refused: int = 0
    refused_why: str | None = None  # why the whole file was refused; None: its good rows count
    opened: list[str] = field(default_factory=list)
    disrupted: list[str] = field(default_factory=list)
    # The refused rows' errors: every one when the good rows were imported (each refused row
    # must be put right in the source), the first ERRORS_SHOWN when the whole file was refused.
    errors: list[RowError] = field(default_factory=list)
    errors_not_shown: int = 0  # refused rows not named in ``errors``
    flow_runs_started: int = 0
    flow_runs_waiting: int = 0  # not started (the server was down): next import or sweep
    why_waiting: str | None = None
    # Flow runs of the Step Down cases the endings disrupted, to cancel after the commit.
    cancel: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @property
    def refused(self) -> bool:
        """The whole file was refused: nothing imported."""
        return self.refused_why is not None

    @property
    def partly(self) -> bool:
        """Rows were refused and the others imported."""
        return self.rows_refused > 0 and not self.refused

    @property
    def outcome(self) -> str:
        return REFUSED if self.refused else PARTLY if self.partly else IMPORTED

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "since": str(self.since), "dry_run": self.dry_run,
            "strict": self.strict, "outcome": self.outcome, "refused_why": self.refused_why,
            "episodes_read": self.episodes_read, "endings_found": self.endings_found,
            "processes_opened": self.processes_opened, "already_known": self.already_known,
            "history_kept": self.history_kept, "rows_refused": self.rows_refused,
            "opened": self.opened, "disrupted": self.disrupted,
            "errors": [e.as_dict() for e in self.errors],
            "errors_not_shown": self.errors_not_shown,
            "flow_runs_started": self.flow_runs_started,
            "flow_runs_waiting": self.flow_runs_waiting, "why_waiting": self.why_waiting,
        }

    def line(self) -> str:
        dry = ", dry run: nothing recorded" if self.dry_run else ""
        others = "would be imported" if self.dry_run else "imported"
        refused = (": nothing imported" if self.refused
                   else f": the others {others}" if self.partly else "")
        return (f"ssda903 import ({self.format}, processes for endings from {self.since}{dry})"
                f": {_n(self.episodes_read, 'episode')} read, "
                f"{_n(self.endings_found, 'ending')} found, "
                f"{_n(self.processes_opened, 'process', 'processes')} opened, "
                f"{self.already_known} already known, {self.history_kept} history kept, "
                f"{_n(self.rows_refused, 'row')} refused{refused}")

    def headline(self) -> str:
        """What needs doing about the refused rows, in one line (empty when none was)."""
        rows = _n(self.rows_refused, "row")
        if self.refused:
            return f"{rows} refused ({self.refused_why}); nothing imported"
        if self.partly:
            them = "it" if self.rows_refused == 1 else "them"
            others = "would be imported (dry run)" if self.dry_run else "imported"
            return (f"{rows} refused and not imported, the others {others}; correct {them} "
                    "in the source and import again")
        return ""

    def error_lines(self) -> list[str]:
        lines = [str(e) for e in self.errors]
        if self.errors_not_shown > 0:
            lines.append(f"... and {self.errors_not_shown} more refused "
                         f"row{'s' if self.errors_not_shown != 1 else ''}")
        return lines

    def table(self) -> list[dict[str, Any]]:
        """The summary as rows of (measure, value): the scheduled import's artifact."""
        rows: list[dict[str, Any]] = [{"measure": "outcome", "value": self.outcome}]
        if self.refused_why:
            rows.append({"measure": "refused whole", "value": self.refused_why})
        rows += [
            {"measure": name.replace("_", " "), "value": getattr(self, name)}
            for name in ("episodes_read", "endings_found", "processes_opened", "already_known",
                         "history_kept", "rows_refused", "flow_runs_started",
                         "flow_runs_waiting")]
        rows += [{"measure": "refused", "value": line} for line in self.error_lines()]
        return rows


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def read_file(path: Path | str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise FormError("file", f"cannot read {path} ({exc.strerror})") from None


def _lock(session: Session) -> None:
    """One import at a time (the scheduled one and a command line): on PostgreSQL a transaction
    lock; SQLite's transactions already begin by taking the write lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(sa.text("SELECT pg_advisory_xact_lock(903)"))


def record(session: Session, *, parsed: Return, since: date, actor: str,
           channel: str = CHANNEL, strict: bool = False) -> Summary:
    """Record a checked return in ``session`` (the caller's one transaction): open the
    processes, keep the history, from the rows that passed. A return refused whole (strict,
    or too many refused rows) records nothing."""
    why = parsed.refused_whole(strict=strict)
    errors = parsed.errors if why is None else parsed.errors[:ERRORS_SHOWN]
    named = {e.row for e in errors}
    summary = Summary(format=parsed.format, since=since, strict=strict,
                      episodes_read=parsed.rows, rows_refused=parsed.refused, refused_why=why,
                      errors=errors, errors_not_shown=parsed.refused - len(named))
    if why is not None:
        return summary
    _lock(session)
    endings = unplanned_endings(parsed.episodes, unplanned_reasons(current_policy().settings))
    summary.endings_found = len(endings)
    known = set(session.exec(select(col(PlacementEnding.child_ref),
                                    col(PlacementEnding.ended_on))).all())
    typed_in = {(child, day): ref for ref, child, day in session.exec(
        select(col(Process.ref), col(Process.child_ref), col(Process.opened_on))
        .where(Process.kind == KIND))}
    taken = set(session.exec(select(Process.ref).where(col(Process.ref).startswith("UE-"))))
    now = clock.now()
    rows: list[dict[str, Any]] = []
    for ending in endings:
        if ending.key in known:
            summary.already_known += 1
            continue
        process_ref, opened = typed_in.get(ending.key), False
        if process_ref is not None:
            summary.already_known += 1
        elif ending.foster and ending.ended_on >= since:
            process_ref, opened = _open(session, ending, taken=taken, actor=actor,
                                        channel=channel, summary=summary), True
        else:
            summary.history_kept += 1
        rows.append({"child_ref": ending.child, "ended_on": ending.ended_on,
                     "started_on": ending.started_on, "placement": ending.place,
                     "reason": ending.reason, "process_ref": process_ref, "opened": opened,
                     "imported_at": now})
    if not rows:
        return summary  # nothing new: the record is left exactly as it was
    session.exec(sa.insert(PlacementEnding), params=rows)
    audit(session, process=None, actor=actor, action="ssda903.imported", format=parsed.format,
          since=str(since), episodes=summary.episodes_read, endings=summary.endings_found,
          opened=summary.processes_opened, known=summary.already_known,
          history=summary.history_kept, refused=summary.rows_refused, channel=channel)
    session.flush()
    return summary


def _open(session: Session, ending: Ending, *, taken: set[str], actor: str, channel: str,
          summary: Summary) -> str:
    ref, n = ending_ref(ending.child, ending.ended_on), 1
    while ref in taken:  # another process has the derived reference (typed in by hand)
        n += 1
        ref = f"{ending_ref(ending.child, ending.ended_on)}-{n}"
    taken.add(ref)
    _process, closed = open_with_links(
        session, ref=ref, kind=KIND, child_ref=ending.child,
        opening={"ended_on": str(ending.ended_on), "reason": ending.reason}, actor=actor,
        channel=channel, date_name="DEC", earlier_unlinked=True)
    summary.processes_opened += 1
    summary.opened.append(ref)
    for other in closed:
        summary.disrupted.append(other.ref)
        summary.cancel[other.ref] = [run.flow_run_id for run in stage_runs(session, process=other)
                                     if run.flow_run_id]
    return ref


def run_import(data: bytes, *, since: date | None = None, dry_run: bool = False,
               strict: bool = False, actor: str = CHANNEL, channel: str = CHANNEL,
               start_runs: bool = True) -> Summary:
    """Read, check and record a return in one transaction (rolled back for a dry run, or when
    the whole file is refused); then, unless it was a dry run, cancel the disrupted cases' runs
    and start the flow runs of every imported process still without one."""
    from stepdown.db import get_engine

    since = since or default_since()
    parsed = read(data, today=clock.today())
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            summary = record(session, parsed=parsed, since=since, actor=actor, channel=channel,
                             strict=strict)
            if dry_run or summary.refused:
                session.rollback()
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise
    summary.dry_run = dry_run
    if dry_run or summary.refused or not start_runs:
        return summary
    _cancel_disrupted(summary)
    started = start_waiting_runs()
    summary.flow_runs_started, summary.flow_runs_waiting = started.started, started.waiting
    summary.why_waiting = started.why
    return summary


def _cancel_disrupted(summary: Summary) -> None:
    from stepdown.tasks.case import cancel_closed

    if summary.cancel:
        cancel_closed(summary.cancel, "placement ended unplanned (SSDA903 import)")


# ------------------------------------------------------------------------------ flow runs
@dataclass(frozen=True)
class Started:
    started: int
    waiting: int  # still without a flow run
    why: str | None = None


def waiting_runs(session: Session) -> list[tuple[str, str, str]]:
    """(ref, kind, stage) of the open processes an import opened whose current stage waits for
    its flow run: their runs were not started yet (the server was down, or the import stopped
    after its commit)."""
    query = (select(col(Process.ref), col(Process.kind), col(Process.stage))
             .join(PlacementEnding, col(PlacementEnding.process_ref) == col(Process.ref))
             .join(StageRun, sa.and_(col(StageRun.process_id) == col(Process.id),
                                     col(StageRun.stage) == col(Process.stage)))
             .where(col(PlacementEnding.opened).is_(True), Process.status == "open",
                    col(StageRun.flow_run_id).is_(None))
             .order_by(col(Process.id)))
    catalogue = declarations()
    return [(ref, kind, stage) for ref, kind, stage in session.exec(query).all()
            if catalogue.process(kind).stage(stage).steps]


def start_waiting_runs() -> Started:
    """Start the flow run of every imported process still without one, through the same step
    that starts a case's next stage (``tasks.case.start_stage_flow``: once, by its idempotency
    key). Stops at the first failure: the rest wait for the next import or sweep."""
    from stepdown import orchestration
    from stepdown.db import session_scope
    from stepdown.deployments import deployment_name
    from stepdown.tasks.case import start_stage_flow

    with session_scope() as session:
        todo = waiting_runs(session)
    if not todo:
        return Started(0, 0)
    try:
        orchestration.ping()
    except orchestration.OrchestrationError as exc:
        return Started(0, len(todo), str(exc))
    for done, (ref, kind, stage) in enumerate(todo):
        try:
            start_stage_flow.fn(ref, stage, deployment_name(stage, kind))
        except Exception as exc:  # noqa: BLE001 - the record is right; the next try starts it
            return Started(done, len(todo) - done, f"{ref}: {type(exc).__name__}")
    return Started(len(todo), 0)
