"""Form to applied: how long an operations officer waits between submitting a form and seeing it
on the case's timeline, on a warm `stepdown serve`, beside a bare Prefect suspend/resume served
the same way in the same run (issue 13, target 1).

One run starts a real `stepdown serve` (SQLite, schedules off) in a temporary home and, beside
it, a runner serving a trivial flow that suspends with ``suspend_flow_run(wait_for_input=...)``.
It opens 2N Step Down cases, each waiting for ``identification.suitability``, and N bare runs.
Then, one at a time and interleaved (CLI, API, bare, CLI, ...), it:

- runs ``stepdown input REF identification.suitability --data ...`` (the command line);
- sends ``POST /flow_runs/{id}/resume`` with the form as ``run_input`` (the UI's Resume dialog);
- resumes a bare run the same way;

and times each from the moment it is submitted to the moment the change shows: the suitability
obligation ``done`` in the case record (what ``stepdown case timeline`` reads), or the bare
flow's file written after ``suspend_flow_run`` returned. Each resumed run is left to suspend again
before the next sample, so every sample starts on an idle system. The flow runs' states and task
runs (from the Prefect API) break each sample down: submit to resume (the command line's own
work), resume to Pending (the runner's poll), Pending to Running (process start and imports),
Running to applied (the flow's own API calls and writes). It also measures the CPU the served
system uses at idle, and the import time of a fresh interpreter. Finally every case's timeline
is read with ``stepdown case timeline --json`` to check the form shows as done.

It prints median and p95 of each path, their ratio to the bare flow, and the breakdown, and
appends one JSON record to bench/results.jsonl (``--no-record`` skips that).

Run: ``.venv/bin/python bench/latency_bench.py [--n 20] [--label TEXT]``.
``--serve-env K=V`` (repeatable) sets an environment variable of both served systems, e.g.
``--serve-env STEPDOWN_WARM_RUNNER=off`` for the runner as Prefect ships it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The stepdown code measured: this checkout, or another (``--code DIR``, e.g. an export of the
# branch before a change, for the "before" figures).
CODE = Path(os.environ.get("LATENCY_BENCH_CODE", ROOT)).resolve()
sys.path[:0] = [str(CODE), str(ROOT)]

TODAY = "2027-12-01"
IDENTIFIED = "2027-11-01"
FORM = "identification.suitability"
SUITABILITY = {"held_on": "2027-11-08", "sdq_score": 12, "care_needs_band": "2.1",
               "care_plan_ratified": True}
# The bare flow, served as stepdown serves its flows, and by Prefect's own `serve`.
BARE = {"bare": "bare-suspend/bench", "bare_stock": "bare-suspend/stock"}
PATHS = ("cli", "api", "bare", "bare_stock")


# ---------------------------------------------------------------------------- the bare flow
from prefect import flow  # noqa: E402
from prefect.flow_runs import suspend_flow_run  # noqa: E402
from prefect.input import RunInput  # noqa: E402


class BareForm(RunInput):
    value: int


@flow(name="bare-suspend", persist_result=True)
def bare_suspend(out: str) -> int:
    """Wait for a form, write it down (the "applied" a benchmark sees), wait for the next."""
    form = suspend_flow_run(wait_for_input=BareForm, key="form-1")
    path = Path(out)
    if not path.exists():
        path.write_text(str(form.value))
    suspend_flow_run(wait_for_input=BareForm, key="form-2")
    return form.value


def bare_runner(stock: bool) -> None:
    """Serve the bare flow: as stepdown serves its flows (deployment ``bench``), or with
    Prefect's ``serve`` (``stock``). Code from before ``serve_flows`` served its flows with
    ``prefect.serve``, so there both are Prefect's."""
    from prefect import serve

    name = "stock" if stock else "bench"
    try:
        from stepdown.deployments.serve import serve_flows
    except ImportError:
        stock = True
    if stock:
        serve(bare_suspend.to_deployment(name=name))
    else:
        serve_flows([(bare_suspend, {"name": name})])


