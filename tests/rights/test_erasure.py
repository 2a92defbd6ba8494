"""Erasure (Art. 17): the whole database is searched for the person afterwards, yet the ledger
verifies; twice changes nothing; a crash leaves nothing half-erased; a killed job is re-run by the
sweep and completes once; legal holds are kept and listed; the request is pseudonymised."""
from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone
from pypdf import PdfReader

import consent.imports  # noqa: F401  (registers the consent_import job kind)
from consent import ledger
from consent import services as consent_services
from consent.models import (
    Action,
    CollectionForm,
    CollectionFormItem,
    ConsentEvent,
    ConsentState,
    Contact,
    SuppressionEntry,
)
from consent.normalise import keyed_digest, suppression_digest
from consent.selectors import consent_check, ledger_verify
from registry import erasure as registry_erasure
from registry import services as registry_services
from registry.datamap import datamap
from registry.models import Channel, DataSubjectCategory, Job
from registry.ratelimit import rate_limited
from rights import services
from rights.fulfilment import erasure
from rights.models import RequestEvent, RightsRequest, Status
from tests.factories import PurposeFactory

from .factories import record_notifications, run_fulfilment, verified_request, web_request

pytestmark = pytest.mark.django_db

EMAIL = "gwendoline.quennec@example.org"
OLD_EMAIL = "g.quennec-old@example.net"
PHONE_INPUT = "06 71 82 93 04"
PHONE = "+33671829304"
FIRST, LAST, OLD_LAST = "Gwendoline", "Quennec-Vautrin", "Quennec"
NEEDLES = [EMAIL, OLD_EMAIL, PHONE, PHONE_INPUT, "0671829304", FIRST, LAST, OLD_LAST, "Vautrin", "CRM-4471",
           "rue des Lilas-Bleus"]


# --- The person and what the database holds about them ------------------------------------------


@pytest.fixture
def channels(reference_data):
    return {c.code: c for c in Channel.objects.all()}


@pytest.fixture
def purposes(channels):
    donor = DataSubjectCategory.objects.get(code="donor")
    return {
        "newsletter": PurposeFactory(slug="newsletter", legal_basis="consent",
                                     channels=[channels["email"], channels["sms"], channels["phone"]]),
        "appeals": PurposeFactory(slug="postal-appeals", legal_basis="legitimate_interests", direct_marketing=True,
                                  legitimate_interest="Appeals to past donors.", channels=[channels["postal"]],
                                  data_subject_categories=[donor]),
        # As in the demo register: what the rights app's sources serve, under a legal obligation.
        "rights": PurposeFactory(slug="rights-requests", legal_basis="legal_obligation",
                                 channels=[channels["email"], channels["postal"]]),
    }


@pytest.fixture
def outbox(monkeypatch):
    return record_notifications(monkeypatch)


@pytest.fixture
def person(purposes, channels, staff_user, settings, tmp_path):
    """A donor with a history of changes, consents with evidence (a scanned form), an objection,
    admin log entries, rate-limit counters and two earlier requests (an export and a correction)."""
    contact = consent_services.contact_create(
        email=OLD_EMAIL, first_name=FIRST, last_name=OLD_LAST, phone=PHONE_INPUT, address_line1="4 rue des Lilas-Bleus",
        postal_code="29000", city="Quimper", external_ref="CRM-4471",
        data_subject_categories=[DataSubjectCategory.objects.get(code="donor")])
    consent_services.contact_update(contact=contact, email=EMAIL)
    consent_services.contact_update(contact=contact, last_name=LAST)
    newsletter, appeals = purposes["newsletter"], purposes["appeals"]
    consent_services.consent_record(
        contact=contact, purpose=newsletter, channel=channels["email"], action=Action.GRANTED, method="paper",
        evidence_ip="192.0.2.44", evidence_user_agent="Mozilla/5.0 (Gwendoline's phone)",
        evidence_note=f"Signed at the desk by {FIRST} {LAST}, {PHONE_INPUT}",
        evidence_document=SimpleUploadedFile(f"scan-{OLD_LAST.lower()}.pdf", b"%PDF-1.4 scanned form"),
        recorded_by=staff_user)
    consent_services.consent_record(contact=contact, purpose=newsletter, channel=channels["sms"],
                                    action=Action.GRANTED, method="web_form", evidence_ip="192.0.2.44")
    consent_services.consent_record(contact=contact, purpose=appeals, channel=channels["postal"],
                                    action=Action.OBJECTED, method="phone", evidence_note=f"{FIRST} called")
    LogEntry.objects.create(user=staff_user, content_type=ContentType.objects.get_for_model(Contact),
                            object_id=str(contact.pk), object_repr=str(contact), action_flag=CHANGE,
                            change_message=f"Last name {OLD_LAST} → {LAST}")
    factory = RequestFactory()
    for _ in range(3):
        rate_limited(factory.post("/rights/new/", REMOTE_ADDR="198.51.100.7"), group="rights-new", email=EMAIL)
    return contact


