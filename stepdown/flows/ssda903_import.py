"""The daily SSDA903 import (DOMAIN.md section 11): read the authority's extract at
STEPDOWN_SSDA903_PATH, open a process for each new unplanned foster ending, keep the rest as
history, and publish the summary as a table artifact. `stepdown import ssda903 FILE` does the same.

The run ends Completed when every row was imported. Otherwise it ends in a Failed state, which
the Prefect UI shows red and counts among the failed runs, named for what happened: **Partly
imported** (the refused rows are named in the artifact, the others imported) or **Refused**
(nothing imported: not a return, too many refused rows, or strict). The flow returns that state
rather than raising: the data is at fault, not the system, so there is no traceback to log.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Failed

from stepdown import clock
from stepdown.config import get_settings

PARTLY_IMPORTED, REFUSED = "Partly imported", "Refused"  # the run's final state, by name


@task(cache_policy=NO_CACHE, task_run_name="import the SSDA903 extract")
def import_extract(path: str, strict: bool = False) -> dict[str, Any]:
    from stepdown.imports import REFUSED as OUTCOME_REFUSED
    from stepdown.imports import read_file, run_import
    from stepdown.ssda903 import NotSSDA903

    try:
        summary = run_import(read_file(path), strict=strict)
    except (NotSSDA903, ValueError) as exc:  # FormError is a ValueError: the file, not a row
        return {"outcome": OUTCOME_REFUSED, "failed": str(exc),
                "table": [{"measure": "outcome", "value": OUTCOME_REFUSED},
                          {"measure": "refused whole", "value": str(exc)}]}
    return {**summary.as_dict(), "line": summary.line(), "headline": summary.headline(),
            "table": summary.table()}


@flow(name="ssda903-import", persist_result=True)
def ssda903_import(path: str | None = None,
                   strict: bool | None = None) -> dict[str, Any] | State[Any]:
    settings = get_settings()
    path = path or settings.ssda903_path
    strict = settings.ssda903_strict if strict is None else strict
    logger = get_run_logger()
    if not path:
        logger.info("STEPDOWN_SSDA903_PATH is not set: nothing imported")
        return {"skipped": "STEPDOWN_SSDA903_PATH is not set"}
    result = import_extract(path, strict)
    day = clock.today().isoformat()
    key = f"ssda903-import-{day}"
    line = result.get("failed") or result["line"]
    create_table_artifact(key=key, table=result["table"],
                          description=f"SSDA903 import of {day}: {line}. Codes, dates and "
                          "case references only.")
    if result.get("failed"):  # not a return at all
        message = f"the SSDA903 extract was refused, nothing imported: {result['failed']}"
        logger.error("%s", message)
        return Failed(name=REFUSED, message=message)
    if result["rows_refused"]:
        name = REFUSED if result["refused_why"] else PARTLY_IMPORTED
        message = (f"the SSDA903 extract: {result['headline']}; the artifact {key} names the "
                   "refused rows")
        logger.error("%s. %s", message, line)
        if name == PARTLY_IMPORTED:
            _waiting(logger, result)
        return Failed(name=name, message=message)
    logger.info("%s", line)
    _waiting(logger, result)
    return {k: v for k, v in result.items() if k != "table"}


def _waiting(logger: Any, result: dict[str, Any]) -> None:
    if result.get("flow_runs_waiting"):
        logger.warning("%s flow runs not started (%s): the next import or sweep starts them",
                       result["flow_runs_waiting"], result.get("why_waiting"))
