"""The daily sweep (DOMAIN.md section 3): chase every obligation up the escalation ladder.

Every working day at 07:00 Europe/London, and every hour of every day for hour-based deadlines
(out of working hours only their breaches): fire the rungs that have come due (reminder, due
today, overdue, escalation; a breached 48-hour meeting), write the messages to the durable
outbox, deliver them, and publish what was found and sent as a table artifact.
`stepdown sweep --as-of DATE` runs the same flow on demand.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from stepdown import clock
from stepdown.config import get_settings
from stepdown.db import session_scope
from stepdown.domain.calendar import is_working_day
from stepdown.notifications import sweep as outbox


@task(cache_policy=NO_CACHE, task_run_name="fire rungs due {as_of}")
def fire_rungs(as_of: str, hourly: bool, explicit_day: bool) -> dict[str, Any]:
    day = date.fromisoformat(as_of)
    cutoff = outbox.end_of_day(day) if explicit_day else clock.now()
    with session_scope() as session:
        written = outbox.write(session, as_of=day, cutoff=cutoff, hourly=hourly)
    if get_settings().fault == "after-write":  # tests: a crash between write and send
        os._exit(137)
    return {"fired": written.fired, "escalated": written.escalated,
            "superseded": written.superseded, "messages": written.messages}


@task(cache_policy=NO_CACHE, task_run_name="publish the overdue list and escalated cases")
def publish_overdue(as_of: str, escalated_refs: list[str]) -> int:
    """The overdue list as a table artifact; each escalated case's timeline refreshed, and
    every team's worklist (escalations change owners, and the day changes what is due)."""
    from stepdown.artifacts import publish_case
    from stepdown.worklist import publish_all

    day = date.fromisoformat(as_of)
    with session_scope() as session:
        rows = outbox.overdue(session, as_of=day)
    create_table_artifact(
        key=f"overdue-{as_of}", table=rows or [{"ref": "-", "key": "nothing overdue"}],
        description=f"Every overdue or escalated obligation on {as_of}, oldest first.")
    for ref in sorted(set(escalated_refs)):
        publish_case(ref, worklist=False)
    try:
        publish_all()
    except Exception as exc:  # noqa: BLE001 - the sweep's work is done; the next change publishes
        get_run_logger().warning("the team worklists were not refreshed (%s)",
                                 type(exc).__name__)
    return len(rows)


@task(cache_policy=NO_CACHE, task_run_name="deliver the outbox")
def deliver_outbox() -> dict[str, Any]:
    delivered = outbox.deliver()
    return {"sent": delivered.sent, "retrying": delivered.retrying, "failed": delivered.failed,
            "rows": delivered.rows, "why": delivered.why()}


@task(cache_policy=NO_CACHE, task_run_name="start the flow runs of imported processes")
def start_imported() -> str | None:
    """Processes an SSDA903 import opened while the server was down get their flow runs here
    (stepdown.imports); a failure leaves them for the next sweep or import."""
    try:
        from stepdown.imports import start_waiting_runs

        started = start_waiting_runs()
    except Exception as exc:  # noqa: BLE001 - the sweep's own work goes on
        return f"imported processes' flow runs not started ({type(exc).__name__})"
    if started.waiting:
        return (f"{started.started} imported processes' flow runs started, {started.waiting} "
                f"not ({started.why})")
    return f"{started.started} imported processes' flow runs started" if started.started else None


@flow(name="sweep", persist_result=True)
def sweep(as_of: str | None = None, hourly: bool = False) -> dict[str, Any]:
    day = date.fromisoformat(as_of) if as_of else clock.today()
    if day > clock.today():  # it would escalate real obligations and send real messages early
        raise ValueError(f"as_of: {day} is in the future (today is {clock.today()}); "
                         "rehearse it with `stepdown sweep --as-of DAY --dry-run`")
    # The daily schedule skips weekends; this, holidays. The hourly sweep runs every day: a
    # breach is flagged at any hour of any day (DOMAIN.md section 3).
    if as_of is None and not hourly and not is_working_day(day):
        return {"as_of": str(day), "skipped": "not a working day"}
    logger = get_run_logger()
    imported = start_imported()
    if imported:
        logger.info("%s", imported)
    found = fire_rungs(str(day), hourly, as_of is not None)
    sent = deliver_outbox()
    publish_overdue(str(day), [f["ref"] for f in found["fired"] if f["rung"] == "escalation"])
    untold = sum(1 for row in found["fired"] if row["to"] == "nobody")
    if untold:  # fired, but the directory names nobody: say so, or it slips without a word
        sent["why"] += (f"; {untold} rung{'s' if untold != 1 else ''} with nobody to tell (no "
                        "owner or team manager in the staff directory: `stepdown staff import`, "
                        "`stepdown case assign`)")
    rows = [{**row, "message": ""} for row in found["fired"]] or [
        {"ref": "-", "key": "-", "rung": "-", "due": "-", "to": "nothing due", "message": ""}]
    create_table_artifact(
        key=f"sweep-{day.isoformat()}" + ("-hourly" if hourly else ""),
        table=rows,
        description=(f"Sweep of {day} ({'hour-based deadlines' if hourly else 'daily'}): "
                     f"{len(found['fired'])} rungs fired, {found['escalated']} escalated; "
                     f"{sent['sent']} messages sent, {sent['retrying']} to retry, "
                     f"{sent['failed']} failed{sent['why']}. Case references only."),
    )
    logger.info("sweep %s: %s rungs, %s sent, %s retrying, %s failed%s", day,
                len(found["fired"]), sent["sent"], sent["retrying"], sent["failed"], sent["why"])
    return {"as_of": str(day), **{k: v for k, v in found.items() if k != "fired"},
            "rungs": len(found["fired"]), "sent": sent["sent"], "retrying": sent["retrying"],
            "failed": sent["failed"], "why": sent["why"], "untold": untold}
