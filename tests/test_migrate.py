"""The case record's schema check at start: one query when the schema is at the newest
migration (every command and flow-run process asks once), Alembic otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from stepdown import db


def test_the_newest_revision_read_from_the_files_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    assert db.head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_a_database_at_head_is_not_handed_to_alembic_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'record.db'}"
    upgrades: list[str] = []
    real = command.upgrade
    monkeypatch.setattr(command, "upgrade", lambda *a, **k: (upgrades.append("head"),
                                                             real(*a, **k)))
    db.migrate(url)  # empty: Alembic builds the schema
    assert upgrades == ["head"]
    with db._engine(url).connect() as connection:
        assert "process" in sa.inspect(connection).get_table_names()
    db._migrated.discard(url)
    db.migrate(url)  # at head: one query, no Alembic
    assert upgrades == ["head"]
    assert url in db._migrated


def test_a_database_behind_head_is_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'record.db'}"
    db.migrate(url)
    with db._engine(url).begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0002'")
        connection.exec_driver_sql("DROP TABLE placement_ending")
    db._migrated.discard(url)
    db.migrate(url)
    with db._engine(url).connect() as connection:
        assert list(connection.exec_driver_sql("SELECT version_num FROM alembic_version")
                    .scalars()) == [db.head_revision()]
        assert "placement_ending" in sa.inspect(connection).get_table_names()
