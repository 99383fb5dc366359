"""The command line's side of Prefect: start a case's flow run, hand a form to a waiting run."""

from __future__ import annotations

import os
import time
from typing import Any
from uuid import UUID

from stepdown.config import DEFAULT_API_URL

os.environ.setdefault("PREFECT_API_URL", DEFAULT_API_URL)


class OrchestrationError(RuntimeError):
    """Prefect could not be reached or refused what was asked."""


def api_url() -> str:
    return os.environ.get("PREFECT_API_URL", DEFAULT_API_URL)


def ui_url(flow_run_id: str | None = None) -> str:
    base = api_url().rstrip("/").removesuffix("/api")
    return f"{base}/runs/flow-run/{flow_run_id}" if flow_run_id else base


def _client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def check_server(deployment: str) -> None:
    """Fail with a clear message unless the server answers and has the deployment."""
    try:
        with _client() as client:
            client.read_deployment_by_name(deployment)
    except Exception as exc:  # noqa: BLE001 - any failure means the same to the user
        raise OrchestrationError(
            f"cannot reach deployment {deployment} at {api_url()} "
            f"({type(exc).__name__}): is `stepdown serve` running and PREFECT_API_URL set?"
        ) from None


def start_run(deployment: str, *, ref: str, stage: str, tags: list[str]) -> str:
    from prefect.deployments import run_deployment

    try:
        flow_run = run_deployment(deployment, parameters={"ref": ref}, timeout=0,
                                  as_subflow=False, flow_run_name=f"{ref}-{stage}", tags=tags,
                                  idempotency_key=f"{ref}-{stage}")
    except Exception as exc:  # noqa: BLE001
        raise OrchestrationError(f"could not start {deployment}: {exc}") from None
    return str(flow_run.id)


def run_state(flow_run_id: str) -> tuple[str, str]:
    """(state type, state name) of a flow run, e.g. ('PAUSED', 'Suspended')."""
    with _client() as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
    if state is None:
        return ("UNKNOWN", "Unknown")
    return (state.type.value, state.name or state.type.value.title())


def resume(flow_run_id: str, run_input: dict[str, Any]) -> None:
    from prefect.flow_runs import resume_flow_run

    try:
        resume_flow_run(UUID(flow_run_id), run_input=run_input)
    except Exception as exc:  # noqa: BLE001
        raise OrchestrationError(f"the flow run refused the input: {exc}") from None


def poll(check: Any, *, timeout: float, every: float = 0.5) -> Any:
    """Call ``check`` until it returns something truthy or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            return result
        time.sleep(every)


def cancel_open_runs(flow_run_ids: list[str], message: str) -> None:
    """Cancel the runs that have not finished (a disrupted case's waiting stage)."""
    from prefect.states import Cancelled

    with _client() as client:
        for run_id in flow_run_ids:
            state = client.read_flow_run(UUID(run_id)).state
            if state is not None and not state.is_final():
                client.set_flow_run_state(UUID(run_id), Cancelled(message=message), force=True)


def add_tag(flow_run_ids: list[str], tag: str) -> None:
    """Add a tag (``team:north``) to flow runs, replacing any other tag with the same prefix."""
    prefix = tag.split(":", 1)[0] + ":"
    with _client() as client:
        for run_id in flow_run_ids:
            run = client.read_flow_run(UUID(run_id))
            tags = [t for t in run.tags if not t.startswith(prefix)] + [tag]
            client.update_flow_run(UUID(run_id), tags=tags)
