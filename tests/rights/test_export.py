"""The access and portability exports (rights.export, rights.fulfilment.access), through the real job path:
rights_request_fulfil, then the job run by Celery (eager) once the transaction commits; the ZIP is read back
from private storage, data.json validated against rights/schemas/data-export.schema.json, the PDF with pypdf."""
from __future__ import annotations

import copy
import csv
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

import pypdf
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from consent import receipts
from consent.models import CollectionForm, ConsentEvent
from consent.services import contact_update
from registry import services as registry_services
from registry.datamap import PersonalField, datamap
from registry.models import Job, ProcessingActivity, Purpose
from rights import export, services
from rights.models import DownloadLink, RequestEvent, Status
from tests.factories import (
    ActivityDataCategoryFactory,
    ContactFactory,
    OrganisationFactory,
    PurposeFactory,
    RecipientFactory,
    channel,
    consent_purpose,
    data_category,
    data_subject_category,
    record_consent,
)

from .factories import verified_request

pytestmark = pytest.mark.django_db

EMAIL = "camille.durand@example.org"
SHARED_PHONE = "+33612345678"
OTHER_EMAIL = "dominique.voisine@example.org"
OTHER_NAME = "Voisine-Partagee"
OTHER_NOTE = "NOTE-OF-THE-OTHER-CONTACT"


@pytest.fixture
def world(db):
    """A contact with consents on two purposes x channels, a legitimate-interest purpose aimed at her
    category (which she objected to by post), three history rows; and a second contact who shares her
    phone number, with consents of her own."""
    OrganisationFactory()
    customer = data_subject_category("customer")
    news = consent_purpose("exp-news", channels=("email", "sms"))
    calls = consent_purpose("exp-calls", channels=("phone",))
    offers = PurposeFactory(slug="exp-offers", legal_basis="legitimate_interests",
                            legitimate_interest="Faire connaître nos offres", channels=[channel("postal")],
                            data_subject_categories=[customer])
    # The register says this activity uses identity data only: contact details do not serve it.
    ActivityDataCategoryFactory(activity=offers.activity, category=data_category("identity"))
    RecipientFactory(name="Imprimerie Routage SA").activities.add(offers.activity)

    contact = ContactFactory(email=EMAIL, phone=SHARED_PHONE, first_name="Camille", last_name="Durand",
                             data_subject_categories=[customer])
    contact_update(contact=contact, first_name="Camille-Marie")
    contact_update(contact=contact, city="Lyon", address_line1="=HYPERLINK(\"http://evil\")")
    record_consent(contact, news, "email")
    record_consent(contact, news, "sms")
    record_consent(contact, news, "sms", action="withdrawn", method="preference_centre")
    record_consent(contact, calls, "phone", evidence_note="Accord donné par téléphone")
    record_consent(contact, offers, "postal", action="objected")

    other = ContactFactory(email=OTHER_EMAIL, phone=SHARED_PHONE, first_name="Dominique", last_name=OTHER_NAME)
    record_consent(other, news, "email", evidence_note=OTHER_NOTE)
    return {"contact": contact, "other": other, "news": news, "calls": calls, "offers": offers}


def run_export(capture, user, **request_fields) -> tuple[Job, zipfile.ZipFile]:
    """File, verify and fulfil a request through the services; the job runs once the transaction commits."""
    request = verified_request(requester_phone="06 12 34 56 78", **request_fields)
    with capture(execute=True):
        job = services.rights_request_fulfil(request=request, by=user)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.error
    with job.output.open("rb") as handle:
        return job, zipfile.ZipFile(io.BytesIO(handle.read()))


def data_of(archive: zipfile.ZipFile) -> dict:
    return json.loads(archive.read("data.json"))


def section(data: dict, label: str) -> dict:
    return next(s for s in data["sources"] if s["source"] == label)


def pdf_text(content: bytes) -> str:
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)
    return re.sub(r"\s+", " ", text)


def expected_labels() -> set[str]:
    labels = set()
    for source in datamap.sources():
        labels.add(source.label)
        if source.history_model is not None:
            labels.add(source.history_model._meta.label)
    return labels


