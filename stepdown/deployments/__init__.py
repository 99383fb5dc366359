"""Every deployment, in one place: which flow, its name, tags and schedule.

`stepdown serve` serves them all in one process; `prefect.yaml` deploys the same flows to a
work pool. Flow runs of a case are named ``<ref>-<stage>`` and tagged with its process, ref and
stage so a person can filter by them in the Prefect UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEPLOYMENT = "stepdown"
TIMEZONE = "Europe/London"


@dataclass(frozen=True)
class Spec:
    flow: str  # "module:function"
    name: str  # the flow's name
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None  # in TIMEZONE
    deployment_name: str = DEPLOYMENT
    # A setting (a field of Settings) without which the schedule is off: the deployment is
    # still served, and can be run by hand.
    needs: str | None = None

    @property
    def deployment(self) -> str:
        return f"{self.name}/{self.deployment_name}"

    def load(self) -> Any:
        import importlib

        module, name = self.flow.split(":")
        return getattr(importlib.import_module(module), name)


def _stage_specs() -> dict[str, Spec]:
    """One deployment per stage with steps of every declared process (the shipped ones and
    the local authority's own, STEPDOWN_PROCESSES)."""
    from stepdown.config import get_settings
    from stepdown.domain.declarations import load_catalogue
    from stepdown.flows.stage import attribute

    catalogue = load_catalogue(get_settings().processes)
    return {
        f"{process.kind}.{stage.name}": Spec(
            f"stepdown.flows.stage:{attribute(process.kind, stage.name)}", stage.flow,
            tags=(f"process:{process.kind}",))
        for process in catalogue.processes.values() for stage in process.flow_stages()
    }


SPECS: dict[str, Spec] = {
    **_stage_specs(),
    # DOMAIN.md section 3: every working day at 07:00 (the flow skips bank holidays) ...
    "sweep.daily": Spec("stepdown.flows.sweep:sweep", "sweep", tags=("sweep",),
                        cron="0 7 * * 1-5"),
    # ... and every hour of every day for hour-based deadlines (the 48-hour stability meeting).
    "sweep.hourly": Spec("stepdown.flows.sweep:sweep", "sweep", tags=("sweep",),
                         parameters={"hourly": True}, cron="30 * * * *",
                         deployment_name="hourly"),
    # 001: breakdowns are counted and analysed monthly; on the 1st, for the month before.
    "report.breakdowns": Spec("stepdown.flows.breakdown_report:breakdown_report",
                              "breakdown-report", tags=("report",), cron="0 7 1 * *"),
    # DOMAIN.md section 11: the authority's SSDA903 extract, read daily before the sweep (its
    # new processes are on the worklist by 07:00); off unless STEPDOWN_SSDA903_PATH is set.
    "import.ssda903": Spec("stepdown.flows.ssda903_import:ssda903_import", "ssda903-import",
                           tags=("import",), cron="0 6 * * *", needs="ssda903_path"),
}


def cron_env(key: str) -> str:
    """The environment variable that replaces a deployment's cron: ``sweep.daily`` is
    ``STEPDOWN_CRON_SWEEP_DAILY`` (a rehearsal, or an authority's own hours)."""
    from stepdown.config import Settings

    return Settings.cron_env(key)


def _wanted(spec: Spec) -> bool:
    """A schedule that needs a setting is off while the setting is unset."""
    from stepdown.config import get_settings

    return spec.needs is None or bool(getattr(get_settings(), spec.needs))


def scheduled_deployments() -> list[str]:
    """The full names of the deployments that have a schedule when served with schedules on."""
    return [spec.deployment for spec in SPECS.values() if spec.cron and _wanted(spec)]


def schedules() -> dict[str, str]:
    """Every scheduled deployment's full name and cron (in TIMEZONE), overrides applied; empty
    when ``STEPDOWN_SCHEDULES=off``."""
    from stepdown.config import get_settings

    settings = get_settings()
    if not settings.schedules_on:
        return {}
    out = {}
    for key, spec in SPECS.items():
        cron = settings.cron(key) or spec.cron
        if cron and _wanted(spec):
            out[spec.deployment] = cron
    return out


def deployment_name(stage: str, process: str) -> str:
    """The full name (``<flow>/<deployment>``) of the deployment that runs a process stage."""
    return SPECS[f"{process}.{stage}"].deployment


def all_specs() -> list[Spec]:
    return list(SPECS.values())
