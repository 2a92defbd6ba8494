"""Benchmark: the public rights-request form under load, on loopback, next to a trivial Django view.

gunicorn serves the app with production settings (DEBUG off, Redis as broker and as the cache of the
rate limits, PostgreSQL) on 127.0.0.1 with two worker processes (the machine's two cores). Client
threads keep their connections alive and send, series after series, in the same run:

- ``GET /bench/ping/`` — a trivial Django view (same middleware, no query): the baseline;
- ``GET /rights/new/`` — the form page;
- ``POST /rights/new/`` — filing a request: CSRF, the rate limits (per IP and per email, counted in
  Redis, limits raised so that no request is refused), validation, the request, its timeline and its
  suspension written in one transaction, the verification email enqueued to Redis on commit (sent by a
  worker, never inside the request), then the redirect to "check your mailbox".

Each series reports requests per second and its ratio to the trivial view. The scratch database
(``dpodesk_bench_form`` on the server of DATABASE_URL) and the Redis database (9) are emptied at the end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dpodesk \\
        .venv/bin/python bench/rights_form_load.py [--requests 2000] [--clients 8] [--smoke]
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import _common  # noqa: E402

DATABASE = "dpodesk_bench_form"
REDIS_DB = 9
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def _environment() -> dict[str, str]:
    redis_url = os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{REDIS_DB}")
    var_dir = tempfile.mkdtemp(prefix="dpodesk-bench-form-")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _common.server_url(DATABASE),
        "REDIS_URL": redis_url,
        "DPO_VAR_DIR": var_dir,
        "PRIVATE_STORAGE_ROOT": os.path.join(var_dir, "private"),
        "DEBUG": "false",
        "SECRET_KEY": "dpodesk-benchmark-key-not-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "RATELIMIT_PER_IP": "100000000/h",  # counted as usual, never refusing: we measure throughput
        "RATELIMIT_PER_EMAIL": "100000000/h",
        "LOG_LEVEL": "ERROR",
    }


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "manage.py", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


class Gunicorn:
    def __init__(self, env: dict[str, str], workers: int, threads: int) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [str(ROOT / ".venv" / "bin" / "gunicorn"), "--chdir", str(ROOT / "bench"), "_common.wsgi:application",
                   "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--worker-class", "gthread",
                   "--threads", str(threads), "--keep-alive", "60", "--log-level", "warning"]
        self.process = subprocess.Popen(command, env=env, cwd=str(ROOT))
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/bench/ping/")
                connection.getresponse().read()
                connection.close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("gunicorn did not start")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Client:
    """One keep-alive connection with its own CSRF cookie and form token."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        status, headers, body = self.request("GET", "/rights/new/")
        assert status == 200, status
        cookie = next(v for k, v in headers if k.lower() == "set-cookie" and v.startswith("csrftoken="))
        self.cookie = cookie.split(";", 1)[0]
        self.token = CSRF_INPUT.search(body).group(1).decode()

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        self.connection.request(method, path, body=body, headers=headers or {})
        response = self.connection.getresponse()
        return response.status, response.getheaders(), response.read()

    def ping(self) -> None:
        status, _h, _b = self.request("GET", "/bench/ping/")
        assert status == 200, status

    def form(self) -> None:
        status, _h, _b = self.request("GET", "/rights/new/")
        assert status == 200, status

    def file(self) -> None:
        email = f"load-{uuid.uuid4().hex[:16]}@example.org"
        body = urlencode({"csrfmiddlewaretoken": self.token, "kind": "access", "requester_name": "Camille Durand",
                          "requester_email": email, "requester_phone": "", "customer_reference": "",
                          "details": "Benchmark request", "website": ""})
        status, headers, content = self.request("POST", "/rights/new/", body, {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie})
        location = dict((k.lower(), v) for k, v in headers).get("location", "")
        assert status == 302 and location.endswith("/rights/sent/"), (status, location, content[:300])


def run_series(clients: list[Client], operation: str, requests: int) -> float:
    """Requests per second with every client busy until ``requests`` are done in all."""
    counter = iter(range(requests))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work(client: Client) -> None:
        call = getattr(client, operation)
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            try:
                call()
            except BaseException as exc:  # reported after the series
                failures.append(exc)
                return

    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return requests / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per series")
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three series, interleaved")
    parser.add_argument("--smoke", action="store_true", help="a quick run proving the benchmark still works (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.clients, args.rounds = 60, 2, 1

    env = _environment()
    os.environ.update(env)
    import django

    django.setup()  # this process only reads the server version and drops the database at the end
    _common.drop_database(DATABASE)
    _common.create_database(DATABASE)
    server = None
    try:
        _manage(env, "migrate", "--noinput")
        _manage({**env, "DEMO_CONTACTS": "0"}, "seed_demo", "--force")  # a scratch database, dropped at the end
        _manage(env, "collectstatic", "--noinput")
        server = Gunicorn(env, args.workers, args.threads)
        clients = [Client(server.port) for _ in range(args.clients)]
        for operation in ("ping", "form", "file"):  # warm-up: imports, templates, connections
            run_series(clients, operation, max(args.clients * 5, 20))
        results: dict[str, list[float]] = {"ping": [], "form": [], "file": []}
        for _round in range(args.rounds):
            for operation in results:
                results[operation].append(run_series(clients, operation, args.requests))
        machine = _common.machine()
    finally:
        if server is not None:
            server.stop()
        _flush_redis(env["REDIS_URL"])
        _common.drop_database(DATABASE)

    best = {operation: max(values) for operation, values in results.items()}
    names = {"ping": "trivial Django view (GET /bench/ping/, baseline)", "form": "form page (GET /rights/new/)",
             "file": "filing a request (POST /rights/new/ → 302)"}
    rows = [[names[op], f"{best[op]:.0f}", f"{best[op] / best['ping']:.2f}"] for op in ("ping", "form", "file")]
    print()
    print(f"rights request form under load: gunicorn {args.workers} workers × {args.threads} threads, "
          f"{args.clients} keep-alive clients, {args.requests} requests per series, best of {args.rounds}; "
          f"{machine}; Redis broker and cache")
    print(_common.table(rows, ["series", "requests/s", "× trivial view"]))
    extra = "--smoke" if args.smoke else f"--requests {args.requests} --clients {args.clients} --rounds {args.rounds}"
    print(f"reproduce: DATABASE_URL=postgres://postgres@127.0.0.1:5432/dpodesk .venv/bin/python "
          f"bench/rights_form_load.py {extra}")


if __name__ == "__main__":
    main()
