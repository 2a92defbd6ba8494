"""Import of contacts and consents from a CSV file: validation first, all-or-nothing by default,
batches, a per-line report, and a resumed job that never duplicates a line."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from django.utils import translation
from django.utils.translation import get_language, override

import consent.imports  # noqa: F401  (registers the consent_import job kind until apps.py does)
from consent import services
from consent.imports import parse_date, validate_rows
from consent.models import Action, ConsentEvent, ConsentState, Contact
from consent.selectors import ledger_verify
from registry import services as registry_services
from registry.models import Job
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

HEADER = "email;phone;first_name;last_name;purpose;channel;status;date;method;source"
PARIS = ZoneInfo("Europe/Paris")


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join((header,) + lines) + "\n").encode()


def good_lines(newsletter_slug: str = "newsletter") -> list[str]:
    return [
        f"alice@example.org;;Alice;Martin;{newsletter_slug};email;granted;2024-03-01T10:00:00;paper;Salon 2024",
        f"bob@example.org;06 12 34 56 78;Bob;Durand;{newsletter_slug};sms;granted;15/04/2024 09:30;event;Forum",
        f"carol@example.org;;Carol;;{newsletter_slug};email;refused;2024-05-02;web_form;Site",
    ]


def start(content: bytes, *, valid_rows_only: bool = False, user=None, file_name: str = "crm.csv",
          capture=None) -> Job:
    with capture(execute=True):
        job = services.consent_import_start(file_name=file_name, content=content, valid_rows_only=valid_rows_only,
                                            requested_by=user)
    job.refresh_from_db()
    return job


def report_rows(job: Job) -> list[dict[str, str]]:
    with job.output.open("rb") as handle:
        return list(csv.DictReader(io.StringIO(handle.read().decode("utf-8-sig")), delimiter=";"))


@pytest.fixture
def run_import(django_capture_on_commit_callbacks, newsletter, postal_appeals):
    def run(content: bytes, **kwargs) -> Job:
        return start(content, capture=django_capture_on_commit_callbacks, **kwargs)

    return run


@pytest.fixture
def small_batches(settings):
    settings.CONSENT_IMPORT_BATCH_SIZE = 2


# --- parsing ------------------------------------------------------------------------------


def test_dates_iso_or_french_naive_ones_in_paris():
    assert parse_date("2024-03-01T10:00:00") == datetime(2024, 3, 1, 10, tzinfo=PARIS)
    assert parse_date("2024-03-01T10:00:00Z") == datetime(2024, 3, 1, 10, tzinfo=ZoneInfo("UTC"))
    assert parse_date("15/04/2024 09:30") == datetime(2024, 4, 15, 9, 30, tzinfo=PARIS)
    assert parse_date("15/04/2024") == datetime(2024, 4, 15, tzinfo=PARIS)
    assert parse_date("2024-05-02") == datetime(2024, 5, 2, tzinfo=PARIS)
    with pytest.raises(ValueError):
        parse_date("04/15/2024")


def test_validation_writes_nothing_and_names_each_reason(newsletter, postal_appeals):
    future = (timezone.localtime() + timedelta(days=2)).strftime("%d/%m/%Y")
    content = csv_bytes(
        "a@example.org;;;;newsletter;email;granted;;paper;x",                 # 2: no date
        "b@example.org;;;;newsletter;email;granted;2024-01-01;;x",            # 3: no method
        "c@example.org;;;;nope;email;granted;2024-01-01;paper;x",             # 4: unknown purpose
        "d@example.org;;;;newsletter;fax;granted;2024-01-01;paper;x",         # 5: unknown channel
        "e@example.org;;;;newsletter;email;maybe;2024-01-01;paper;x",         # 6: unknown status
        "f@example.org;;;;newsletter;email;granted;2024-01-01;expiry;x",      # 7: system method
        "not-an-email;;;;newsletter;email;granted;2024-01-01;paper;x",        # 8: invalid email
        "g@example.org;12;;;newsletter;sms;granted;2024-01-01;paper;x",       # 9: invalid phone
        "h@example.org;;;;newsletter;postal;granted;2024-01-01;paper;x",      # 10: channel not in purpose
        "i@example.org;;;;postal-appeals;postal;granted;2024-01-01;paper;x",  # 11: consent on opt-out purpose
        f"j@example.org;;;;newsletter;email;granted;{future};paper;x",        # 12: future
        "k@example.org;;;;newsletter;email;granted;2024-01-01;paper;x",       # 13: valid
        "",
        "l@example.org;;;;postal-appeals;postal;objected;2024-01-01;paper;x",  # 15: valid objection
    )
    result = validate_rows(content)
    assert (result.rows, [row.line for row in result.valid]) == (13, [13, 15])
    reasons = result.rejected
    assert sorted(reasons) == list(range(2, 13))
    assert "no date of collection" in reasons[2]
    assert "no method of collection" in reasons[3]
    assert "unknown purpose 'nope'" in reasons[4]
    assert "unknown channel 'fax'" in reasons[5]
    assert "unknown status 'maybe'" in reasons[6]
    assert "unknown method 'expiry'" in reasons[7]
    assert reasons[8].startswith("email:")
    assert reasons[9].startswith("phone:")
    assert "does not use the channel postal" in reasons[10]
    assert "not based on consent" in reasons[11]
    assert "in the future" in reasons[12]
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()


def test_a_date_before_1970_is_rejected_as_the_api_refuses_it(newsletter):
    result = validate_rows(csv_bytes("a@example.org;;;;newsletter;email;granted;31/12/1969 23:00;paper;x",
                                     "b@example.org;;;;newsletter;email;granted;01/01/1970 12:00;paper;x"))
    assert [row.line for row in result.valid] == [3]
    assert "before 1970" in result.rejected[2]
    errors = services.consent_rule_errors(contact=ContactFactory(), purpose=newsletter,
                                          channel=newsletter.channels.get(code="email"), action="granted",
                                          method="paper", effective_at=datetime(1969, 12, 31, 23, 0, tzinfo=PARIS),
                                          current=None, channel_ids={newsletter.channels.get(code="email").pk})
    assert "effective_at" in errors


def test_comma_separated_file_with_bom_is_read(newsletter):
    content = "\ufeffemail,phone,first_name,last_name,purpose,channel,status,date,method,source\n" \
              "a@example.org,,,,newsletter,email,granted,2024-01-01,paper,x\n"
    result = validate_rows(content.encode())
    assert (result.rows, len(result.valid), result.rejected) == (1, 1, {})


def test_tab_separated_windows_1252_file_is_read(newsletter):
    """A spreadsheet's "text (tab-separated)" export, in Excel's French encoding: the same rule as
    the suppression lists' (consent.csvfiles)."""
    content = "email\tphone\tfirst_name\tlast_name\tpurpose\tchannel\tstatus\tdate\tmethod\tsource\r\n" \
              "a@example.org\t\tHélène\tDurand\tnewsletter\temail\tgranted\t01/02/2024\tpaper\tSalon\r\n"
    result = validate_rows(content.encode("cp1252"))
    assert (result.rows, result.rejected) == (1, {})
    assert (result.valid[0].first_name, result.valid[0].source) == ("Hélène", "Salon")


