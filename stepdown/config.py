"""Configuration, read from the environment (``STEPDOWN_*``).

The embedded default keeps everything under ``STEPDOWN_HOME`` (default ``./.stepdown``): the case
records in a SQLite file, the Prefect server's database and the flows' persisted results.
``STEPDOWN_DATABASE_URL`` selects another database for the case records (PostgreSQL in production).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_URL = "http://127.0.0.1:4200/api"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STEPDOWN_", extra="ignore")

    home: Path = Path(".stepdown")
    database_url: str | None = None
    policy: str | None = None
    # A local authority's own process declarations: a TOML file or a directory of them.
    processes: str | None = None
    # How long `stepdown input` waits for a flow run to reach or apply a form (seconds).
    input_timeout: float = 180.0

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str | None) -> str | None:
        if value and value.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home_dir / 'stepdown.db'}"


def get_settings() -> Settings:
    """The settings as the environment gives them now (tests change the environment); built
    once per distinct environment, since every database session asks."""
    return _settings(tuple(sorted((k, v) for k, v in os.environ.items()
                                  if k.startswith("STEPDOWN_"))))


@lru_cache(maxsize=16)
def _settings(_environment: tuple[tuple[str, str], ...]) -> Settings:
    return Settings()
