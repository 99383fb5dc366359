"""Database engines, sessions and migrations for the case record."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from stepdown.config import get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


@lru_cache(maxsize=8)
def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # We issue BEGIN ourselves (below): IMMEDIATE takes the write lock up front, so two
            # writers (a flow and the command line) queue instead of failing on a stale read.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


_migrated: set[str] = set()


def head_revision() -> str | None:
    """The newest migration's revision, read from the files in ``migrations/versions`` (the
    one no other revises); None unless there is exactly one."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text("utf-8")
        found, down = _REVISION.search(text), _DOWN_REVISION.search(text)
        if found:
            revisions.add(found.group(1))
        if down:
            revised.update(_QUOTED.findall(down.group(1)))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


def _at_head(url: str) -> bool:
    """Whether the database at ``url`` is already at the newest migration: one query, where
    Alembic's own check imports and reads every migration (about a second of a command's or a
    flow run's start)."""
    head = head_revision()
    if head is None:
        return False
    try:
        with _engine(url).connect() as connection:
            current = list(connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalars())
    except sa.exc.DBAPIError:  # no schema yet, or unreachable: Alembic says which
        return False
    return current == [head]


def migrate(url: str) -> None:
    """Bring the schema at ``url`` to the newest migration (Alembic ``upgrade head``)."""
    if _at_head(url):
        _migrated.add(url)
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    with _engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    _migrated.add(url)


def get_engine(url: str | None = None) -> sa.Engine:
    """The engine for the case record, its schema migrated once per process."""
    url = url or get_settings().db_url
    if url not in _migrated:
        migrate(url)
    return _engine(url)


_commits = 0  # this process's commits through session_scope, for STEPDOWN_FAULT


def _fault(point: str) -> None:
    """Tests only (tests/faults): ``STEPDOWN_FAULT=before-commit:N`` or ``after-commit:N`` kills
    this process, as ``kill -9`` would, just before or after its N-th commit."""
    fault = get_settings().fault
    if fault and fault == f"{point}:{_commits}":
        os._exit(137)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    global _commits
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            _commits += 1
            _fault("before-commit")
            session.commit()
            _fault("after-commit")
        except BaseException:
            session.rollback()
            raise
