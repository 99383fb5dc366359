"""What the Prefect UI shows of a case: a Markdown artifact per process, keyed by its reference,
with its timeline (escalated, overdue, due, done, open checklist) and what it waits for.

Published whenever a flow applies an input or waits for one, when the command line records an
obligation, and when the sweep escalates. Case references only: no child data.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from stepdown import clock
from stepdown.db import session_scope
from stepdown.records import (
    current_policy,
    get_process,
    last_refusal,
    linked_processes,
    timeline,
)

GROUPS = (
    ("escalated", "Escalated (the manager owns it)"),
    ("overdue", "Overdue"),
    ("pending", "Due"),
    ("done", "Done"),
    ("waived", "Waived"),
    ("cancelled", "Cancelled"),
)


def artifact_key(ref: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes."""
    return "case-" + re.sub(r"[^a-z0-9]+", "-", ref.lower()).strip("-")


def _title(key: str) -> str:
    """The policy's title: free text a practitioner typed (an action's wording) could name the
    child, so it stays in the case record and out of the UI's artifacts."""
    rule = current_policy().rule_for_key(key)
    return rule.title if rule else key


def _table(items: list[dict[str, Any]]) -> list[str]:
    lines = ["| due | what | key | owner | done | process |", "|---|---|---|---|---|---|"]
    for item in items:
        due = item["due"] or "-"
        if item["earliest"]:
            due = f"{item['earliest']} to {due}"
        lines.append(f"| {due} | {_title(item['key'])} | `{item['key']}` | {item['owner']} | "
                     f"{item['done_on'] or ''} | {item['ref']} |")
    return lines


def case_markdown(ref: str, *, as_of: date | None = None) -> str:
    as_of = as_of or clock.today()
    with session_scope() as session:
        process = get_process(session, ref=ref)
        items = timeline(session, process=process, as_of=as_of)
        linked = [p.ref for p in linked_processes(session, process=process)]
        kind, stage, waiting = process.kind, process.stage, process.waiting_for
        status = process.status + (f" ({process.outcome})" if process.outcome else "")
        refusal = (last_refusal(session, process=process, form=process.waiting_for)
                   if process.waiting_for else None)
        refused = (refusal.channel, refusal.error or "") if refusal else None
    out = [f"# {ref}: {kind.replace('_', ' ')}",
           f"**Stage:** {stage} · **Status:** {status} · **As of:** {as_of}", ""]
    if refused:
        # The reason only: the refused values (free text among them) stay in the case record.
        from stepdown.flows.prompt import reason_only

        channel, error = refused
        out += [f"> **Last input refused** (through the {channel}): "
                f"{reason_only(error)}. What was entered is back in the form as its defaults.", ""]
    if waiting:
        out += [f"**Waiting for:** `{waiting}`: open the waiting flow run and click "
                "**Resume** to fill in the form, or `stepdown input " + ref + " "
                + waiting + " --data '{...}'`.", ""]
    if linked:
        out += [f"**Linked processes:** {', '.join(linked)}", ""]
    for status_name, title in GROUPS:
        # Undated items still open are the checklist, below; done ones belong with the done.
        group = [i for i in items if i["status"] == status_name
                 and (i["due"] or status_name in ("done", "waived", "cancelled"))]
        if group:
            out += [f"## {title} ({len(group)})", "", *_table(group), ""]
    checklist = [i for i in items if not i["due"] and i["status"] in ("pending", "overdue")]
    if checklist:
        out += [f"## Open checklist ({len(checklist)})", "",
                *[f"- [ ] {_title(i['key'])}: {i['key']}, {i['owner']}" for i in checklist],
                ""]
    return "\n".join(out)


def _in_a_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def publish_markdown(*, key: str, markdown: str, description: str) -> None:
    """The next version of a Markdown artifact: within a flow run, attached to it; from the
    command line, through the API (see orchestration.create_artifact)."""
    if not _in_a_run():
        from stepdown.orchestration import create_artifact

        create_artifact(key=key, type="markdown", data=markdown, description=description)
        return
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key=key, markdown=markdown, description=description)


def publish_table(*, key: str, table: list[dict[str, Any]], description: str) -> None:
    """The next version of a table artifact, as :func:`publish_markdown` publishes."""
    if not _in_a_run():
        import json

        from stepdown.orchestration import create_artifact

        create_artifact(key=key, type="table", data=json.dumps(table, default=str),
                        description=description)
        return
    from prefect.artifacts import create_table_artifact

    create_table_artifact(key=key, table=table, description=description)


def publish_case(ref: str, *, worklist: bool = True) -> None:
    """Create the next version of the case's Markdown artifact, and refresh its team's
    worklist (unless the caller refreshes every team's at once, as the sweep does)."""
    from stepdown.worklist import refresh_for_case

    publish_markdown(key=artifact_key(ref), markdown=case_markdown(ref),
                     description=f"Timeline of {ref}")
    if worklist:
        refresh_for_case(ref)
