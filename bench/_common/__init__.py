"""Shared set-up of the consent benchmarks (not a benchmark: CI's ``bench/*.py`` loop skips this folder).

- :func:`start` reads the common options, points Django at the benchmark's own scratch database
  (``dpodesk_bench`` at full size, kept between scripts; ``dpodesk_bench_smoke`` with ``--smoke``,
  dropped at the end) on the PostgreSQL server of ``DATABASE_URL``, and sets Django up with
  production-like settings (``DEBUG=false``, Celery eager, no Redis);
- the timing helpers every script reports with (best of N, percentiles, rows/s).

The dataset itself (contacts and their ledger) comes from ``bench/consent_data.py``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH_DIR = ROOT / "bench"
for path in (str(ROOT), str(BENCH_DIR)):
    if path not in sys.path:
        sys.path.insert(0, path)

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
FULL_DATABASE = "dpodesk_bench"
SMOKE_DATABASE = "dpodesk_bench_smoke"
# Full size: the 1,000,000 contacts with about 5 events each. Smoke: 10,000 events.
FULL_CONTACTS, SMOKE_CONTACTS = 1_000_000, 2_000
EVENTS_PER_CONTACT = 5
# The server the caller gave (start() then points DATABASE_URL at the scratch database).
CALLER_DATABASE_URL = os.environ.get("DATABASE_URL") or DEFAULT_SERVER


# --- The scratch database -------------------------------------------------------------------


def server_url(database: str) -> str:
    """DATABASE_URL's server (user, host, port, options) with another database name."""
    parts = urlsplit(CALLER_DATABASE_URL)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit("The consent benchmarks need PostgreSQL: set DATABASE_URL=postgres://user@host:port/any")
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def _check_name(database: str) -> None:
    # Other workers use dpodesk, test_dpodesk and the rest: a benchmark only ever touches its own.
    if not database.startswith("dpodesk_bench"):
        raise SystemExit(f"Refusing to use database {database!r}: benchmark databases are named dpodesk_bench*.")


def _admin_connection():
    import psycopg

    return psycopg.connect(server_url("postgres").replace("postgres://", "postgresql://", 1), autocommit=True)


def database_exists(database: str) -> bool:
    with _admin_connection() as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone() is not None


def create_database(database: str) -> None:
    from psycopg import sql

    _check_name(database)
    with _admin_connection() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
            sql.Identifier(database)))


def drop_database(database: str) -> None:
    from psycopg import sql

    _check_name(database)
    from django.conf import settings
    from django.db import connections

    if settings.configured:
        connections.close_all()  # Django's own connection to it, if any
    with _admin_connection() as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def psycopg_connect(database: str, **kwargs):
    """A plain psycopg 3 connection to the scratch database (COPY, baselines in plain SQL)."""
    import psycopg

    return psycopg.connect(server_url(database).replace("postgres://", "postgresql://", 1), **kwargs)


# --- Options and Django set-up ------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true",
                   help=f"a quick run on {SMOKE_CONTACTS * EVENTS_PER_CONTACT:,} events proving the benchmark "
                        "still works (CI); its database is dropped at the end")
    p.add_argument("--database", help=f"scratch database (default {FULL_DATABASE}, or {SMOKE_DATABASE} with --smoke)")
    p.add_argument("--contacts", type=int, help=f"contacts of the dataset (default {FULL_CONTACTS:,})")
    p.add_argument("--events-per-contact", type=int, default=EVENTS_PER_CONTACT,
                   help=f"average ledger events per contact (default {EVENTS_PER_CONTACT})")
    p.add_argument("--regenerate", action="store_true",
                   help="rebuild the dataset even when the scratch database already holds it")
    return p


@dataclass
class Bench:
    args: argparse.Namespace
    database: str
    smoke: bool
    dataset: object = None  # consent_data.Dataset

    def finish(self) -> None:
        """Drop the smoke database; the full-size one is kept for the next script."""
        if self.smoke:
            drop_database(self.database)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.finish()


