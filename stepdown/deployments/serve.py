"""Serve every deployment in this process (started by `stepdown serve`, or on its own).

Needs PREFECT_API_URL pointing at a running Prefect server.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from prefect import serve

from stepdown.deployments import TIMEZONE, all_specs


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # Started in the background, a process may inherit SIGINT ignored: stop on both signals.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    from prefect.client.schemas.schedules import CronSchedule

    # Rehearsals and tests switch the schedules off; every deployment can still be run by hand.
    scheduled = os.environ.get("STEPDOWN_SCHEDULES", "on") != "off"
    deployments = [
        spec.load().to_deployment(
            name=spec.deployment_name, tags=list(spec.tags),
            parameters=dict(spec.parameters) or None,
            schedules=([CronSchedule(cron=spec.cron, timezone=TIMEZONE)]
                       if spec.cron and scheduled else None))
        for spec in all_specs()
    ]
    serve(*deployments)


if __name__ == "__main__":
    main()
