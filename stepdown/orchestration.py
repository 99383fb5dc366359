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


class Unreachable(OrchestrationError):
    """Prefect did not answer at all."""


class NotPaused(OrchestrationError):
    """The flow run is not paused (any more): another input resumed it first."""


def api_url() -> str:
    return os.environ.get("PREFECT_API_URL", DEFAULT_API_URL)


def ui_url(flow_run_id: str | None = None) -> str:
    base = api_url().rstrip("/").removesuffix("/api")
    return f"{base}/runs/flow-run/{flow_run_id}" if flow_run_id else base


def unreachable(exc: BaseException, what: str = "the Prefect server") -> str:
    """The one line a command prints when Prefect does not answer."""
    return (f"cannot reach {what} at {api_url()} ({type(exc).__name__}): is `stepdown serve` "
            "running and PREFECT_API_URL set?")


def _http() -> Any:
    """One HTTP client per process for the REST calls a command makes (each new client builds
    an SSL context, about 20 ms of CPU, even for plain http)."""
    import httpx

    secret = _auth_secret()
    client = _HTTP.get(secret)
    if client is None or client.is_closed:
        client = _HTTP[secret] = httpx.Client(timeout=10, auth=_api_auth())
    return client


_HTTP: dict[str | None, Any] = {}


def _api(path: str) -> str:
    return f"{api_url().rstrip('/')}{path}"


def ping() -> None:
    """Fail with the one-line message unless the server answers its health check."""
    import httpx

    try:
        _http().get(_api("/health")).raise_for_status()
    except httpx.HTTPStatusError as exc:
        raise OrchestrationError(f"the Prefect server at {api_url()} answered "
                                 f"{exc.response.status_code}") from None
    except httpx.HTTPError as exc:
        raise Unreachable(unreachable(exc)) from None


def create_artifact(*, key: str, type: str, data: Any, description: str) -> None:  # noqa: A002
    """Create the next version of an artifact through the REST API.

    For the command line, outside any flow run: Prefect's ``create_*_artifact`` helpers warn
    there that this is deprecated (FutureWarning), and its client emits an event whose
    background worker a short-lived command then waits for and logs about."""
    import httpx

    try:
        with httpx.Client(timeout=10, auth=_api_auth()) as client:
            client.post(f"{api_url().rstrip('/')}/artifacts/", json={
                "key": key, "type": type, "data": data, "description": description,
            }).raise_for_status()
    except httpx.HTTPStatusError as exc:
        raise OrchestrationError(f"the server answered {exc.response.status_code}") from None
    except httpx.HTTPError as exc:
        raise Unreachable(unreachable(exc)) from None


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


def start_run(deployment: str, *, ref: str, stage: str, tags: list[str],
              idempotency_key: str | None = None) -> str:
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    try:
        flow_run = run_deployment(deployment, parameters={"ref": ref}, timeout=0,
                                  as_subflow=False, flow_run_name=f"{ref}-{stage}", tags=tags,
                                  idempotency_key=idempotency_key or f"{ref}-{stage}")
    except Exception as exc:  # noqa: BLE001
        raise OrchestrationError(f"could not start {deployment}: {exc}") from None
    # run_deployment dispatches on the caller: inside an event loop it returns a coroutine.
    if not isinstance(flow_run, FlowRun):
        raise OrchestrationError(f"could not start {deployment}: called from an event loop")
    return str(flow_run.id)


def run_state(flow_run_id: str) -> tuple[str, str]:
    """(state type, state name) of a flow run, e.g. ('PAUSED', 'Suspended').

    A REST call (``GET /flow_runs/{id}``): a command that only asks this does not import
    Prefect's client, which takes seconds."""
    import httpx

    try:
        answer = _http().get(_api(f"/flow_runs/{UUID(flow_run_id)}"))
    except httpx.TransportError as exc:
        raise Unreachable(unreachable(exc, f"flow run {flow_run_id}")) from None
    if answer.status_code != 200:  # e.g. the run is not on this server
        raise OrchestrationError(f"flow run {flow_run_id}: the server answered "
                                 f"{answer.status_code}")
    state = answer.json().get("state")
    if not state:
        return ("UNKNOWN", "Unknown")
    return (str(state["type"]), str(state.get("name") or state["type"].title()))


