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
from stepdown.records import current_policy, get_process, linked_processes, timeline

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
        head = {"kind": process.kind, "stage": process.stage, "status": process.status,
                "outcome": process.outcome, "waiting": process.waiting_for}
    status = head["status"] + (f" ({head['outcome']})" if head["outcome"] else "")
    out = [f"# {ref}: {head['kind'].replace('_', ' ')}",
           f"**Stage:** {head['stage']} · **Status:** {status} · **As of:** {as_of}", ""]
    if head["waiting"]:
        out += [f"**Waiting for:** `{head['waiting']}`: open the waiting flow run and click "
                "**Resume** to fill in the form, or `stepdown input " + ref + " "
                + head["waiting"] + " --data '{...}'`.", ""]
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


def publish_case(ref: str) -> None:
    """Create the next version of the case's Markdown artifact: within a flow run, attached to
    it; from the command line, through the API (see orchestration.create_artifact)."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.context import FlowRunContext, TaskRunContext

    markdown, description = case_markdown(ref), f"Timeline of {ref}"
    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        from stepdown.orchestration import create_artifact

        create_artifact(key=artifact_key(ref), type="markdown", data=markdown,
                        description=description)
        return
    create_markdown_artifact(key=artifact_key(ref), markdown=markdown, description=description)
