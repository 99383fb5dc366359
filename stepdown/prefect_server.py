"""The Prefect server that `stepdown serve` starts: Prefect's own, with write transactions on
SQLite that wait their turn instead of failing.

Prefect 3.8.8 opens most of its server transactions on SQLite as ``BEGIN DEFERRED``: the
transaction reads first and takes the write lock only at its first write. When another
connection has written in between, SQLite refuses that upgrade at once with "database is
locked" (SQLITE_BUSY_SNAPSHOT; its busy timeout does not apply, since waiting could deadlock),
and the API answers 503. Twenty people pressing Submit in the UI's Resume dialog at once got
eighteen 503s (``POST /flow_runs/{id}/resume`` reads the run, then writes its state and input).

Here every transaction the server begins on SQLite is ``BEGIN IMMEDIATE``: it takes the write
lock up front, so concurrent writers queue on the busy timeout (60 s in Prefect) and each one
lands. Reads outside a transaction are untouched, so WAL still lets them run beside a writer.
PostgreSQL is not affected. Measured in bench/README.md ("Concurrent submissions").

Run as ``python -m stepdown.prefect_server server start ...`` (the ``prefect`` command's own
arguments). ``STEPDOWN_PREFECT_SQLITE_IMMEDIATE=off`` serves Prefect's server as shipped: a
diagnostic, for the benchmark's before-and-after (bench/concurrent_resume.py --stock-prefect).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from stepdown.config import get_settings


def immediate_sqlite_transactions() -> None:
    """Make every transaction Prefect's server begins on SQLite take the write lock up front."""
    from prefect.server.database import configurations

    mode = configurations.SQLITE_BEGIN_MODE

    @asynccontextmanager
    async def begin_transaction(self: Any, session: Any,
                                with_for_update: bool = False) -> AsyncGenerator[Any, None]:
        token = mode.set("IMMEDIATE")
        try:
            async with session.begin() as transaction:
                yield transaction
        finally:
            mode.reset(token)

    # A deliberate patch of Prefect's method (mypy refuses assigning to a method).
    configurations.AioSqliteConfiguration.begin_transaction = (  # type: ignore[method-assign]
        begin_transaction)


def keep_ignoring_interrupts() -> None:
    """If this process was started with SIGINT ignored (`stepdown serve` starts it so), keep it
    so: uvicorn installs its own handler for SIGINT, and a Ctrl-C at the terminal, which
    reaches the whole process group, stopped the server at once. The runner, stopping at the
    same moment, then hung on a dead API (its cancellation observer logged tracebacks) until it
    was killed. `stepdown serve` stops the server itself, with SIGTERM, once the runner is done."""
    import signal

    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        return
    import uvicorn.server

    handled = tuple(sig for sig in uvicorn.server.HANDLED_SIGNALS if sig != signal.SIGINT)
    setattr(uvicorn.server, "HANDLED_SIGNALS", handled)  # noqa: B010 - a module global of uvicorn's


def main() -> None:
    """The ``prefect`` command, arguments from ``sys.argv``, with the changes above."""
    if get_settings().prefect_sqlite_immediate != "off":
        immediate_sqlite_transactions()
    keep_ignoring_interrupts()
    from prefect.cli import app

    app()


if __name__ == "__main__":
    main()