def expected_csv_files() -> dict[str, str]:
    """Model label -> the CSV file named by the data map's slug of the source (or of its history)."""
    return {model._meta.label: f"csv/{source.slug_for(model)}.csv"
            for source in datamap.sources() for model in (source.model, source.history_model) if model is not None}


# --- Access -------------------------------------------------------------------------------------


def test_access_export_holds_every_source_history_and_consent(world, staff_user, django_capture_on_commit_callbacks):
    contact = world["contact"]
    job, archive = run_export(django_capture_on_commit_callbacks, staff_user)
    data = data_of(archive)

    export.export_validator().validate(data)
    assert data["meta"]["kind"] == "access" and data["subjects"] == [{"contact_id": contact.pk}]

    # Every declared source and every simple-history table, each with its CSV.
    assert {s["source"] for s in data["sources"]} == expected_labels()
    assert "consent.HistoricalContact" in expected_labels()
    names = set(archive.namelist())
    assert set(expected_csv_files().values()) <= names
    assert "summary.pdf" in names

    # The contact: each field with its value, its category and the purposes it serves (rule 3: the
    # objected-to offers use identity data only, so the email does not serve them).
    record = section(data, "consent.Contact")["records"][0]
    assert record["fields"]["email"] == {"value": EMAIL, "category": "contact_details",
                                         "purposes": ["exp-calls", "exp-news"]}
    assert record["fields"]["first_name"]["category"] == "identity"
    assert record["fields"]["first_name"]["purposes"] == ["exp-calls", "exp-news", "exp-offers"]
    assert record["fields"]["city"]["value"] == "Lyon" and record["context"]["country"] == "FR"

    # History rows: the creation, the categories set, both changes, with the values of the time.
    rows = list(contact.history.order_by("history_date", "history_id").values_list("history_id", "first_name"))
    history = section(data, "consent.HistoricalContact")
    assert history["history_of"] == "consent.Contact"
    assert len(rows) >= 3 and [r["pk"] for r in history["records"]] == [pk for pk, _name in rows]
    assert [r["fields"]["first_name"]["value"] for r in history["records"]] == [name for _pk, name in rows]
    assert {"Camille", "Camille-Marie"} <= {name for _pk, name in rows}
    assert history["records"][0]["context"]["history_type"] == "+"
    assert all(r["context"]["id"] == contact.pk for r in history["records"])
    categories_history = section(data, "consent.HistoricalContact_data_subject_categories")
    assert categories_history["count"] >= 1
    assert {r["context"]["datasubjectcategory"] for r in categories_history["records"]} == {"customer"}

    # Every ledger event: in the ConsentEvent section, in the consent record, each with its receipt.
    events = list(ConsentEvent.objects.filter(contact=contact).order_by("sequence"))
    assert len(events) == 5
    assert [r["pk"] for r in section(data, "consent.ConsentEvent")["records"]] == [e.pk for e in events]
    ledger_rows = data["consent"]["events"]
    assert [e["event_id"] for e in ledger_rows] == [e.pk for e in events]
    assert [(e["purpose"], e["channel"], e["action"]) for e in ledger_rows] == [
        ("exp-news", "email", "granted"), ("exp-news", "sms", "granted"), ("exp-news", "sms", "withdrawn"),
        ("exp-calls", "phone", "granted"), ("exp-offers", "postal", "objected")]
    assert ledger_rows[0]["notice"] == events[0].notice.sha256 and ledger_rows[0]["hash"] == events[0].hash
    assert {n["sha256"] for n in data["consent"]["notices"]} == {e.notice.sha256 for e in events if e.notice_id}
    # The same receipts as the API's, one per transaction.
    assert data["consent_receipts"] == [receipts.receipt_json(event=e) for e in events]
    current = {(c["purpose"], c["channel"]): c for c in data["consent"]["current"]}
    assert current[("exp-news", "sms")]["status"] == "withdrawn" and not current[("exp-news", "sms")]["allowed"]
    assert current[("exp-calls", "phone")]["allowed"] and current[("exp-offers", "postal")]["status"] == "objected"
    calls_event = section(data, "consent.ConsentEvent")["records"][3]
    assert calls_event["purposes"] == ["exp-calls"]  # rule 2: the event's own purpose
    assert calls_event["fields"]["evidence_note"]["value"] == "Accord donné par téléphone"

    # Art. 15(1) information from the register, and the rights request's own sources.
    info = {p["slug"]: p for p in data["information"]["purposes"]}
    assert set(info) == {"exp-calls", "exp-news", "exp-offers"}
    assert info["exp-offers"]["legal_basis"]["code"] == "legitimate_interests"
    assert info["exp-offers"]["recipients"][0]["name"] == "Imprimerie Routage SA"
    assert {r["code"] for r in data["information"]["rights"]} >= {"rectification", "erasure", "restriction",
                                                                   "objection", "portability", "withdrawal",
                                                                   "complaint"}
    assert section(data, "rights.RightsRequest")["records"][0]["fields"]["requester_email"]["value"] == EMAIL
    # The requests serve the register's "rights-requests" purpose, which this register lacks: they name
    # none, never the contact's marketing purposes.
    assert section(data, "rights.RightsRequest")["declared_purposes"] == ["rights-requests"]
    assert all(r["purposes"] == [] for s in data["sources"] if s["source"].startswith("rights.") for r in s["records"])
    assert "link_key" not in section(data, "rights.RightsRequest")["records"][0]["context"]

    # The job's outcome: one count per section, a download link.
    request = job_request(job)
    assert request.status == Status.COMPLETED and request.outcome
    finished = request.events.get(code=RequestEvent.Code.JOB_FINISHED)
    counts = {c["source"]: c for c in finished.data["counts"]["sources"]}
    assert set(counts) == expected_labels()
    assert counts["consent.ConsentEvent"] == {"source": "consent.ConsentEvent", "count": 5, "action": "exported"}
    assert counts["consent.HistoricalContact"]["count"] == len(rows)
    assert DownloadLink.objects.filter(request=request, job=job).count() == 1


