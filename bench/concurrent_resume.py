"""Concurrent submissions on the embedded default: N suspended flow runs resumed at once through
the Prefect API (as N people pressing Submit in the UI's Resume dialog), while a sweep runs.

It starts a real `stepdown serve` (SQLite for the Prefect server and the case record, schedules
off) in a temporary home and runs tests/concurrency.py's `concurrent_resumes`: N stability
processes, every resume sent at the same moment, one in five an input the flow refuses. It prints
one JSON line (resumes sent, answered 2xx/4xx/5xx, applied, refused, lost, seconds to settle,
what the server log shows) and appends it to bench/results.jsonl.

`--stock-prefect` serves Prefect's server without stepdown's change to its SQLite transactions
(STEPDOWN_PREFECT_SQLITE_IMMEDIATE=off), for the comparison in bench/README.md.

Run: `.venv/bin/python bench/concurrent_resume.py --runs 50 [--stock-prefect]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.concurrency import concurrent_resumes, log_counts  # noqa: E402
from tests.e2e import System, free_port, system_env  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--today", default="2027-03-10")
    parser.add_argument("--stock-prefect", action="store_true",
                        help="Prefect's server as shipped (DEFERRED SQLite transactions)")
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="stepdown-concurrency-"))
    port = free_port()
    env = system_env(home, port, args.today)
    if args.stock_prefect:
        env["STEPDOWN_PREFECT_SQLITE_IMMEDIATE"] = "off"
    system = System(home, port, env)
    started = time.monotonic()
    system.start()
    print(f"served in {time.monotonic() - started:.0f}s at {system.api}", flush=True)
    try:
        record = {"bench": "concurrent_resume",
                  "prefect_sqlite": "stock" if args.stock_prefect else "immediate",
                  **concurrent_resumes(system, runs=args.runs,
                                       today=date.fromisoformat(args.today))}
    finally:
        system.stop()
    log = "".join(system.log)
    record.update(log_counts(log), cpus=os.cpu_count(), load=round(os.getloadavg()[0], 1),
                  label=args.label)
    print(json.dumps(record), flush=True)
    with (ROOT / "bench" / "results.jsonl").open("a") as out:
        out.write(json.dumps(record) + "\n")
    (home / "serve.log").write_text(log)
    print(f"server log: {home / 'serve.log'}")
    return 0 if not (record["5xx"] or record["lost"] or record["wrong_outcome"]) else 1


if __name__ == "__main__":
    sys.exit(main())
