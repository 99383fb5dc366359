"""Serve every deployment in this process (started by `stepdown serve`, or on its own).

Needs PREFECT_API_URL pointing at a running Prefect server. Flow runs start warm and are looked
for as soon as the server schedules or resumes one (stepdown.deployments.runner), unless
``STEPDOWN_WARM_RUNNER=off``, which serves them with ``prefect.serve`` as shipped.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import MethodType, SimpleNamespace
from typing import Any

from prefect import serve

from stepdown.deployments import TIMEZONE, all_specs, schedules


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def served() -> list[tuple[Any, dict[str, Any]]]:
    """Each deployment's flow and how it is deployed (``Flow.to_deployment``'s arguments)."""
    from prefect.client.schemas.schedules import CronSchedule

    # Rehearsals and tests switch the schedules off (STEPDOWN_SCHEDULES=off) or move them
    # (STEPDOWN_CRON_<KEY>); every deployment can still be run by hand.
    crons = schedules()
    return [
        (spec.load(), {
            "name": spec.deployment_name, "tags": list(spec.tags),
            "parameters": dict(spec.parameters) or None,
            "schedules": ([CronSchedule(cron=crons[spec.deployment], timezone=TIMEZONE)]
                          if spec.deployment in crons else None)})
        for spec in all_specs()
    ]


def main() -> None:
    # Started in the background, a process may inherit SIGINT ignored: stop on both signals.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    serve_flows(served())


def _exit_on_sigterm(runner: Any, *_args: Any) -> None:
    """The Runner's SIGTERM handler, less its call of ``stop()``: from the signal handler, in
    the running loop, that call only makes a coroutine nobody awaits (a RuntimeWarning in the
    log). Exiting unwinds the runner as ``prefect.serve`` does."""
    runner._logger.info("SIGTERM received, initiating graceful shutdown...")
    sys.exit(0)


def serve_flows(flows: list[tuple[Any, dict[str, Any]]]) -> None:
    """Serve each flow as a deployment (``to_deployment``'s arguments) until interrupted: as
    ``prefect.serve`` does, with flow runs forked warm and woken by the server's events."""
    import asyncio

    from stepdown.config import get_settings

    if get_settings().warm_runner == "off":
        serve(*[flow.to_deployment(**how) for flow, how in flows])
        return
    from prefect.exceptions import TerminationSignal
    from prefect.flows import _display_serve_start_message
    from prefect.runner import Runner

    from stepdown.deployments import runner as warm

    warm.warm_processes()
    runner = Runner(pause_on_shutdown=True, limit=None)
    # A Runner runs the flows it was given (add_flow) in a subprocess of their own: these are
    # the processes warm_processes forks (a deployment added by name starts `python -m
    # prefect.engine` instead, a fresh interpreter that imports the flow again).
    for flow, how in flows:
        runner.add_flow(flow, **how)
    runner.handle_sigterm = MethodType(_exit_on_sigterm, runner)  # type: ignore[method-assign]
    # Prefect's start message reads only each deployment's flow_name and name.
    named: list[Any] = [SimpleNamespace(flow_name=flow.name, name=how["name"])
                        for flow, how in flows]
    _display_serve_start_message(*named)
    try:
        asyncio.run(warm.run(runner))
    except (KeyboardInterrupt, TerminationSignal) as exc:
        logging.getLogger("prefect.flows").info("Received %s, shutting down...",
                                                type(exc).__name__)


if __name__ == "__main__":
    main()
