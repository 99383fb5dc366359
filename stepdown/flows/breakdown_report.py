"""The monthly breakdown report (001): publish last month's figures as a Prefect table artifact.

Scheduled on the first of each month; `stepdown report breakdowns --month` prints the same.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from stepdown import clock
from stepdown.db import session_scope
from stepdown.reports import breakdowns, previous_month, table_rows


@task(cache_policy=NO_CACHE, task_run_name="figures for {month}")
def compute(month: str) -> dict:  # type: ignore[type-arg]
    with session_scope() as session:
        return breakdowns(session, month=month, as_of=clock.today())


@flow(name="breakdown-report", persist_result=True)
def breakdown_report(month: str | None = None) -> dict:  # type: ignore[type-arg]
    month = month or previous_month(clock.today())
    report = compute(month)
    create_table_artifact(
        key=f"breakdowns-{month}",
        table=table_rows(report),
        description=f"Placement breakdowns for {month} (source 001): unplanned endings by "
        "reason and placement type, stability meetings, overdue actions. Case references only.",
    )
    return report