def job_request(job: Job):
    from rights.models import RightsRequest

    return RightsRequest.objects.get(pk=job.params["request_id"])


def test_csv_has_one_row_per_record_and_neutralises_formulas(world, staff_user, django_capture_on_commit_callbacks):
    _job, archive = run_export(django_capture_on_commit_callbacks, staff_user)
    content = archive.read("csv/contact-history.csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(content), delimiter=";"))
    assert len(rows) == world["contact"].history.count() >= 3
    assert rows[-1]["address_line1"] == "'=HYPERLINK(\"http://evil\")"  # the register CSV's excel_safe
    assert rows[0]["phone"] == SHARED_PHONE  # a bare E.164 number is no formula: excel_safe leaves it
    events = list(csv.DictReader(io.StringIO(archive.read("csv/consent-events.csv").decode("utf-8-sig")),
                                 delimiter=";"))
    assert [row["purpose"] for row in events] == ["exp-news", "exp-news", "exp-news", "exp-calls", "exp-offers"]


def test_another_contact_sharing_the_phone_never_appears(world, staff_user, django_capture_on_commit_callbacks):
    other = world["other"]
    _job, archive = run_export(django_capture_on_commit_callbacks, staff_user)
    other_hashes = list(ConsentEvent.objects.filter(contact=other).values_list("hash", flat=True))
    for name in archive.namelist():
        content = archive.read(name)
        text = pdf_text(content) if name.endswith(".pdf") else content.decode("utf-8-sig")
        for secret in (OTHER_EMAIL, OTHER_NAME, OTHER_NOTE, "Dominique", *other_hashes):
            assert secret not in text, f"{secret!r} leaked into {name}"
    data = data_of(archive)
    for item in data["sources"]:
        assert {r["contact_id"] for r in item["records"]} <= {world["contact"].pk}


def test_pdf_summarises_and_shows_the_latest_50_events_only_when_there_are_more(
        world, staff_user, django_capture_on_commit_callbacks):
    contact, news = world["contact"], world["news"]
    long_ago = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
    for day in range(5):  # the oldest five, first in the ledger
        record_consent(contact, news, "email", action="withdrawn" if day % 2 else "granted",
                       method="preference_centre", effective_at=long_ago + timedelta(days=day))
    for index in range(45):
        record_consent(contact, news, "email", action="withdrawn" if index % 2 else "granted",
                       method="preference_centre")
    total = ConsentEvent.objects.filter(contact=contact).count()
    assert total == 55

    _job, archive = run_export(django_capture_on_commit_callbacks, staff_user, language="en")
    text = pdf_text(archive.read("summary.pdf"))
    assert "The 50 latest of your 55 consent events are listed below; data.json holds them all" in text
    assert len(re.findall(r"\bv1\b", text)) == 50  # one per event row ("Purpose n v1")
    # The five oldest are left out: no date of 2024 (a bare "2024" can be a timestamp's microseconds).
    assert not re.search(r"\b2024\b", text)
    assert "Association Les Amis du Patrimoine" in text and "dpo@amis-patrimoine.example" in text
    assert "Imprimerie Routage SA" in text and "CNIL" in text
    assert "Where your data came from" in text and "Your rights" in text
    data = data_of(archive)
    assert len(data["consent"]["events"]) == 55 and len(data["consent_receipts"]) == 55


def test_pdf_lists_every_event_when_there_are_50_or_fewer(world, staff_user, django_capture_on_commit_callbacks):
    _job, archive = run_export(django_capture_on_commit_callbacks, staff_user, language="en")
    text = pdf_text(archive.read("summary.pdf"))
    assert "Your 5 consent events are listed below; data.json holds them all" in text
    assert len(re.findall(r"\bv1\b", text)) == 5
    # The data per purpose x channel, with the answer of consent_check.
    assert "Your data per purpose and channel" in text
    assert "Granted" in text and "Withdrawn" in text and "Objected" in text


def test_every_receipt_is_the_one_consent_receipts_gives(world):
    """The export builds the receipts of a group of similar events from the first one's: each must still
    be exactly receipt_json's (dates, method, action, validity, proof, version and notice changes)."""
    from registry.services import purpose_update

    contact, news, calls = world["contact"], world["news"], world["calls"]
    purpose_update(purpose=calls, consent_validity_months=24)
    long_ago = timezone.now() - timedelta(days=400)
    for index, method in enumerate(["web_form", "staff_form", "api", "paper", "phone", "event"]):
        record_consent(contact, calls, "phone", action="granted" if index % 3 else "withdrawn", method=method,
                       effective_at=long_ago + timedelta(days=index), evidence_ip=f"192.0.2.{index + 1}",
                       evidence_note=f"note {index}", collection_form=f"form-{index % 2}")
    purpose_update(purpose=news, text_en="We send you our newsletter, now monthly.", change_kind="minor")
    for index in range(4):
        record_consent(contact, news, "email", action=("granted", "withdrawn")[index % 2], method="preference_centre",
                       language="en" if index > 1 else None)
    request = verified_request()
    built = export.build_export(request=request)
    events = list(ConsentEvent.objects.filter(contact=contact).order_by("sequence"))
    assert len(events) == 15
    assert built.receipts.items == [receipts.receipt_json(event=e) for e in events]
    assert len({r["purposes"][0]["proof"]["hash"] for r in built.receipts.items}) == 15
    # data.json encodes the parts the receipts share once: the text is still json.dumps's, byte for byte.
    assert export.data_json_text(built) == json.dumps(export.data_json(built), ensure_ascii=False,
                                                      separators=(",", ":"))


# --- Sources declared later --------------------------------------------------------------------


@pytest.fixture
def throwaway_source(world):
    """A source declared in a test, on a model that exists (and keeps history): served by the
    legitimate-interest purpose only."""
    contact = world["contact"]
    source = datamap.declare(
        CollectionForm,
        fields={"name_fr": PersonalField("exp-li-data"), "introduction_fr": PersonalField("exp-li-data")},
        purposes=[world["offers"].slug],
        subject=lambda c: CollectionForm.objects.filter(slug=f"exp-form-{c.pk}"),
        description="A throwaway source of the tests.",
    )
    CollectionForm.objects.create(slug=f"exp-form-{contact.pk}", name_fr="Formulaire de Camille",
                                  introduction_fr="Texte propre à Camille")
    try:
        yield source
    finally:
        datamap._registry.pop(CollectionForm, None)


def test_a_source_declared_later_is_exported_with_its_history(throwaway_source, staff_user,
                                                               django_capture_on_commit_callbacks):
    _job, archive = run_export(django_capture_on_commit_callbacks, staff_user)
    data = data_of(archive)
    export.export_validator().validate(data)
    assert {s["source"] for s in data["sources"]} == expected_labels()
    forms = section(data, "consent.CollectionForm")
    assert forms["declared_purposes"] == ["exp-offers"]
    assert forms["records"][0]["fields"]["name_fr"] == {"value": "Formulaire de Camille", "category": "exp-li-data",
                                                     "purposes": ["exp-offers"]}
    assert section(data, "consent.HistoricalCollectionForm")["count"] == 1
    # No slug declared: one made from the model's label, as stable.
    assert forms["csv"] == "csv/consent-collectionform.csv" in archive.namelist()
    assert section(data, "consent.HistoricalCollectionForm")["csv"] == "csv/consent-collectionform-history.csv"


# --- Portability ------------------------------------------------------------------------------


def test_portability_keeps_only_data_under_consent_or_contract(throwaway_source, staff_user,
                                                               django_capture_on_commit_callbacks):
    job, archive = run_export(django_capture_on_commit_callbacks, staff_user, kind="portability")
    data = data_of(archive)
    export.export_validator().validate(data)
    assert data["meta"]["kind"] == "portability"
    assert "summary.pdf" not in archive.namelist()

    labels = {s["source"] for s in data["sources"]}
    # The legitimate-interest-only source is left out, with its history and CSV.
    assert "consent.CollectionForm" not in labels and "consent.HistoricalCollectionForm" not in labels
    assert "csv/consent-collectionform.csv" not in archive.namelist()
    assert "Formulaire de Camille" not in archive.read("data.json").decode()
    # The ledger: the consent events only, not the objection to the legitimate-interest purpose.
    events = section(data, "consent.ConsentEvent")["records"]
    assert {r["context"]["purpose"] for r in events} == {"exp-news", "exp-calls"} and len(events) == 4
    assert {e["purpose"] for e in data["consent"]["events"]} == {"exp-news", "exp-calls"}
    assert {c["purpose"] for c in data["consent"]["current"]} == {"exp-news", "exp-calls"}
    assert len(data["consent_receipts"]) == 4
    # The contact's identity and contact details serve consent purposes: they are portable.
    contact = section(data, "consent.Contact")["records"][0]["fields"]
    assert contact["email"]["value"] == EMAIL
    assert contact["first_name"]["purposes"] == ["exp-calls", "exp-news"]  # not the LI offers
    assert all(p["portable"] for p in data["purposes"])
    assert "exp-offers" not in {p["slug"] for p in data["information"]["purposes"]}

    request = job_request(job)
    assert request.status == Status.COMPLETED
    assert DownloadLink.objects.filter(request=request).count() == 1


def test_access_keeps_what_portability_leaves_out(throwaway_source, staff_user, django_capture_on_commit_callbacks):
    _job, archive = run_export(django_capture_on_commit_callbacks, staff_user)
    data = data_of(archive)
    assert section(data, "consent.CollectionForm")["count"] == 1
    events = section(data, "consent.ConsentEvent")["records"]
    assert {r["context"]["purpose"] for r in events} == {"exp-news", "exp-calls", "exp-offers"}
    offers = {p["slug"]: p for p in data["purposes"]}["exp-offers"]
    assert offers == {"slug": "exp-offers", "name": offers["name"], "legal_basis": "legitimate_interests",
                      "portable": False}


# --- Running twice, schema, queries --------------------------------------------------------------


def test_running_the_job_again_replaces_the_output(world, staff_user, django_capture_on_commit_callbacks,
                                                   _isolated_files):
    job, archive = run_export(django_capture_on_commit_callbacks, staff_user)
    first = data_of(archive)
    # The worker died after the export: the sweep's claim takes the stale job again.
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING,
                                         heartbeat_at=timezone.now() - timedelta(days=1))
    again = registry_services.job_run(job_id=job.pk)
    assert again.status == Job.Status.DONE and again.attempts == 2
    zips = sorted(p.name for p in _isolated_files.rglob("*.zip"))
    assert zips == [again.output.name.rsplit("/", 1)[-1]]  # the first ZIP was replaced, not kept beside
    with again.output.open("rb") as handle:
        second = data_of(zipfile.ZipFile(io.BytesIO(handle.read())))
    # The contact's data is the same; only the request itself moved on (completed, its certificate issued).
    for data in (first, second):
        data["meta"].pop("generated_at")
        data["sources"] = [s for s in data["sources"] if not s["source"].startswith("rights.")]
        data.pop("files")
    assert first == second
    request = job_request(job)
    assert request.events.filter(code=RequestEvent.Code.JOB_FINISHED).count() == 1
    assert DownloadLink.objects.filter(request=request).count() == 1