def test_a_file_that_is_not_text_is_refused_as_a_whole(newsletter):
    result = validate_rows(b"email;purpose\n\x81\x8d\x90;newsletter\n")
    assert result.file_error and not result.valid


# --- the job ------------------------------------------------------------------------------


def test_valid_file_writes_contacts_and_events(run_import, dpo_user):
    job = run_import(csv_bytes(*good_lines()), user=dpo_user)

    assert (job.status, job.progress, job.error) == ("done", 100, "")
    assert job.counts == {"rows": 3, "valid": 3, "rejected": 0, "written": 3, "last_row": 4}
    events = list(ConsentEvent.objects.order_by("sequence"))
    assert [(e.contact.email, e.channel.code, e.action, e.method) for e in events] == [
        ("alice@example.org", "email", "granted", "paper"),
        ("bob@example.org", "sms", "granted", "event"),
        ("carol@example.org", "email", "refused", "web_form"),
    ]
    alice = events[0]
    assert alice.effective_at == datetime(2024, 3, 1, 10, tzinfo=PARIS)
    assert alice.collection_form == "import:crm.csv"
    assert "Salon 2024" in alice.evidence_note and "line 2" in alice.evidence_note
    assert alice.idempotency_key == f"import:{job.pk}:2"
    assert alice.recorded_by == dpo_user
    bob = Contact.objects.get(email="bob@example.org")
    assert (bob.phone, bob.first_name, bob.source) == ("+33612345678", "Bob", "Forum")
    assert ConsentState.objects.get(contact=bob).status == Action.GRANTED
    assert [r["status"] for r in report_rows(job)] == ["written"] * 3
    assert job.output_name == "crm-report.csv"
    assert ledger_verify()[1] is None


