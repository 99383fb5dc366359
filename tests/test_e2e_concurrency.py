"""Submissions land: many people pressing Submit in the Prefect UI's Resume dialog at once, on
the embedded default (SQLite for the Prefect server and the case record), while a sweep runs.

The field trial had 18 of 20 concurrent resumes answered 503: Prefect's server began its SQLite
transactions DEFERRED, and a transaction that read before it wrote was refused at once when
another connection had written in between. `stepdown serve` runs Prefect's server with IMMEDIATE
transactions (stepdown/prefect_server.py). bench/concurrent_resume.py measures the same at 50.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from tests.concurrency import concurrent_resumes, log_counts
from tests.e2e import System, served

pytestmark = pytest.mark.e2e

TODAY = "2027-03-10"  # a Wednesday
RUNS = 20


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    yield from served(tmp_path_factory, "stepdown-concurrency", TODAY)


def test_concurrent_resumes_beside_a_sweep_are_each_applied_or_refused(system: System) -> None:
    result = concurrent_resumes(system, runs=RUNS, today=date.fromisoformat(TODAY))
    assert result["5xx"] == 0, result
    assert result["2xx"] == RUNS, result
    assert result["lost"] == 0 and result["wrong_outcome"] == 0, result
    assert (result["applied"], result["refused"]) == (RUNS - RUNS // 5, RUNS // 5), result
    assert result["sweep_exit"] == 0, result
    counts = log_counts("".join(system.log))
    assert counts == {"server_log_503": 0, "server_log_locked": 0,
                      "server_log_tracebacks": 0}, counts