def test_schema_catches_a_missing_section_or_field_category(world, staff_user, django_capture_on_commit_callbacks):
    _job, archive = run_export(django_capture_on_commit_callbacks, staff_user)
    data = data_of(archive)
    validator = export.export_validator()
    assert not list(validator.iter_errors(data))

    def broken(change) -> bool:
        copied = copy.deepcopy(data)
        change(copied)
        return bool(list(validator.iter_errors(copied)))

    assert broken(lambda d: d.pop("consent_receipts"))
    assert broken(lambda d: d["information"].pop("rights"))
    assert broken(lambda d: section(d, "consent.Contact")["records"][0]["fields"]["email"].pop("category"))
    assert broken(lambda d: section(d, "consent.Contact")["fields"][0]["category"].pop("label"))
    assert broken(lambda d: section(d, "consent.Contact").pop("records"))
    assert broken(lambda d: d["consent_receipts"][0].pop("purposes"))  # the receipt schema applies too
    assert broken(lambda d: d["meta"].update(kind="erasure"))


def test_the_queries_do_not_grow_with_the_number_of_events(world, staff_user):
    contact, news = world["contact"], world["news"]
    request = verified_request()

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            export.data_json(export.build_export(request=request))
        return len(queries)

    before = count()
    for index in range(30):
        record_consent(contact, news, "email", action="withdrawn" if index % 2 else "granted",
                       method="preference_centre")
    assert count() == before


