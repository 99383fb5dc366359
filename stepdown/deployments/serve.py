"""Serve every deployment in this process (started by `stepdown serve`, or on its own).

Needs PREFECT_API_URL pointing at a running Prefect server.
"""

from __future__ import annotations

from prefect import serve

from stepdown.deployments import DEPLOYMENT, all_specs


def main() -> None:
    deployments = [
        spec.load().to_deployment(name=DEPLOYMENT, tags=list(spec.tags),
                                  parameters=dict(spec.parameters) or None)
        for spec in all_specs()
    ]
    serve(*deployments)


if __name__ == "__main__":
    main()
