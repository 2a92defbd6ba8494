"""Benchmark: recording one consent event through ``POST /api/v1/consent/events/`` against a bare
Django form POST doing one INSERT, both measured in the same run.

The API side is what an integration does: JSON body naming an existing contact by email, a purpose
slug, a channel code, an action allowed for that purpose (granted or withdrawn for consent-based
purposes, objected for opt-out ones), method ``api``, an ``Idempotency-Key`` header, the token of the
``integration`` user; the view appends to the hash-chained ledger and updates the current consent.
The baseline is ``/bench/bare-post/`` (bench/_common/views.py): a plain Django ``Form`` with the same
fields, validated, then one INSERT. A third series, ``/bench/drf-bare-post/``, does the same work through
DRF with the app's token authentication and permission, JSON in and out: the floor any DRF POST starts
from, so that the table shows what the framework costs and what the ledger adds. Both go through the whole middleware stack, twice: in-process
(``django.test.Client``: what the framework and the app cost, nothing else), then over real HTTP to
gunicorn (one process, one thread, keep-alive: what a client sees), each pair interleaved in blocks so
the two series share the machine's noise. Target: the API records at least 0.5 x the bare POSTs per
second. The ledger and the current-consent table are checked afterwards (hash chain of the new
events, one state per event's pair).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dpodesk \\
        .venv/bin/python bench/consent_event_post.py [--requests 2000] [--no-http] [--smoke]
"""
from __future__ import annotations

import json
import random
import time
import uuid
from urllib.parse import urlencode

import _common

TARGET_RATIO = 0.5
BASELINE = "bare Django form POST, one INSERT (baseline)"
DRF_FLOOR = "DRF POST, same fields, one INSERT (the framework's floor)"
API = "API POST consent/events/"


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed POSTs per series")
    parser.add_argument("--no-http", action="store_true", help="skip the real HTTP series (gunicorn)")
    args = parser.parse_args()
    if args.smoke:
        args.requests = 150
    with _common.start(args) as bench:
        run(bench, args)


