"""Every STEPDOWN_* variable is a field of stepdown.config.Settings, read through get_settings()."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepdown import clock
from stepdown.cli import app
from stepdown.config import ConfigError, Settings, get_settings
from stepdown.deployments import SPECS, cron_env
from stepdown.notifications import channels, sweep

ROOT = Path(__file__).resolve().parents[1]
# Reads in the lead's files, to move to get_settings() once their rewrite lands (the fields exist:
# schedules, fault, cron()). Shrink this list; never grow it.
NOT_YET: set[str] = set()


def test_the_call_sites_read_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPDOWN_TODAY", "2027-03-04")
    monkeypatch.setenv("STEPDOWN_DELIVERY_BACKOFF", "0.25")
    monkeypatch.setenv("STEPDOWN_UI_URL", "https://prefect.la.example/")
    monkeypatch.setenv("STEPDOWN_EMAIL_URL", " mailto://127.0.0.1:2525?from=s@la.example ")
    monkeypatch.setenv("STEPDOWN_SCHEDULE_CHECK_SECONDS", "15")
    monkeypatch.setenv("STEPDOWN_SCHEDULES", "off")
    monkeypatch.setenv("STEPDOWN_FAULT", "after-write")
    monkeypatch.setenv("STEPDOWN_ACTOR", "tm@la.example")
    assert str(clock.today()) == "2027-03-04"
    assert sweep.backoff_seconds() == 0.25
    assert sweep.ui_base() == "https://prefect.la.example"
    assert channels.email_url() == "mailto://127.0.0.1:2525?from=s@la.example"
    settings = get_settings()
    assert settings.schedule_check_seconds == 15.0
    assert not settings.schedules_on and settings.fault == "after-write"
    assert settings.actor == "tm@la.example"
    # The environment changes (as tests change it): the next call sees it.
    monkeypatch.setenv("STEPDOWN_DELIVERY_BACKOFF", "2")
    monkeypatch.delenv("STEPDOWN_SCHEDULES")
    assert sweep.backoff_seconds() == 2.0 and get_settings().schedules_on


def test_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DELIVERY_BACKOFF", "UI_URL", "SCHEDULES", "SCHEDULE_CHECK_SECONDS",
                 "PREFECT_SQLITE_IMMEDIATE", "FAULT", "ACTOR", "EMAIL_URL", "TODAY"):
        monkeypatch.delenv(f"STEPDOWN_{name}", raising=False)
    settings = get_settings()
    assert (settings.delivery_backoff, settings.schedule_check_seconds) == (0.5, 150.0)
    assert settings.schedules_on and settings.prefect_sqlite_immediate == "on"
    assert settings.ui_url is settings.fault is settings.actor is settings.email_url is None
    with pytest.raises(channels.ChannelError, match="STEPDOWN_EMAIL_URL is not set"):
        channels.email_url()


def test_a_cron_override_per_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in SPECS:
        assert Settings.cron_env(key) == cron_env(key)  # one name for the variable
    monkeypatch.delenv("STEPDOWN_CRON_SWEEP_DAILY", raising=False)
    assert get_settings().cron("sweep.daily") is None
    monkeypatch.setenv("STEPDOWN_CRON_SWEEP_DAILY", "   ")
    assert get_settings().cron("sweep.daily") is None
    monkeypatch.setenv("STEPDOWN_CRON_SWEEP_DAILY", " 5 9 * * 1-5 ")
    assert get_settings().cron("sweep.daily") == "5 9 * * 1-5"


def test_a_variable_that_does_not_parse_is_one_line_naming_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPDOWN_DELIVERY_BACKOFF", "soon")
    with pytest.raises(ConfigError) as raised:
        get_settings()
    assert str(raised.value).startswith("STEPDOWN_DELIVERY_BACKOFF: ")
    assert "\n" not in str(raised.value)
    result = CliRunner().invoke(app, ["case", "list"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {raised.value}"]


def test_the_relay_url_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPDOWN_EMAIL_URL", "mailtos://user:hunter2@smtp.la.example")
    settings = get_settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


def test_no_module_reads_a_stepdown_variable_from_the_environment() -> None:
    direct = re.compile(r"environ(\.get\(|\[)\s*[\"']STEPDOWN_")
    readers = {str(path.relative_to(ROOT)) for path in (ROOT / "stepdown").rglob("*.py")
               if direct.search(path.read_text())}
    assert readers <= NOT_YET, sorted(readers - NOT_YET)