def earlier_requests(contact, *, staff_user, capture, tmp_path):
    """An access request whose export ZIP is still in storage, and a rectification request."""
    access = verified_request(kind="access", email=EMAIL, name=f"{FIRST} {LAST}",
                              details=f"I am {FIRST} {LAST}, customer CRM-4471")
    job = registry_services.job_create(kind="rights_fulfil", params={"request_id": access.pk}, requested_by=staff_user)
    registry_services.job_attach_output(job=job, filename=f"export-{LAST}.zip", content=b"PK zip of the data")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.DONE)
    services.download_link_create(request=access, job=job)
    correction = verified_request(kind="rectification", email=EMAIL, name=f"{FIRST} {OLD_LAST}",
                                  rectifications=[("last_name", LAST)])
    services.rights_request_decide_rectification(change=correction.rectifications.get(), apply=True, by=staff_user)
    job.refresh_from_db()
    return access, correction, job


# The article as the English text ("Art. 17(3)(b)") or the French one ("art. 17.3.b") cites it.
ART_7_1 = re.compile(r"[Aa]rt\. 7[.(]1")
ART_17_3_B = re.compile(r"[Aa]rt\. 17[.(]3\)?[.(]b")


def erasure_request(**fields):
    return verified_request(kind="erasure", email=EMAIL, name=f"{FIRST} {LAST}", requester_phone=PHONE_INPUT,
                            customer_reference="CRM-4471", details=f"Please erase {FIRST} {LAST} everywhere.",
                            **fields)


# --- Searching the whole database -----------------------------------------------------------------


def columns():
    """(table, column) for every column of every table, by the database's own introspection."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                yield table, column.name


def find_in_database(needles) -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a needle occurs, case-insensitively, in any column read as
    text (char, text, JSON and the rest: a superset of the text columns)."""
    quote = connection.ops.quote_name
    found = []
    with connection.cursor() as cursor:
        for table, column in columns():
            for needle in needles:
                cursor.execute(f"SELECT COUNT(*) FROM {quote(table)} WHERE LOWER(CAST({quote(column)} AS TEXT)) "
                               f"LIKE %s", [f"%{needle.lower()}%"])
                if cursor.fetchone()[0]:
                    found.append((table, column, needle))
    return found


def dump_database(exclude=()) -> dict:
    quote = connection.ops.quote_name
    dump = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table in exclude:
                continue
            cursor.execute(f"SELECT * FROM {quote(table)}")
            dump[table] = sorted(map(repr, cursor.fetchall()))
    return dump


def test_the_search_finds_the_person_before_erasure(person, staff_user, django_capture_on_commit_callbacks,
                                                    tmp_path):
    """The search itself works: before erasure the needles are everywhere one expects them."""
    earlier_requests(person, staff_user=staff_user, capture=django_capture_on_commit_callbacks, tmp_path=tmp_path)
    erasure_request()
    found = {(table, column) for table, column, _needle in find_in_database(NEEDLES)}
    expected = {("consent_contact", "email"), ("consent_historicalcontact", "last_name"),
                ("consent_consentevent", "evidence_note"), ("django_admin_log", "object_repr"),
                ("rights_rightsrequest", "requester_email"), ("rights_historicalrightsrequest", "details"),
                ("rights_rectificationchange", "new_value"), ("registry_job", "output")}
    assert expected <= found


# --- The big one ---------------------------------------------------------------------------------------