def test_export_labels_follow_the_request_language(world, staff_user, django_capture_on_commit_callbacks):
    Purpose.objects.filter(slug="exp-offers").update(retention_note="Prescription : 3 ans",
                                                     retention_note_en="Limitation period: 3 years")
    _job, archive = run_export(django_capture_on_commit_callbacks, staff_user, language="en")
    data = data_of(archive)
    assert data["meta"]["language"] == "en"
    assert section(data, "consent.Contact")["label"] == "contacts"
    offers = {p["slug"]: p for p in data["information"]["purposes"]}["exp-offers"]
    assert offers["retention"].endswith("Limitation period: 3 years") and "Prescription" not in offers["retention"]
    with translation.override("en"):  # the job, not the caller's language, decides
        _job, archive_fr = run_export(django_capture_on_commit_callbacks, staff_user, language="fr")
    data_fr = data_of(archive_fr)
    assert data_fr["meta"]["language"] == "fr"
    assert section(data_fr, "consent.Contact")["fields"][0]["label"] == "courriel"
    offers_fr = {p["slug"]: p for p in data_fr["information"]["purposes"]}["exp-offers"]
    assert offers_fr["retention"].endswith("Prescription : 3 ans")


def test_the_register_texts_follow_the_request_language(world, staff_user, django_capture_on_commit_callbacks):
    """The activity's name and what its data categories cover and how long they are kept, in data.json and
    the summary: English ones for an English request, the French ones while none is written."""
    activity = world["offers"].activity
    ProcessingActivity.objects.filter(pk=activity.pk).update(name="Offres aux clients", name_en="Offers to customers")
    activity.data_category_links.update(description="Nom, prénom", description_en="Surname, first name",
                                        retention="3 ans après la dernière commande",
                                        retention_en="3 years after the last order")

    def shown(language):
        _job, archive = run_export(django_capture_on_commit_callbacks, staff_user, language=language)
        offers = {p["slug"]: p for p in data_of(archive)["information"]["purposes"]}["exp-offers"]
        (category,) = offers["data_categories"]
        return (offers["activity"]["name"], category["description"], category["retention"],
                pdf_text(archive.read("summary.pdf")))

    french = ("Offres aux clients", "Nom, prénom", "3 ans après la dernière commande")
    *english, text = shown("en")
    assert tuple(english) == ("Offers to customers", "Surname, first name", "3 years after the last order")
    assert "Offers to customers" in text and "3 years after the last order" in text
    assert not any(french_text in text for french_text in french)
    *in_french, text = shown("fr")
    assert tuple(in_french) == french and "Offres aux clients" in text and "Offers to customers" not in text
    ProcessingActivity.objects.filter(pk=activity.pk).update(name_en="")
    activity.data_category_links.update(description_en="", retention_en="")
    *fallback, text = shown("en")
    assert tuple(fallback) == french and "Offres aux clients" in text


