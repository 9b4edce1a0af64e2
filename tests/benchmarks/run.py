"""Run the benchmarks: ``python -m tests.benchmarks.run [name ...]`` (``make bench``).

Needs ``DATABASE_URL`` to name a PostgreSQL database; the benchmarks never touch
it but use ``<name>_bench`` beside it, created if missing, migrated and flushed on
every run. Each benchmark writes ``results/<name>.json`` (figures, every sample,
the machine) and the run appends one section to ``results/summary.md``.
"""

import argparse
import datetime as dt
import importlib
import json
import os
import pkgutil
import platform
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def bench_database_url(url: str) -> tuple[str, str]:
    """The benchmark database beside the one ``url`` names, and its URL."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise SystemExit(
            "make bench needs PostgreSQL: set DATABASE_URL=postgres://... "
            f"(got {parts.scheme or 'nothing'!r})"
        )
    name = parts.path.lstrip("/") or "hema"
    bench_name = name if name.endswith("_bench") else f"{name}_bench"
    return bench_name, urlunsplit(parts._replace(path=f"/{bench_name}"))


def configure_environment(bench_url: str) -> None:
    """Django with the test settings on the benchmark database, as in production:
    ``DEBUG`` off, so that Django does not record every query it runs."""
    os.environ["DATABASE_URL"] = bench_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))


def conninfo_from_django() -> str:
    from django.db import connection
    from psycopg.conninfo import make_conninfo

    s = connection.settings_dict
    params = {
        "dbname": s["NAME"],
        "user": s.get("USER"),
        "password": s.get("PASSWORD"),
        "host": s.get("HOST"),
        "port": str(s["PORT"]) if s.get("PORT") else None,
    }
    return make_conninfo(**{k: v for k, v in params.items() if v})


def create_database(conninfo: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(conninfo, dbname="postgres", autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def prepare_database(name: str) -> str:
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    conninfo = conninfo_from_django()
    create_database(conninfo, name)
    call_command("migrate", interactive=False, verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    connection.close()
    return conninfo


def machine_info(conninfo: str) -> dict:
    import django
    import psycopg

    with psycopg.connect(conninfo) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('synchronous_commit', 'fsync', 'max_connections', "
                "'shared_buffers')"
            ).fetchall()
        )
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgres": postgres,
        "postgres_settings": settings,
        "django_debug": False,
    }


def discover() -> dict:
    """Import every ``bench_*`` module so that its benchmarks register themselves."""
    import tests.benchmarks as package
    from tests.benchmarks.registry import REGISTRY

    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("bench_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    return REGISTRY


def markdown(timestamp: str, machine: dict, results: dict) -> str:
    lines = [
        f"## {timestamp}",
        "",
        f"{machine['cpu_count']} CPUs (load {machine['load_average'][0]}), "
        f"Python {machine['python']}, Django {machine['django']}, "
        f"PostgreSQL {machine['postgres']}",
        "",
        "| benchmark | measure | median | unit | note |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for name, result in results.items():
        lines.extend(
            f"| {name} | {row.measure} | {row.value} | {row.unit} | {row.note} |"
            for row in result.rows
        )
    return "\n".join([*lines, "", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)

    source_url = os.environ.get("DATABASE_URL", "")
    bench_name, bench_url = bench_database_url(source_url)
    configure_environment(bench_url)
    conninfo = prepare_database(bench_name)

    from tests.benchmarks.registry import BenchContext

    registry = discover()
    unknown = sorted(set(args.names) - set(registry))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {sorted(registry)}")
    machine = machine_info(conninfo)
    timestamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    context = BenchContext(database_name=bench_name, conninfo=conninfo, machine=machine)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.names or sorted(registry):
        print(f"benchmark {name} ...", flush=True)
        started = time.perf_counter()
        result = registry[name](context)
        seconds = round(time.perf_counter() - started, 1)
        results[name] = result
        document = {
            "benchmark": name,
            "timestamp": timestamp,
            "seconds": seconds,
            "machine": machine,
            **result.data,
        }
        path = RESULTS_DIR / f"{name}.json"
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        print(f"benchmark {name}: {seconds} s, wrote {path}", flush=True)

    section = markdown(timestamp, machine, results)
    with (RESULTS_DIR / "summary.md").open("a") as summary:
        summary.write(section)
    print()
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
