"""Integration tests: real PostgreSQL, real Redis, a real Celery worker in a subprocess.

They run only when DATABASE_URL (PostgreSQL) and REDIS_URL are set, e.g.::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dpodesk REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/pytest tests/integration -q

The worker uses the pytest-django test database (it must see committed rows: use
``transactional_db``) and a dedicated Redis database (15 unless TEST_REDIS_DB says otherwise),
flushed before and after each test.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from config.celery_app import app as celery_app

BASE_DIR = Path(__file__).resolve().parents[2]
WORKER_READY_TIMEOUT = 60
WORKER_STOP_TIMEOUT = 20


def _missing_services() -> str | None:
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        return "DATABASE_URL is not a PostgreSQL URL" if database_url else "DATABASE_URL is not set"
    if not os.environ.get("REDIS_URL"):
        return "REDIS_URL is not set"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing_services()
    if reason is None:
        return
    skip = pytest.mark.skip(
        reason=f"integration tests need real PostgreSQL and Redis: {reason} "
        "(e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/dpodesk REDIS_URL=redis://127.0.0.1:6379/0)"
    )
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(skip)


def redis_test_url() -> str:
    """REDIS_URL with its database number replaced by the tests' own (15 by default)."""
    parts = urlsplit(os.environ["REDIS_URL"])
    return urlunsplit(parts._replace(path=f"/{os.environ.get('TEST_REDIS_DB', '15')}"))


def database_url_for(settings_dict: dict) -> str:
    """A URL for the pytest-django test database the test process is using."""
    name = settings_dict["NAME"]
    assert name.startswith("test_"), f"refusing to point a worker at a non-test database: {name}"
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "localhost"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(name)}"


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def _reset_broker_connections() -> None:
    """Close and forget the broker connections: Celery and kombu cache their pools, and a pool
    made for an earlier broker URL would keep being used."""
    from kombu import pools

    pools.reset()  # closes every kombu connection/producer pool and empties their groups
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def redis_broker() -> Iterator[str]:
    """The test process sends tasks to the tests' Redis database, for real (not eagerly)."""
    url = redis_test_url()
    previous = (celery_app.conf.broker_url, celery_app.conf.task_always_eager)
    _flush_redis(url)
    celery_app.conf.broker_url = url
    celery_app.conf.task_always_eager = False
    _reset_broker_connections()
    try:
        yield url
    finally:
        _reset_broker_connections()
        celery_app.conf.broker_url, celery_app.conf.task_always_eager = previous
        _flush_redis(url)


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM if pytest itself is killed, so it never outlives the run."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class Worker:
    """A `celery worker` subprocess; its log is a file printed when a test fails."""

    def __init__(self, *, env: dict[str, str], log_path: Path, hostname: str) -> None:
        self.log_path = log_path
        self.hostname = hostname
        self._log = open(log_path, "wb")
        command = [
            str(Path(sys.executable).with_name("celery")), "-A", "config", "worker",
            "--pool=solo", "--concurrency=1", "-Q", "celery",
            "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "info",
            "-n", hostname,
        ]
        self.process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        preexec_fn=_die_with_parent)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = WORKER_READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited with {self.process.returncode}:\n{self.log()}")
            if " ready." in self.log():
                return
            time.sleep(0.2)
        raise RuntimeError(f"the Celery worker was not ready after {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown: finishes the task in hand
            try:
                self.process.wait(timeout=WORKER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=WORKER_STOP_TIMEOUT)
        self._log.close()


@pytest.fixture
def start_worker(transactional_db, redis_broker, _isolated_files, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Call it to start a worker (a test may first set up what the worker must not see yet).

    The worker shares the test database, the tests' Redis database and this test's private
    storage directory; it is stopped (then killed if need be) when the test ends, and its log is
    printed, which pytest shows when the test failed.
    """
    from django.db import connection

    workers: list[Worker] = []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "REDIS_URL": redis_broker,
        "PRIVATE_STORAGE_ROOT": str(_isolated_files),
        "DPO_VAR_DIR": str(tmp_path / "worker-var"),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)

    def start(**extra_env: str) -> Worker:
        from django.conf import settings

        # The worker claims a "running" job only once its heartbeat is older than this: same as here.
        threshold = {"JOB_STRANDED_AFTER_SECONDS": str(settings.JOB_STRANDED_AFTER_SECONDS)}
        worker = Worker(env={**env, **threshold, **extra_env}, log_path=tmp_path / f"worker-{len(workers)}.log",
                        hostname=f"dpodesk-test-{uuid.uuid4().hex[:8]}@%h")
        workers.append(worker)
        worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
            print(f"----- Celery worker log ({worker.log_path}) -----")
            print(worker.log_path.read_text(errors="replace"))


@pytest.fixture
def live_worker(start_worker) -> Worker:
    return start_worker()

