"""Create the PostgreSQL database that ``DATABASE_URL`` names, when it is missing.

``make serve`` and ``.ci/run`` call it before ``migrate``: a fresh machine has a
server but not the project's database, and migrate cannot create one. SQLite
makes its file on first use, so there is nothing to do for it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql

MAINTENANCE_DATABASE = "postgres"


class Command(BaseCommand):
    help = "Create the database DATABASE_URL names if it does not exist (PostgreSQL)."

    def handle(self, *args: Any, **options: Any) -> None:
        db = settings.DATABASES["default"]
        if not db["ENGINE"].endswith("postgresql"):
            self.stdout.write(f"{db['ENGINE']}: nothing to create")
            return
        name = db["NAME"]
        params = {
            "dbname": MAINTENANCE_DATABASE,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            "connect_timeout": db.get("OPTIONS", {}).get("connect_timeout", 3),
        }
        try:
            with psycopg.connect(
                **{k: v for k, v in params.items() if v is not None},
                autocommit=True,
            ) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [name]
                ).fetchone()
                if exists:
                    self.stdout.write(f"database {name} exists")
                    return
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            # Another process created it between our look and our CREATE.
            self.stdout.write(f"database {name} exists")
            return
        except psycopg.OperationalError as exc:
            raise CommandError(
                f"cannot reach PostgreSQL to create {name}: {exc}"
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"database {name} created"))
