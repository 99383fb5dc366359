"""Every deployment is defined once (stepdown/deployments) and prefect.yaml says the same."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from stepdown.deployments import SPECS, TIMEZONE

ROOT = Path(__file__).resolve().parents[1]


def test_prefect_yaml_lists_every_deployment_as_the_registry_does() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    declared = {(d["entrypoint"], d["name"]): d for d in config["deployments"]}
    assert len(declared) == len(SPECS)
    for spec in SPECS.values():
        module, function = spec.flow.split(":")
        entry = declared[(f"{module.replace('.', '/')}.py:{function}", spec.deployment_name)]
        assert entry["tags"] == list(spec.tags)
        assert entry.get("parameters", {}) == spec.parameters
        assert [s["cron"] for s in entry.get("schedules", [])] == ([spec.cron] if spec.cron
                                                                   else [])
        assert all(s["timezone"] == TIMEZONE for s in entry.get("schedules", []))
        assert entry["work_pool"]["name"] == "stepdown"
        flow = getattr(importlib.import_module(module), function)
        assert flow.name == spec.name  # the deployment's full name is <flow name>/<name>


def test_the_ssda903_import_is_scheduled_only_once_its_path_is_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from stepdown.deployments import scheduled_deployments, schedules

    monkeypatch.setenv("STEPDOWN_SCHEDULES", "on")
    monkeypatch.delenv("STEPDOWN_SSDA903_PATH", raising=False)
    assert "ssda903-import/stepdown" not in schedules()
    assert schedules()["sweep/stepdown"] == "0 7 * * 1-5"
    monkeypatch.setenv("STEPDOWN_SSDA903_PATH", "/srv/903/episodes.csv")
    assert schedules()["ssda903-import/stepdown"] == "0 6 * * *"
    monkeypatch.setenv("STEPDOWN_CRON_IMPORT_SSDA903", "30 5 * * *")
    assert schedules()["ssda903-import/stepdown"] == "30 5 * * *"
    assert "ssda903-import/stepdown" in scheduled_deployments()
