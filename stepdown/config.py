"""Configuration, read from the environment (``STEPDOWN_*``).

The embedded default keeps everything under ``STEPDOWN_HOME`` (default ``./.stepdown``): the case
records in a SQLite file, the Prefect server's database and the flows' persisted results.
``STEPDOWN_DATABASE_URL`` selects another database for the case records (PostgreSQL in production).
"""

from __future__ import annotations

import os
from datetime import time
from functools import lru_cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stepdown.domain.calendar import parse_hours

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
    # The office hours of a working day, HH:MM-HH:MM in Europe/London (DOMAIN.md section 3).
    # Outside them, and all day on a weekend or bank holiday, the hourly sweep fires only
    # hour-based breaches (the 48-hour stability meeting), and a breach is also sent to the
    # emergency duty team (the people in the directory with role emergency_duty_team).
    working_hours: str = "09:00-17:00"

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str | None) -> str | None:
        if value and value.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value

    @property
    def office_hours(self) -> tuple[time, time]:
        return parse_hours(self.working_hours)

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
