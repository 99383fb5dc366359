"""The daily SSDA903 import (DOMAIN.md section 11): read the authority's extract at
STEPDOWN_SSDA903_PATH, open a process for each new unplanned foster ending, keep the rest as
history, and publish the summary as a table artifact. `stepdown import ssda903 FILE` does the same.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Completed

from stepdown import clock
from stepdown.config import get_settings


@task(cache_policy=NO_CACHE, task_run_name="import the SSDA903 extract")
def import_extract(path: str) -> dict[str, Any]:
    from stepdown.imports import read_file, run_import
    from stepdown.ssda903 import NotSSDA903

    try:
        summary = run_import(read_file(path))
    except (NotSSDA903, ValueError) as exc:  # FormError is a ValueError: the file, not a row
        return {"failed": str(exc), "table": [{"measure": "refused", "value": str(exc)}]}
    return {**summary.as_dict(), "line": summary.line(), "table": summary.table()}


@flow(name="ssda903-import", persist_result=True)
def ssda903_import(path: str | None = None) -> dict[str, Any] | State[Any]:
    path = path or get_settings().ssda903_path
    logger = get_run_logger()
    if not path:
        logger.info("STEPDOWN_SSDA903_PATH is not set: nothing imported")
        return {"skipped": "STEPDOWN_SSDA903_PATH is not set"}
    result = import_extract(path)
    day = clock.today().isoformat()
    headline = result.get("failed") or result["line"]
    create_table_artifact(key=f"ssda903-import-{day}", table=result["table"],
                          description=f"SSDA903 import of {day}: {headline}. Codes, dates and "
                          "case references only.")
    if result.get("failed") or result.get("rows_refused"):
        # The run ends in a state named Refused, and the artifact says which rows. Not Failed: a
        # refused file is the data's fault, not a defect, and Prefect's engine logs a traceback
        # for every failed run.
        logger.error("the SSDA903 extract was refused, nothing imported: %s", headline)
        return Completed(name="Refused",
                         message=f"the SSDA903 extract was refused, nothing imported: {headline}")
    logger.info("%s", headline)
    if result.get("flow_runs_waiting"):
        logger.warning("%s flow runs not started (%s): the next import or sweep starts them",
                       result["flow_runs_waiting"], result.get("why_waiting"))
    return {k: v for k, v in result.items() if k != "table"}