# --- The data subject's document: their language, the register's purposes, readable file names ----------

READABLE_FILES = {
    "consent.Contact": "csv/contact.csv",
    "consent.HistoricalContact": "csv/contact-history.csv",
    "consent.ConsentEvent": "csv/consent-events.csv",
    "consent.ConsentState": "csv/current-consents.csv",
    "consent.HistoricalContact_data_subject_categories": "csv/contact-categories-history.csv",
    "rights.RightsRequest": "csv/rights-requests.csv",
    "rights.HistoricalRightsRequest": "csv/rights-requests-history.csv",
    "rights.RequestEvent": "csv/rights-request-events.csv",
}
# What simple-history and Django name on their own, in English whatever the language.
UNTRANSLATED = ("Historical", "historical", "History date", "History type", "Datasubjectcategory",
                "HistoricalContact_data_subject_categories", "Request:", "Last event")


def squeezed(text: str) -> str:
    """The PDF's text without spaces: WeasyPrint may break a line inside a file name, at its hyphens."""
    return re.sub(r"\s+", "", text)


def test_a_french_request_gets_a_french_summary_and_labels(world, staff_user,
                                                           django_capture_on_commit_callbacks):
    with translation.override("en"):  # whoever runs the job, the request's language decides
        job, archive = run_export(django_capture_on_commit_callbacks, staff_user, language="fr")
    data = data_of(archive)
    text = pdf_text(archive.read("summary.pdf"))
    reference = job_request(job).reference

    # Titles and descriptions from the data map's declarations, simple-history's tables included.
    assert section(data, "consent.HistoricalContact")["label"] == "contacts : historique des modifications"
    assert section(data, "consent.Contact")["description"].startswith("Les personnes concernées : identité")
    assert section(data, "consent.ConsentEvent")["description"].startswith("Le journal des consentements")
    for title in ("Contacts : historique des modifications", "Catégories de personnes concernées : historique des "
                  "modifications", "Demandes d'exercice des droits : historique des modifications",
                  "Le journal des consentements (en ajout seul)", "Les demandes d'exercice des droits du contact"):
        assert title in text
    # Column labels simple-history and Django's many-to-many tables leave unnamed, in French.
    columns = {c["name"]: c["label"] for c in section(data, "consent.HistoricalContact")["context_columns"]}
    assert (columns["history_date"], columns["history_type"]) == ("date de la modification", "type de modification")
    categories = {c["name"]: c["label"]
                  for c in section(data, "consent.HistoricalContact_data_subject_categories")["context_columns"]}
    assert (categories["datasubjectcategory"], categories["history"]) == ("catégorie de personnes concernées",
                                                                          "modification")
    assert "Date de la modification: " in text and "Type de modification: Création" in text
    assert "Catégorie de personnes concernées: customer" in text
    assert f"Demande d'exercice des droits: {reference}" in text  # RequestEvent.request, named after its model
    assert "Échéance: " in text and not re.search(r"\b20\d\d-\d\d-\d\d", text)  # dates as French writes them
    for english in UNTRANSLATED:
        assert english not in text
    for item in data["sources"]:
        labels = [item["label"]] + [f["label"] for f in item["fields"]] + [c["label"] for c in item["context_columns"]]
        assert not any(label.lower().startswith(("history", "historical")) for label in labels), labels