def resume(flow_run_id: str, run_input: dict[str, Any]) -> None:
    """Resume a suspended flow run with ``run_input`` (``POST /flow_runs/{id}/resume``, the
    call the UI's Resume dialog makes), refused unless the server accepts it;
    :class:`NotPaused` when it was resumed already (Prefect resumes a paused run once: of two
    resumes at once, one is refused)."""
    import httpx

    try:
        if run_state(flow_run_id)[0] != "PAUSED":
            raise NotPaused(f"flow run {flow_run_id} is not paused")
        answer = _http().post(_api(f"/flow_runs/{UUID(flow_run_id)}/resume"),
                              json={"run_input": run_input})
        answer.raise_for_status()
        result = answer.json()
    except httpx.HTTPError as exc:
        raise OrchestrationError(f"the flow run refused the input: {type(exc).__name__}"
                                 ) from None
    if result.get("status") != "ACCEPT":
        state = result.get("state") or {}
        reason = (result.get("details") or {}).get("reason") or str(result.get("status"))
        if "not paused" in reason.lower() or "isn't paused" in reason.lower():
            raise NotPaused(f"flow run {flow_run_id} is not paused")
        if state.get("type") == "FAILED":
            reason = "Flow run can no longer be resumed."
        raise OrchestrationError(f"the flow run refused the input: Cannot resume this run: "
                                 f"{reason}")


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


# ------------------------------------------------------------------------------ schedules
FINISHED = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _auth_secret() -> str | None:
    return (os.environ.get("PREFECT_API_AUTH_STRING")
            or os.environ.get("PREFECT_SERVER_API_AUTH_STRING") or None)


def _api_auth() -> Any:
    """Prefect's shared login, for our own calls to the API (a client's or the server's)."""
    import httpx

    secret = _auth_secret()
    if not secret:
        return None
    user, _, password = secret.partition(":")
    return httpx.BasicAuth(user, password)


def _one_run(client: Any, api: str, deployment_id: str, states: tuple[str, ...],
             sort: str) -> dict[str, Any] | None:
    runs = client.post(f"{api}/flow_runs/filter", json={
        "deployments": {"id": {"any_": [deployment_id]}},
        "flow_runs": {"state": {"type": {"any_": list(states)}}},
        "sort": sort, "limit": 1}).raise_for_status().json()
    return runs[0] if runs else None


def schedule_status(deployments: list[str], *, api: str | None = None) -> list[dict[str, Any]]:
    """For each scheduled deployment (full name): its active schedules as the server has them,
    when it last ran and how that run ended, and when it runs next (the scheduler's next run).
    ``problem`` says why nothing would run by itself."""
    import httpx

    api = (api or api_url()).rstrip("/")
    rows: list[dict[str, Any]] = []
    try:
        with httpx.Client(timeout=10, auth=_api_auth()) as client:
            for name in deployments:
                answer = client.get(f"{api}/deployments/name/{name}")
                if answer.status_code == 404:
                    rows.append({"deployment": name, "cron": None, "active": False,
                                 "last_run": None, "last_state": None, "next_run": None,
                                 "problem": "not deployed"})
                    continue
                deployment = answer.raise_for_status().json()
                last = _one_run(client, api, deployment["id"], FINISHED + ("RUNNING",),
                                "EXPECTED_START_TIME_DESC")
                following = _one_run(client, api, deployment["id"], ("SCHEDULED",),
                                     "EXPECTED_START_TIME_ASC")
                served = [str(s["schedule"].get("cron")) for s in deployment.get("schedules", [])
                          if s.get("active", True) and s["schedule"].get("cron")]
                problem = None
                if not served:
                    problem = "no schedule on the server (served with STEPDOWN_SCHEDULES=off?)"
                elif following is None:
                    problem = "the scheduler has created no next run"
                rows.append({
                    "deployment": name, "cron": ", ".join(served) or None, "active": bool(served),
                    "last_run": last and (last.get("start_time") or last["expected_start_time"]),
                    "last_state": last and last["state"]["name"],
                    "next_run": following and following["expected_start_time"],
                    "problem": problem,
                })
    except httpx.HTTPError as exc:
        raise Unreachable(
            f"cannot reach the Prefect server at {api} ({type(exc).__name__}): is `stepdown "
            "serve` running and PREFECT_API_URL set?") from None
    return rows