def test_erasure_leaves_no_trace_of_the_person_yet_the_ledger_verifies(
        person, purposes, channels, staff_user, mailoutbox, django_capture_on_commit_callbacks, tmp_path,
        _isolated_files):
    """The real chain: job, completion email with its certificate (after the pseudonymisation)."""
    access, _correction, export_job = earlier_requests(person, staff_user=staff_user,
                                                      capture=django_capture_on_commit_callbacks, tmp_path=tmp_path)
    evidence = ConsentEvent.objects.exclude(evidence_document="").get(contact=person)
    evidence_file = _isolated_files / evidence.evidence_document.name
    export_file = _isolated_files / export_job.output.name
    assert evidence_file.exists() and export_file.exists()
    digests_before = dict(ConsentEvent.objects.values_list("pk", "evidence_digest"))
    request = erasure_request()
    assert list(request.contacts.all()) == [person]

    job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)

    assert job.status == Job.Status.DONE, job.error
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert find_in_database(NEEDLES) == []
    # Their current consents stay (withdrawn) but can reach nobody: out of every audience index.
    assert ConsentState.objects.filter(contact=person).exists()
    assert not ConsentState.objects.filter(contact=person, reachable=True).exists()

    # The ledger: events kept, evidence cleared, digests unchanged, chain intact.
    checked, broken = ledger_verify()
    assert broken is None and checked == ConsentEvent.objects.count()
    call_command("verify_consent_ledger", stdout=io.StringIO())
    for event in ConsentEvent.objects.filter(contact=person):
        assert (event.evidence_ip, event.evidence_user_agent, event.evidence_note, event.evidence_document.name) == \
               (None, "", "", "")
        assert event.evidence_digest == digests_before.get(event.pk, event.evidence_digest)
    # Files went after the commit, by their own job, which then forgot their names.
    assert not evidence_file.exists() and not export_file.exists()
    delete_job = Job.objects.get(kind=registry_erasure.DELETE_FILES_JOB_KIND)
    assert delete_job.status == Job.Status.DONE and delete_job.params["files"] == []
    assert delete_job.counts["deleted"] >= 2

    # Consents withdrawn (method erasure), the objection kept, the contact marked.
    person.refresh_from_db()
    assert person.anonymised_at is not None and not person.data_subject_categories.exists()
    states = {(s.purpose.slug, s.channel.code): s.status for s in ConsentState.objects.filter(contact=person)}
    assert states == {("newsletter", "email"): "withdrawn", ("newsletter", "sms"): "withdrawn",
                      ("postal-appeals", "postal"): "objected"}
    assert set(ConsentEvent.objects.filter(contact=person, action="withdrawn").values_list("method", flat=True)) == \
        {"erasure"}

    # Suppression: keyed digests only, on email, sms and phone.
    entries = {(e.channel.code, e.digest) for e in SuppressionEntry.objects.filter(source="erasure")}
    assert entries == {("email", suppression_digest("email", EMAIL)), ("sms", suppression_digest("sms", PHONE)),
                       ("phone", suppression_digest("phone", PHONE))}

    # The earlier requests are anonymised like any source; their export link is dead.
    access.refresh_from_db()
    assert access.details == "" and access.requester_name == "anonyme"
    assert access.download_links.get().file_deleted_at is not None

    # The request itself: pseudonymised once closed, its certificate data only.
    assert request.pseudonymised_at is not None
    assert (request.requester_email, request.requester_phone, request.customer_reference, request.details) == \
           ("", "", "", "")
    assert request.email_digest == keyed_digest(EMAIL) and request.phone_digest == keyed_digest(PHONE)
    assert request.reference.startswith("DR-") and request.received_at and request.closed_at
    assert set(request.events.values_list("text", flat=True)) == {""}
    assert request.events.filter(code=RequestEvent.Code.PSEUDONYMISED).count() == 1
    assert all(row.requester_email == "" and row.email_digest == keyed_digest(EMAIL)
               for row in RightsRequest.history.filter(id=request.pk))
    assert Job.objects.get(pk=job.pk).params == {"request_id": request.pk}
    summary = Job.objects.get(pk=job.pk).counts["erasure"]
    anonymised = {row["source"]: row["count"] for row in summary["sources"]}
    assert anonymised["consent.Contact"] == 1 and anonymised["consent.HistoricalContact"] >= 3
    assert anonymised["rights.RightsRequest"] == 2  # the two earlier requests, not this one
    kept = {row["source"]: row["reason"] for row in summary["kept"]}
    # The rights sources serve the legal-obligation "rights-requests" purpose, yet are anonymised, not kept
    # whole: their anonymised form (reference, dates, keyed digests) is the proof the law asks for.
    assert not [label for label in kept if label.startswith("rights.")]
    assert ART_7_1.search(kept["consent.ConsentEvent"])  # "Art. 7(1)", "art. 7.1" in French
    assert "consent.ConsentEvent" in request.outcome and ART_7_1.search(request.outcome)

    # The requester is told at the address they gave, although the request no longer holds it, and
    # the certificate attached holds the reference and the email's keyed digest, not the person.
    assert [message.to for message in mailoutbox] == [[EMAIL]]
    (filename, content, _mimetype), = mailoutbox[0].attachments
    assert filename.startswith(request.reference)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert request.reference in text and keyed_digest(EMAIL)[:16] in text.replace("\n", "")
    assert not [needle for needle in NEEDLES if needle.lower() in text.lower()]