def run(bench, args) -> None:
    import consent_data
    from _common.views import ensure_bare_table
    from django.test import Client

    from consent.ledger import event_hash
    from consent.models import ConsentEvent, ConsentState
    from registry.models import Channel, LegalBasis, Purpose

    ensure_bare_table()
    rng = random.Random(11)
    pairs = [(Purpose.objects.get(slug=slug), Channel.objects.get(code=code)) for slug, code, _w in consent_data.PAIRS]
    pairs = [pair for pair in pairs if pair[1].code == "email"]  # every sampled contact has an email
    warmup = min(50, args.requests)
    emails = [email for _pk, email in _common.sample_contacts(args.requests + warmup, seed=13)]

    def case(email):
        purpose, channel = pairs[rng.randrange(len(pairs))]
        if purpose.legal_basis == LegalBasis.CONSENT:
            action = "granted" if rng.random() < 0.6 else "withdrawn"
        else:
            action = "objected"
        return {"email": email, "purpose": purpose.slug, "channel": channel.code, "action": action, "method": "api"}

    api = _common.api_client()
    bare = Client()
    run_id = uuid.uuid4().hex[:12]
    counter = iter(range(10**9))

    def api_post(body):
        response = api.post("/api/v1/consent/events/", data=json.dumps(body), content_type="application/json",
                            HTTP_IDEMPOTENCY_KEY=f"bench-{run_id}-{next(counter)}")
        assert response.status_code == 201, (response.status_code, response.content[:300])

    def bare_post(body):
        response = bare.post("/bench/bare-post/", data=urlencode(body),
                             content_type="application/x-www-form-urlencoded")
        assert response.status_code == 201, (response.status_code, response.content[:300])

    def drf_post(body):
        response = api.post("/bench/drf-bare-post/", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 201, (response.status_code, response.content[:300])

    first_sequence = (ConsentEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0) + 1
    for email in emails[:warmup]:
        api_post(case(email))
        bare_post(case(email))
        drf_post(case(email))
    bodies = [case(email) for email in emails[warmup:warmup + args.requests]]
    series = {"in-process": interleaved([(BASELINE, bare_post), (DRF_FLOOR, drf_post), (API, api_post)], bodies)}
    if not args.no_http:
        series["HTTP (gunicorn)"] = _over_http(bodies, run_id, case, emails[:warmup])

    # How many SQL statements one API POST sends (the baseline sends one INSERT).
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        api_post(case(emails[-1]))
    statements = len(queries.captured_queries)

    # What was written is a valid continuation of the ledger, and every pair has its state.
    new_events = list(ConsentEvent.objects.filter(sequence__gte=first_sequence).select_related("notice")
                      .order_by("sequence"))
    previous = ConsentEvent.objects.filter(sequence=first_sequence - 1).values_list("hash", flat=True).first()
    for event in new_events:
        assert event.previous_hash == (previous or event.previous_hash) and event_hash(event, event.previous_hash) \
            == event.hash, f"event {event.sequence} does not chain"
        previous = event.hash
    last_ids = set(ConsentState.objects.filter(last_event_id__in=[e.pk for e in new_events])
                   .values_list("last_event_id", flat=True))
    assert last_ids, "no current-consent row points at the new events"

    rows, ratios, floors = [], {}, {}
    for way, samples in series.items():
        base_rate = len(samples[BASELINE]) / sum(samples[BASELINE])
        for name, values in samples.items():
            s = _common.summary_ms(values)
            rate = len(values) / sum(values)
            rows.append([f"{name}, {way}", f"{rate:,.0f}", f"{s['p50']:.2f}", f"{s['p95']:.2f}",
                         f"{rate / base_rate:.2f}"])
        ratios[way] = (len(samples[API]) / sum(samples[API])) / base_rate
        floors[way] = (len(samples[DRF_FLOOR]) / sum(samples[DRF_FLOOR])) / base_rate
    dataset = bench.dataset
    print()
    print(f"consent event POST, {dataset.contacts:,} contacts, {dataset.events:,} events; {_common.machine()}; "
          f"{args.requests} POSTs per series, each pair interleaved by 50")
    print(_common.table(rows, ["series", "per s", "p50 ms", "p95 ms", "x baseline"]))
    verdicts = "; ".join(f"{way} {ratio:.2f} x ({'met' if ratio >= TARGET_RATIO else 'MISSED'}; "
                         f"the DRF floor {floors[way]:.2f} x)" for way, ratio in ratios.items())
    print(f"API records, per second, of the bare form POSTs (target >= {TARGET_RATIO}): {verdicts}; "
          f"{len(new_events)} new events chain correctly; {statements} SQL statements per API POST (token cache warm)")
    print("reproduce: " + _common.reproduce("consent_event_post.py", bench,
                                            "" if bench.smoke else f"--requests {args.requests}"))


def _over_http(bodies, run_id: str, case, warmup_emails) -> dict:
    """The same two POSTs over HTTP to gunicorn, interleaved by 50: {series name: samples}."""
    token = _common.integration_token()
    keys = iter(range(10**9))
    with _common.HTTPServer() as server:
        def api_post(body):
            status, content = server.request("POST", "/api/v1/consent/events/", json.dumps(body).encode(), {
                "Authorization": f"Token {token}", "Accept": "application/json",
                "Content-Type": "application/json", "Idempotency-Key": f"bench-http-{run_id}-{next(keys)}"})
            assert status == 201, (status, content[:300])

        def bare_post(body):
            status, content = server.request("POST", "/bench/bare-post/", urlencode(body).encode(),
                                             {"Content-Type": "application/x-www-form-urlencoded"})
            assert status == 201, (status, content[:300])

        def drf_post(body):
            status, content = server.request("POST", "/bench/drf-bare-post/", json.dumps(body).encode(), {
                "Authorization": f"Token {token}", "Accept": "application/json", "Content-Type": "application/json"})
            assert status == 201, (status, content[:300])

        for email in warmup_emails:
            api_post(case(email))
            bare_post(case(email))
            drf_post(case(email))
        return interleaved([(BASELINE, bare_post), (DRF_FLOOR, drf_post), (API, api_post)], bodies)


def timed(function, bodies) -> list[float]:
    samples = []
    for body in bodies:
        started = time.perf_counter()
        function(body)
        samples.append(time.perf_counter() - started)
    return samples


def interleaved(pairs, bodies, block: int = 50) -> dict[str, list[float]]:
    """{name: samples} of each (name, function) over ``bodies``, in alternating blocks, so the
    series share the machine's noise."""
    samples: dict[str, list[float]] = {name: [] for name, _function in pairs}
    for start in range(0, len(bodies), block):
        for name, function in pairs:
            samples[name] += timed(function, bodies[start:start + block])
    return samples


if __name__ == "__main__":
    main()
