"""The `stepdown` command line: serve the system, open and drive cases, read their timelines.

Bad input exits with status 2 and one line on stderr naming the field and the rule; nothing is
recorded. Other failures (the server unreachable, a flow run that failed) exit with status 1, as
does a command that recorded its work but left part of it to do (an SSDA903 import whose refused
rows were named and the others imported).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from stepdown import clock
from stepdown.config import DEFAULT_API_URL, ConfigError, get_settings
from stepdown.domain.forms import FormError

if TYPE_CHECKING:
    from stepdown.domain.policy import Policy

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="stepdown: practice standards for children's social care, on Prefect.")
case_app = typer.Typer(no_args_is_help=True, help="Open, show and list processes (cases).")
app.add_typer(case_app, name="case")

# Every command talks to the server `stepdown serve` starts, unless told otherwise.
os.environ.setdefault("PREFECT_API_URL", DEFAULT_API_URL)

_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
BAD_INPUT, FAILURE = 2, 1


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _date(name: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{name}: must be a date YYYY-MM-DD (got {text!r})")


def _reference(name: str, value: str) -> str:
    if not _REF.match(value):
        fail(f"{name}: must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
             f"digit (got {value!r})")
    return value


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


_as: dict[str, str | None] = {"email": None}


@app.callback()
def _options(
    ctx: typer.Context,
    as_: Annotated[str | None, typer.Option(
        "--as", metavar="EMAIL",
        help="Who is making the change: your email in the staff directory, recorded as the "
        "actor in the audit trail (default: the channel, cli). Or set STEPDOWN_ACTOR.")] = None,
) -> None:
    try:
        settings = get_settings()
    except ConfigError as exc:  # a STEPDOWN_* variable that does not parse
        fail(str(exc))
    _as["email"] = (as_ if as_ is not None else settings.actor) or None
    # A command answers in its own lines. Prefect's console handler would add its flow-run log
    # lines and its background workers' warnings ("EventsWorker - Still processing items") to
    # them. Flow runs still log to the API, where the UI shows them; `serve` keeps its console.
    # Prefect configures its logging lazily, from the environment, on first use.
    if ctx.invoked_subcommand != "serve":
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def _actor(*, directory: bool = True, email: str | None = None,
           name: str = "as") -> str:
    """The audit trail's actor of this command: the person given by --as (checked against the
    staff directory, or only for its form where the directory is being loaded), else the
    channel."""
    from stepdown.db import session_scope
    from stepdown.inputs import submitter
    from stepdown.staff import _EMAIL

    email = email or _as["email"]
    if not email:
        return "cli"
    if not _EMAIL.match(email) or len(email) > 64:
        fail(f"{name}: must be an email address of at most 64 characters")
    if not directory:
        return email.lower()
    try:
        with session_scope() as session:
            return submitter(session, {"submitted_by": email}) or "cli"
    except FormError as exc:
        fail(f"{name}: {exc.rule}")


# ------------------------------------------------------------------------------------ serve
@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port of the Prefect server and UI.")] = 4200,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"),
) -> None:
    """Start a Prefect server on the embedded default plus every deployment, until interrupted."""
    from stepdown.domain.declarations import DeclarationError
    from stepdown.domain.policy import PolicyError
    from stepdown.records import current_policy
    from stepdown.server import ServeError
    from stepdown.server import serve as run

    try:  # a bad STEPDOWN_POLICY or declaration stops here, not in the first flow run
        current_policy()
    except (DeclarationError, PolicyError) as exc:
        fail(str(exc))
    try:
        code = run(host=host, port=port)
    except ServeError as exc:
        fail(str(exc), FAILURE)
    raise typer.Exit(code)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Each scheduled deployment: when it last ran, how that run ended, when it runs next.

    Exits 1 if a schedule is not on the server or the scheduler has created no next run."""
    from stepdown import orchestration
    from stepdown.deployments import scheduled_deployments
    from stepdown.server import local_time

    try:  # what the server has: `serve` may run with other settings than this shell
        rows = orchestration.schedule_status(scheduled_deployments())
    except orchestration.OrchestrationError as exc:
        fail(str(exc), FAILURE)
    if as_json:
        _print_json(rows)
    else:
        typer.echo(f"{'deployment':26} {'schedule (Europe/London)':25} {'last run':22} "
                   f"{'ended':11} {'next run':22}")
        for row in rows:
            typer.echo(f"{row['deployment']:26} {row['cron'] or '-':25} "
                       f"{local_time(row['last_run']):22} {row['last_state'] or '-':11} "
                       f"{local_time(row['next_run']):22}"
                       + (f"  PROBLEM: {row['problem']}" if row["problem"] else ""))
    if any(row["problem"] for row in rows):
        raise typer.Exit(FAILURE)


# ------------------------------------------------------------------------------------ case
def _publish(ref: str) -> None:
    """Refresh the case's timeline artifact in the Prefect UI (the record is already right)."""
    from stepdown.artifacts import publish_case
    from stepdown.orchestration import OrchestrationError, Unreachable

    try:
        publish_case(ref)
    except Exception as exc:  # noqa: BLE001
        why = ("server unreachable" if isinstance(exc, Unreachable) else str(exc)
               if isinstance(exc, OrchestrationError) else type(exc).__name__)
        typer.echo(f"warning: the timeline of {ref} in the Prefect UI was not refreshed "
                   f"({why})", err=True)


