"""Shared fixtures: a case-record database on SQLite and on PostgreSQL, and a fixed clock."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from tests.servers import HTTPSSink, SMTPSink


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# A run stopped by SIGTERM (`timeout`, a cancelled CI job) tears its fixtures down as Ctrl-C
# does, so that the `stepdown serve` systems they started (each in its own session) are stopped
# rather than left running.
signal.signal(signal.SIGTERM, _interrupted)

PG_ADMIN_URL = os.environ.get(
    "STEPDOWN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_reason() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}"
    return None


@contextmanager
def fresh_pg_database(prefix: str = "stepdown_test") -> Iterator[str]:
    """A new, empty PostgreSQL database (skips the test if PostgreSQL is unreachable); dropped
    afterwards. Yields its SQLAlchemy URL (psycopg driver)."""
    reason = _pg_reason()
    if reason:
        pytest.skip(reason)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        from stepdown import db

        if url in db._migrated:
            db._engine(url).dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    """The case record on each database the system supports (empty for every test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'stepdown.db'}"
    else:
        url = request.getfixturevalue("pg_database")
        from stepdown.db import get_engine

        with get_engine(url).begin() as connection:
            # TRUNCATE fires no row triggers: the append-only audit trail stays append-only.
            connection.execute(sa.text(
                "TRUNCATE notice, message, assignment, audit_event, submission, obligation, "
                "stage_run, process, person, team, placement_ending "
                "RESTART IDENTITY CASCADE"))
    monkeypatch.setenv("STEPDOWN_DATABASE_URL", url)
    monkeypatch.setenv("STEPDOWN_HOME", str(tmp_path / "home"))
    return url


@pytest.fixture
def today(monkeypatch) -> str:  # type: ignore[no-untyped-def]
    """A fixed 'today' for rules that judge dates against it."""
    monkeypatch.setenv("STEPDOWN_TODAY", "2027-12-01")
    return "2027-12-01"


@pytest.fixture
def sinks(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SMTPSink, HTTPSSink]]:
    """A real SMTP server and a real HTTPS endpoint for Teams posts, configured as the
    channels of the staff in tests.test_sweep.STAFF (teams north and fostering)."""
    smtp, https = SMTPSink().start(), HTTPSSink().start()
    monkeypatch.setenv("STEPDOWN_EMAIL_URL", smtp.url)
    monkeypatch.setenv("TEAMS_NORTH", https.workflows_url("north", "sig1"))
    monkeypatch.setenv("TEAMS_FOSTERING", https.workflows_url("fostering", "sig2"))
    monkeypatch.setenv("STEPDOWN_DELIVERY_BACKOFF", "0.01")
    monkeypatch.setenv("STEPDOWN_UI_URL", "http://prefect.example")
    yield smtp, https
    smtp.stop()
    https.stop()
