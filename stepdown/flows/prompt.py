"""Ask for a form again after a refusal, so the person sees why and loses nothing they typed.

Prefect's ``suspend_flow_run`` takes no state message, so :func:`suspend_for_input` is its
current-run path (Prefect 3.8.8, ``prefect.flow_runs.suspend_flow_run``) with a message on the
proposed Suspended state: the flow run page shows it as the "State Message", and the run list
shows it beside the state. :func:`prefilled` puts the refused values back as the form's defaults.
"""

from __future__ import annotations

import re
from copy import copy
from typing import Any, TypeVar

import pydantic
from prefect._flow_run_suspension import mark_flow_run_suspension_requested
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import Abort, Pause
from prefect.input import keyset_from_paused_state
from prefect.input.run_input import RunInput
from prefect.logging import get_run_logger
from prefect.states import Suspended
from prefect.utilities.engine import propose_state_sync

R = TypeVar("R", bound=pydantic.BaseModel)

_GOT_TEXT = re.compile(r"\s*\(got (['\"]).*?\1\)")


def as_run_input(model: type[pydantic.BaseModel]) -> type[RunInput]:
    """A form's model as the Prefect ``RunInput`` the UI renders, under the form's own name
    (the schema's title) and with its description (as ``RunInput.subclass_from_base_model_type``
    does, which renames it ``<name>RunInput`` and drops the description)."""
    if issubclass(model, RunInput):
        return model
    wrapped: type[RunInput] = type(model.__name__, (RunInput, model),
                                   {"__module__": model.__module__})
    wrapped._description = getattr(model, "_description", None)
    return wrapped


def reason_only(error: str) -> str:
    """A refusal's reason without any text value it quotes (``(got '...')``): what a person
    typed in a free-text field stays out of state messages and artifacts."""
    return _GOT_TEXT.sub("", error)


def valid_defaults(model: type[pydantic.BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """The submitted values that the form's schema accepts, field by field.

    A refusal can come from the case's rules (then every value is valid for the schema) or from
    the schema itself (a value the command line or the API sent that the form cannot hold): only
    values valid for the schema can be a form's defaults, so the others are left out.
    """
    kept = {name: value for name, value in values.items() if name in model.model_fields}
    while kept:
        try:
            model.model_validate(kept)
            return kept
        except pydantic.ValidationError as exc:
            errors = [e for e in exc.errors() if e["type"] != "missing"]
            if not errors:
                return kept  # only fields left empty: the rest are valid
            bad = {e["loc"][0] for e in errors if e["loc"]}
            if not bad:  # a rule over the whole form: no field to blame, keep none
                return {}
            kept = {name: value for name, value in kept.items() if name not in bad}
    return kept


def prefilled(model: type[R], values: dict[str, Any], *, description: str) -> type[R]:
    """``model`` with ``values`` (those valid for it) as its fields' defaults.

    ``RunInput.with_initial_data`` redeclares each field with its annotation only, which drops
    the field's title, help and bounds from the schema the UI renders; this keeps them.
    """
    fields: dict[str, Any] = {}
    for name, value in valid_defaults(model, values).items():
        original = model.model_fields[name]
        info = copy(original)
        # JSON values (a date as text): validated when used, so the field keeps its type.
        info.default, info.default_factory, info.validate_default = value, None, True
        info._attributes_set = {**original._attributes_set, "default": value,
                                "validate_default": True}
        info._attributes_set.pop("default_factory", None)
        fields[name] = (original.annotation, info)
    base = pydantic.create_model(model.__name__, __base__=model, **fields)
    required = [name for name, info in model.model_fields.items() if info.is_required()]
    extra = model.model_config.get("json_schema_extra")

    def still_required(schema: dict[str, Any]) -> None:
        if callable(extra):  # the form's own (who submitted it, last)
            extra(schema)  # type: ignore[call-arg]
        # A default makes pydantic call a field optional, and the UI would label it so: a
        # required field stays required, now filled in.
        if required:
            schema["required"] = required

    config = {**base.model_config, "json_schema_extra": still_required}
    form: type[R] = type(model.__name__, (base,), {"model_config": config,
                                                   "__module__": model.__module__})
    form._description = description  # type: ignore[attr-defined]
    return form


def suspend_for_input(model: type[R], *, key: str, message: str | None = None) -> R:
    """Suspend the current flow run until ``model`` is submitted, with ``message`` on its state.

    As ``suspend_flow_run(wait_for_input=model, key=key)``: on a resumed run the orchestrator
    refuses the repeated suspension and the stored input is returned.
    """
    context = FlowRunContext.get()
    if TaskRunContext.get():
        raise RuntimeError("Cannot suspend task runs.")
    if context is None or context.flow_run is None:
        raise RuntimeError("Flow runs can only be suspended from within a flow run.")
    get_run_logger(context=context).info(
        "Suspending flow run, execution will be rescheduled when this flow run is resumed.")
    flow_run_id = context.flow_run.id
    form = as_run_input(model)
    proposed: State[Any] = Suspended(pause_key=key, message=message)
    keyset = keyset_from_paused_state(proposed)
    proposed.state_details.run_input_keyset = {name: str(value)
                                               for name, value in keyset.items()}
    with get_client(sync_client=True) as client:
        try:
            state = propose_state_sync(client=client, state=proposed, flow_run_id=flow_run_id)
        except Abort as exc:
            raise RuntimeError(f"Flow run cannot be suspended: {exc}") from exc
        if state.is_running():  # suspended before and resumed since: the input is stored
            return form.load(keyset)  # type: ignore[return-value]
        if not state.is_paused():
            raise RuntimeError(f"Flow run cannot be suspended. Received unexpected state from "
                               f"API: {state}")
        form.save(keyset)
    mark_flow_run_suspension_requested(flow_run_id, state)
    raise Pause(state=state)