# ------------------------------------------------------------------------------- measuring
def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "median": round(statistics.median(values), 3),
            "p95": round(percentile(values, 0.95), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _process_cpu(pids: list[int]) -> dict[int, float]:
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError):
            pass
    return out


def _group(pgid: int) -> dict[int, str]:
    """The processes of a process group: pid -> a short name from the command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ProcessLookupError):
            continue
        if "prefect_server" in cmd:
            name = "prefect server"
        elif "deployments.serve" in cmd:
            name = "runner"
        elif "--bare-runner" in cmd:
            name = "bare runner"
        elif "stepdown serve" in cmd or "stepdown\x00serve" in cmd or cmd.endswith(" serve"):
            name = "stepdown serve"
        else:
            name = cmd.split(" ")[1][:40] if " " in cmd else cmd[:40]
        found[int(entry.name)] = name
    return found


def idle_cpu(pgids: list[int], seconds: float) -> dict[str, float]:
    """CPU used by each named process of the groups over ``seconds`` of idle, as % of one CPU."""
    procs: dict[int, str] = {}
    for pgid in pgids:
        procs.update(_group(pgid))
    before = _process_cpu(list(procs))
    time.sleep(seconds)
    after = _process_cpu(list(procs))
    usage: dict[str, float] = {}
    for pid, name in procs.items():
        if pid in before and pid in after:
            usage[name] = usage.get(name, 0.0) + (after[pid] - before[pid])
    out = {name: round(100 * used / seconds, 2) for name, used in sorted(usage.items())}
    out["total"] = round(sum(out.values()), 2)
    return out


def _describe(code: Path) -> str:
    """The measured code: its commit (and whether changed since), or the folder."""
    try:
        commit = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(code), "status", "--porcelain", "stepdown"],
                               capture_output=True, text=True).stdout.strip()
        return commit + (" (changed)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return str(code)


def import_seconds(runs: int = 3) -> dict[str, float]:
    """A fresh interpreter's wall time: bare, and importing what a flow run process imports."""
    code = {"python": "pass",
            "prefect": "import prefect.flow_engine",
            "prefect + stepdown": "import prefect.flow_engine, stepdown.flows.stage, "
                                  "stepdown.tasks.case, stepdown.inputs, stepdown.artifacts"}
    out = {}
    for name, source in code.items():
        times = []
        for _ in range(runs):
            started = time.monotonic()
            subprocess.run([sys.executable, "-c", source], check=True, env=os.environ)
            times.append(time.monotonic() - started)
        out[name] = round(statistics.median(times), 3)
    return out


