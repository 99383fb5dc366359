"""Serve every deployment in this process (started by `stepdown serve`, or on its own).

Needs PREFECT_API_URL pointing at a running Prefect server. Flow runs start warm and are looked
for as soon as the server schedules or resumes one (stepdown.deployments.runner), unless
``STEPDOWN_WARM_RUNNER=off``, which serves them with ``prefect.serve`` as shipped.
"""

from __future__ import annotations

import logging
import signal
from types import SimpleNamespace
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


def _stop_on_signal(runner: Any, loop: Any, task: Any) -> Any:
    """The Runner's SIGTERM handler (and SIGINT's), without its ``stop()`` call and its
    ``sys.exit``: from a signal handler, ``stop()`` only makes a coroutine nobody awaits (a
    RuntimeWarning in the log), and the exit is raised wherever the main thread happens to be
    (seen: in a weakref callback, where it was printed as a traceback and ignored). Instead the
    main task is cancelled, once, through the event loop: the runner then unwinds as
    ``prefect.serve`` does (pausing its deployments, saying goodbye to the API)."""
    stopping: list[bool] = []

    def handler(signum: int = signal.SIGTERM, *_args: Any) -> None:
        if stopping:
            return
        stopping.append(True)
        runner._logger.info("%s received, initiating graceful shutdown...",
                            signal.Signals(signum).name)
        loop.call_soon_threadsafe(task.cancel)

    return handler


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
    # Prefect's start message reads only each deployment's flow_name and name.
    named: list[Any] = [SimpleNamespace(flow_name=flow.name, name=how["name"])
                        for flow, how in flows]
    _display_serve_start_message(*named)

    async def main() -> None:
        handler = _stop_on_signal(runner, asyncio.get_running_loop(), asyncio.current_task())
        runner.handle_sigterm = handler  # type: ignore[method-assign]  # runner.start() installs it
        signal.signal(signal.SIGINT, handler)
        await warm.run(runner)

    try:
        asyncio.run(main())
    except asyncio.CancelledError:  # stopped by a signal (above): the runner has unwound
        logging.getLogger("prefect.flows").info("Runner stopped")
    except (KeyboardInterrupt, TerminationSignal) as exc:
        logging.getLogger("prefect.flows").info("Received %s, shutting down...",
                                                type(exc).__name__)


if __name__ == "__main__":
    main()