def test_existing_contact_is_reused(run_import):
    existing = ContactFactory(email="alice@example.org", first_name="Alicia")
    run_import(csv_bytes(*good_lines()[:1]))
    assert Contact.objects.filter(email="alice@example.org").count() == 1
    assert ConsentEvent.objects.get().contact == existing


@pytest.mark.parametrize("batch_size", [500, 1])
def test_two_people_sharing_a_landline_each_get_their_consent(run_import, settings, batch_size):
    """A known phone with a new email is another person (a duplicate candidate), never the first contact;
    a line with a phone and no email is the oldest contact with that phone. Batch or line by line."""
    from consent.selectors import contact_duplicate_candidates

    settings.CONSENT_IMPORT_BATCH_SIZE = batch_size
    alice = ContactFactory(email="alice@example.org", phone="01 45 00 00 00")
    job = run_import(csv_bytes(
        "bob@example.org;01 45 00 00 00;Bob;Durand;newsletter;email;granted;2024-03-01;paper;Salon",
        ";01 45 00 00 00;;;newsletter;sms;granted;2024-03-02;phone;Appel"))
    assert job.counts["written"] == 2
    bob = Contact.objects.get(email="bob@example.org")
    assert bob != alice and bob.first_name == "Bob" and contact_duplicate_candidates(contact=bob) == [alice]
    assert ConsentEvent.objects.get(channel__code="email").contact == bob
    assert ConsentEvent.objects.get(channel__code="sms").contact == alice


@pytest.mark.parametrize("batch_size", [500, 1])
def test_a_line_with_a_shared_phone_and_other_names_is_another_person(run_import, settings, batch_size):
    """Without an email, the phone finds its holder only if the line's names do not contradict hers."""
    settings.CONSENT_IMPORT_BATCH_SIZE = batch_size
    alice = ContactFactory(email="alice@example.org", phone="01 45 00 00 00", first_name="Alice", last_name="Martin")
    job = run_import(csv_bytes(
        ";01 45 00 00 00;Bob;Martin;newsletter;sms;granted;2024-03-02;phone;Appel",
        ";01 45 00 00 00;alice;;newsletter;sms;granted;2024-03-03;phone;Appel",
        ";01 45 00 00 00;Bob;Martin;newsletter;sms;refused;2024-03-04;phone;Appel"))
    assert job.counts["written"] == 3
    bob = Contact.objects.exclude(pk=alice.pk).get()
    assert (bob.first_name, bob.email) == ("Bob", "")
    assert list(ConsentEvent.objects.order_by("sequence").values_list("contact_id", flat=True)) == [
        bob.pk, alice.pk, bob.pk]


@pytest.mark.parametrize("batch_size", [500, 1])
def test_consents_dated_before_a_material_change_lapse(run_import, settings, batch_size, newsletter, dpo_user):
    """The file's grants, signed two months ago, answered the purpose's first text: stamped with version 1 and its text,
    they do not count after the material change (version 2) made since."""
    from consent.selectors import consent_check
    from registry import services as registry_services

    first_text = services.purpose_notice_text(purpose=newsletter, language="fr")
    registry_services.purpose_update(purpose=newsletter, text_fr="Nouvelle finalité", change_kind="material",
                                     user=dpo_user)
    settings.CONSENT_IMPORT_BATCH_SIZE = batch_size
    signed = (timezone.now() - timedelta(days=60)).strftime("%d/%m/%Y %H:%M")  # within the 24 months' validity
    job = run_import(csv_bytes(
        f"alice@example.org;;Alice;Martin;newsletter;email;granted;{signed};paper;Salon",
        f"bob@example.org;06 12 34 56 78;Bob;Durand;newsletter;sms;granted;{signed};event;Forum"))
    assert job.counts["written"] == 2
    events = list(ConsentEvent.objects.select_related("notice", "contact", "channel").order_by("sequence"))
    assert [(event.purpose_version, event.notice.text) for event in events] == [(1, first_text)] * 2
    for event in events:
        result = consent_check(contact=event.contact, purpose=newsletter, channel=event.channel)
        assert (result.allowed, result.reason) == (False, "outdated_version")


