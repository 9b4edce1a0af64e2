"""Reads per second through gunicorn: /healthz, a store, the scan, the catalogue.

gunicorn starts with the project's own ``deploy/gunicorn.conf.py`` on a free
loopback port, ``DEBUG`` off, against the benchmark database seeded with
``manage.py seed_demo`` (two stores, 300+ products with stock). The settings are
the test settings (``HEMA_BENCH_HTTP_SETTINGS`` names others): the production
ones without throttles, since one client asking 1,000s of times a second is what
throttles exist to refuse. ``wrk`` drives it at 8 connections (a Python load
generator when wrk is missing, or with ``HEMA_BENCH_LOADER=python``): a short
warm-up, then ``HEMA_BENCH_HTTP_SECONDS`` (10) seconds per endpoint. The scan
walks every SKU of the store, so no one row stays hot. ``/healthz`` (one
``SELECT 1``) is measured in the same run: each endpoint is reported as a share
of it, which holds on a loaded machine where requests per second alone do not.

``HEMA_BENCH_BASELINE=<another checkout>`` (for example a detached worktree of
``main``) also serves the same database from that checkout's code and config,
alternating with this one over ``HEMA_BENCH_HTTP_ROUNDS`` (2) rounds, so that a
change is measured against the code before it in one run; every scan answer of
both must be the same JSON. Figures go to ``results/http.json`` and a table to
``results/http.md``.
"""

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from django.core.management import call_command
from django.db import connection

from inventory.models import StoreProduct
from tests.benchmarks.registry import BenchContext, BenchResult, Row, register

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
STORE = "SH01"
CONNECTIONS = 8
WRK_THREADS = 2
SECONDS = int(os.environ.get("HEMA_BENCH_HTTP_SECONDS", "10"))
WARM_UP_SECONDS = 2
ROUNDS = int(os.environ.get("HEMA_BENCH_HTTP_ROUNDS", "2"))
START_TIMEOUT = 60
# The test settings: DEBUG off as in production, no throttles (one client at
# 1,000s of requests a second is what they exist to refuse), a local-memory
# cache. Their cost per request is measured apart (see the README).
SETTINGS = os.environ.get("HEMA_BENCH_HTTP_SETTINGS", "tests.settings")
STOP_TIMEOUT = 40
ENDPOINTS = ("healthz", "store", "scan", "catalogue")
# The aim for the scan: 2.5 times the old rate, p99 under 25 ms.
TARGET_SPEEDUP = 2.5
TARGET_P99_MS = 25.0

