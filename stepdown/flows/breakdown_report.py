"""The monthly breakdown report (001): publish last month's figures as a Prefect table artifact.

Scheduled on the first of each month; `stepdown report breakdowns --month` prints the same.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from stepdown import clock
from stepdown.db import session_scope
from stepdown.reports import breakdowns, last_months, previous_month, table_rows, trend


@task(cache_policy=NO_CACHE, task_run_name="figures for {month}")
def compute(month: str) -> dict:  # type: ignore[type-arg]
    with session_scope() as session:
        return breakdowns(session, month=month, as_of=clock.today())


@task(cache_policy=NO_CACHE, task_run_name="12 months to {month}")
def twelve_months(month: str) -> list:  # type: ignore[type-arg]
    with session_scope() as session:
        return trend(last_months(session, month=month, as_of=clock.today()))


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
    create_table_artifact(  # one row per month, the same columns in each: ready to chart
        key="breakdowns-12-months", table=twelve_months(month),
        description=f"Unplanned endings by month, the 12 months to {month}: by reason, by "
        "placement type, whether a stability meeting came first. Counts only.",
    )
    return report