@pytest.mark.parametrize("batch_size", [500, 1])
def test_a_number_the_file_gives_is_added_to_a_contact_without_one(run_import, settings, batch_size):
    """The line's SMS grant can reach the contact: the file's number fills the empty field (history
    kept), and a number the contact already has is not overwritten."""
    from consent.selectors import consent_check

    settings.CONSENT_IMPORT_BATCH_SIZE = batch_size
    carol = ContactFactory(email="carol@example.org")
    dan = ContactFactory(email="dan@example.org", phone="06 00 00 00 01")
    job = run_import(csv_bytes(
        "carol@example.org;06 12 34 56 78;Carol;;newsletter;sms;granted;2026-10-01;paper;Salon",
        "dan@example.org;06 99 99 99 99;Dan;;newsletter;sms;granted;2026-10-01;paper;Salon"))
    assert job.counts["written"] == 2
    carol.refresh_from_db()
    dan.refresh_from_db()
    assert (carol.phone, dan.phone) == ("+33612345678", "+33600000001")
    assert carol.history.count() == 2  # created, then the number filled in
    sms = ConsentEvent.objects.get(contact=carol).channel
    assert consent_check(contact=carol, purpose=ConsentEvent.objects.get(contact=carol).purpose, channel=sms).allowed
    assert ConsentState.objects.get(contact=carol).reachable


def test_one_bad_line_writes_nothing_and_the_report_names_it(run_import):
    lines = good_lines()
    lines.insert(1, "dave@example.org;;Dave;;newsletter;email;granted;;paper;Salon")  # line 3: no date
    job = run_import(csv_bytes(*lines))

    assert job.status == "done"
    assert job.counts == {"rows": 4, "valid": 3, "rejected": 1, "written": 0, "last_row": 0}
    assert not ConsentEvent.objects.exists() and not Contact.objects.exists()
    report = {int(r["line"]): (r["status"], r["reason"]) for r in report_rows(job)}
    assert report[3][0] == "rejected" and "no date of collection" in report[3][1]
    assert {report[line][0] for line in (2, 4, 5)} == {"not written"}


def test_valid_rows_only_writes_the_valid_ones(run_import):
    lines = good_lines()
    lines.insert(1, "dave@example.org;;Dave;;newsletter;email;granted;2024-01-01;;Salon")  # line 3: no method
    job = run_import(csv_bytes(*lines), valid_rows_only=True)

    assert job.counts == {"rows": 4, "valid": 3, "rejected": 1, "written": 3, "last_row": 5}
    assert sorted(ConsentEvent.objects.values_list("contact__email", flat=True)) == [
        "alice@example.org", "bob@example.org", "carol@example.org"]
    assert not Contact.objects.filter(email="dave@example.org").exists()
    report = {int(r["line"]): r["status"] for r in report_rows(job)}
    assert report == {2: "written", 3: "rejected", 4: "written", 5: "written"}


def test_missing_columns_fail_the_job(run_import):
    job = run_import(b"email;purpose;channel;status\na@example.org;newsletter;email;granted\n")
    assert job.status == "failed"
    assert "missing columns: date, method" in job.error
    assert not ConsentEvent.objects.exists()


def test_empty_file_is_refused_before_any_job(newsletter):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.consent_import_start(file_name="x.csv", content=b"  \n", valid_rows_only=False, requested_by=None)
    assert not Job.objects.exists()


def test_writing_goes_in_batches_with_progress(run_import, monkeypatch, small_batches):
    seen: list[tuple[int, int]] = []
    original = registry_services.job_report_progress

    def spy(*, job_id, percent):
        seen.append((percent, Job.objects.get(pk=job_id).counts.get("last_row", 0)))
        original(job_id=job_id, percent=percent)

    monkeypatch.setattr(registry_services, "job_report_progress", spy)
    lines = [f"p{n}@example.org;;;;newsletter;email;granted;2024-01-01;paper;x" for n in range(5)]
    job = run_import(csv_bytes(*lines))

    assert job.counts["written"] == 5
    # After each batch (lines 2-3, 4-5, 6): its last line is committed, then progress is reported.
    batch_reports = [(percent, last_row) for percent, last_row in seen if 10 < percent < 100]
    assert [last_row for _percent, last_row in batch_reports] == [3, 5, 6]


