"""Benchmark: import a synthetic SSDA903 return of 100,000 episodes, and open 1,000 processes
with their flow runs against a served system.

    .venv/bin/python bench/ssda903_bench.py                         # 100,000 episodes, SQLite
    .venv/bin/python bench/ssda903_bench.py --database postgres --format xml
    .venv/bin/python bench/ssda903_bench.py --served 1000           # + 1,000 runs, stepdown serve

1. Writes a synthetic return (``--format csv`` or ``xml``) to a temporary directory:
   ``--episodes / 4`` children with four episodes each, from a seeded random generator. Each
   episode lasts 14-199 days, in a placement drawn from every SSDA903 code (foster U1-U6 seven
   times in ten), ending with a reason drawn from all twelve; every row has postcodes and a URN.
   All of it ends before ``--since``, except that ``--window`` children's fourth episode is a
   foster placement that ended unplanned on or after it (each opens a process); every other
   child's fourth episode is still open. The expected counts are tallied as the file is written.
2. In a child process (so that its peak memory is the import's own): a fresh database (a SQLite
   file, or a new PostgreSQL database, dropped afterwards) migrated by ``get_engine()``; then it
   times ``ssda903.read`` (read and check), ``imports.record`` (open the window's processes,
   keep the history) and the commit, in one transaction as ``run_import`` makes it, and a second
   import of the same file (it must open and count nothing). Peak memory is ``ru_maxrss``; the
   RSS after the imports, before reading, is given too.
3. With ``--served N``: starts ``stepdown serve`` (tests/e2e.py's ``System``) in a temporary home,
   writes a file whose N children each have one unplanned foster ending in the window, runs
   ``stepdown import ssda903 FILE --json`` and times it (the records, then N flow runs created
   through ``tasks.case.start_stage_flow``), then polls the API until the N runs are suspended
   waiting for their meeting, or ``--served-timeout`` seconds pass.
4. Checks every count against the tally and appends a JSON line to ``bench/results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.e2e

RESULTS = Path(__file__).resolve().parent / "results.jsonl"
PG_ADMIN_URL = os.environ.get(
    "STEPDOWN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TODAY = date(2027, 12, 1)
SINCE = TODAY - timedelta(days=42)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# ------------------------------------------------------------------------------- the return
def generate(episodes: int, window: int, fmt: str, path: Path, seed: int) -> dict[str, int]:
    """Write the return; the counts an import must find in it."""
    from stepdown.ssda903 import COLUMNS, FOSTER, PLACEMENTS, REASONS, UNPLANNED

    rng = random.Random(seed)
    others = [p for p in PLACEMENTS if p not in FOSTER]
    foster = sorted(FOSTER)
    unplanned = set(UNPLANNED)
    children = episodes // 4
    tally = {"episodes": children * 4, "endings": 0, "opened": 0, "history": 0}
    seen: set[tuple[int, date]] = set()
    rows: list[tuple[str, ...]] = []
    for c in range(children):
        ident = f"S{c:07d}"
        day = date(2024, 1, 1) + timedelta(days=rng.randrange(600))
        for k in range(4):
            place = rng.choice(foster) if rng.random() < 0.7 else rng.choice(others)
            end: date | None = day + timedelta(days=rng.randrange(14, 200))
            reason = rng.choice(REASONS)
            if k == 3 and c < window:  # ends in the window: opens a process
                place = rng.choice(foster)
                end = SINCE + timedelta(days=rng.randrange(42))
                reason = rng.choice(sorted(unplanned))
            elif k == 3:  # still open; a reason on it is ignored
                end = None
            assert end is None or end < TODAY
            if end is not None and reason in unplanned and (c, end) not in seen:
                seen.add((c, end))
                tally["endings"] += 1
                if place in FOSTER and end >= SINCE:
                    tally["opened"] += 1
                else:
                    tally["history"] += 1
            rows.append((ident, day.strftime("%d/%m/%Y"), "P", "C2", "N1", place, "PR1",
                         end.strftime("%d/%m/%Y") if end else "", "X1" if end else "",
                         reason if end or rng.random() < 0.1 else "", "BS16 1AA", "GL7 2QZ",
                         "SC483621"))
            if end is None:
                break
            day = end
    with path.open("w", newline="") as out:
        if fmt == "csv":
            out.write(",".join(COLUMNS) + "\r\n")
            for row in rows:
                out.write(",".join(row) + "\r\n")
        else:
            out.write('<?xml version="1.0" encoding="utf-8"?>\n<EXPSSDA903>\n')
            current = None
            for row in rows:
                if row[0] != current:
                    if current is not None:
                        out.write("</CHILD>\n")
                    current = row[0]
                    out.write(f"<CHILD><HEADER><CHILDID>{current}</CHILDID></HEADER>\n")
                fields = "".join(f"<{'PL' if name == 'PLACE' else name}>{value}"
                                 f"</{'PL' if name == 'PLACE' else name}>"
                                 for name, value in zip(COLUMNS, row, strict=True)
                                 if name != "CHILD" and value)
                out.write(f"<EPISODE>{fields}</EPISODE>\n")
            out.write("</CHILD>\n</EXPSSDA903>\n")
    return tally


# ------------------------------------------------------------------------------- the import
def child(path: str, url: str) -> None:
    """Import the file into the database at ``url`` (migrated first); print the timings."""
    os.environ["STEPDOWN_DATABASE_URL"] = url
    os.environ["STEPDOWN_TODAY"] = TODAY.isoformat()
    from sqlmodel import Session

    from stepdown.db import get_engine
    from stepdown.imports import record
    from stepdown.ssda903 import read

    engine = get_engine()  # migrations
    from stepdown.records import current_policy, declarations

    current_policy(), declarations()  # loaded once, as in any command
    baseline = _rss_mb()
    cpu0, t0 = time.process_time(), time.perf_counter()
    content = Path(path).read_bytes()
    parsed = read(content, today=TODAY)
    t1 = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        summary = record(session, parsed=parsed, since=SINCE, actor="bench")
        t2 = time.perf_counter()
        session.commit()
    t3, cpu1 = time.perf_counter(), time.process_time()
    with Session(engine, expire_on_commit=False) as session:
        again = record(session, parsed=read(content, today=TODAY), since=SINCE, actor="bench")
        session.commit()
    t4 = time.perf_counter()
    print(json.dumps({
        "bytes": len(content), "rows": parsed.rows, "refused": len(parsed.errors),
        "endings": summary.endings_found, "opened": summary.processes_opened,
        "history": summary.history_kept, "known": summary.already_known,
        "again": [again.processes_opened, again.already_known, again.history_kept],
        "read_check_s": round(t1 - t0, 2), "store_s": round(t2 - t1, 2),
        "commit_s": round(t3 - t2, 2), "total_s": round(t3 - t0, 2),
        "cpu_s": round(cpu1 - cpu0, 2), "reimport_s": round(t4 - t3, 2),
        "baseline_rss_mb": baseline,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


def fresh_database(kind: str, tmp: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'stepdown.db'}", None
    import sqlalchemy as sa

    name = f"stepdown_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", drop


# ------------------------------------------------------------------------------- served
def served(n: int, tmp: Path, timeout: float) -> dict[str, Any]:
    import httpx

    from tests.e2e import System, free_port, system_env

    path = tmp / "window.csv"
    generate(4 * n, n, "csv", path, seed=7)  # n children, each ending in the window
    home = tmp / "served"
    port = free_port()
    system = System(home, port, system_env(home, port, TODAY.isoformat()))
    t0 = time.perf_counter()
    system.start()
    started_s = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        ran = system.cli("import", "ssda903", str(path), "--json", timeout=3600)
        import_s = time.perf_counter() - t1
        if ran.code != 0:
            raise SystemExit(f"import failed ({ran.code}): {ran.stderr}")
        summary = ran.json()
        deployment = httpx.get(
            f"{system.api}/deployments/name/unplanned-ending-meeting/stepdown").json()

        def count(states: list[str]) -> int:
            return int(httpx.post(f"{system.api}/flow_runs/count", json={
                "deployments": {"id": {"any_": [deployment["id"]]}},
                "flow_runs": {"state": {"type": {"any_": states}}}}, timeout=30).json())

        created = count(["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "COMPLETED", "FAILED",
                         "CRASHED"])
        deadline, samples = time.perf_counter() + timeout, []
        paused = 0
        while time.perf_counter() < deadline:
            paused = count(["PAUSED"])
            samples.append((round(time.perf_counter() - t1, 1), paused))
            if paused >= n:
                break
            time.sleep(5)
        failed = count(["FAILED", "CRASHED"])
        all_s = time.perf_counter() - t1 if paused >= n else None
        return {"served_n": n, "serve_start_s": round(started_s, 1),
                "served_import_s": round(import_s, 1),
                "served_opened": summary["processes_opened"],
                "served_runs_started": summary["flow_runs_started"],
                "served_runs_created": created, "served_suspended": paused,
                "served_failed": failed,
                "served_all_suspended_s": round(all_s, 1) if all_s else None,
                "served_timeout_s": timeout, "served_samples": samples[::6] + samples[-1:]}
    finally:
        system.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=100,
                        help="children whose last episode ends unplanned in the window")
    parser.add_argument("--format", choices=("csv", "xml"), default="csv")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--served", type=int, default=0,
                        help="also open this many processes with their runs on stepdown serve")
    parser.add_argument("--served-timeout", type=float, default=600)
    parser.add_argument("--seed", type=int, default=903)
    parser.add_argument("--label", default="")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("FILE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="ssda903-bench-") as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / f"return.{args.format}"
        t0 = time.perf_counter()
        tally = generate(args.episodes, args.window, args.format, path, args.seed)
        generate_s = time.perf_counter() - t0
        url, drop = fresh_database(args.database, tmp)
        load = os.getloadavg()[0]
        try:
            done = subprocess.run([sys.executable, __file__, "--child", str(path), url],
                                  capture_output=True, text=True, check=False,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        finally:
            if drop:
                drop()
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        problems = [f"{name}: {result[key]} != {tally[name]}" for name, key in (
            ("episodes", "rows"), ("endings", "endings"), ("opened", "opened"),
            ("history", "history")) if result[key] != tally[name]]
        if result["refused"] or result["again"] != [0, tally["endings"], 0]:
            problems.append(f"refused {result['refused']}, re-import {result['again']}")
        record = {"bench": "ssda903", "format": args.format, "database": args.database,
                  "episodes": args.episodes, "window": args.window, **result,
                  "generate_s": round(generate_s, 1), "check": problems or "ok",
                  "cpus": os.cpu_count(), "load": round(load, 2),
                  "python": platform.python_version(), "label": args.label}
        if args.served:
            record.update(served(args.served, tmp, args.served_timeout))
            if record["served_opened"] != args.served:
                problems.append(f"served opened {record['served_opened']}")
    print(f"ssda903 {args.format} {args.database}: {result['rows']} episodes "
          f"({result['bytes'] / 1e6:.1f} MB), {result['endings']} endings, {result['opened']} "
          f"opened: read+check {result['read_check_s']} s, store {result['store_s']} s, commit "
          f"{result['commit_s']} s, total {result['total_s']} s; peak RSS "
          f"{result['peak_rss_mb']} MB (baseline {result['baseline_rss_mb']}); re-import "
          f"{result['reimport_s']} s; check {record['check']}")
    if args.served:
        print(f"served: {record['served_opened']} opened, {record['served_runs_started']} runs "
              f"started in {record['served_import_s']} s (the command's wall time); "
              f"{record['served_suspended']} suspended"
              + (f" after {record['served_all_suspended_s']} s" if
                 record["served_all_suspended_s"] else f" within {args.served_timeout:.0f} s"))
    if not args.no_record:
        with RESULTS.open("a") as out:
            out.write(json.dumps(record) + "\n")
    if problems:
        raise SystemExit("check failed: " + "; ".join(problems))


if __name__ == "__main__":
    main()
