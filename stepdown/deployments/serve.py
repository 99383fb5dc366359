"""Serve every deployment in this process (started by `stepdown serve`, or on its own).

Needs PREFECT_API_URL pointing at a running Prefect server.
"""

from __future__ import annotations

import signal
from typing import Any

from prefect import serve

from stepdown.deployments import TIMEZONE, all_specs, schedules


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # Started in the background, a process may inherit SIGINT ignored: stop on both signals.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    from prefect.client.schemas.schedules import CronSchedule

    # Rehearsals and tests switch the schedules off (STEPDOWN_SCHEDULES=off) or move them
    # (STEPDOWN_CRON_<KEY>); every deployment can still be run by hand.
    crons = schedules()
    deployments = [
        spec.load().to_deployment(
            name=spec.deployment_name, tags=list(spec.tags),
            parameters=dict(spec.parameters) or None,
            schedules=([CronSchedule(cron=crons[spec.deployment], timezone=TIMEZONE)]
                       if spec.deployment in crons else None))
        for spec in all_specs()
    ]
    serve(*deployments)


if __name__ == "__main__":
    main()