def test_running_the_job_again_writes_nothing_more(run_import):
    job = run_import(csv_bytes(*good_lines()))
    # The broker redelivers; a stale "running" copy of the job is run again from the start.
    assert registry_services.job_run(job_id=job.pk) is None
    stale = timezone.now() - timedelta(seconds=2 * settings.JOB_STRANDED_AFTER_SECONDS)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, heartbeat_at=stale,
                                         counts={**job.counts, "last_row": 0})
    job = registry_services.job_run(job_id=job.pk)

    assert job.status == "done"
    assert ConsentEvent.objects.count() == 3 and Contact.objects.count() == 3
    assert job.counts == {"rows": 3, "valid": 3, "rejected": 0, "written": 3, "last_row": 4}
    assert ledger_verify()[1] is None


def test_crash_after_the_first_batch_resumes_after_its_last_row(run_import, monkeypatch, small_batches):
    from consent import imports

    calls = {"n": 0}
    original = imports.write_row

    def dying_write_row(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # first line of the second batch: the worker dies
            raise SystemExit("worker killed")
        return original(**kwargs)

    monkeypatch.setattr(imports, "write_row", dying_write_row)
    lines = [f"p{n}@example.org;;;;newsletter;email;granted;2024-01-01;paper;x" for n in range(5)]
    with pytest.raises(SystemExit):
        run_import(csv_bytes(*lines))
    job = Job.objects.get()
    assert (job.status, job.counts["last_row"], ConsentEvent.objects.count()) == ("running", 3, 2)

    monkeypatch.setattr(imports, "write_row", original)
    stale = timezone.now() - timedelta(seconds=2 * settings.JOB_STRANDED_AFTER_SECONDS)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=stale)
    written_lines = []
    monkeypatch.setattr(imports, "write_row", lambda **kw: written_lines.append(kw["row"].line) or original(**kw))
    job = registry_services.job_run(job_id=job.pk)

    assert (job.status, job.attempts) == ("done", 2)
    assert written_lines == [4, 5, 6]  # resumed after line 3, the last committed one
    assert ConsentEvent.objects.count() == 5
    assert job.counts == {"rows": 5, "valid": 5, "rejected": 0, "written": 5, "last_row": 6}
    assert [r["status"] for r in report_rows(job)] == ["written"] * 5
    assert ledger_verify()[1] is None


def test_replayed_line_returns_its_first_event(run_import):
    job = run_import(csv_bytes(*good_lines()))
    from consent import imports

    row = validate_rows(csv_bytes(*good_lines())).valid[0]
    assert imports.write_row(job=job, row=row, file_name="crm.csv") is False
    assert ConsentEvent.objects.count() == 3


# --- admin and command ----------------------------------------------------------------------


@pytest.fixture
def import_url():
    return reverse("admin:consent_contact_import")


def test_admin_upload_creates_the_job_and_redirects_to_it(client, dpo_user, newsletter, postal_appeals, import_url,
                                                          django_capture_on_commit_callbacks):
    client.force_login(dpo_user)
    page = client.get(import_url)
    assert page.status_code == 200 and b'id="consent-import-form"' in page.content

    upload = SimpleUploadedFile("salon.csv", csv_bytes(*good_lines()), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(import_url, {"file": upload})

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:registry_job_change", args=[job.pk])
    assert (job.kind, job.params["file_name"], job.params["valid_rows_only"], job.requested_by) == (
        "consent_import", "salon.csv", False, dpo_user)
    assert job.params["file"].startswith("imports/")
    assert job.params["language"] == get_language()  # the page's (its URL's): the report is written in it
    assert ConsentEvent.objects.count() == 3


def test_admin_upload_needs_the_permission(client, auditor_user, import_url):
    client.force_login(auditor_user)
    assert client.get(import_url).status_code == 403


def test_admin_empty_upload_is_a_form_error(client, dpo_user, import_url):
    client.force_login(dpo_user)
    response = client.post(import_url, {"file": SimpleUploadedFile("e.csv", b" ", content_type="text/csv")})
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)  # the command commits: the eager job runs on commit
def test_management_command_imports_and_reports(tmp_path, newsletter, postal_appeals, dpo_user):
    path_ = tmp_path / "crm.csv"
    path_.write_bytes(csv_bytes(*good_lines()))
    out = io.StringIO()
    call_command("import_consents", str(path_), "--user", "dpo", stdout=out)  # eager: runs at once

    assert "3 line(s), 3 valid, 0 rejected, 3 written" in out.getvalue()
    assert ConsentEvent.objects.count() == 3
    assert Job.objects.get().requested_by == dpo_user