WRK_SCRIPT = """
local paths = {%(paths)s}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'HEMA-JSON {"requests": %%d, "duration_us": %%d, "non_2xx": %%d, '
    .. '"socket_errors": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, '
    .. '"max_us": %%d}\\n',
    summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_environment(tree: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)  # run.py's: tests.settings, DEBUG off, a SECRET_KEY
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "PYTHONPATH": str(tree),
            "DEBUG": "false",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
    )
    return env


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def _gunicorn(tree: Path, log_path: Path) -> Iterator[tuple[str, int]]:
    """gunicorn serving ``tree``'s code with ``tree``'s config; yields its URL
    and the master's pid."""
    port = _free_port()
    env = _server_environment(tree, port)
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed args)
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(tree / "deploy" / "gunicorn.conf.py"),
            ],
            cwd=tree,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early; see {log_path}")
            if _answers(f"{base}/healthz"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn not ready in {START_TIMEOUT} s")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _get_json(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wrk(base: str, paths: list[str], seconds: int, workdir: Path) -> dict:
    script = workdir / "paths.lua"
    script.write_text(WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths)})
    output = subprocess.run(  # noqa: S603
        [
            shutil.which("wrk") or "wrk",
            f"-t{WRK_THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("HEMA-JSON "))
    raw = json.loads(line.removeprefix("HEMA-JSON "))
    return {
        "requests": raw["requests"],
        "requests_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "non_2xx": raw["non_2xx"],
        "socket_errors": raw["socket_errors"],
    }


def _python_load(base: str, paths: list[str], seconds: int, workdir: Path) -> dict:
    """The fallback: one thread and one keep-alive connection per connection.

    Under the GIL it can saturate before gunicorn does; wrk is the better gauge.
    """
    host, port = base.removeprefix("http://").split(":")
    latencies: list[list[float]] = [[] for _ in range(CONNECTIONS)]
    failures = [0] * CONNECTIONS
    barrier = threading.Barrier(CONNECTIONS + 1)
    stop = threading.Event()

    def drive(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        counter = index
        barrier.wait()
        while not stop.is_set():
            path = paths[counter % len(paths)]
            counter += CONNECTIONS
            started = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                failures[index] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                continue
            latencies[index].append(time.perf_counter() - started)
            if not 200 <= response.status < 400:
                failures[index] += 1
        conn.close()

    workers = [
        threading.Thread(target=drive, args=(i,), daemon=True)
        for i in range(CONNECTIONS)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join(15)
    elapsed = time.perf_counter() - started
    every = sorted(x for per in latencies for x in per)
    if not every:
        raise RuntimeError(f"no answer from {base}")

    def pct(p: float) -> float:
        return 1000 * every[min(len(every) - 1, int(len(every) * p / 100))]

    return {
        "requests": len(every),
        "requests_per_s": len(every) / elapsed,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": 1000 * every[-1],
        "non_2xx": sum(failures),
        "socket_errors": 0,
    }


def _seed() -> dict[str, list[str]]:
    """The demo data; the paths each endpoint walks."""
    call_command("seed_demo", verbosity=0)
    skus = list(
        StoreProduct.objects.filter(store__code=STORE, is_active=True)
        .order_by("product__sku")
        .values_list("product__sku", flat=True)
    )
    connection.close()
    if len(skus) < 100:
        raise RuntimeError(f"seed_demo gave {STORE} only {len(skus)} products")
    return {
        "healthz": ["/healthz"],
        "store": [f"/api/v1/stores/{STORE}/"],
        "scan": [f"/api/v1/stores/{STORE}/scan/{sku}" for sku in skus],
        "catalogue": [f"/api/v1/stores/{STORE}/catalogue/"],
    }


def _check_answers(base: str, paths: dict[str, list[str]]) -> dict[str, object]:
    """Every endpoint answers 200 before it is timed; every scan answer, by SKU."""
    for endpoint in ENDPOINTS:
        status, body = _get_json(base + paths[endpoint][0])
        if status != 200:
            raise RuntimeError(f"{endpoint} answered {status}: {body}")
    scans = {}
    for path in paths["scan"]:
        status, body = _get_json(base + path)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {body}")
        scans[path] = body
    return scans


def _cpu_seconds(master: int) -> float | None:
    """CPU time of gunicorn's master and workers so far, recycled workers
    included (a reaped child's time is in its parent's cutime and cstime).

    On a machine shared with other work, requests per second follow what the
    others leave free; the server's CPU per request does not. Linux only.
    """
    tick = os.sysconf("SC_CLK_TCK")

    def fields(pid: int) -> list[str]:
        # After "(command)": state, ppid, ...; utime, stime, cutime, cstime
        # are the 12th to 15th.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    try:
        total = sum(int(x) for x in fields(master)[11:15])
        children = Path(f"/proc/{master}/task/{master}/children").read_text()
        for child in children.split():
            with contextlib.suppress(FileNotFoundError):  # a worker just exited
                total += sum(int(x) for x in fields(int(child))[11:13])
    except (OSError, ValueError):
        return None
    return total / tick


def _measure(
    tree: Path, paths: dict, workdir: Path, tag: str, load
) -> tuple[dict, dict, int]:
    log_path = workdir / f"gunicorn-{tag}.log"
    log_path.unlink(missing_ok=True)
    with _gunicorn(tree, log_path) as (base, master):
        scans = _check_answers(base, paths)
        figures = {}
        for endpoint in ENDPOINTS:
            load(base, paths[endpoint], WARM_UP_SECONDS, workdir)
            before = _cpu_seconds(master)
            figure = load(base, paths[endpoint], SECONDS, workdir)
            after = _cpu_seconds(master)
            if before is not None and after is not None:
                cpu_ms = 1000 * (after - before) / max(figure["requests"], 1)
                figure["server_cpu_ms_per_request"] = cpu_ms
            figures[endpoint] = figure
    restarts = log_path.read_text(errors="replace").count("Autorestarting worker")
    return figures, scans, restarts


def _cpu_median(samples: list[dict]) -> float | None:
    values = [
        s["server_cpu_ms_per_request"]
        for s in samples
        if "server_cpu_ms_per_request" in s
    ]
    return round(statistics.median(values), 3) if values else None


def _median(samples: list[dict], key: str) -> float:
    return statistics.median(sample[key] for sample in samples)


def _summary(samples: dict[str, list[dict]]) -> dict[str, dict]:
    healthz = _median(samples["healthz"], "requests_per_s")
    out = {}
    for endpoint in ENDPOINTS:
        rps = _median(samples[endpoint], "requests_per_s")
        out[endpoint] = {
            "requests_per_s": round(rps, 1),
            "p50_ms": round(_median(samples[endpoint], "p50_ms"), 2),
            "p99_ms": round(_median(samples[endpoint], "p99_ms"), 2),
            "ratio_to_healthz": round(rps / healthz, 3),
            "server_cpu_ms_per_request": _cpu_median(samples[endpoint]),
            "non_2xx": sum(s["non_2xx"] for s in samples[endpoint]),
            "socket_errors": sum(s["socket_errors"] for s in samples[endpoint]),
        }
    return out


def _markdown(summaries: dict[str, dict], note: str) -> str:
    lines = [
        "| code | endpoint | requests/s | p50 ms | p99 ms | / healthz "
        "| server CPU ms/request | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for target, summary in summaries.items():
        for endpoint, s in summary.items():
            errors = s["non_2xx"] + s["socket_errors"]
            cpu = s["server_cpu_ms_per_request"]
            lines.append(
                f"| {target} | {endpoint} | {s['requests_per_s']:,.0f} | "
                f"{s['p50_ms']:.1f} | {s['p99_ms']:.1f} | "
                f"{s['ratio_to_healthz']:.2f} | "
                f"{'-' if cpu is None else f'{cpu:.2f}'} | {errors} |"
            )
    return "\n".join([note, "", *lines, ""])


@register("http")
def bench_http(context: BenchContext) -> BenchResult:
    paths = _seed()
    use_wrk = shutil.which("wrk") and os.environ.get("HEMA_BENCH_LOADER") != "python"
    load = _wrk if use_wrk else _python_load
    targets = {"this": ROOT}
    if os.environ.get("HEMA_BENCH_BASELINE"):
        targets["baseline"] = Path(os.environ["HEMA_BENCH_BASELINE"]).resolve()
    samples = {t: {e: [] for e in ENDPOINTS} for t in targets}
    restarts = dict.fromkeys(targets, 0)
    scans: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="hema-bench-http-") as tmp:
        workdir = Path(tmp)
        for round_ in range(ROUNDS):
            order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
            for target in order:
                print(f"  round {round_ + 1}/{ROUNDS}: {target}", flush=True)
                figures, answers, restarted = _measure(
                    targets[target], paths, workdir, target, load
                )
                scans.setdefault(target, answers)
                restarts[target] += restarted
                for endpoint, figure in figures.items():
                    samples[target][endpoint].append(figure)

    summaries = {t: _summary(samples[t]) for t in targets}
    differing = []
    if "baseline" in scans:
        differing = [
            p for p in paths["scan"] if scans["this"][p] != scans["baseline"][p]
        ]
        if differing:
            raise RuntimeError(
                f"scan answers differ from the baseline: {differing[:5]}"
            )

    loader = (
        f"wrk -t{WRK_THREADS} -c{CONNECTIONS}" if use_wrk else f"python x{CONNECTIONS}"
    )
    shape = f"{loader}, {SECONDS} s each, median of {ROUNDS}"
    rows = []
    for target, summary in summaries.items():
        for endpoint, s in summary.items():
            cpu = s["server_cpu_ms_per_request"]
            rows.append(
                Row(
                    f"{target}: {endpoint}",
                    f"{s['requests_per_s']:,.0f}",
                    "req/s",
                    f"p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, "
                    f"{s['ratio_to_healthz']:.2f} x healthz, "
                    f"server CPU {'-' if cpu is None else f'{cpu:.2f}'} ms/request, "
                    f"{s['non_2xx'] + s['socket_errors']} errors; {shape}",
                )
            )
    data = {
        "unit": "requests per second",
        "loader": loader,
        "seconds_per_endpoint": SECONDS,
        "rounds": ROUNDS,
        "settings": SETTINGS,
        "store": STORE,
        "scan_skus": len(paths["scan"]),
        "trees": {t: str(p) for t, p in targets.items()},
        "worker_restarts": restarts,
        "summary": summaries,
        "samples": samples,
        "targets": {"scan_speedup": TARGET_SPEEDUP, "scan_p99_ms": TARGET_P99_MS},
    }
    if "baseline" in summaries:
        this, base = summaries["this"]["scan"], summaries["baseline"]["scan"]
        speedup = this["requests_per_s"] / base["requests_per_s"]
        share = this["ratio_to_healthz"] / base["ratio_to_healthz"]
        data["scan_speedup"] = round(speedup, 2)
        data["scan_share_of_healthz_gain"] = round(share, 2)
        if this["server_cpu_ms_per_request"] and base["server_cpu_ms_per_request"]:
            data["scan_server_cpu_ratio"] = round(
                base["server_cpu_ms_per_request"] / this["server_cpu_ms_per_request"],
                2,
            )
        data["scan_answers_identical"] = not differing
        data["meets_target"] = (
            speedup >= TARGET_SPEEDUP and this["p99_ms"] < TARGET_P99_MS
        )
        rows.append(
            Row(
                "scan: this / baseline",
                f"{speedup:.2f}",
                "x",
                f"target >= {TARGET_SPEEDUP} with p99 < {TARGET_P99_MS:.0f} ms; "
                f"{len(paths['scan'])} scan answers identical",
            )
        )
        rows.append(
            Row(
                "scan: share of healthz, this / baseline",
                f"{share:.2f}",
                "x",
                "the same ratio corrected for the load the machine was under",
            )
        )
        if "scan_server_cpu_ratio" in data:
            rows.append(
                Row(
                    "scan: server CPU per request, baseline / this",
                    f"{data['scan_server_cpu_ratio']:.2f}",
                    "x",
                    "gunicorn's master and workers, recycled ones included",
                )
            )
    note = (
        f"{context.machine['cpu_count']} CPUs, load "
        f"{context.machine['load_average'][0]}; {shape}; "
        f"settings {SETTINGS}; worker restarts {restarts}"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "http.md").write_text(_markdown(summaries, note))
    return BenchResult(rows=rows, data=data)