def test_rate_limit_counters_never_hold_the_email(person, staff_user, settings, tmp_path,
                                                  django_capture_on_commit_callbacks, outbox):
    """Counters live in the default cache (file-based here, as in the embedded default): neither
    their keys nor their files hold the address, so erasure has nothing to find there."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path / "cache")}}
    factory = RequestFactory()
    for _ in range(3):
        rate_limited(factory.post("/rights/new/", REMOTE_ADDR="198.51.100.7"), group="rights-new", email=EMAIL)
    files = list((tmp_path / "cache").rglob("*"))
    assert [f for f in files if f.is_file()], "the counters were written"
    run_fulfilment(erasure_request(), by=staff_user, capture=django_capture_on_commit_callbacks)
    for path in files:
        assert EMAIL not in path.name
        if path.is_file():
            content = path.read_bytes()
            assert EMAIL.encode() not in content and EMAIL.upper().encode() not in content
    from django.core.cache import caches

    assert not any(EMAIL in str(key) for key in getattr(caches["default"], "_cache", {}))


def test_the_in_memory_cache_keys_hold_no_email(person):
    from django.core.cache import cache

    keys = list(cache._cache)  # the tests' LocMemCache (conftest): the fixture counted three hits
    assert keys and not any(EMAIL.lower() in key.lower() for key in keys)


# --- Twice, crash, kill ---------------------------------------------------------------------------


def test_running_erasure_twice_changes_nothing_more(person, staff_user, django_capture_on_commit_callbacks, outbox):
    request = erasure_request()
    job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    first = erasure.erase(request=request, job=job, report=lambda percent: None)
    before = dump_database()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = erasure.erase(request=request, job=job, report=lambda percent: None)
    assert dump_database() == before
    assert callbacks == []  # not even a file job
    assert again.outcome == first.outcome and again.counts() == first.counts()
    assert ConsentEvent.objects.filter(contact=person, method="erasure").count() == 2


def test_a_crash_half_way_leaves_nothing_half_erased(person, staff_user, monkeypatch, outbox,
                                                     django_capture_on_commit_callbacks):
    request = erasure_request()
    source = next(s for s in datamap.sources() if s.label == "rights.RequestEvent")  # walked after the contact

    def crash(contact):
        raise RuntimeError("disk full")

    monkeypatch.setattr(source, "subject", crash)
    job = registry_services.job_create(kind="rights_fulfil", params={"request_id": request.pk}, requested_by=staff_user)
    before = dump_database(exclude={"registry_job"})
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        erasure.erase(request=request, job=job, report=lambda percent: None)
    assert dump_database(exclude={"registry_job"}) == before
    assert callbacks == []  # no file job from a rolled-back erasure
    person.refresh_from_db()
    assert person.first_name == FIRST and person.anonymised_at is None
    # The same failure through the job runner: the job fails, nothing is written.
    failed = registry_services.job_run(job_id=job.pk)
    assert failed.status == Job.Status.FAILED and "disk full" in failed.error
    assert dump_database(exclude={"registry_job"}) == before


class WorkerLost(BaseException):
    """What a killed worker looks like from inside: not an Exception the job runner records."""


def test_a_killed_job_is_rerun_by_the_sweep_and_completes_once(person, staff_user, monkeypatch, settings, outbox,
                                                                django_capture_on_commit_callbacks):
    request = erasure_request()
    source = next(s for s in datamap.sources() if s.label == "rights.RequestEvent")
    real_subject = source.subject
    calls = {"n": 0}

    def killed_the_first_time(contact):
        calls["n"] += 1
        if calls["n"] == 1:
            raise WorkerLost()
        return real_subject(contact)

    monkeypatch.setattr(source, "subject", killed_the_first_time)
    with pytest.raises(WorkerLost):
        run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    job = Job.objects.get(kind="rights_fulfil", params__request_id=request.pk)
    assert job.status == Job.Status.RUNNING
    person.refresh_from_db()
    assert person.anonymised_at is None and not ConsentEvent.objects.filter(method="erasure").exists()

    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(
        seconds=settings.JOB_STRANDED_AFTER_SECONDS + 60))
    with django_capture_on_commit_callbacks(execute=True):
        assert registry_services.job_sweep_stranded() == [job.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.DONE and job.attempts == 2
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert ConsentEvent.objects.filter(contact=person, action="withdrawn", method="erasure").count() == 2
    assert request.events.filter(code=RequestEvent.Code.JOB_FINISHED).count() == 1
    assert request.events.filter(code=RequestEvent.Code.COMPLETED).count() == 1
    assert SuppressionEntry.objects.filter(source="erasure").count() == 3
    # The sweep finds nothing more to do.
    assert registry_services.job_sweep_stranded() == []


# --- The ledger's evidence ------------------------------------------------------------------------


def test_the_chain_covers_a_keyed_digest_of_the_evidence(person, staff_user, outbox,
                                                          django_capture_on_commit_callbacks):
    event = ConsentEvent.objects.exclude(evidence_document="").get(contact=person)
    assert event.evidence_digest == ledger.evidence_digest(
        ip="192.0.2.44", user_agent=event.evidence_user_agent, note=event.evidence_note,
        document_sha256=hashlib.sha256(b"%PDF-1.4 scanned form").hexdigest())
    run_fulfilment(erasure_request(), by=staff_user, capture=django_capture_on_commit_callbacks)
    assert ledger_verify()[1] is None
    if connection.vendor == "postgresql":  # the database refuses anything but clearing the evidence...
        with pytest.raises(IntegrityError), transaction.atomic():
            ConsentEvent.objects.filter(pk=event.pk).update(evidence_note="someone else's note")
        with connection.cursor() as cursor:  # ...so the forger must be a superuser (until the test's rollback)
            cursor.execute("SET LOCAL session_replication_role = replica")
    # Cleared evidence verifies; other evidence put back does not match the digest the hash covers...
    ConsentEvent.objects.filter(pk=event.pk).update(evidence_note="someone else's note")
    broken = ledger_verify()[1]
    assert broken is not None and broken.event_id == event.pk and "evidence" in broken.problem
    # ...and a changed digest breaks the hash.
    ConsentEvent.objects.filter(pk=event.pk).update(evidence_note="", evidence_digest="0" * 64)
    broken = ledger_verify()[1]
    assert broken is not None and "hash" in broken.problem


# --- Re-import and re-subscription are suppressed --------------------------------------------------


def test_the_erased_email_and_phone_are_suppressed_when_they_come_back(
        person, purposes, channels, staff_user, outbox, django_capture_on_commit_callbacks):
    run_fulfilment(erasure_request(), by=staff_user, capture=django_capture_on_commit_callbacks)
    newsletter = purposes["newsletter"]

    # The public form: a new contact for the same email. Its fresh consent counts (the entry stops a
    # come-back *without* a new consent), but the channel it did not consent to stays suppressed.
    form = CollectionForm.objects.create(slug="newsletter-form", name_fr="Newsletter", public=True, double_opt_in=False)
    email_item = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["email"])
    sms_item = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["sms"], position=1)
    outcome = consent_services.form_submit(form=form, contact_fields={"email": EMAIL.upper(), "phone": PHONE_INPUT},
                                           chosen=[email_item, sms_item], method="web_form", language="fr")
    back = outcome.contact
    assert back.pk != person.pk and back.email == EMAIL
    for channel in ("email", "sms"):
        result = consent_check(contact=back, purpose=newsletter, channel=channels[channel])
        assert (result.allowed, result.status, result.reason) == (True, "granted", "consent_granted")
    assert consent_check(contact=back, purpose=newsletter, channel=channels["phone"]).reason == "suppressed"


def test_an_import_of_the_erased_email_is_suppressed(person, purposes, channels, staff_user, outbox,
                                                      django_capture_on_commit_callbacks):
    run_fulfilment(erasure_request(), by=staff_user, capture=django_capture_on_commit_callbacks)
    content = ("email;phone;first_name;last_name;purpose;channel;status;date;method;source\n"
               f"{EMAIL};{PHONE_INPUT};{FIRST};{LAST};newsletter;email;granted;2024-03-01;paper;Salon\n").encode()
    with django_capture_on_commit_callbacks(execute=True):
        job = consent_services.consent_import_start(file_name="crm.csv", content=content, valid_rows_only=False,
                                                    requested_by=staff_user)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.error
    imported = Contact.objects.get(email=EMAIL)
    result = consent_check(contact=imported, purpose=purposes["newsletter"], channel=channels["email"])
    assert (result.allowed, result.reason) == (False, "suppressed")


# --- Files ---------------------------------------------------------------------------------------------


def test_files_are_deleted_after_the_commit_by_a_job_that_keeps_their_list(
        person, staff_user, outbox, django_capture_on_commit_callbacks, _isolated_files):
    request = erasure_request()
    job = registry_services.job_create(kind="rights_fulfil", params={"request_id": request.pk}, requested_by=staff_user)
    document = ConsentEvent.objects.exclude(evidence_document="").get(contact=person).evidence_document.name
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        erasure.erase(request=request, job=job, report=lambda percent: None)
    # Committed (here: the callbacks not run yet), the file is still there and its job holds its name.
    assert (_isolated_files / document).exists()
    pending = Job.objects.get(kind=registry_erasure.DELETE_FILES_JOB_KIND)
    assert pending.status == Job.Status.PENDING and ["consent.ConsentEvent", "evidence_document", document] in \
        pending.params["files"]
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    assert not (_isolated_files / document).exists()
    pending.refresh_from_db()
    assert pending.status == Job.Status.DONE and pending.params["files"] == []


def test_a_file_that_cannot_be_deleted_is_retried_by_a_later_job(monkeypatch, settings, db, _isolated_files):
    from registry.models import Job as JobModel

    storage = ConsentEvent._meta.get_field("evidence_document").storage
    storage.save("consent/evidence/x.pdf", ContentFile(b"x"))

    def refuse(name):
        raise PermissionError("read-only")

    monkeypatch.setattr(storage, "delete", refuse)
    files = [["consent.ConsentEvent", "evidence_document", "consent/evidence/x.pdf"]]
    job = JobModel.objects.create(kind=registry_erasure.DELETE_FILES_JOB_KIND, params={"files": files, "attempt": 1})
    done = registry_services.job_run(job_id=job.pk)
    assert done.status == Job.Status.DONE and done.params["files"] == [] and done.counts["failed"] == 1
    retry = JobModel.objects.get(pk=done.counts["retry_job"])
    assert retry.status == Job.Status.PENDING and retry.params == {"files": files, "attempt": 2}
    assert retry.enqueued_at is not None  # picked up by the sweep once stranded: a delayed retry
    JobModel.objects.filter(pk=retry.pk).update(params={"files": files, "attempt": settings.JOB_MAX_ATTEMPTS})
    last = registry_services.job_run(job_id=retry.pk)
    assert last.status == Job.Status.FAILED and last.params["files"] == files  # the DPO sees what is left
    assert (_isolated_files / "consent/evidence/x.pdf").exists()


def test_the_mandate_and_the_acknowledgement_go_with_the_pseudonymisation(
        person, staff_user, outbox, django_capture_on_commit_callbacks, _isolated_files):
    from rights.models import Proof

    request = erasure_request(on_behalf=True, subject_name=f"{FIRST} {LAST}", representative_capacity="heir",
                              mandate_document=SimpleUploadedFile(f"acte-{OLD_LAST}.pdf", b"%PDF-1.4 mandate"))
    services.rights_request_check_mandate(request=request, accepted=True, note="Acte de notoriété vu", by=staff_user)
    storage = Proof._meta.get_field("file").storage
    name = storage.save(f"rights/proofs/ack-{LAST}.pdf", ContentFile(b"%PDF ack"))
    Proof.objects.create(request=request, kind="acknowledgement", language="fr", file=name, sha256="a" * 64)
    mandate = request.mandate_document.name
    assert (_isolated_files / mandate).exists()
    run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    request.refresh_from_db()
    assert request.pseudonymised_at and request.subject_name == "" and not request.mandate_document
    assert not (_isolated_files / mandate).exists() and not (_isolated_files / name).exists()
    assert Proof.objects.get(request=request).file.name == ""
    assert find_in_database(NEEDLES) == []


# --- Rights follow the legal basis ------------------------------------------------------------------


@pytest.mark.parametrize("basis", ["consent", "contract", "legal_obligation", "vital_interests", "public_task",
                                   "legitimate_interests"])
def test_erasure_keeps_sources_under_a_legal_obligation_or_a_public_task(
        basis, person, channels, staff_user, monkeypatch, outbox, django_capture_on_commit_callbacks):
    """A source serving a purpose on this basis: erased, or kept and listed with the reason (Art. 17(3)(b))."""
    donations = PurposeFactory(slug=f"donations-{basis.replace('_', '-')}", legal_basis=basis,
                               legitimate_interest="Thank donors." if basis == "legitimate_interests" else "",
                               channels=[channels["postal"]])
    source = datamap.source_for(Contact)
    monkeypatch.setattr(source, "purposes", [donations.slug])
    request = erasure_request()
    job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    assert job.status == Job.Status.DONE, job.error
    person.refresh_from_db()
    kept = {row["source"]: row["reason"] for row in job.counts["erasure"]["kept"]}
    if basis in ("legal_obligation", "public_task"):
        assert (person.first_name, person.email, person.anonymised_at) == (FIRST, EMAIL, None)
        assert ART_17_3_B.search(kept["consent.Contact"])
        assert donations.name_fr in kept["consent.Contact"]  # the request is in French
        request.refresh_from_db()
        assert ART_17_3_B.search(request.outcome)
    else:
        assert person.first_name == "anonyme" and person.anonymised_at is not None
        assert "consent.Contact" not in kept
    # Either way the consents are withdrawn, the evidence cleared and the address suppressed.
    assert not ConsentEvent.objects.filter(contact=person).exclude(evidence_note="").exists()
    assert ConsentEvent.objects.filter(contact=person, method="erasure").count() == 2
    assert SuppressionEntry.objects.filter(source="erasure").count() == 3
    # And running again changes nothing more, even with the contact kept.
    before = dump_database()
    erasure.erase(request=RightsRequest.objects.get(pk=request.pk), job=job, report=lambda percent: None)
    assert dump_database() == before


def test_erasure_skips_a_contact_sharing_only_the_phone(person, purposes, channels, staff_user, outbox,
                                                        django_capture_on_commit_callbacks):
    neighbour = consent_services.contact_create(email="neighbour@example.org", phone=PHONE_INPUT,
                                                first_name="Yann", last_name="Kerbrat")
    run_fulfilment(erasure_request(), by=staff_user, capture=django_capture_on_commit_callbacks)
    neighbour.refresh_from_db()
    assert (neighbour.first_name, neighbour.phone, neighbour.anonymised_at) == ("Yann", PHONE, None)


def test_only_a_completed_erasure_is_pseudonymised_and_only_once(person, staff_user, outbox,
                                                                  django_capture_on_commit_callbacks):
    open_request = web_request(kind="erasure", email="other@example.org")
    with pytest.raises(ValidationError):
        services.rights_request_pseudonymise(request=open_request)
    request = erasure_request()
    run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    before = dump_database()
    services.rights_request_pseudonymise(request=request)
    assert dump_database() == before


def test_recipients_are_told_and_the_request_is_pseudonymised_when_the_last_task_is_confirmed(
        person, purposes, staff_user, outbox, django_capture_on_commit_callbacks):
    """Art. 19: the recipients of the purposes the data served get a task; the request completes,
    and only then is pseudonymised, when the last one is confirmed."""
    from tests.factories import RecipientFactory

    purposes["appeals"].activity.recipients.add(RecipientFactory(name="Mailing house"))  # via the donor category
    purposes["newsletter"].activity.recipients.add(RecipientFactory(name="Newsletter platform"))  # consent state
    request = erasure_request()
    job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    assert job.status == Job.Status.DONE, job.error
    request.refresh_from_db()
    assert set(request.recipient_tasks.values_list("name", flat=True)) == {"Mailing house", "Newsletter platform"}
    assert request.status == Status.IN_PROGRESS and request.pseudonymised_at is None
    assert request.requester_email == EMAIL  # still needed to answer until the request closes
    for task in request.recipient_tasks.order_by("name"):
        services.recipient_task_confirm(task=task, by=staff_user, note=f"Removed {FIRST} {LAST} ({EMAIL})")
    request.refresh_from_db()
    assert request.status == Status.COMPLETED and request.pseudonymised_at is not None
    assert set(request.recipient_tasks.values_list("note", flat=True)) == {"Removed […] ([…])"}
    assert find_in_database(NEEDLES) == []


@pytest.mark.parametrize("close", ["withdraw", "reject"])
def test_a_request_closed_before_its_queued_job_runs_is_not_carried_out(
        close, person, staff_user, outbox, django_capture_on_commit_callbacks):
    """The requester withdraws (or staff reject) after the erasure job was queued but before a worker
    took it: the job does nothing, says so on the timeline, and the request stays closed as it was."""
    request = erasure_request()
    with django_capture_on_commit_callbacks(execute=False) as queued:  # the broker holds the job
        job = services.rights_request_fulfil(request=request, by=staff_user)
    if close == "withdraw":
        services.rights_request_withdraw(request=request)
    else:
        services.rights_request_reject(request=request, reason_code="manifestly_unfounded",
                                       text="Already erased last year.", by=staff_user)
    for callback in queued:  # the worker takes the job now
        callback()

    job.refresh_from_db()
    request.refresh_from_db()
    person.refresh_from_db()
    assert (job.status, job.error) == (Job.Status.DONE, "")
    assert person.anonymised_at is None and person.email == EMAIL  # nothing erased
    assert ConsentEvent.objects.filter(contact=person).exclude(evidence_note="").exists()
    assert request.status == (Status.WITHDRAWN if close == "withdraw" else Status.REJECTED)
    assert request.requester_email == EMAIL  # not pseudonymised as a completed erasure is
    codes = list(request.events.order_by("pk").values_list("code", flat=True))
    assert codes[-1] == RequestEvent.Code.JOB_CANCELLED and RequestEvent.Code.JOB_FINISHED not in codes
    assert request.events.get(code=RequestEvent.Code.JOB_CANCELLED).data == {"job": job.pk, "status": request.status}
    assert "completed" not in outbox.messages(request.pk)


def test_a_request_withdrawn_while_its_job_runs_stays_withdrawn(person, staff_user, outbox, monkeypatch,
                                                               django_capture_on_commit_callbacks):
    """Withdrawn while the worker was erasing: the erasure that happened is recorded, but the request
    is not completed over the requester's withdrawal."""
    from rights import fulfilment

    request = erasure_request()

    def withdrawn_meanwhile(**kwargs):
        result = erasure.erase(**kwargs)
        services.rights_request_withdraw(request=kwargs["request"])
        return result

    monkeypatch.setitem(fulfilment._registry, "erasure", withdrawn_meanwhile)
    job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)

    person.refresh_from_db()
    assert job.status == Job.Status.DONE and person.anonymised_at is not None  # it did happen
    assert request.status == Status.WITHDRAWN
    codes = list(request.events.values_list("code", flat=True))
    assert RequestEvent.Code.JOB_FINISHED in codes and RequestEvent.Code.COMPLETED not in codes
    assert "completed" not in outbox.messages(request.pk)