def _open(*, kind: str, ref: str, child: str, opening: dict[str, Any],
          date_name: str | None = None) -> list[str]:
    """Record a new process and start its first flow run, in one transaction: if the run cannot
    be created, nothing is recorded. Processes its opening closed (a Step Down placement that
    ended) have their flow runs cancelled; returns their references."""
    from stepdown import orchestration
    from stepdown.db import session_scope
    from stepdown.deployments import deployment_name
    from stepdown.records import declarations, open_with_links, set_stage_flow_run, stage_runs
    from stepdown.tasks.case import run_tags

    stage = declarations().process(kind).stages[0]
    deployment = deployment_name(stage.name, kind) if stage.steps else None
    actor = _actor()
    run_id = None
    try:
        if deployment:
            orchestration.check_server(deployment)
        with session_scope() as session:
            process, closed = open_with_links(session, ref=ref, kind=kind, child_ref=child,
                                              opening=opening, actor=actor, channel="cli",
                                              date_name=date_name)
            runs = {other.ref: [run.flow_run_id for run in stage_runs(session, process=other)
                                if run.flow_run_id] for other in closed}
            if deployment:
                run_id = orchestration.start_run(deployment, ref=ref, stage=stage.name,
                                                 tags=run_tags(kind, ref, stage.name,
                                                               child=child))
                set_stage_flow_run(session, process=process, stage=stage.name,
                                   flow_run_id=run_id)
    except FormError as exc:
        fail(str(exc))
    except orchestration.OrchestrationError as exc:
        fail(str(exc), FAILURE)
    started = (f"; flow run {ref}-{stage.name}: {orchestration.ui_url(run_id)}" if run_id
               else "")
    typer.echo(f"opened {ref} ({kind}, {stage.name}){started}")
    _publish(ref)
    for other, ids in runs.items():
        try:
            orchestration.cancel_open_runs(ids, f"placement ended unplanned ({ref})")
        except Exception as exc:  # noqa: BLE001 - the record is right; the run can be cancelled
            typer.echo(f"warning: could not cancel the flow runs of {other}: {exc}", err=True)
        typer.echo(f"{other} closed as disrupted; its open obligations are cancelled")
        _publish(other)
    return list(runs)


@app.command("open")
def open_command(
    kind: Annotated[str, typer.Argument(help="The kind of process (see `stepdown kinds`).")],
    ref: Annotated[str, typer.Argument(help="The process reference, e.g. PL-0001.")],
    child: Annotated[str, typer.Option("--child", help="The child's opaque reference (ID).")],
    data: Annotated[str | None, typer.Option(
        "--data", help="The opening form's fields as JSON (see `stepdown forms`).")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A JSON file of the fields.")] = (
        None),
) -> None:
    """Open a process of any declared kind with its opening form, and start its flow run."""
    from stepdown.domain.declarations import DeclarationError
    from stepdown.records import declarations

    _reference("ref", ref)
    _reference("child", child)
    try:
        declared = declarations().process(kind)
    except DeclarationError as exc:
        fail(str(exc))
    opening = _opening(declared.opening, _read_data(data, file))
    _open(kind=kind, ref=ref, child=child, opening=opening)


def _opening(key: str, payload: Any) -> dict[str, Any]:
    """An opening form's values, checked by its declared model; a date not in the future."""
    from datetime import datetime

    from stepdown.domain.calendar import LONDON
    from stepdown.domain.forms import parse_form
    from stepdown.records import declarations

    catalogue = declarations()
    form = catalogue.forms[key]
    if isinstance(payload, dict) and "child_ref" in payload:
        fail("child_ref: is given by --child, not in the form")
    try:
        parsed = parse_form(catalogue.model(key), payload)
    except FormError as exc:
        fail(str(exc))
    when = getattr(parsed, form.date_field)
    if form.opens_on == "today":
        # A day planned ahead (a move) may be in the future; the day it was put forward not,
        # and not after it.
        given = getattr(parsed, form.opens_from) if form.opens_from else None
        if given is not None and given > clock.today():
            fail(f"{form.opens_from}: {given} is in the future (today is {clock.today()})")
        if given is not None and when is not None and given > when:
            fail(f"{form.opens_from}: {given} is after {form.date_field} ({when})")
    elif isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=LONDON)
            setattr(parsed, form.date_field, when)
        if when > clock.now():
            fail(f"{form.date_field}: {when.isoformat()} is in the future")
    elif when > clock.today():
        fail(f"{form.date_field}: {when} is in the future (today is {clock.today()})")
    values: dict[str, Any] = parsed.model_dump(mode="json", exclude={"submitted_by"})
    from stepdown.domain.process import check_opening
    from stepdown.records import current_policy

    try:
        check_opening(form, values, current_policy().settings)
    except FormError as exc:
        fail(str(exc))
    return values


@app.command("kinds")
def kinds_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every declared process: its stages, the forms each waits for, and its opening form."""
    from stepdown.records import current_policy, declarations

    catalogue = declarations()
    policy = current_policy()
    rows: list[dict[str, Any]] = []
    for process in catalogue.processes.values():
        rows.append({
            "kind": process.kind, "title": process.title, "sources": list(process.sources),
            "opening": process.opening, "declared_in": process.path,
            "one_at_a_time": process.one_at_a_time,
            "stages": [{"name": stage.name, "title": stage.title,
                        "flow": stage.flow if stage.steps else None,
                        "waits_for": [step.label for step in stage.steps],
                        "forms": [f.key for f in catalogue.stage_forms().values()
                                  if f.process == process.kind and f.stage == stage.name],
                        "obligations": len([r for r in policy.rules_for(process.kind)
                                            if r.stage == stage.name])}
                       for stage in process.stages],
            "links": [{"type": link.type, "kind": link.kind} for link in process.links],
        })
    for problem in policy.problems:
        typer.echo(f"warning: {problem}", err=True)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['kind']}: {row['title']}  (opened with {row['opening']}; "
                   f"{row['declared_in']})")
        for stage in row["stages"]:
            waits = ", ".join(stage["waits_for"]) or "no form (its obligations only)"
            typer.echo(f"  {stage['name']:16} waits for {waits}; {stage['obligations']} "
                       "obligations")


@case_app.command("open")
def case_open(
    ref: Annotated[str, typer.Argument(help="The case reference, e.g. SD-0042.")],
    child: Annotated[str, typer.Option("--child", help="The child's opaque reference (ID).")],
    identified: Annotated[str, typer.Option("--identified", help="Date identified, YYYY-MM-DD.")],
) -> None:
    """Open a Step Down case and start its Identification flow run."""
    _reference("ref", ref)
    _reference("child", child)
    identified_on = _date("identified", identified)
    assert identified_on is not None
    if identified_on > clock.today():
        fail(f"identified: {identified_on} is in the future (today is {clock.today()})")
    _open(kind="step_down", ref=ref, child=child,
          opening={"identified_on": str(identified_on)})


stability_app = typer.Typer(no_args_is_help=True, help="Stability meetings (placements at risk).")
ending_app = typer.Typer(no_args_is_help=True, help="Unplanned endings (placements that ended).")
report_app = typer.Typer(no_args_is_help=True, help="Reports.")
app.add_typer(stability_app, name="stability")
app.add_typer(ending_app, name="ending")
app.add_typer(report_app, name="report")
import_app = typer.Typer(no_args_is_help=True, help="Import the local authority's own data.")
app.add_typer(import_app, name="import")


@stability_app.command("request")
def stability_request(
    ref: Annotated[str, typer.Argument(help="The process reference, e.g. ST-0007.")],
    child: Annotated[str, typer.Option("--child", help="The child's opaque reference (ID).")],
    requested_at: Annotated[str, typer.Option(
        "--requested-at", help="When the meeting was requested: YYYY-MM-DDTHH:MM[+offset] "
        "(without an offset, Europe/London time).")],
    by: Annotated[str, typer.Option("--by", help="The requester's role, e.g. foster_carer.")],
) -> None:
    """Request a stability meeting for a placement at risk and start its flow run."""
    from datetime import datetime

    from stepdown.domain.calendar import LONDON
    from stepdown.domain.vocabulary import ROLES

    _reference("ref", ref)
    _reference("child", child)
    try:
        moment = datetime.fromisoformat(requested_at)
    except ValueError:
        fail(f"requested-at: must be a date and time YYYY-MM-DDTHH:MM (got {requested_at!r})")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)
    if moment > clock.now():
        fail(f"requested-at: {moment.isoformat()} is in the future")
    if by not in ROLES:
        fail(f"by: must be one of the roles {', '.join(ROLES)} (got {by!r})")
    _open(kind="stability", ref=ref, child=child,
          opening={"requested_at": moment.isoformat(), "requested_by": by})


@ending_app.command("record")
def ending_record(
    ref: Annotated[str, typer.Argument(help="The process reference, e.g. UE-0003.")],
    child: Annotated[str, typer.Option("--child", help="The child's opaque reference (ID).")],
    ended_on: Annotated[str, typer.Option("--ended-on", help="The day the placement ended.")],
    reason: Annotated[str, typer.Option("--reason", help="SSDA903 reason code, e.g. CARPL.")],
) -> None:
    """Record an unplanned ending; a Step Down placement's case closes as disrupted."""
    from stepdown.records import declarations

    _reference("ref", ref)
    _reference("child", child)
    day = _date("ended-on", ended_on)
    assert day is not None
    if day > clock.today():
        fail(f"ended-on: {day} is in the future (today is {clock.today()})")
    reasons = reason_codes(declarations())
    if reason not in reasons:
        fail(f"reason: must be an SSDA903 reason code, one of {', '.join(reasons)} "
             f"(got {reason!r})")
    _open(kind="unplanned_ending", ref=ref, child=child,
          opening={"ended_on": str(day), "reason": reason}, date_name="ended-on")


