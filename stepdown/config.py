"""Configuration: every ``STEPDOWN_*`` environment variable is a field of :class:`Settings`.

The embedded default keeps everything under ``STEPDOWN_HOME`` (default ``./.stepdown``): the case
records in a SQLite file, the Prefect server's database and the flows' persisted results.
``STEPDOWN_DATABASE_URL`` selects another database for the case records (PostgreSQL in production).
Read them through :func:`get_settings`, never ``os.environ``; the one family that is not a field,
``STEPDOWN_CRON_<KEY>``, is read by :meth:`Settings.cron`.
"""

from __future__ import annotations

import os
from datetime import time
from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stepdown.domain.calendar import parse_hours

DEFAULT_API_URL = "http://127.0.0.1:4200/api"
PREFIX = "STEPDOWN_"


class ConfigError(ValueError):
    """A ``STEPDOWN_*`` variable that does not parse: one line naming it and the rule."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    # Where the embedded default keeps its SQLite file, Prefect's database and flow results.
    home: Path = Path(".stepdown")
    # The case records' database (PostgreSQL in production); unset: SQLite under ``home``.
    database_url: str | None = None
    # A local authority's own copy of the policy file (unset: the shipped default.toml).
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
    # The person making a change from the CLI (as --as does): recorded as the audit actor.
    actor: str | None = None
    # Today's date, YYYY-MM-DD, for tests and rehearsals of a past day (read by stepdown.clock).
    today: str | None = None
    # The Apprise mailto:// or mailtos:// URL of the SMTP relay; a secret (it may hold the
    # password), so it is never shown: stepdown.notifications.channels.email_url checks it.
    email_url: SecretStr | None = None
    # Seconds between tries of one delivery within a sweep (tests shorten it).
    delivery_backoff: float = 0.5
    # The Prefect UI's address in notifications' links (unset: PREFECT_API_URL without /api).
    ui_url: str | None = None
    # "off": serve the deployments without their schedules (rehearsals and tests); else "on".
    schedules: str = "on"
    # How long `stepdown serve` gives the scheduler before saying it is broken (seconds).
    schedule_check_seconds: float = 150.0
    # "off": serve Prefect's server's SQLite transactions as shipped (stepdown.prefect_server).
    prefect_sqlite_immediate: str = "on"
    # "off": serve flow runs as Prefect's Runner ships (a fresh interpreter per run, found by
    # its poll alone) instead of forked warm and woken by events (stepdown.deployments.runner).
    warm_runner: str = "on"
    # The SSDA903 file (episodes CSV or XML return) the daily import reads; unset: no import.
    ssda903_path: str | None = None
    # The daily import all or nothing, as `import ssda903 --strict`: any refused row refuses the
    # file. Unset: the good rows are imported and the refused ones named.
    ssda903_strict: bool = False
    # Tests only: "after-write" crashes the sweep between writing a notification and sending it;
    # "before-commit:N" / "after-commit:N" crash a process at its N-th commit (stepdown.db).
    fault: str | None = None

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

    @property
    def schedules_on(self) -> bool:
        return self.schedules != "off"

    @staticmethod
    def cron_env(key: str) -> str:
        """The variable that replaces a deployment's cron: ``sweep.daily`` is
        ``STEPDOWN_CRON_SWEEP_DAILY`` (a rehearsal, or an authority's own hours)."""
        return PREFIX + "CRON_" + key.replace(".", "_").upper()

    def cron(self, key: str) -> str | None:
        """The cron that ``STEPDOWN_CRON_<KEY>`` gives the deployment ``key``, or None when it
        is unset or blank (the deployment keeps its own)."""
        return os.environ.get(self.cron_env(key), "").strip() or None


def get_settings() -> Settings:
    """The settings as the environment gives them now (tests change the environment); built
    once per distinct environment, since every database session asks. A variable that does not
    parse raises :class:`ConfigError`."""
    return _settings(tuple(sorted((k, v) for k, v in os.environ.items()
                                  if k.startswith(PREFIX))))


@lru_cache(maxsize=16)
def _settings(_environment: tuple[tuple[str, str], ...]) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = PREFIX + "_".join(str(part) for part in error["loc"]).upper()
        # A validator's own message, without pydantic's "Value error, " before it.
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