def start(args: argparse.Namespace) -> Bench:
    """Point Django at the scratch database (before django.setup()) and make sure the dataset is
    there. Production-like settings: DEBUG off (no query log), Celery eager in-process."""
    smoke = bool(args.smoke)
    database = args.database or (SMOKE_DATABASE if smoke else FULL_DATABASE)
    _check_name(database)
    if args.contacts is None:
        args.contacts = SMOKE_CONTACTS if smoke else FULL_CONTACTS
    os.environ["DATABASE_URL"] = server_url(database)
    os.environ.pop("REDIS_URL", None)  # Celery eager: jobs run in this process (no Redis db used)
    os.environ["DPO_VAR_DIR"] = tempfile.mkdtemp(prefix="dpodesk-bench-")
    os.environ["PRIVATE_STORAGE_ROOT"] = os.path.join(os.environ["DPO_VAR_DIR"], "private")
    os.environ["DEBUG"] = "false"
    os.environ["SECRET_KEY"] = "dpodesk-benchmark-key-not-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ["LOG_LEVEL"] = "ERROR"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import logging

    import django

    os.makedirs(os.path.join(os.environ["DPO_VAR_DIR"], "static"), exist_ok=True)
    django.setup()
    logging.disable(logging.WARNING)
    from django.conf import settings

    settings.ROOT_URLCONF = "_common.urls"  # the app's URLs plus the baseline views under /bench/

    import consent_data

    bench = Bench(args=args, database=database, smoke=smoke)
    if smoke:  # always a fresh one: a smoke run proves the whole chain still works
        drop_database(database)
    bench.dataset = consent_data.ensure_dataset(database=database, contacts=args.contacts,
                                                events_per_contact=args.events_per_contact,
                                                regenerate=args.regenerate, verbose=True)
    return bench


def reproduce(script: str, bench: Bench, extra: str = "") -> str:
    """The command line that reproduces the figures of this run."""
    parts = [f".venv/bin/python bench/{script}"]
    if bench.smoke:
        parts.append("--smoke")
    else:
        if bench.args.contacts != FULL_CONTACTS:
            parts.append(f"--contacts {bench.args.contacts}")
        if bench.args.events_per_contact != EVENTS_PER_CONTACT:
            parts.append(f"--events-per-contact {bench.args.events_per_contact}")
    if extra:
        parts.append(extra)
    return f"DATABASE_URL={CALLER_DATABASE_URL} " + " ".join(parts)


def integration_token() -> str:
    """The API token of the demo user ``integration`` (group ``integration``)."""
    from rest_framework.authtoken.models import Token

    return Token.objects.get(user__username="integration").key


def sample_contacts(n: int, seed: int = 7) -> list[tuple[int, str]]:
    """``n`` random (id, email) of the dataset's contacts that have an email (repeatable)."""
    import random

    from consent.models import Contact

    rng = random.Random(seed)
    top = Contact.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    found: list[tuple[int, str]] = []
    while len(found) < n and top:
        ids = [rng.randint(1, top) for _ in range(2 * (n - len(found)) + 10)]
        rows = dict(Contact.objects.filter(pk__in=ids).exclude(email="").values_list("pk", "email"))
        found += [(pk, rows[pk]) for pk in ids if pk in rows][: n - len(found)]
    return found


def api_client():
    """django.test.Client authenticated as ``integration``, through the whole middleware stack."""
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Token {integration_token()}", HTTP_ACCEPT="application/json")


# --- A real HTTP server ---------------------------------------------------------------------


class HTTPServer:
    """gunicorn serving the app (and the baseline views) on 127.0.0.1, one process, one thread, with
    keep-alive, on the scratch database: ``with HTTPServer() as server: server.get(path, headers)``
    (or ``server.request(method, path, body, headers)``)."""

    def __init__(self) -> None:
        self.process = None
        self.port = 0
        self.connection = None

    def __enter__(self) -> Self:
        import http.client
        import socket
        import subprocess

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [str(ROOT / ".venv" / "bin" / "gunicorn"), "--chdir", str(BENCH_DIR), "_common.wsgi:application",
                   "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--worker-class", "gthread",
                   "--threads", "1", "--keep-alive", "60", "--log-level", "warning"]
        self.process = subprocess.Popen(command, env=dict(os.environ), cwd=str(ROOT))
        deadline = time.monotonic() + 30
        while True:
            try:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.get("/bench/ping/")
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError("gunicorn did not start")
                time.sleep(0.2)

    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes]:
        return self.request("GET", path, headers=headers)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, bytes]:
        self.connection.request(method, path, body=body, headers=headers or {})
        response = self.connection.getresponse()
        return response.status, response.read()

    def __exit__(self, *exc) -> None:
        import subprocess

        if self.connection is not None:
            self.connection.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # only the process this object started
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


# --- Timing -------------------------------------------------------------------------------


def best_of(repeat: int, function) -> tuple[float, object]:
    """(fastest wall time in seconds, the result of that run)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = function()
        elapsed = time.perf_counter() - started
        if elapsed < best:
            best, result = elapsed, value
    return best, result


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(samples: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples, 0.5) * 1000, "p95": percentile(samples, 0.95) * 1000,
            "p99": percentile(samples, 0.99) * 1000, "mean": statistics.fmean(samples) * 1000}


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i])
                       for i, cell in enumerate(row)) for row in [header, *rows]]
    return "\n".join(lines)


def machine() -> str:
    import platform

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0].split()[0]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores (load {load}), Python {platform.python_version()}, PostgreSQL {version}"