def test_every_recipient_and_processor_is_emailed_once(person, purposes, staff_user, outbox, mailoutbox,
                                                       django_capture_on_commit_callbacks):
    """Art. 19: each email-mode task gets its own notice (each on-commit callback names its own
    task); an organisation listed both as a recipient and as a processor, at the same address,
    gets one task and one email."""
    from tests.factories import ProcessorFactory, RecipientFactory

    newsletter, appeals = purposes["newsletter"], purposes["appeals"]
    newsletter.activity.recipients.add(RecipientFactory(name="Newsletter platform",
                                                        notification_email="dpo@platform.example"),
                                       RecipientFactory(name="Mailing house", notification_email="dpo@mailing.example"))
    newsletter.activity.processors.add(ProcessorFactory(name="Mailing house (processor)",
                                                        notification_email="DPO@mailing.example"))
    appeals.activity.processors.add(ProcessorFactory(name="Printer", notification_email="privacy@printer.example"),
                                    ProcessorFactory(name="Archive room"))  # no address: a manual task
    request = erasure_request()
    job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    assert job.status == Job.Status.DONE, job.error

    tasks = {task.name: task for task in request.recipient_tasks.all()}
    assert set(tasks) == {"Newsletter platform", "Mailing house", "Printer", "Archive room"}
    emailed = [task for task in tasks.values() if task.mode == task.Mode.EMAIL]
    assert len(emailed) == 3 and all(task.notified_at is not None for task in emailed)
    assert tasks["Archive room"].mode == tasks["Archive room"].Mode.MANUAL and tasks["Archive room"].notified_at is None
    notices = [message for message in mailoutbox if request.reference in message.subject]
    assert sorted(address for message in notices for address in message.to) == [
        "dpo@mailing.example", "dpo@platform.example", "privacy@printer.example"]


