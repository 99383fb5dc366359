"""Alembic environment: migrations run on the connection db.migrate() hands in."""

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import stepdown.models.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes.get("connection")
target_metadata = SQLModel.metadata


def run() -> None:
    if connection is None:
        from sqlalchemy import create_engine

        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("sqlalchemy.url: set it, or hand in a connection (db.migrate)")
        engine = create_engine(url)
        with engine.begin() as conn:
            _configure(conn)
    else:
        _configure(connection)


def _configure(conn: Connection) -> None:
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        render_as_batch=conn.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