def reason_codes(catalogue: Any) -> tuple[str, ...]:
    """The SSDA903 reasons for a change of placement, as the unplanned-ending form declares."""
    form = catalogue.forms[catalogue.process("unplanned_ending").opening]
    return next(f.choices for f in form.fields if f.name == "reason")


@import_app.command("ssda903")
def import_ssda903(
    file: Annotated[Path, typer.Argument(help="An SSDA903 episodes CSV or the XML return "
                                              "(EXPSSDA903), told apart by content.")],
    since: Annotated[str | None, typer.Option(
        "--since", help="Unplanned foster endings on or after this day (YYYY-MM-DD) open "
        "processes; earlier ones are kept as history (default: today minus 42 days).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Read, check and count; record and start nothing.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="All or nothing: any refused row refuses the whole file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Open an unplanned-ending process for every unplanned ending of a foster placement in the
    authority's SSDA903 data; keep the others as history for the breakdown figures.

    Importing the same file again, or a later one that repeats its episodes, opens and counts
    nothing twice. Refused rows are named and the others imported (exit 1): correct them in
    the source and import again. The whole file is refused, nothing imported (exit 2), when it
    is not a return, when more than one row and more than 5% of its rows are refused, or with
    --strict when any row is."""
    from stepdown.imports import read_file, run_import
    from stepdown.ssda903 import NotSSDA903

    day = _date("since", since)
    if day is not None and day > clock.today():
        fail(f"since: {day} is in the future (today is {clock.today()})")
    actor = _actor()
    try:
        summary = run_import(read_file(file), since=day, dry_run=dry_run, strict=strict,
                             actor=actor)
    except (FormError, NotSSDA903) as exc:
        fail(str(exc))
    if as_json:
        _print_json(summary.as_dict())
    else:
        typer.echo(summary.line())
        for ref in summary.opened[:20]:
            typer.echo(f"  opened {ref}")
        if len(summary.opened) > 20:
            typer.echo(f"  ... and {len(summary.opened) - 20} more opened (--json lists them)")
        for ref in summary.disrupted:
            typer.echo(f"  {ref} closed as disrupted; its open obligations are cancelled")
    if summary.rows_refused:
        typer.echo(f"error: {file.name}: {summary.headline()}", err=True)
        for line in summary.error_lines():
            typer.echo(f"  {line}", err=True)
    if summary.refused:
        raise typer.Exit(BAD_INPUT)  # nothing recorded, as for any bad input
    if summary.flow_runs_waiting:
        typer.echo(f"error: {summary.flow_runs_waiting} flow run"
                   f"{'s' if summary.flow_runs_waiting != 1 else ''} not started "
                   f"({summary.why_waiting}); the record is kept, and they start on the next "
                   "import or sweep", err=True)
    if summary.partly or summary.flow_runs_waiting:
        # Recorded, with something left to do: not 2, which says nothing was recorded.
        raise typer.Exit(FAILURE)


@report_app.command("breakdowns")
def report_breakdowns(
    month: Annotated[str | None, typer.Option("--month", help="The month, YYYY-MM.")] = None,
    first: Annotated[str | None, typer.Option(
        "--from", help="The first month of a range, YYYY-MM (with --to).")] = None,
    last: Annotated[str | None, typer.Option(
        "--to", help="The last month of a range, YYYY-MM (with --from).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Placement breakdowns for a month (001): endings, stability meetings, overdue actions; or
    for the months --from M1 --to M2, side by side."""
    from stepdown.db import session_scope
    from stepdown.reports import breakdowns, table_rows

    if (month is None) == (first is None and last is None) or (first is None) != (last is None):
        fail("month: give --month M, or --from M1 --to M2")
    if month is None:
        assert first is not None and last is not None
        _report_range(first, last, as_json)
        return
    try:
        with session_scope() as session:
            report = breakdowns(session, month=month, as_of=clock.today())
    except FormError as exc:
        fail(str(exc))
    if as_json:
        _print_json(report)
        return
    typer.echo(f"Placement breakdowns, {report['month']} (as of {report['as_of']})")
    typer.echo(f"  {'measure':45} {'value':>5}")
    for row in table_rows(report):
        typer.echo(f"  {row['measure']:45} {row['value']:>5}")
    for action in report["overdue_actions"]["actions"]:
        typer.echo(f"  overdue: {action['ref']} {action['key']} {action['owner']} due "
                   f"{action['due']} ({action['days_late']} days late)")


def _report_range(first: str, last: str, as_json: bool) -> None:
    from stepdown.db import session_scope
    from stepdown.reports import breakdowns, months, side_by_side

    try:
        span = months(first, last)
        with session_scope() as session:
            reports = [breakdowns(session, month=m, as_of=clock.today()) for m in span]
    except FormError as exc:
        fail(str(exc))
    table = side_by_side(reports)
    if as_json:
        _print_json({"from": first, "to": last, "as_of": str(clock.today()), "months": span,
                     "table": table, "reports": reports})
        return
    typer.echo(f"Placement breakdowns, {first} to {last} (as of {clock.today()})")
    typer.echo(f"  {'measure':45}" + "".join(f" {m:>7}" for m in span))
    for row in table:
        typer.echo(f"  {row['measure']:45}" + "".join(f" {row[m]:>7}" for m in span))


def _load(ref: str) -> Any:
    from stepdown.records import NotFound, get_process

    try:
        from stepdown.db import session_scope

        with session_scope() as session:
            return get_process(session, ref=ref)
    except NotFound as exc:
        fail(str(exc))


def _show(ref: str) -> dict[str, Any]:
    from stepdown import orchestration
    from stepdown.db import session_scope
    from stepdown.records import get_process, stage_runs, timeline
    from stepdown.staff import assigned_people

    _load(ref)
    with session_scope() as session:
        process = get_process(session, ref=ref)
        runs = stage_runs(session, process=process)
        items = timeline(session, process=process, as_of=clock.today())
        people = assigned_people(session, process=process)
    flow_runs, reachable = [], True
    for run in runs:
        if not run.flow_run_id:  # a stage recorded without a run of its own: nothing to show
            continue
        state = "unknown (server unreachable)"  # the record still shows
        if reachable:
            try:
                state = orchestration.run_state(run.flow_run_id)[1]
            except orchestration.Unreachable:
                reachable = False
            except orchestration.OrchestrationError as exc:
                state = f"unknown ({exc})"
        flow_runs.append({"stage": run.stage, "name": f"{ref}-{run.stage}",
                          "flow_run_id": run.flow_run_id, "state": state,
                          "started_on": str(run.started_on),
                          "ended_on": str(run.ended_on) if run.ended_on else None,
                          "url": orchestration.ui_url(run.flow_run_id)})
    with session_scope() as session:
        from stepdown.corrections import pending_restart

        pending = pending_restart(session, process=get_process(session, ref=ref))
    open_items = [i for i in items if i["status"] in ("pending", "overdue", "escalated")]
    return {
        "restart_pending": pending.key if pending else None,
        "ref": process.ref, "process": process.kind, "child": process.child_ref,
        "stage": process.stage, "status": process.status, "outcome": process.outcome,
        "opened_on": str(process.opened_on),
        "closed_on": str(process.closed_on) if process.closed_on else None,
        "waiting_for": process.waiting_for,
        "assigned": people,
        "overdue": [i for i in open_items if i["status"] in ("overdue", "escalated")],
        "next_due": [i for i in open_items if i["status"] == "pending" and i["due"]][:10],
        "open_checklist": [i["key"] for i in open_items if i["due"] is None],
        "flow_runs": flow_runs,
    }


@case_app.command("show")
def case_show(
    ref: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Stage, status, what the case waits for, and its flow runs."""
    shown = _show(ref)
    if as_json:
        _print_json(shown)
        return
    status = shown["status"] + (f" ({shown['outcome']})" if shown["outcome"] else "")
    typer.echo(f"{shown['ref']}  {shown['process']}  child {shown['child']}")
    typer.echo(f"  stage: {shown['stage']}   status: {status}   opened {shown['opened_on']}")
    typer.echo(f"  waiting for: {shown['waiting_for'] or '-'}")
    typer.echo("  assigned: " + (", ".join(f"{role} {email}" for role, email
                                           in shown["assigned"].items()) or "nobody"))
    listed = [(label, item) for label, items in (("overdue", shown["overdue"]),
                                                 ("next due", shown["next_due"]))
              for item in items]
    if listed:
        typer.echo(f"  {'':9} {'due':25} {'obligation':34} owner")
    for label, item in listed:
        typer.echo(f"  {label:9} {item['due'] or '':25} {item['key']:34} {item['owner']}")
    if shown["open_checklist"]:
        typer.echo(f"  checklist open: {', '.join(shown['open_checklist'])}")
    for run in shown["flow_runs"]:
        typer.echo(f"  flow run {run['name']}: {run['state']}  {run['url']}")
    if shown["restart_pending"]:
        typer.echo(f"  flow run not restarted after {shown['restart_pending']} was corrected: "
                   f"repeat `stepdown correct {ref} {shown['restart_pending']}`")


@case_app.command("timeline")
def case_timeline(
    ref: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Judge status as of this day.")] = (
        None),
) -> None:
    """Every obligation of the process and of the child's other open processes (each with its
    process's reference), with its status as of a day (default today)."""
    from stepdown.db import session_scope
    from stepdown.records import get_process, timeline

    day = _date("as-of", as_of) or clock.today()
    _load(ref)
    with session_scope() as session:
        items = timeline(session, process=get_process(session, ref=ref), as_of=day, child=True)
    if as_json:
        _print_json(items)
        return
    # Whose each obligation is, once the timeline has another process's (the child's timeline).
    whose = any(item["ref"] != ref for item in items)
    typer.echo(f"{'status':10} {'due (earliest..due)':36} {'obligation':36} {'owner':26} "
               + (f"{'done':10} process" if whose else "done"))
    for item in items:
        window = f"{item['earliest']}.." if item["earliest"] else ""
        line = (f"{item['status']:10} {window + (item['due'] or '-'):36} {item['key']:36} "
                f"{item['owner']:26} ")
        typer.echo(line + (f"{item['done_on'] or '':10} {item['ref']}" if whose
                           else item["done_on"] or ""))


@case_app.command("list")
def case_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    child: Annotated[str | None, typer.Option(
        "--child", help="Only the processes of this child (the opaque reference).")] = None,
) -> None:
    """Every process (or every process of one child), newest last."""
    from stepdown.db import session_scope
    from stepdown.records import list_processes

    if child is not None:
        _reference("child", child)
    with session_scope() as session:
        rows = [{"ref": p.ref, "process": p.kind, "child": p.child_ref, "stage": p.stage,
                 "status": p.status, "outcome": p.outcome, "opened_on": str(p.opened_on),
                 "waiting_for": p.waiting_for}
                for p in list_processes(session, child_ref=child)]
    if as_json:
        _print_json(rows)
        return
    typer.echo(f"{'ref':16} {'process':16} {'child':16} {'stage':15} {'status':7} "
               f"{'outcome':20} waiting for")
    for row in rows:
        typer.echo(f"{row['ref']:16} {row['process']:16} {row['child']:16} {row['stage']:15} "
                   f"{row['status']:7} {row['outcome'] or '-':20} {row['waiting_for'] or '-'}")


@app.command("child")
def child_command(
    child: Annotated[str, typer.Argument(help="The child's opaque reference (ID).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Judge status as of this day.")] = (
        None),
) -> None:
    """A child's processes, open first: each one's stage, what it waits for, who is assigned and
    its next three open obligations; then the closed ones."""
    from stepdown.db import session_scope
    from stepdown.records import NotFound, child_summary

    _reference("child", child)
    day = _date("as-of", as_of) or clock.today()
    try:
        with session_scope() as session:
            summary = child_summary(session, child_ref=child, as_of=day)
    except NotFound as exc:
        fail(str(exc))
    if as_json:
        _print_json(summary)
        return
    processes = summary["processes"]
    still = [p for p in processes if p["status"] == "open"]
    typer.echo(f"child {child} as of {day}: {len(still)} open, "
               f"{len(processes) - len(still)} closed")
    for shown in still:
        typer.echo("")
        typer.echo(f"{shown['ref']}  {shown['process']}  stage {shown['stage']}  open  "
                   f"opened {shown['opened_on']}")
        typer.echo(f"  waiting for: {shown['waiting_for'] or '-'}")
        typer.echo("  assigned: " + (", ".join(f"{role} {email}" for role, email
                                               in shown["assigned"].items()) or "nobody"))
        if not shown["next"]:
            typer.echo("  nothing open")
            continue
        overdue = f", {shown['overdue']} overdue" if shown["overdue"] else ""
        typer.echo(f"  next ({len(shown['next'])} of {shown['open_obligations']} open{overdue}):")
        for item in shown["next"]:
            owner = item["escalated_to"] or item["owner"]
            due = (item["due"] or "undated")[:16].replace("T", " ")  # an hour: London time
            typer.echo(f"    {item['status']:9} {due:16} {item['key']:34} {owner:26} "
                       f"{item['title']}")
    closed = [p for p in processes if p["status"] != "open"]
    if closed:
        typer.echo("")
        typer.echo("closed:")
    for shown in closed:
        outcome = f" ({shown['outcome']})" if shown["outcome"] else ""
        on = f" on {shown['closed_on']}" if shown["closed_on"] else ""
        typer.echo(f"  {shown['ref']}  {shown['process']}  stage {shown['stage']}  closed"
                   f"{outcome}{on}  opened {shown['opened_on']}")


@case_app.command("audit")
def case_audit(
    ref: Annotated[str, typer.Argument(help="The process reference.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The process's audit trail, oldest first: when, who (an email where the command or the
    UI gave it, else cli, ui or sweep), what, and the detail's keys and statuses, with what
    people wrote to explain a correction, an early input or acting in a role."""
    from stepdown.db import session_scope
    from stepdown.trail import case_audit as trail
    from stepdown.trail import line

    _load(ref)
    with session_scope() as session:
        rows = trail(session, ref=ref)
    if as_json:
        _print_json(rows)
        return
    typer.echo(f"{'at (Europe/London)':25} {'actor':30} {'action':24} detail")
    for row in rows:
        typer.echo(f"{row['at']:25} {row['actor']:30} {row['action']:24} "
                   f"{line(row['detail'])}".rstrip())


# ------------------------------------------------------------------------------------ worklist
@app.command("worklist")
def worklist_command(
    team: Annotated[str | None, typer.Option("--team", help="Only the cases of this team.")] = (
        None),
    owner: Annotated[str | None, typer.Option(
        "--owner", help="Only what this person (email) owns, or hears of as team manager.")] = (
        None),
    as_of: Annotated[str | None, typer.Option("--as-of", help="Judge as of this day.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What is escalated, overdue, due this week or waiting for a form, and who owns it.

    Across every open case; "this week" is the seven days from the day judged."""
    from stepdown.db import session_scope
    from stepdown.worklist import COLUMNS, worklist

    day = _date("as-of", as_of) or clock.today()
    try:
        with session_scope() as session:
            items = worklist(session, as_of=day, team=team, owner=owner)
    except FormError as exc:
        fail(str(exc).replace("email", "owner", 1))
    if as_json:
        _print_json([item.as_json() for item in items])
        return
    widths = (16, 16, 14, 34, 50, 26, 0)
    typer.echo(" ".join(f"{c:{w}}" for c, w in zip(COLUMNS, widths, strict=True)).rstrip())
    for item in items:
        typer.echo(" ".join(f"{v:{w}}" for v, w in zip(item.row().values(), widths,
                                                          strict=True)).rstrip())


# ------------------------------------------------------------------------------------ staff
staff_app = typer.Typer(no_args_is_help=True, help="The staff directory.")
app.add_typer(staff_app, name="staff")


@staff_app.command("import")
def staff_import(
    file: Annotated[Path, typer.Argument(help="CSV with email,role,manager_email,team "
                                              "(optional: name,teams_channel).")],
) -> None:
    """Create or update people in the staff directory (a re-import updates them)."""
    from stepdown.db import session_scope
    from stepdown.staff import import_staff

    actor = _actor(directory=False)  # the first import fills the directory
    try:
        text = file.read_text("utf-8-sig")
    except OSError as exc:
        fail(f"file: cannot read {file} ({exc.strerror})")
    try:
        with session_scope() as session:
            counts = import_staff(session, text=text, actor=actor)
    except FormError as exc:
        fail(str(exc))
    typer.echo(f"staff imported: {counts['created']} created, {counts['updated']} updated, "
               f"{counts['teams']} teams")


@case_app.command("assign")
def case_assign(
    ref: Annotated[str, typer.Argument(help="The process reference.")],
    role: Annotated[str, typer.Argument(help="The role, e.g. social_worker.")],
    email: Annotated[str, typer.Argument(help="The person's email in the staff directory.")],
    acting: Annotated[str | None, typer.Option(
        "--acting", help="Why a person of another directory role acts in ROLE (audited).")] = None,
) -> None:
    """Put a person on a process in a role; reminders and escalations then reach them. The
    person's directory role must be ROLE, unless --acting gives the reason."""
    from stepdown import orchestration
    from stepdown.db import session_scope
    from stepdown.records import NotFound, get_process, stage_runs
    from stepdown.staff import assign, team_of_case
    from stepdown.worklist import refresh_for_case

    actor = _actor()
    try:
        with session_scope() as session:
            before = team_of_case(session, process=get_process(session, ref=ref))
            assign(session, ref=ref, role=role, email=email, actor=actor, acting=acting)
            process = get_process(session, ref=ref)
            team = team_of_case(session, process=process)
            runs = [r.flow_run_id for r in stage_runs(session, process=process) if r.flow_run_id]
            if role == "social_worker" and team and runs:
                orchestration.ping()  # the runs are tagged below: unreachable, nothing changes
    except (FormError, NotFound) as exc:
        fail(str(exc))
    except orchestration.OrchestrationError as exc:
        fail(str(exc), FAILURE)
    typer.echo(f"{ref}: {role} is {email.lower()}")
    refresh_for_case(ref, also=(before,))  # who owns what changed; the team may have too
    if role == "social_worker" and team:
        try:  # the team's runs can then be filtered in the UI by tag
            orchestration.add_tag(runs, f"team:{team}")
        except Exception as exc:  # noqa: BLE001
            typer.echo(f"warning: flow runs of {ref} not tagged team:{team} ({exc})", err=True)


# ------------------------------------------------------------------------------------ sweep
@app.command("sweep")
def sweep_command(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Sweep as of this day, today or earlier (default: now).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Rehearse: print what would be sent; write and send nothing.")] = False,
) -> None:
    """Run the sweep flow now: fire due reminders and escalations, deliver the outbox."""
    from stepdown import orchestration

    day = _date("as-of", as_of)
    if dry_run:
        _rehearse(day)
        return
    if day is not None and day > clock.today():
        fail(f"as-of: {day} is in the future (today is {clock.today()}): a sweep would "
             f"escalate and send now; rehearse it with --as-of {day} --dry-run")
    try:
        orchestration.ping()
    except orchestration.OrchestrationError as exc:
        fail(str(exc), FAILURE)
    from stepdown.flows.sweep import sweep

    result = sweep(as_of=str(day) if day else None)
    if result.get("skipped"):
        typer.echo(f"sweep {result['as_of']}: skipped ({result['skipped']})")
        return
    typer.echo(f"sweep {result['as_of']}: {result['rungs']} rungs fired, {result['escalated']} "
               f"escalated; {result['sent']} sent, {result['retrying']} to retry, "
               f"{result['failed']} failed{result.get('why', '')}")


def _rehearse(day: date | None) -> None:
    """`sweep --dry-run`: the sweep's write in a rolled-back transaction; nothing is sent."""
    from stepdown.domain.calendar import is_working_day
    from stepdown.notifications.rehearsal import rehearse

    as_of = day or clock.today()
    if day is None and not is_working_day(as_of):
        typer.echo(f"sweep {as_of} (dry run): would skip (not a working day)")
        return
    shown = rehearse(as_of=as_of, explicit_day=day is not None)
    typer.echo(f"{'channel':7} {'to':32} subject")
    for message in shown.messages:
        typer.echo(f"{message['channel']:7} {message['to']:32} {message['subject']}"
                   + ("" if message["new"] else "  (already in the outbox)"))
    typer.echo(f"sweep {as_of} (dry run, nothing written or sent): {shown.rungs} rungs would "
               f"fire, {shown.escalated} escalated; {len(shown.messages)} messages would be sent")


@app.command("outbox")
def outbox_command(
    status: Annotated[str | None, typer.Option(
        "--status", help="pending, sent or failed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The outbox: every message written, its status and attempts."""
    from sqlmodel import col, select

    from stepdown.db import session_scope
    from stepdown.models.tables import Message

    if status is not None and status not in ("pending", "sent", "failed"):
        fail(f"status: must be pending, sent or failed (got {status!r})")
    with session_scope() as session:
        query = select(Message).order_by(col(Message.id))
        if status:
            query = query.where(Message.status == status)
        rows = [{"id": m.id, "channel": m.channel, "to": m.recipient, "subject": m.subject,
                 "status": m.status, "attempts": m.attempts, "last_error": m.last_error,
                 "created_at": m.created_at.isoformat(),
                 "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                 "key": m.dedupe_key} for m in session.exec(query).all()]
    if as_json:
        _print_json(rows)
        return
    typer.echo(f"{'id':>6} {'status':8} {'channel':7} {'to':32} subject")
    for row in rows:
        typer.echo(f"{row['id']:6} {row['status']:8} {row['channel']:7} {row['to']:32} "
                   f"{row['subject']}")


# ------------------------------------------------------------------------------------ input
def _read_data(data: str | None, file: Path | None) -> Any:
    if (data is None) == (file is None):
        fail("data: give exactly one of --data JSON and --file PATH")
    if file is not None:
        try:
            data = file.read_text("utf-8")
        except OSError as exc:
            fail(f"file: cannot read {file} ({exc.strerror})")
    try:
        return json.loads(data or "")
    except json.JSONDecodeError as exc:
        fail(f"data: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")


@app.command("input")
def input_(
    ref: Annotated[str, typer.Argument(help="The process reference.")],
    key: Annotated[str, typer.Argument(help="A form name or an obligation key.")],
    data: Annotated[str | None, typer.Option("--data", help="The form's fields as JSON.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A JSON file of the fields.")] = None,
) -> None:
    """Submit a form or complete an obligation; exits 0 once it is applied to the timeline."""
    from stepdown import orchestration
    from stepdown.db import session_scope
    from stepdown.inputs import check, flow_waits_for
    from stepdown.records import NotFound, case_view, get_process

    payload = _submitted_by(_read_data(data, file))
    _load(ref)
    try:
        with session_scope() as session:
            process = get_process(session, ref=ref)
            view = case_view(session, process=process)
            try:
                checked = check(view, key, payload)
            except FormError:
                if _already_recorded(session, process, key, payload):
                    typer.echo(f"{ref}: {key} was already recorded with these values; "
                               "nothing changed")
                    raise typer.Exit(0) from None
                raise
    except (FormError, NotFound) as exc:
        fail(str(exc))
    if not flow_waits_for(view, key):
        _record_directly(ref, key, payload)
        _publish(ref)
    else:
        try:
            orchestration.ping()  # before waiting for the run to be ready for it
            _hand_to_flow(ref, key, payload, checked.data)
        except orchestration.OrchestrationError as exc:
            fail(str(exc), FAILURE)
    typer.echo(f"{ref}: {key} recorded")


def _already_recorded(session: Any, process: Any, key: str, payload: Any) -> bool:
    """Whether ``key`` is done by an accepted input of exactly ``payload``: a command repeated
    after it was killed (or lost its answer) is told it was applied, not refused."""
    from sqlmodel import col, select

    from stepdown.models.tables import Obligation, Submission

    done = session.exec(select(Obligation.status).where(
        Obligation.process_id == process.id, Obligation.key == key)).first()
    last = session.exec(select(Submission.data).where(
        Submission.process_id == process.id, Submission.form == key,
        Submission.status == "accepted").order_by(col(Submission.id).desc())).first()
    return done == "done" and last is not None and last == payload


def _submitted_by(payload: Any) -> Any:
    """The form with the person making the change (--as) as its ``submitted_by``: the audit
    trail's actor of the input, wherever the input is applied (here or by the flow run)."""
    if not isinstance(payload, dict):
        return payload  # refused by the form's check, with its own message
    given = str(payload.get("submitted_by") or "").lower()
    if _as["email"]:
        actor = _actor()
        if given and given != actor:
            fail(f"submitted_by: {given} differs from --as/STEPDOWN_ACTOR ({actor})")
        return {**payload, "submitted_by": actor}
    if given:
        return {**payload, "submitted_by": _actor(email=given, name="submitted_by")}
    return payload


def _record_directly(ref: str, key: str, payload: Any) -> None:
    from stepdown.db import session_scope
    from stepdown.inputs import apply_input
    from stepdown.records import NotFound, closed_in, get_process, unstarted_links

    try:
        with session_scope() as session:
            process = get_process(session, ref=ref, lock=True)
            apply_input(session, process=process, key=key, data=payload, channel="cli")
            linked = [(other.ref, other.kind, other.stage)
                      for other in unstarted_links(session, process=process)]
            closed = closed_in(session)
    except (FormError, NotFound) as exc:
        fail(str(exc))
    if linked or closed:
        from stepdown.tasks.case import cancel_closed, start_linked

        start_linked(linked)
        cancel_closed(closed, f"closed by {key} of {ref}")


def _hand_to_flow(ref: str, key: str, payload: Any, values: dict[str, Any]) -> None:
    """Wait until the case's flow run waits for ``key``, record the input, resume the run, and
    wait until the flow has applied it.

    The input is recorded and the run resumed in one transaction, under the case's lock: of two
    clients submitting the same form at once exactly one resumes the run (Prefect resumes a
    paused run once) and the other is told, with nothing recorded; a command killed before its
    commit leaves no half-recorded input behind. A retry of an input already applied (the
    command was killed after resuming the run) is told so at once."""
    from stepdown import orchestration
    from stepdown.db import session_scope
    from stepdown.records import accepted_forms, find_submission, get_process, record_submission

    timeout = get_settings().input_timeout

    def waiting() -> tuple[str, str] | str | None:
        with session_scope() as session:
            process = get_process(session, ref=ref)
            if process.waiting_for != key or not process.waiting_flow_run_id:
                if process.waiting_for is not None or process.status != "open":
                    # Waiting for another form (or closed): is this one already applied?
                    done = accepted_forms(session, process=process).get(key)
                    if done:
                        return "same" if done[-1] == values else "other"
                return None
            run_id, input_key = process.waiting_flow_run_id, process.waiting_input_key
        if orchestration.run_state(run_id)[0] != "PAUSED":
            return None
        return run_id, str(input_key)

    found = orchestration.poll(waiting, timeout=timeout)
    if found == "same":
        typer.echo(f"{ref}: {key} was already recorded with these values; nothing changed")
        raise typer.Exit(0)
    if found == "other":
        fail(f"{key}: already recorded with other values, and the case has moved on (see "
             f"`stepdown case show {ref}`; `stepdown correct {ref} {key}` reverses it)")
    if not found or isinstance(found, str):
        raise orchestration.OrchestrationError(
            f"{ref} is not waiting for {key} after {timeout:.0f}s: see `stepdown case show {ref}`")
    run_id, input_key = found
    with session_scope() as session:  # write before acknowledging: the input is on record
        process = get_process(session, ref=ref, lock=True)
        if (process.waiting_input_key, process.waiting_flow_run_id) != (input_key, run_id):
            taken = True  # applied meanwhile, from another client
        else:
            record_submission(session, process=process, form=key, data=payload, channel="cli",
                              values=values, flow_run_id=run_id, input_key=input_key,
                              status="received", actor=values.get("submitted_by") or None)
            session.flush()
            try:  # still in the transaction: commits only once the run has taken the input
                orchestration.resume(run_id, values)
                taken = False
            except orchestration.NotPaused:
                taken = True
            if taken:
                session.rollback()
    if taken:
        fail(f"{key}: not recorded: flow run {ref} was given another {key} first, by another "
             f"client (see `stepdown case show {ref}`)")

    # The record is read often (a local read), the run's state now and then (a request).
    asked = [time.monotonic()]

    def applied() -> tuple[str, str | None] | None:
        with session_scope() as session:
            row = find_submission(session, process=get_process(session, ref=ref),
                                  input_key=input_key, flow_run_id=run_id)
            if row is not None and row.status != "received":
                return row.status, row.error
        if time.monotonic() - asked[0] < 1:
            return None
        asked[0] = time.monotonic()
        state = orchestration.run_state(run_id)[0]
        if state in ("FAILED", "CRASHED", "CANCELLED"):
            return "failed", f"flow run {ref} ended {state.lower()}"
        return None

    result = orchestration.poll(applied, timeout=timeout, every=0.05)
    if not result:
        raise orchestration.OrchestrationError(
            f"{key} was handed to flow run {run_id} but not applied within {timeout:.0f}s")
    status, error = result
    if status == "rejected":
        fail(error or f"{key} was refused")
    if status == "failed":
        raise orchestration.OrchestrationError(error or "the flow run failed")


# ------------------------------------------------------------------------------------ correct
@app.command("correct")
def correct(
    ref: Annotated[str, typer.Argument(help="The process reference.")],
    key: Annotated[str, typer.Argument(help="The form or obligation key whose latest input "
                                            "is corrected.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
) -> None:
    """Reverse a recorded input: reopen, re-plan, restart the waiting flow run.

    It reopens what the input closed, undoes the stage it started, re-plans the obligations and
    restarts the stage's flow run so it waits for the form again."""
    from stepdown import orchestration
    from stepdown.corrections import correct_input, describe, restart_flow
    from stepdown.db import session_scope
    from stepdown.records import NotFound

    _load(ref)
    try:
        with session_scope() as session:
            done = correct_input(session, ref=ref, key=key, reason=reason, actor="cli")
    except (FormError, NotFound) as exc:
        fail(str(exc))
    url = None
    if done.restart:
        try:
            url = orchestration.ui_url(restart_flow(done))
        except orchestration.OrchestrationError as exc:
            fail(f"{describe(done, None)}; but flow run {ref}-{done.stage} was not restarted "
                 f"({exc}); repeat this command once the server answers", FAILURE)
    _publish(ref)
    typer.echo(describe(done, url))


# ------------------------------------------------------------------------------------ policy
policy_app = typer.Typer(no_args_is_help=True, help="The policy's timescales, and presets.")
app.add_typer(policy_app, name="policy")


def _policy(name: str | None, argument: str) -> Policy:
    """The policy ``name`` names (a shipped preset or a file), else the configured one; where
    it and the declarations disagree, a warning."""
    from stepdown.domain.declarations import DeclarationError
    from stepdown.domain.policy import PolicyError, parse_policy, policy_text
    from stepdown.records import current_policy, declarations

    try:
        if name is None:
            policy = current_policy()
        else:
            try:
                text, path = policy_text(name)
            except PolicyError as exc:
                fail(f"{argument}: {exc}")
            policy = parse_policy(text, path=path, catalogue=declarations())
    except (DeclarationError, PolicyError) as exc:
        fail(str(exc))
    for problem in policy.problems:
        typer.echo(f"warning: {problem}", err=True)
    return policy


@policy_app.command("show")
def policy_show(
    name: Annotated[str | None, typer.Argument(
        help="A preset (default, lancashire-step-down, somerset, south-gloucestershire) or a "
        "policy file. Default: the one STEPDOWN_POLICY chooses.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every timescale of a policy, with its owner and source, to check against a document."""
    from stepdown.timescales import SHOW_COLUMNS, SHOW_WRAP, settings_text, show_rows, table

    policy = _policy(name, "name")
    rows = show_rows(policy)
    if as_json:
        _print_json({"name": policy.name, "path": policy.path, "extends": list(policy.extends),
                     "settings": policy.settings, "rules": rows})
        return
    for line in table(SHOW_COLUMNS, [tuple(row.values()) for row in rows], SHOW_WRAP):
        typer.echo(line)
    for key, value in policy.settings.items():
        typer.echo(f"[settings] {key} = {settings_text(value)}")
    extends = f", extends {' -> '.join(policy.extends)}" if policy.extends else ""
    typer.echo(f"policy {policy.name} ({policy.path}{extends}): {len(rows)} rules")


@policy_app.command("diff")
def policy_diff(
    a: Annotated[str, typer.Argument(help="A preset or a policy file.")],
    b: Annotated[str, typer.Argument(help="Another preset or policy file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where two policies differ: each rule in one only, each differing attribute and setting.

    Exits 0 whether or not they differ (2 if one cannot be loaded)."""
    from stepdown.timescales import DIFF_COLUMNS, diff_rows, table

    first, second = _policy(a, "a"), _policy(b, "b")
    rows = diff_rows(first, second)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo(f"{first.name} ({first.path}) and {second.name} ({second.path}) are "
                   "identical: every rule and setting is the same")
        return
    names = (first.name, second.name) if first.name != second.name else (
        f"a: {first.path}", f"b: {second.path}")
    wrap = {names[0]: 56, names[1]: 56}
    for line in table((*DIFF_COLUMNS, *names), [tuple(row.values()) for row in rows], wrap):
        typer.echo(line)
    typer.echo(f"{len(rows)} differences between {first.name} ({first.path}) and "
               f"{second.name} ({second.path})")


# ------------------------------------------------------------------------------------ forms
@app.command("forms")
def forms_command(
    key: Annotated[str | None, typer.Argument(
        help="A form (identification.suitability) or an obligation key "
        "(support.monthly_review#6): show just that one, with an example.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What every form and obligation completion takes: fields, types, choices and help."""
    from stepdown import formdocs
    from stepdown.records import current_policy

    policy = current_policy()
    if key is None:
        docs = formdocs.catalogue(policy)
        if as_json:
            _print_json([d.as_dict() for d in docs])
            return
        typer.echo("\n\n".join(formdocs.render(d, example=False) for d in docs))
        typer.echo("\n`stepdown forms KEY` shows one form with an example.")
        return
    try:
        doc = formdocs.find(policy, key)
    except formdocs.UnknownForm as exc:
        fail(str(exc))
    if as_json:
        _print_json(doc.as_dict())
    else:
        typer.echo(formdocs.render(doc))


def main() -> None:
    import httpx
    import pydantic

    from stepdown.domain.declarations import DeclarationError
    from stepdown.domain.policy import PolicyError

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except (DeclarationError, PolicyError) as exc:  # a local declaration or policy file
        typer.echo(f"error: {exc}", err=True)
        sys.exit(BAD_INPUT)
    except pydantic.ValidationError as exc:
        if exc.title != "Settings":
            raise
        # A bad STEPDOWN_* setting: name it and its rule in one line.
        first = exc.errors()[0]
        name = "STEPDOWN_" + str(first["loc"][0] if first["loc"] else "").upper()
        typer.echo(f"error: {name}: {first['msg'].removeprefix('Value error, ')}", err=True)
        sys.exit(BAD_INPUT)
    except (httpx.TransportError, ConnectionError) as exc:
        # A safety net: each command says which server it could not reach before this.
        from stepdown.orchestration import unreachable

        typer.echo(f"error: {unreachable(exc)}", err=True)
        sys.exit(FAILURE)


if __name__ == "__main__":
    main()