@pytest.mark.django_db(transaction=True)
def test_management_command_fails_when_a_line_is_rejected(tmp_path, newsletter, postal_appeals):
    path_ = tmp_path / "crm.csv"
    path_.write_bytes(csv_bytes(*good_lines(), "x@example.org;;;;newsletter;email;granted;;paper;x"))
    out = io.StringIO()
    with pytest.raises(CommandError, match="Nothing imported: 1 line"):
        call_command("import_consents", str(path_), stdout=out)
    assert "line 5: rejected no date of collection" in out.getvalue()
    assert not ConsentEvent.objects.exists()

    call_command("import_consents", str(path_), "--valid-rows-only", stdout=out)
    assert ConsentEvent.objects.count() == 3


# --- the report in the job's language ---------------------------------------------------------


@pytest.fixture(autouse=True)
def english_unless_asked():
    """The tests above name reasons by their English text: they run in English. The tests below
    ask for French (the default of the product) themselves. LANGUAGE_CODE stays French: changing it
    here would leave Django's cached language-prefixed URLs stale for the admin tests."""
    with override("en"):
        yield


def test_validation_reasons_are_in_the_active_language(newsletter, postal_appeals):
    content = csv_bytes("a@example.org;;;;newsletter;email;granted;;paper;x",
                        "b@example.org;;;;nope;email;granted;31/02/2024 09:00;paper;x")
    with override("fr"):
        result = validate_rows(content)
    assert result.rejected[2] == ("pas de date de recueil : un consentement qui ne peut pas être daté "
                                  "ne prouve rien")
    assert "finalité inconnue 'nope'" in result.rejected[3] and "date illisible '31/02/2024 09:00'" in result.rejected[3]
    with override("fr"):
        assert validate_rows(b"email;purpose\nx@example.org;newsletter\n").file_error.startswith("colonnes manquantes :")


def test_the_report_is_in_french_by_default_with_stable_status_codes(run_import, settings):
    translation.deactivate()  # as in a worker: nothing active, the site's default language (French)
    job = run_import(csv_bytes(*good_lines(), "x@example.org;;;;newsletter;email;granted;;paper;x"))

    with job.output.open("rb") as handle:
        content = handle.read()
    # For French Excel, as the register's CSV: a byte-order mark, ";" between the columns.
    assert content.startswith("\ufeff".encode()) and content.decode("utf-8-sig").splitlines()[0] == \
        "line;status;reason;label"  # the keys scripts and import_consents read
    report = {int(r["line"]): r for r in report_rows(job)}
    assert (report[5]["status"], report[5]["label"]) == ("rejected", "rejetée")
    assert report[5]["reason"].startswith("pas de date de recueil")
    assert {(report[line]["status"], report[line]["label"]) for line in (2, 3, 4)} == {("not written", "non écrite")}
    assert report[2]["reason"] == "valide, mais le fichier a des lignes rejetées et rien n'a été importé"


def test_the_job_language_wins_over_the_default(django_capture_on_commit_callbacks, newsletter, postal_appeals,
                                                settings):
    translation.deactivate()  # as in a worker: nothing active, the site's default language (French)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.consent_import_start(file_name="crm.csv", content=csv_bytes(*good_lines()),
                                            valid_rows_only=False, requested_by=None)
        job.params["language"] = "en"
        job.save(update_fields=["params"])
    job.refresh_from_db()
    assert [(r["status"], r["label"]) for r in report_rows(job)] == [("written", "written")] * 3


def test_a_refused_file_fails_in_french(run_import, settings):
    translation.deactivate()  # as in a worker: nothing active, the site's default language (French)
    job = run_import(b"name;purpose\nx;newsletter\n")
    assert "Rien n'a été importé : colonnes manquantes : channel, status, date, method, email ou phone" in job.error
    (row,) = report_rows(job)
    assert (row["status"], row["label"]) == ("rejected", "rejetée")
