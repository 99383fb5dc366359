"""What every case flow does: wait for an input through the Prefect UI or the command line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import get_run_logger
from prefect.runtime import flow_run

from stepdown.flows.prompt import prefilled, reason_only, suspend_for_input
from stepdown.tasks.case import apply_input, mark_waiting, pause_key, recorded_input

MAX_ATTEMPTS = 50


def await_input(ref: str, key: str, model: type[Any], description: str,
                until: Callable[[dict[str, Any]], bool] = lambda data: True) -> dict[str, Any]:
    """Suspend until ``key`` is submitted and accepted (and ``until`` holds); return its data.

    Each attempt has a stable pause key, so a resumed run replays earlier attempts (their input
    is already stored) and only suspends on the first attempt that has none. A rejected input
    (the UI cannot check the rules that need the case's record) is recorded and asked for again:
    the reason on the run's state and atop the form, the refused values as the form's defaults.
    """
    logger = get_run_logger()
    recorded = recorded_input(ref, key)
    if recorded is not None and until(recorded):
        return recorded
    run_id = str(flow_run.get_id())
    asked = description  # the form as asked: after a refusal, prefilled with what was refused
    refused: dict[str, Any] = {}
    message: str | None = None  # on the run's state while it waits
    for attempt in range(1, MAX_ATTEMPTS + 1):
        input_key = pause_key(key, attempt)
        mark_waiting(ref, key, run_id, input_key)
        form = prefilled(model, refused, description=asked)
        received = suspend_for_input(form, key=input_key, message=message)
        data: dict[str, Any] = received.model_dump(mode="json")
        result = apply_input(ref, key, data, run_id, input_key)
        if result["status"] == "accepted":
            logger.info("%s accepted for %s", key, ref)
            if until(data):
                return data
            asked, refused, message = description, {}, None
            continue
        logger.warning("%s refused for %s: %s", key, ref, result["error"])
        asked = f"**Last input refused:** {result['error']}\n\n{description}"
        refused, message = data, f"Last input refused: {reason_only(result['error'])}"
    raise RuntimeError(f"{key}: refused {MAX_ATTEMPTS} times")