class Bench:
    def __init__(self, system: Any, bare_dir: Path) -> None:
        import httpx

        self.system = system
        self.api = system.api
        self.http = httpx.Client(timeout=60)
        self.bare_dir = bare_dir

    # ---- the case record (what `stepdown case timeline` reads)
    def waiting(self, ref: str) -> str | None:
        from stepdown.db import session_scope
        from stepdown.records import get_process

        with session_scope() as session:
            process = get_process(session, ref=ref)
            if process.waiting_for == FORM and process.waiting_flow_run_id:
                return str(process.waiting_flow_run_id)
        return None

    def applied(self, ref: str) -> bool:
        from sqlmodel import select

        from stepdown.db import session_scope
        from stepdown.models.tables import Obligation, Process

        with session_scope() as session:
            status = session.exec(select(Obligation.status).join(
                Process, Process.id == Obligation.process_id).where(  # type: ignore[arg-type]
                Process.ref == ref, Obligation.key == FORM)).first()
        return status == "done"

    def state(self, run_id: str) -> tuple[str, str]:
        state = self.http.get(f"{self.api}/flow_runs/{run_id}").json()["state"]
        return state["type"], state["state_details"].get("pause_key") or ""

    def wait_paused(self, run_id: str, timeout: float = 300, not_key: str | None = None) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kind, key = self.state(run_id)
            if kind == "PAUSED" and key != not_key:
                return key
            if kind in ("FAILED", "CRASHED", "CANCELLED", "COMPLETED"):
                raise RuntimeError(f"flow run {run_id} ended {kind}")
            time.sleep(0.2)
        raise RuntimeError(f"flow run {run_id} not paused after {timeout:.0f}s")

    def _watch(self, check: Any, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return time.monotonic()
            time.sleep(0.02)
        raise RuntimeError("not applied in time")

    # ---- the three paths
    def cli(self, ref: str) -> dict[str, Any]:
        from tests.e2e import BIN

        run_id = self.waiting(ref)
        assert run_id
        key = self.wait_paused(run_id)
        wall, started = time.time(), time.monotonic()
        proc = subprocess.Popen([str(BIN / "stepdown"), "input", ref, FORM, "--data",
                                 json.dumps(SUITABILITY)], env=self.system.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = self._watch(lambda: self.applied(ref))
        out, err = proc.communicate(timeout=120)
        exited = time.monotonic()
        if proc.returncode != 0:
            raise RuntimeError(f"stepdown input {ref}: {proc.returncode} {err}")
        self.wait_paused(run_id, not_key=key)
        return {"path": "cli", "ref": ref, "run": run_id, "wall": wall,
                "applied_s": seen - started, "exit_s": exited - started}

    def resume(self, ref: str) -> dict[str, Any]:
        run_id = self.waiting(ref)
        assert run_id
        key = self.wait_paused(run_id)
        wall, started = time.time(), time.monotonic()
        answer = self.http.post(f"{self.api}/flow_runs/{run_id}/resume",
                                json={"run_input": SUITABILITY})
        answered = time.monotonic()
        if answer.status_code >= 300 or answer.json().get("status") != "ACCEPT":
            raise RuntimeError(f"resume {ref}: {answer.status_code} {answer.text}")
        seen = self._watch(lambda: self.applied(ref))
        self.wait_paused(run_id, not_key=key)
        return {"path": "api", "ref": ref, "run": run_id, "wall": wall,
                "applied_s": seen - started, "answer_s": answered - started}

    def bare(self, run_id: str, out: Path) -> dict[str, Any]:
        key = self.wait_paused(run_id)
        wall, started = time.time(), time.monotonic()
        answer = self.http.post(f"{self.api}/flow_runs/{run_id}/resume",
                                json={"run_input": {"value": 1}})
        answered = time.monotonic()
        if answer.status_code >= 300 or answer.json().get("status") != "ACCEPT":
            raise RuntimeError(f"resume bare: {answer.status_code} {answer.text}")
        seen = self._watch(out.exists)
        self.wait_paused(run_id, not_key=key)
        return {"path": out.name.rsplit("-", 1)[0], "ref": out.name, "run": run_id, "wall": wall,
                "applied_s": seen - started, "answer_s": answered - started}

    # ---- where the time went
    def breakdown(self, sample: dict[str, Any]) -> dict[str, Any]:
        """The sample's phases from the flow run's states and task runs (server timestamps)."""
        run_id, wall = sample["run"], sample["wall"]
        states = self.http.get(f"{self.api}/flow_run_states/",
                               params={"flow_run_id": run_id}).json()
        states = sorted(states, key=lambda s: _ts(s["timestamp"]))
        after = [s for s in states if _ts(s["timestamp"]) >= wall - 0.05]

        def first(kind: str) -> float | None:
            return next((_ts(s["timestamp"]) for s in after if s["type"] == kind), None)

        resumed, pending, running = first("SCHEDULED"), first("PENDING"), first("RUNNING")
        paused = first("PAUSED")
        applied = wall + sample["applied_s"]
        tasks = self.http.post(f"{self.api}/task_runs/filter", json={
            "flow_runs": {"id": {"any_": [run_id]}}, "sort": "EXPECTED_START_TIME_ASC"}).json()
        before_apply: dict[str, float] = {}
        for task in tasks:
            start, end = task.get("start_time"), task.get("end_time")
            if not start or not end or _ts(start) < (running or wall) or _ts(start) > applied:
                continue
            name = task["name"].split(" ")[0] if sample["path"] != "bare" else task["name"]
            before_apply[name] = round(before_apply.get(name, 0) + _ts(end) - _ts(start), 3)
        out: dict[str, Any] = {"path": sample["path"]}
        if resumed and pending and running:
            out.update({
                "submit_to_resume": round(resumed - wall, 3),
                "poll_wait": round(pending - resumed, 3),
                "process_start": round(running - pending, 3),
                "flow_to_applied": round(applied - running, 3),
                "applied_to_suspended": round(paused - applied, 3) if paused else None,
                "tasks_before_applied": before_apply,
            })
        return out


def phase_medians(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for phase in ("submit_to_resume", "poll_wait", "process_start", "flow_to_applied",
                  "applied_to_suspended"):
        values = [r[phase] for r in rows if r.get(phase) is not None]
        if values:
            out[phase] = round(statistics.median(values), 3)
    tasks: dict[str, list[float]] = {}
    for row in rows:
        for name, seconds in row.get("tasks_before_applied", {}).items():
            tasks.setdefault(name, []).append(seconds)
    out["tasks_before_applied"] = {name: round(statistics.median(v), 3)
                                   for name, v in tasks.items()}
    return out


def tables() -> None:
    """bench/README.md's tables, from every latency record in bench/results.jsonl."""
    records = [json.loads(line) for line in (ROOT / "bench" / "results.jsonl").open()
               if '"bench": "latency"' in line]
    print("| # | when | code | load | cli median / p95 s | api | bare (served as stepdown) "
          "| bare (prefect.serve) | api / bare | api / prefect.serve | idle CPU % | label |")
    print("|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for n, r in enumerate(records, 1):
        a = r["applied_s"]
        cell = {p: f"{a[p]['median']:.2f} / {a[p]['p95']:.2f}" for p in PATHS}
        print(f"| {n} | {r['when'][:16]} | {r.get('code', '')} | {r['load_before']}-"
              f"{r['load_after']} | {cell['cli']} | {cell['api']} | {cell['bare']} | "
              f"{cell['bare_stock']} | {r['ratio_to_bare']['api']['median']:.2f} | "
              f"{r['ratio_to_bare_stock']['api']['median']:.2f} | "
              f"{r['idle_cpu_pct']['total']} | {r['label']} |")
    phases = ("submit_to_resume", "poll_wait", "process_start", "flow_to_applied",
              "applied_to_suspended")
    for n, r in enumerate(records, 1):
        print(f"\nrun {n} breakdown (medians, s):\n")
        print("| path | " + " | ".join(phases) + " | tasks before applied |")
        print("|---|" + "--:|" * len(phases) + "---|")
        for path in PATHS:
            b = r["breakdown_median_s"][path]
            tasks = ", ".join(f"{k} {v:.2f}" for k, v in b["tasks_before_applied"].items())
            print(f"| {path} | " + " | ".join(f"{b.get(p, 0):.2f}" for p in phases)
                  + f" | {tasks} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="samples of each path (>= 20)")
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--serve-env", action="append", default=[],
                        help="K=V for both served systems (repeatable)")
    parser.add_argument("--bare-stock", action="store_true",
                        help="serve the bare flow with prefect.serve, not stepdown's serving")
    parser.add_argument("--code", type=Path, default=None,
                        help="the stepdown checkout to measure (default: this one)")
    parser.add_argument("--label", default="")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--bare-runner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tables", action="store_true",
                        help="print bench/README.md's tables from bench/results.jsonl")
    args = parser.parse_args()
    if args.tables:
        tables()
        return 0
    if args.bare_runner:
        bare_runner(stock=args.bare_stock)
        return 0

    if args.code is not None and args.code.resolve() != CODE:
        os.environ["LATENCY_BENCH_CODE"] = str(args.code.resolve())
        return subprocess.call([sys.executable, *sys.argv])
    os.environ["PYTHONPATH"] = os.pathsep.join([str(CODE), str(ROOT)])
    # `python -m ...` (the served system's children) puts the working directory first on
    # sys.path, ahead of PYTHONPATH: run from the code measured, or they import this checkout.
    os.chdir(CODE)
    from tests.e2e import System, free_port, system_env

    home = Path(tempfile.mkdtemp(prefix="stepdown-latency-"))
    port = free_port()
    env = system_env(home, port, TODAY)
    env.pop("PREFECT_RUNNER_POLL_FREQUENCY")  # stepdown serve's own default, as shipped
    for item in args.serve_env:
        name, _, value = item.partition("=")
        env[name] = value
    system = System(home, port, env)
    started = time.monotonic()
    system.start()
    print(f"served in {time.monotonic() - started:.0f}s at {system.api}", flush=True)
    os.environ.update({k: v for k, v in env.items() if k.startswith("STEPDOWN_")})

    from stepdown.server import serve_env

    bare_env = {**env, **{k: v for k, v in serve_env("127.0.0.1", port).items()
                          if k.startswith("PREFECT_")}}
    bare_logs: dict[str, list[str]] = {"bare": [], "bare_stock": []}
    runners: dict[str, subprocess.Popen[str]] = {}
    for path, log in bare_logs.items():
        runners[path] = subprocess.Popen(
            [sys.executable, __file__, "--bare-runner"] + (
                ["--bare-stock"] if path == "bare_stock" else []),
            env=bare_env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=lambda p=runners[path], log=log: log.extend(p.stdout or []),
                         daemon=True).start()
    bench = Bench(system, home / "bare")
    bench.bare_dir.mkdir()
    record: dict[str, Any] = {"bench": "latency", "n": args.n, "serve_env": args.serve_env,
                              "code": _describe(CODE), "label": args.label}
    try:
        n = args.n
        cli_refs = [f"SD-LC{i:03d}" for i in range(n)]
        api_refs = [f"SD-LA{i:03d}" for i in range(n)]

        def open_case(ref: str) -> None:
            system.ok("case", "open", ref, "--child", f"CH-{ref}", "--identified", IDENTIFIED)

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(open_case, cli_refs + api_refs))
        bare_runs: dict[str, list[tuple[str, Path]]] = {}
        for path, name in BARE.items():
            deadline = time.monotonic() + 300
            while True:
                answer = bench.http.get(f"{system.api}/deployments/name/{name}")
                if answer.status_code == 200:
                    deployment = answer.json()
                    break
                if time.monotonic() > deadline or runners[path].poll() is not None:
                    raise RuntimeError(f"{path} runner not up:\n" + "".join(
                        bare_logs[path][-40:]))
                time.sleep(1)
            bare_runs[path] = []
            for i in range(n):
                out = bench.bare_dir / f"{path}-{i:03d}"
                made = bench.http.post(
                    f"{system.api}/deployments/{deployment['id']}/create_flow_run",
                    json={"parameters": {"out": str(out)}, "name": f"{path}-{i:03d}"}
                ).raise_for_status().json()
                bare_runs[path].append((made["id"], out))
        for ref in cli_refs + api_refs:
            deadline = time.monotonic() + 300
            while not bench.waiting(ref):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{ref} never waited for {FORM}")
                time.sleep(0.5)
            bench.wait_paused(str(bench.waiting(ref)))
        for run_id, _ in bare_runs["bare"] + bare_runs["bare_stock"]:
            bench.wait_paused(run_id)
        print(f"{4 * n} flow runs suspended; measuring idle CPU for {args.idle_seconds:.0f}s",
              flush=True)
        time.sleep(5)
        record["idle_cpu_pct"] = idle_cpu(
            [system.process.pid] + [p.pid for p in runners.values()],  # type: ignore[union-attr]
            args.idle_seconds)
        print(f"idle CPU (% of one CPU): {record['idle_cpu_pct']}", flush=True)
        record["load_before"] = round(os.getloadavg()[0], 2)

        samples: list[dict[str, Any]] = []
        for i in range(n):
            takes = [(bench.cli, cli_refs[i]), (bench.resume, api_refs[i]),
                     (bench.bare, *bare_runs["bare"][i]),
                     (bench.bare, *bare_runs["bare_stock"][i])]
            takes = takes[i % 4:] + takes[:i % 4]
            for take, *what in takes:
                sample = take(*what)
                samples.append(sample)
                extra = (f" (command exited at {sample['exit_s']:.2f}s)"
                         if "exit_s" in sample else "")
                print(f"{i + 1:3d} {sample['path']:10s} {sample['ref']}: applied in "
                      f"{sample['applied_s']:.2f}s{extra}", flush=True)
        record["load_after"] = round(os.getloadavg()[0], 2)

        by_path = {p: [s for s in samples if s["path"] == p] for p in PATHS}
        record["applied_s"] = {p: summary([s["applied_s"] for s in rows])
                               for p, rows in by_path.items()}
        record["cli_exit_s"] = summary([s["exit_s"] for s in by_path["cli"]])
        bare_median = record["applied_s"]["bare"]["median"]
        bare_p95 = record["applied_s"]["bare"]["p95"]
        record["ratio_to_bare"] = {
            p: {"median": round(record["applied_s"][p]["median"] / bare_median, 2),
                "p95": round(record["applied_s"][p]["p95"] / bare_p95, 2)}
            for p in ("cli", "api", "bare_stock")}
        stock = record["applied_s"]["bare_stock"]
        record["ratio_to_bare_stock"] = {
            p: {"median": round(record["applied_s"][p]["median"] / stock["median"], 2),
                "p95": round(record["applied_s"][p]["p95"] / stock["p95"], 2)}
            for p in ("cli", "api", "bare")}
        rows = [bench.breakdown(s) for s in samples]
        record["breakdown_median_s"] = {
            p: phase_medians([r for r in rows if r["path"] == p]) for p in PATHS}

        # The change shows where an officer looks: `stepdown case timeline --json`.
        def shown(ref: str) -> bool:
            items = {i["key"]: i for i in system.ok("case", "timeline", ref, "--json").json()}
            return bool(items[FORM]["status"] == "done")

        with ThreadPoolExecutor(2) as pool:
            record["timeline_shows_done"] = sum(pool.map(shown, cli_refs + api_refs))
        record["imports_s"] = import_seconds()
    finally:
        import signal

        for proc in runners.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        for proc in runners.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        system.stop()
        (home / "serve.log").write_text("".join(system.log))
        for path, lines in bare_logs.items():
            (home / f"{path}.log").write_text("".join(lines))
    log = "".join(system.log)
    record.update(server_log_tracebacks=log.count("Traceback"), cpus=os.cpu_count(),
                  when=datetime.now().isoformat(timespec="seconds"))
    print(json.dumps(record, indent=1), flush=True)
    for path in PATHS:
        got = record["applied_s"][path]
        ratio = record["ratio_to_bare"].get(path, {"median": 1.0, "p95": 1.0})
        print(f"{path:10s} median {got['median']:.2f}s p95 {got['p95']:.2f}s "
              f"(x{ratio['median']:.2f} / x{ratio['p95']:.2f} of bare)")
    if not args.no_record:
        with (ROOT / "bench" / "results.jsonl").open("a") as out:
            out.write(json.dumps(record) + "\n")
    print(f"logs: {home}/serve.log {home}/bare.log {home}/bare_stock.log")
    return 0 if record["timeline_shows_done"] == 2 * args.n and not record[
        "server_log_tracebacks"] else 1


if __name__ == "__main__":
    sys.exit(main())
