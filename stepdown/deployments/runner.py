"""How `stepdown serve` runs flow runs: Prefect's Runner, with two changes that take the wait
out of a form (issue 13; measured in bench/README.md, "Form to applied").

1. **Flow-run processes start warm.** Prefect's Runner starts each flow run of a served flow in
   a new process with multiprocessing's *spawn*: a fresh interpreter that imports Prefect and
   stepdown again, 3 to 12 seconds on a busy 2-core machine, for every run and for every resume
   of a suspended run (which runs again from the top). Here the same function runs with the
   *forkserver* context instead: one interpreter, started with the runner, imports everything a
   flow run needs once (:mod:`stepdown.deployments.warm`), and each flow run is a fork of it.
   Each run is still its own process, started and watched by Prefect's Runner: the runner kills
   it to cancel it, a crash (``kill -9``) ends only that run, which the runner reports Crashed
   and which can be retried as before, and its logs and states reach the API as before.
2. **The runner looks for work when the server says there is some.** Prefect's Runner asks the
   server for scheduled runs every ``PREFECT_RUNNER_POLL_FREQUENCY`` seconds (2 here), so a
   resumed run waited a second on average before it started. Here the runner also listens to the
   server's events (the websocket it already uses for cancellations) and asks at once when a
   flow run is scheduled or resumed (``prefect.flow-run.Scheduled``, ``...Resuming``). The
   periodic poll stays, so nothing depends on the events arriving.

``STEPDOWN_WARM_RUNNER=off`` serves as Prefect ships it: a diagnostic, and the benchmark's
"before".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
from typing import Any

logger = logging.getLogger("stepdown.runner")

# What the warm interpreter imports before it forks flow runs.
WARM_MODULE = "stepdown.deployments.warm"
# The events after which a served deployment may have a run to start.
WAKE_EVENTS = ("prefect.flow-run.Scheduled", "prefect.flow-run.Resuming")
# After an event, the runner asks at once and again after these pauses (seconds).
RETRY_AFTER = (0.0, 0.1, 0.25, 0.5)


class _ForkserverContexts:
    """Stands in for the ``multiprocessing`` module inside ``prefect.flow_engine``: its
    ``run_flow_in_subprocess`` asks ``multiprocessing.get_context("spawn")`` (once, to start the
    flow run's process) and gets the forkserver context. Everything else is multiprocessing's."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self._context = context

    def get_context(self, method: str | None = None) -> multiprocessing.context.BaseContext:
        return self._context

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing, name)


def warm_processes() -> multiprocessing.context.BaseContext:
    """Start flow runs' processes from a warm interpreter (see the module's docstring), and start
    that interpreter now, so that the first run is warm too. Returns the context used."""
    import prefect.flow_engine

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([WARM_MODULE])
    # A deliberate replacement of a module global of Prefect's.
    setattr(prefect.flow_engine, "multiprocessing", _ForkserverContexts(context))  # noqa: B010
    multiprocessing.forkserver.ensure_running()
    return context


async def wake_on_events(runner: Any) -> None:
    """Ask for scheduled runs whenever the server announces a scheduled or resumed flow run.

    A burst of events (many runs resumed at once) gives one query at a time; events that come
    during a query give one more after it. A lost connection is retried, quietly: the runner's
    own poll still finds every run."""
    from prefect.events.clients import get_events_subscriber
    from prefect.events.filters import EventFilter, EventNameFilter

    wake = asyncio.Event()

    async def query() -> None:
        poller = getattr(runner, "_scheduled_run_poller", None)
        if poller is None or not runner.started or runner.stopping:
            return
        try:
            await poller._get_and_submit_flow_runs()
        except Exception as exc:  # noqa: BLE001 - the periodic poll will find the run
            logger.warning("could not look for scheduled runs on an event (%s); the "
                           "runner's poll will", type(exc).__name__)

    async def query_when_woken() -> None:
        while True:
            await wake.wait()
            wake.clear()
            # The event can come a moment before the run it announces is found by the query
            # (seen: none found at once, found by the next poll), so ask again shortly after.
            for pause in RETRY_AFTER:
                await asyncio.sleep(pause)
                await query()
                if wake.is_set():
                    break

    async def listen() -> None:
        wanted = EventFilter(event=EventNameFilter(name=list(WAKE_EVENTS)))
        while True:
            try:
                async with get_events_subscriber(filter=wanted) as events:
                    async for _event in events:
                        wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the periodic poll still runs
                logger.warning("not listening to the server's events (%s); retrying in 5 s, "
                               "the runner polls meanwhile", type(exc).__name__)
            await asyncio.sleep(5)

    await asyncio.gather(query_when_woken(), listen())


async def run(runner: Any) -> None:
    """Run ``runner`` (a started-on-demand Prefect Runner) with the event wake-up beside it,
    until the runner stops."""
    waker = asyncio.ensure_future(wake_on_events(runner))
    try:
        await runner.start()
    finally:
        waker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # stopping anyway
            await waker