@pytest.mark.parametrize("close", ["withdraw", "reject"])
def test_a_request_carried_out_can_no_longer_be_withdrawn_or_rejected(
        close, person, purposes, staff_user, outbox, client, django_capture_on_commit_callbacks):
    """Once the erasure ran, the request waits for its recipient tasks; refusing or withdrawing it
    then would tell the requester nothing was done although their data is gone. Neither the admin
    nor the status page offers it any more."""
    from django.urls import reverse

    from rights import tokens
    from tests.factories import RecipientFactory

    purposes["newsletter"].activity.recipients.add(RecipientFactory(name="Newsletter platform"))
    request = erasure_request()
    client.force_login(staff_user)
    admin_url = reverse("admin:rights_rightsrequest_change", args=[request.pk])
    assert 'id="rights-action-reject"' in client.get(admin_url).content.decode()  # before the job: offered
    status_url = reverse("rights:status", args=[tokens.status_token(request=request)])
    assert 'id="withdraw-link"' in client.get(status_url).content.decode()
    run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    assert request.status == Status.IN_PROGRESS  # the task is still open
    sent = len(outbox)
    with pytest.raises(ValidationError, match="déjà été exécutée"):
        if close == "withdraw":
            services.rights_request_withdraw(request=request)
        else:
            services.rights_request_reject(request=request, reason_code="manifestly_unfounded",
                                           text="Unfounded.", by=staff_user)
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS and request.rejection_reason == ""
    assert len(outbox) == sent  # no refusal or withdrawal email
    status_page = client.get(status_url)
    assert status_page.status_code == 200 and 'id="withdraw-link"' not in status_page.content.decode()
    admin_page = client.get(admin_url)
    assert admin_page.status_code == 200 and 'id="rights-action-reject"' not in admin_page.content.decode()
    services.recipient_task_confirm(task=request.recipient_tasks.get(), by=staff_user, note="Done")
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