def test_an_english_request_gets_english_labels_the_registers_purposes_and_readable_files(
        world, staff_user, django_capture_on_commit_callbacks):
    PurposeFactory(slug="rights-requests", legal_basis="legal_obligation", name_en="Handling rights requests",
                   channels=[channel("email"), channel("postal")])
    with translation.override("fr"):
        _job, archive = run_export(django_capture_on_commit_callbacks, staff_user, language="en")
    data = data_of(archive)
    export.export_validator().validate(data)
    text = pdf_text(archive.read("summary.pdf"))

    # English labels and descriptions.
    assert section(data, "consent.HistoricalContact")["label"] == "contacts: history of changes"
    assert "Contacts: history of changes" in text and "Data-subject categories: history of changes" in text
    assert "The consent ledger (append-only)" in text
    assert "Date of the change: " in text and "Type of change: Created" in text
    for english in ("Historical", "historical", "History date", "Datasubjectcategory"):
        assert english not in text

    # The rights requests' records serve the register's rights purpose; the contact's records their own.
    for label in ("rights.RightsRequest", "rights.HistoricalRightsRequest", "rights.RequestContact",
                  "rights.RequestEvent"):
        item = section(data, label)
        assert item["declared_purposes"] == ["rights-requests"]
        assert item["records"] and all(r["purposes"] == ["rights-requests"] for r in item["records"]), label
        assert all(f["purposes"] == ["rights-requests"] for f in item["fields"]), label
    assert section(data, "consent.Contact")["records"][0]["purposes"] == ["exp-calls", "exp-news", "exp-offers"]
    info = {p["slug"]: p for p in data["information"]["purposes"]}
    assert info["rights-requests"]["legal_basis"]["code"] == "legal_obligation"
    assert "Handling rights requests" in text

    # Readable CSV names from the data map's slugs, in data.json and beside each source in the summary.
    csv_files = [name for name in archive.namelist() if name.startswith("csv/")]
    assert len(csv_files) == len(data["sources"])
    assert all(re.fullmatch(r"csv/[a-z0-9]+(-[a-z0-9]+)*\.csv", name) for name in csv_files), csv_files
    for label, name in READABLE_FILES.items():
        item = section(data, label)
        assert (item["slug"], item["csv"]) == (name[len("csv/"):-len(".csv")], name) and name in csv_files
    assert "Contacts(csv/contact.csv)" in squeezed(text)
    assert "Contacts:historyofchanges(csv/contact-history.csv)" in squeezed(text)
    assert "consent.HistoricalContact" not in text  # internal names stay in data.json's "source"


def test_the_export_is_built_in_the_requests_language_whoever_calls(world):
    request = verified_request(language="fr")
    with translation.override("en"):
        built = export.build_export(request=request)
        data = export.data_json(built)
    assert data["meta"]["language"] == "fr"
    assert {f["name"]: f["label"] for f in section(data, "consent.Contact")["fields"]}["email"] == "courriel"
    with translation.override("en"):
        text = pdf_text(export.export_pdf(built))
    assert "Vos données personnelles" in text and "Your personal data" not in text
