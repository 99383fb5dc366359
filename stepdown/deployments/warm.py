"""What the warm interpreter imports once, before `stepdown serve` forks flow runs from it
(stepdown.deployments.runner): Prefect's engines and every served flow, with what they import.

Only imports and pure, cached reads of the shipped declarations: nothing here opens a database
connection or talks to the API, since every flow run would share it.
"""

from __future__ import annotations

import sys


def _warm() -> None:
    import alembic.command  # noqa: F401 - each flow run process migrates (a no-op) on first use
    import prefect.flow_engine  # noqa: F401
    import prefect.task_engine  # noqa: F401

    import stepdown.artifacts  # noqa: F401
    import stepdown.inputs  # noqa: F401
    import stepdown.tasks.case  # noqa: F401
    from stepdown.deployments import all_specs
    from stepdown.records import current_policy, declarations

    for spec in all_specs():
        spec.load()
    # The declarations, the policy and every form's model are built once (each is cached).
    catalogue = declarations()
    for key in catalogue.forms:
        catalogue.model(key)
    current_policy()


try:
    _warm()
except Exception as exc:  # noqa: BLE001 - a flow run imports what it lacks itself, slower
    print(f"stepdown: the warm interpreter could not import everything ({type(exc).__name__}: "
          f"{exc}); flow runs will import the rest themselves", file=sys.stderr, flush=True)
