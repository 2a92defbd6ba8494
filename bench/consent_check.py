"""Benchmark: latency of ``GET /api/v1/consent/check/`` (p50, p95) against the same lookup in plain SQL.

Each request asks about a random contact of the dataset, by email, for a random one of the demo's
marketing purpose x channel pairs, with the API token of the ``integration`` user. Measured twice:
in-process through the whole Django/DRF stack (``django.test.Client``), and over real HTTP to
gunicorn (one process, one thread, keep-alive) on 127.0.0.1. Baselines measured in the same run: the
same lookup in plain SQL (contact by email joined to its current-consent row) and a bare Django view
(``/bench/ping/``, the same middleware, no query) and a bare DRF view with the app's token authentication
and permission (``/bench/drf-ping/``), so the ratios show what the check itself adds.
Before timing, the API's answers are checked against ``consent.selectors.consent_check`` on model
instances (the ORM path, one query per fact) on 300 cases, and the queries of one warm API request are
counted (the app reads the answer in one query, plus the suppression list's; authentication and
permission come from the cache). The former what-if prototype (``/bench/what-if-check/``) is what the
app now does, so it is no longer timed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dpodesk \\
        .venv/bin/python bench/consent_check.py [--requests 3000] [--no-http] [--smoke]
"""
from __future__ import annotations

import random
import re
import time

import _common

TARGET_P50_MS = 5.0

SQL_LOOKUP = """SELECT c.id, c.anonymised_at, c.restricted, s.status, s.since, s.expires_at, s.purpose_version
                  FROM consent_contact c
                  LEFT JOIN consent_consentstate s ON s.contact_id = c.id AND s.purpose_id = %s AND s.channel_id = %s
                 WHERE c.email = %s"""


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per series")
    parser.add_argument("--no-http", action="store_true", help="skip the real HTTP series (gunicorn)")
    args = parser.parse_args()
    if args.smoke:
        args.requests = 200
    with _common.start(args) as bench:
        run(bench, args)


def run(bench, args) -> None:
    from urllib.parse import urlencode

    import consent_data
    from django.db import connection

    from registry.models import Channel, Purpose

    rng = random.Random(7)
    pairs = [(Purpose.objects.get(slug=slug), Channel.objects.get(code=code)) for slug, code, _w in consent_data.PAIRS]
    warmup = min(100, args.requests)
    emails = [email for _pk, email in _common.sample_contacts(args.requests + 3 * warmup)]

    def cases(n):
        return [(*pairs[rng.randrange(len(pairs))], emails[rng.randrange(len(emails))]) for _ in range(n)]

    token = _common.integration_token()
    headers = {"HTTP_AUTHORIZATION": f"Token {token}", "HTTP_ACCEPT": "application/json"}
    client = _common.api_client()

    def api_path(purpose, channel, email):
        return "/api/v1/consent/check/?" + urlencode({"purpose": purpose.slug, "channel": channel.code,
                                                      "email": email})

    def timed(function, series):
        samples = []
        for case in series:
            started = time.perf_counter()
            function(*case)
            samples.append(time.perf_counter() - started)
        return samples

    def client_check(purpose, channel, email):
        response = client.get(api_path(purpose, channel, email))
        assert response.status_code == 200, (response.status_code, response.content[:300])
        response.json()

    def client_ping(*_case):
        response = client.get("/bench/ping/")
        assert response.status_code == 200

    def client_drf_ping(*_case):
        response = client.get("/bench/drf-ping/")
        assert response.status_code == 200

    def sql_check(purpose, channel, email):
        with connection.cursor() as cursor:
            cursor.execute(SQL_LOOKUP, [purpose.pk, channel.pk, email])
            cursor.fetchall()

    # The API (one query) must answer exactly as consent_check on model instances (one query per fact).
    from consent.api.serializers import CheckResultSerializer
    from consent.models import Contact
    from consent.selectors import consent_check

    for case in cases(min(300, args.requests)):
        app_answer = client.get(api_path(*case)).json()
        contact = Contact.objects.filter(email=case[2]).first()
        expected = CheckResultSerializer(consent_check(contact=contact, purpose=case[0], channel=case[1]).as_dict()).data
        assert app_answer == expected, (case[0].slug, case[1].code, case[2], app_answer, expected)
    queries = _queries_per_request(client, api_path(*cases(1)[0]))

    results = {}
    series = cases(args.requests)
    # Interleaved in blocks so the three series share the machine's noise.
    in_process = (("plain SQL lookup (baseline)", sql_check), ("bare Django view, in-process", client_ping),
                  ("DRF view, token + permission only, in-process", client_drf_ping),
                  ("API consent/check, in-process", client_check))
    for name, function in in_process:
        timed(function, cases(warmup))
        results[name] = []
    block = 100
    for start in range(0, len(series), block):
        part = series[start:start + block]
        for name, function in in_process:
            results[name] += timed(function, part)

    if not args.no_http:
        http_headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        with _common.HTTPServer() as server:
            def http_check(purpose, channel, email):
                status, body = server.get(api_path(purpose, channel, email), http_headers)
                assert status == 200, (status, body[:300])

            def http_ping(*_case):
                status, _body = server.get("/bench/ping/")
                assert status == 200

            over_http = (("bare Django view, HTTP (gunicorn)", http_ping),
                         ("API consent/check, HTTP (gunicorn)", http_check))
            for name, function in over_http:
                timed(function, cases(warmup))
                results[name] = []
            for start in range(0, len(series), block):
                part = series[start:start + block]
                for name, function in over_http:
                    results[name] += timed(function, part)
    del headers

    base = _common.summary_ms(results["plain SQL lookup (baseline)"])
    rows = []
    for name, samples in results.items():
        s = _common.summary_ms(samples)
        rows.append([name, f"{s['p50']:.2f}", f"{s['p95']:.2f}", f"{s['p99']:.2f}", f"{s['p50'] / base['p50']:.1f}"])
    dataset = bench.dataset
    print()
    print(f"consent check, {dataset.contacts:,} contacts, {dataset.events:,} events; {_common.machine()}; "
          f"{args.requests} requests per series, by email, random purpose x channel")
    print(_common.table(rows, ["series", "p50 ms", "p95 ms", "p99 ms", "p50 x SQL"]))
    key = "API consent/check, HTTP (gunicorn)" if "API consent/check, HTTP (gunicorn)" in results \
        else "API consent/check, in-process"
    p50 = _common.summary_ms(results[key])["p50"]
    print(f"SQL queries of one warm API request: {queries}")
    print(f"consent/check p50 {p50:.2f} ms ({key}; target <= {TARGET_P50_MS} ms: "
          f"{'met' if p50 <= TARGET_P50_MS else 'MISSED'}), plain SQL {base['p50']:.2f} ms, ratio {p50 / base['p50']:.1f}")
    print("reproduce: " + _common.reproduce("consent_check.py", bench,
                                            "" if bench.smoke else f"--requests {args.requests}"))


def _queries_per_request(client, path: str) -> str:
    """The SQL statements of one API request once the authentication cache is warm."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    known = set(connection.introspection.table_names())
    client.get(path)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    tables = ["+".join(sorted({name for name in re.findall(r'"(\w+)"', query["sql"]) if name in known}))
              for query in captured]
    return f"{len(captured)}: " + "; ".join(tables)


if __name__ == "__main__":
    main()
