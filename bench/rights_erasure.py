"""Benchmark: the erasure job for one contact with EVENTS consent events and HISTORY history rows.

Issue 4's target: for a contact with 10,000 consent events and 1,000 history rows, the erasure job
takes at most 1 s. Each run erases a fresh contact (built the same way) through the real job
(``registry.services.job_run`` of the request's ``rights_fulfil`` job: claim, withdrawals through the
ledger, suppression entries, the data-map walk with its batched UPDATEs of rows and history rows,
the Art. 19 record, completion and the request's pseudonymisation; not the requester's emails, which
are separate tasks); best of REPEAT runs. The
baseline, measured in the same run on another fresh contact, is the plain SQL UPDATE of the same
rows (the ledger evidence, the contact, its history rows): the ratio is what compares across noisy
machines. After the runs the ledger must still verify.

Scratch database: SQLite in a temp dir by default; with DATABASE_URL=postgres://…, a database named
``dpodesk_bench_erasure`` on that server, created and dropped by the script.

    .venv/bin/python bench/rights_erasure.py [--events 10000] [--history 1000] [--repeat 5] [--smoke]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/rights_erasure.py
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_NAME = "dpodesk_bench_erasure"
# (purpose slug, legal basis, channel codes): the contact's events are spread over these pairs.
PURPOSES = [
    ("bench-newsletter", "consent", ("email", "sms")),
    ("bench-events", "consent", ("email", "phone")),
    ("bench-partners", "consent", ("email",)),
    ("bench-appeals", "legitimate_interests", ("postal",)),
]
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def configure(scratch: str) -> str:
    """Environment for Django before setup: own scratch database, Celery eager, no Redis."""
    os.environ["DPO_VAR_DIR"] = scratch
    os.environ["PRIVATE_STORAGE_ROOT"] = os.path.join(scratch, "private")
    os.environ.pop("REDIS_URL", None)  # Celery eager: the job runs in this process
    os.environ["DEBUG"] = "false"  # no query log
    os.environ.setdefault("SECRET_KEY", "dpodesk-benchmark-key-not-secret-0123456789-abcdefghijklmnopqrstuvwxyz")
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    os.environ["LOG_LEVEL"] = "ERROR"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    url = os.environ.get("DATABASE_URL")
    if not url:
        return "sqlite"
    parts = urlsplit(url)
    os.environ["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, "/" + DATABASE_NAME, parts.query, ""))
    return "postgresql"


def best_of(repeat: int, prepare, function) -> float:
    """Best time of ``function(prepared)`` over ``repeat`` runs, each on what ``prepare()`` builds."""
    timings = []
    for _ in range(repeat):
        prepared = prepare()
        started = time.perf_counter()
        function(prepared)
        timings.append(time.perf_counter() - started)
    return min(timings)


class World:
    """The register rows and the staff user the runs share."""

    def __init__(self) -> None:
        from django.contrib.auth import get_user_model

        from registry import services
        from registry.models import Channel, ProcessingActivity, Purpose

        self.channels = {c.code: c for c in Channel.objects.all()}
        activity = ProcessingActivity.objects.create(reference="B-ERASE", name="Banc d'essai", status="active",
                                                     description="Activité générée pour le banc d'essai.")
        self.purposes = []
        for slug, basis, codes in PURPOSES:
            purpose = Purpose.objects.filter(slug=slug).first() or services.purpose_create(
                activity=activity, slug=slug, name_fr=slug, name_en=slug, text_fr="Texte.", text_en="Text.",
                legal_basis=basis, legitimate_interest="Appels aux donateurs" if basis != "consent" else "",
                retention_months=36, retention_start="last_contact",
                channels=[self.channels[code] for code in codes])
            self.purposes.append((purpose, [self.channels[code] for code in codes]))
        self.user = get_user_model().objects.create_user("bench-staff", password="bench-staff-pw-2026!",
                                                         is_staff=True)
        self.count = 0


def build_contact(world: World, *, events: int, history: int):
    """A contact with ``history`` history rows and ``events`` chained ledger events carrying evidence
    (written in bulk, hashed by consent.ledger like the app), its current-consent rows, and a
    verified erasure request with its ``rights_fulfil`` job waiting to run."""
    from django.db import transaction

    from consent import ledger
    from consent.models import ConsentEvent, ConsentState, Contact
    from consent.services import contact_create
    from consent.state import apply_event
    from registry.models import Job
    from rights import services as rights_services
    from rights.models import ReceivedVia, RequestContact, Status

    world.count += 1
    number = world.count
    email = f"bench.erasure.{number}@example.org"
    with transaction.atomic():
        contact = contact_create(email=email, phone=f"+3361234{number:04d}", first_name="Camille",
                                 last_name=f"Durand {number}", address_line1="12 rue des Archives",
                                 postal_code="75004", city="Paris", external_ref=f"CRM-{number}")
        historical = Contact.history.model
        start = datetime(2024, 1, 1, tzinfo=UTC)
        template = historical.objects.filter(id=contact.pk).values().first()
        template.pop("history_id")
        historical.objects.bulk_create([
            historical(**{**template, "last_name": f"Durand {number}-{i}", "history_type": "~",
                          "history_date": start + timedelta(hours=i)}) for i in range(history - 1)
        ], batch_size=1000)

        pairs = [(purpose, channel) for purpose, channels in world.purposes for channel in channels]
        last = ConsentEvent.objects.order_by("-sequence").only("sequence", "hash").first()
        sequence, previous = (last.sequence, last.hash) if last else (0, ledger.GENESIS_HASH)
        digest = ledger.evidence_digest(ip="192.0.2.10", user_agent=USER_AGENT, note="", document_sha256="")
        rows = []
        for i in range(events):
            purpose, channel = pairs[i % len(pairs)]
            consent_based = purpose.legal_basis == "consent"
            # The last events of each pair: granted (consent) or objected (opt-out) at the end.
            late = i >= events - len(pairs)
            action = ("granted" if late or i % 2 else "withdrawn") if consent_based else \
                ("objected" if late or i % 2 else "objection_lifted")
            when = start + timedelta(minutes=i)
            sequence += 1
            event = ConsentEvent(sequence=sequence, contact=contact, purpose=purpose, purpose_version=purpose.version,
                                 channel=channel, action=action, method="web_form", effective_at=when,
                                 recorded_at=when, evidence_ip="192.0.2.10", evidence_user_agent=USER_AGENT,
                                 evidence_digest=digest, previous_hash=previous)
            event.hash = previous = ledger.event_hash(event, previous)
            rows.append(event)
        ConsentEvent.objects.bulk_create(rows, batch_size=2000)
        states = {}
        for event in rows:
            key = (event.purpose_id, event.channel_id)
            states[key] = apply_event(states.get(key), event, validity_months=None)
        ConsentState.objects.bulk_create([
            ConsentState(contact=contact, purpose_id=p, channel_id=c, status=s.status,
                         purpose_version=s.purpose_version, since=s.since, expires_at=s.expires_at,
                         last_event_id=s.last_event_id)
            for (p, c), s in states.items()])

        request = rights_services.rights_request_create(kind="erasure", requester_name=f"Camille Durand {number}",
                                                        requester_email=email, received_via=ReceivedVia.POST,
                                                        created_by=world.user)
        RequestContact.objects.create(request=request, contact=contact, matched_by="email")
        type(request).objects.filter(pk=request.pk).update(status=Status.IN_PROGRESS)
        # The job row as rights_request_fulfil makes it, without enqueueing it: the run is timed alone.
        job = Job.objects.create(kind=rights_services.FULFIL_JOB_KIND, params={"request_id": request.pk},
                                 requested_by=world.user)
    return contact, request, job


def run_job(prepared) -> None:
    from registry.services import job_run

    _contact, _request, job = prepared
    done = job_run(job_id=job.pk)
    if done.status != "done":
        raise SystemExit(f"the erasure job failed: {done.error}")


def plain_sql(prepared) -> None:
    """The same rows in plain SQL: evidence of every event, the contact, its history rows."""
    from django.db import connection, transaction

    contact, _request, _job = prepared
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE consent_consentevent SET evidence_ip = NULL, evidence_user_agent = '', "
                       "evidence_note = '', evidence_document = '' WHERE contact_id = %s", [contact.pk])
        for table, key in (("consent_contact", "id"), ("consent_historicalcontact", "id")):
            cursor.execute(f"UPDATE {table} SET email = %s, phone = %s, first_name = 'anonyme', last_name = 'anonyme', "
                           "address_line1 = '', postal_code = '', city = '', external_ref = '' "
                           f"WHERE {key} = %s", [f"{contact.pk:064d}", f"{contact.pk:020d}", contact.pk])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="consent events of the contact (default 10,000)")
    parser.add_argument("--history", type=int, default=1_000, help="history rows of the contact (default 1,000)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a quick run proving the benchmark still works (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.events, args.history, args.repeat = 500, 50, 1

    scratch = tempfile.mkdtemp(prefix="dpodesk-bench-")
    vendor = configure(scratch)
    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from consent.models import ConsentEvent, Contact
    from consent.selectors import ledger_verify
    from rights import services as rights_services

    # The requester's emails (the completion email renders the certificate PDF) are separate Celery
    # tasks in production, run by another worker after the job: not part of the erasure job's time.
    rights_services._notify = lambda request, message, **extra: None

    test_settings = settings.DATABASES["default"].setdefault("TEST", {})
    test_settings["NAME"] = DATABASE_NAME if vendor == "postgresql" else os.path.join(scratch, "bench.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        call_command("migrate", verbosity=0)
        world = World()

        def prepare():
            return build_contact(world, events=args.events, history=args.history)

        baseline = best_of(args.repeat, prepare, plain_sql)
        job = best_of(args.repeat, prepare, run_job)
        probe = prepare()
        with CaptureQueriesContext(connection) as queries:
            run_job(probe)
        contact = Contact.objects.get(pk=probe[0].pk)
        assert contact.anonymised_at is not None and contact.first_name == "anonyme"
        assert not ConsentEvent.objects.filter(contact=contact).exclude(evidence_user_agent="").exists()
        assert contact.history.exclude(first_name="anonyme").count() == 0
        checked, broken = ledger_verify()
        if broken is not None:
            raise SystemExit(f"ledger broken after erasure: {broken}")
        history_rows = contact.history.count()
        events = ConsentEvent.objects.filter(contact=contact).count()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print(f"rights erasure, one contact with {events:,} consent events and {history_rows:,} history rows, "
          f"{vendor}, best of {args.repeat} (a fresh contact per run)")
    print(f"{'':<44}{'seconds':>10}{'x baseline':>12}")
    print(f"{'baseline (plain SQL UPDATE of the same rows)':<44}{baseline:>10.4f}{1:>12.0f}")
    print(f"{'erasure job (job_run, target <= 1 s)':<44}{job:>10.4f}{job / baseline:>12.1f}")
    print(f"statements of one erasure job: {len(queries)}; ledger verified afterwards: {checked:,} events")
    prefix = "DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres " if vendor == "postgresql" else ""
    print(f"reproduce: {prefix}.venv/bin/python bench/rights_erasure.py --events {args.events} "
          f"--history {args.history} --repeat {args.repeat}")


if __name__ == "__main__":
    main()
