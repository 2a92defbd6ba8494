"""Consent receipts (ISO/IEC TS 27560 JSON, Kantara CR v1.1, PDF) and a contact's consent record."""
from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from datetime import datetime
from pathlib import Path

import jsonschema
import pypdf
import pytest
from django.utils import timezone
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent import ledger, receipts, services
from consent.models import ConsentEvent
from registry.models import Organisation, ProcessingActivity, Purpose
from tests import factories as f

pytestmark = pytest.mark.django_db

KANTARA_SCHEMA = Path(settings.BASE_DIR).parent / "shared" / "standards" / "kantara-consent-receipt-v1_1-schema.json"
KANTARA_EXAMPLE = KANTARA_SCHEMA.with_name("kantara-consent-receipt-v1_1-example.json")


# --- helpers --------------------------------------------------------------------------------


def kantara_validator() -> jsonschema.Draft4Validator:
    if not KANTARA_SCHEMA.exists():
        pytest.skip(f"Kantara schema not found at {KANTARA_SCHEMA}")
    # The published file has // comment lines: strip them before reading the JSON.
    text = "\n".join(line for line in KANTARA_SCHEMA.read_text(encoding="utf-8").splitlines()
                     if not line.strip().startswith("//"))
    schema = json.loads(text)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def receipt_validator() -> jsonschema.Draft202012Validator:
    schema = receipts.receipt_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def record_validator() -> jsonschema.Draft202012Validator:
    schema = receipts.receipt_schema()
    root = {"$schema": schema["$schema"], "$ref": "#/$defs/contact_record", "$defs": schema["$defs"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def errors(validator, document) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def pdf_text(content: bytes) -> str:
    assert content[:5] == b"%PDF-", content[:40]
    reader = pypdf.PdfReader(io.BytesIO(content))
    # Extraction breaks lines inside table cells: compare on collapsed whitespace.
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def squeezed(text: str) -> str:
    """Without any whitespace: long hashes wrap across lines in the PDF."""
    return "".join(text.split())


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value)


def record(contact, purpose, channel, action="granted", method="web_form", **kwargs) -> ConsentEvent:
    return services.consent_record(contact=contact, purpose=purpose, channel=channel, action=action, method=method,
                                   **kwargs).event


@pytest.fixture
def organisation(db):
    return f.OrganisationFactory(dpo_address="5 rue du Contrôle", dpo_postal_code="75003", dpo_city="Paris")


@pytest.fixture
def contact(db):
    return services.contact_create(email="Ana.Lopez@Example.org", first_name="Ana", last_name="Lopez",
                                   phone="06 12 34 56 78")


@pytest.fixture
def shared_purpose(channels):
    """A consent-based purpose whose activity shares data: health data (Art. 9), a partner, an internal
    service, a processor and a transfer to the US under SCCs."""
    activity = f.ActivityFactory(reference="SHR-01", name="Sorties et voyages")
    f.ActivityDataCategoryFactory(activity=activity, retention="Durée du voyage",
                                  category=f.data_category("contact_details", label_fr="Coordonnées",
                                                           label_en="Contact details"))
    f.ActivityDataCategoryFactory(activity=activity, description="Allergies",
                                  category=f.data_category("health", special_category=True,
                                                           label_fr="Données de santé", label_en="Health data"))
    activity.recipients.add(
        f.RecipientFactory(name="Agence Partenaire", recipient_type=f.ref(
            f.m.RecipientType, "partner", label_fr="Partenaires", label_en="Partners")),
        f.RecipientFactory(name="Trésorerie", recipient_type=f.ref(
            f.m.RecipientType, "internal_service", label_fr="Service interne", label_en="Internal service")),
    )
    activity.processors.add(f.ProcessorFactory(name="HébergeurSûr SAS"))
    f.TransferFactory(activity=activity, recipient_name="MailCloud Inc.",
                      country=f.country("us", adequacy="adequate_certified", iso_code="US",
                                        label_fr="États-Unis", label_en="United States"),
                      safeguard=f.ref(f.m.TransferSafeguard, "scc", gdpr_article="46(2)(c)",
                                      label_fr="Clauses contractuelles types", label_en="Standard contractual clauses"))
    return f.PurposeFactory(activity=activity, slug="trips", name_fr="Voyages de l'association",
                            name_en="Association trips", legal_basis="consent", consent_validity_months=12,
                            channels=[channels["email"]])


# --- ISO/IEC TS 27560 JSON receipt ------------------------------------------------------------


def test_json_receipt_validates_and_names_notice_version_and_legal_basis(organisation, contact, newsletter,
                                                                         channels):
    event = record(contact, newsletter, channels["email"], collection_form="newsletter-footer")
    receipt = receipts.receipt_json(event=event)

    assert errors(receipt_validator(), receipt) == []
    assert receipt["receipt_id"] == str(uuid.uuid5(receipts.RECEIPT_NAMESPACE, event.hash))
    assert receipt["receipt_id"] == receipts.receipt_json(event=event)["receipt_id"]  # stable
    assert receipt["notice"] == {"sha256": event.notice.sha256, "language": "fr", "text": event.notice.text}
    assert newsletter.text_fr in receipt["notice"]["text"]
    assert utc(receipt["timestamp"]) == event.effective_at
    assert receipt["collection_method"] == "web_form" and receipt["collection_form"] == "newsletter-footer"
    assert receipt["pii_principal"] == {"contact_id": contact.pk, "identifier_type": "email",
                                        "identifier": "ana.lopez@example.org"}
    assert receipt["jurisdiction"]["country"] == "FR"
    assert {law["code"] for law in receipt["jurisdiction"]["applicable_law"]} >= {"eu-gdpr", "fr-loi-78-17"}
    controller = receipt["controller"]
    assert controller["name"] == organisation.name and controller["dpo"]["email"] == organisation.dpo_email

    (purpose,) = receipt["purposes"]
    assert purpose["slug"] == "newsletter" and purpose["version"] == 1 and purpose["version_change"] == "initial"
    assert purpose["legal_basis"]["code"] == "consent" and purpose["legal_basis"]["dpv"] == "eu-gdpr:A6-1-a"
    assert purpose["consent_type"] == "expressed"
    assert purpose["channels"][0]["code"] == "email"
    assert purpose["action"] == "granted"
    assert utc(purpose["expires_at"]) == event.effective_at + relativedelta(months=24)
    assert purpose["retention"]["months"] == 36
    assert purpose["proof"]["sequence"] == event.sequence
    assert (purpose["proof"]["hash"], purpose["proof"]["previous_hash"]) == (event.hash, event.previous_hash)


def test_json_receipt_proof_lets_anyone_recompute_the_hash(organisation, contact, newsletter, channels):
    record(contact, newsletter, channels["sms"])
    event = record(contact, newsletter, channels["email"], evidence_ip="203.0.113.7")
    proof = receipts.receipt_json(event=event)["purposes"][0]["proof"]

    material = f"{ledger.DOMAIN_TAG}\n{proof['previous_hash']}\n{ledger.canonical(proof['payload'])}"
    assert hashlib.sha256(material.encode()).hexdigest() == event.hash
    assert proof["content_matches_hash"] is True
    assert "203.0.113.7" not in json.dumps(proof)  # evidence only through its keyed digest


def test_json_receipt_lists_the_register_details_of_the_purpose(organisation, contact, shared_purpose, channels):
    event = record(contact, shared_purpose, channels["email"])
    receipt = receipts.receipt_json(event=event)
    assert errors(receipt_validator(), receipt) == []

    (purpose,) = receipt["purposes"]
    assert purpose["consent_type"] == "explicit"  # Art. 9 data: explicit consent (Art. 9(2)(a))
    assert purpose["sensitive"] is True
    assert {c["code"] for c in purpose["data_categories"]} == {"contact_details", "health"}
    parties = purpose["third_parties"]
    assert {(r["name"], r["internal"]) for r in parties["recipients"]} == {("Agence Partenaire", False),
                                                                           ("Trésorerie", True)}
    assert [p["name"] for p in parties["processors"]] == ["HébergeurSûr SAS"]
    (transfer,) = parties["transfers"]
    assert transfer["recipient"] == "MailCloud Inc." and transfer["country"]["code"] == "US"
    assert transfer["safeguard"]["code"] == "scc" and transfer["safeguard"]["gdpr_article"] == "46(2)(c)"
    assert purpose["consent_validity_months"] == 12


def test_json_receipt_is_in_the_language_of_the_transaction(organisation, newsletter, channels):
    Purpose.objects.filter(pk=newsletter.pk).update(retention_note="Prescription : 3 ans",
                                                    retention_note_en="Limitation period: 3 years",
                                                    legitimate_interest="Intérêt", legitimate_interest_en="Interest")
    english = services.contact_create(email="en@example.org", language="en")
    receipt = receipts.receipt_json(event=record(english, newsletter, channels["sms"]))
    assert receipt["language"] == "en" and receipt["notice"]["language"] == "en"
    assert newsletter.text_en in receipt["notice"]["text"]
    assert receipt["purposes"][0]["name"] == newsletter.name_en
    retention = receipt["purposes"][0]["retention"]
    assert retention["note"] == "Limitation period: 3 years"
    assert retention["text"].endswith("; Limitation period: 3 years")
    assert receipt["purposes"][0]["legitimate_interest"] == "Interest"
    french = services.contact_create(email="fr@example.org")
    assert receipts.receipt_json(event=record(french, newsletter, channels["sms"]))["purposes"][0]["retention"][
        "note"] == "Prescription : 3 ans"
    assert receipt["pii_principal"]["identifier_type"] == "email"  # the contact has no phone


def test_receipts_name_the_activity_and_tell_its_data_in_the_language_of_the_transaction(organisation, shared_purpose,
                                                                                          channels):
    activity = shared_purpose.activity
    ProcessingActivity.objects.filter(pk=activity.pk).update(name_en="Outings and trips")
    activity.data_category_links.filter(category__code="health").update(
        description="Allergies alimentaires", description_en="Food allergies")
    activity.data_category_links.filter(category__code="contact_details").update(retention_en="Length of the trip")
    english = record(services.contact_create(email="en@example.org", language="en"), shared_purpose, channels["email"])
    french = record(services.contact_create(email="fr@example.org"), shared_purpose, channels["email"])

    def shown(event):
        receipt, kantara = receipts.receipt_json(event=event), receipts.receipt_kantara(event=event)
        assert errors(receipt_validator(), receipt) == [] and errors(kantara_validator(), kantara) == []
        (purpose,) = receipt["purposes"]
        data = {c["code"]: c for c in purpose["data_categories"]}
        return (purpose["activity"]["name"], kantara["services"][0]["service"], data["health"]["description"],
                data["contact_details"]["retention"])

    assert shown(english) == ("Outings and trips", "Outings and trips", "Food allergies", "Length of the trip")
    assert shown(french) == ("Sorties et voyages", "Sorties et voyages", "Allergies alimentaires", "Durée du voyage")
    # No English text written: English readers get the French one.
    ProcessingActivity.objects.filter(pk=activity.pk).update(name_en="")
    activity.data_category_links.update(description_en="", retention_en="")
    assert shown(english) == ("Sorties et voyages", "Sorties et voyages", "Allergies alimentaires", "Durée du voyage")


def test_receipt_of_a_withdrawal_says_withdrawn(organisation, contact, newsletter, channels):
    record(contact, newsletter, channels["email"])
    withdrawal = record(contact, newsletter, channels["email"], action="withdrawn", method="unsubscribe")

    receipt = receipts.receipt_json(event=withdrawal)
    assert errors(receipt_validator(), receipt) == []
    assert receipt["purposes"][0]["action"] == "withdrawn"
    assert receipt["purposes"][0]["expires_at"] is None
    assert receipt["collection_method"] == "unsubscribe"
    assert receipt["notice"] is None  # an unsubscribe link shows no notice

    kantara = receipts.receipt_kantara(event=withdrawal)
    assert errors(kantara_validator(), kantara) == []
    termination = kantara["services"][0]["purposes"][0]["termination"]
    # In the contact's language (French here), with the date of the withdrawal.
    assert termination.startswith("Consentement retiré le ") and timezone.localdate(withdrawal.effective_at).isoformat() in termination

    text = pdf_text(receipts.receipt_pdf(event=withdrawal, language="en"))
    assert "Choice Withdrawn" in text


def test_objection_to_an_opt_out_purpose_is_not_a_consent(organisation, postal_appeals, channels, categories):
    donor = services.contact_create(last_name="Martin", address_line1="1 rue Haute", postal_code="75001",
                                    city="Paris", data_subject_categories=[categories["donor"]])
    event = record(donor, postal_appeals, channels["postal"], action="objected", method="paper")

    receipt = receipts.receipt_json(event=event)
    assert errors(receipt_validator(), receipt) == []
    purpose = receipt["purposes"][0]
    assert purpose["legal_basis"]["dpv"] == "eu-gdpr:A6-1-f" and purpose["consent_type"] == "not_applicable"
    assert purpose["withdrawal_methods"] == [] and purpose["action"] == "objected"
    assert receipt["pii_principal"]["identifier_type"] == "contact_id"

    kantara = receipts.receipt_kantara(event=event)
    assert errors(kantara_validator(), kantara) == []
    assert kantara["services"][0]["purposes"][0]["consentType"] == "N/A"
    assert kantara["piiPrincipalId"] == str(donor.pk)


# --- Kantara Consent Receipt v1.1 -------------------------------------------------------------


def test_the_kantara_validator_accepts_the_published_example_and_rejects_a_missing_third_party():
    validator = kantara_validator()
    example = json.loads(KANTARA_EXAMPLE.read_text(encoding="utf-8"))
    assert errors(validator, example) == []
    broken = json.loads(json.dumps(example))
    del broken["services"][0]["purposes"][0]["thirdPartyName"]
    assert errors(validator, broken)


def test_kantara_receipt_without_third_parties(organisation, contact, newsletter, channels):
    event = record(contact, newsletter, channels["email"])
    kantara = receipts.receipt_kantara(event=event)

    assert errors(kantara_validator(), kantara) == []
    assert kantara["version"] == "KI-CR-v1.1.0" and kantara["jurisdiction"] == "FR"
    assert kantara["consentTimestamp"] == int(event.effective_at.timestamp())
    assert isinstance(kantara["consentTimestamp"], int)
    assert kantara["consentReceiptID"] == receipts.receipt_json(event=event)["receipt_id"]
    assert kantara["piiPrincipalId"] == "ana.lopez@example.org"
    # The purpose's public notice, in the receipt's language (the contact's, French here).
    assert kantara["policyUrl"] == "https://dpo-desk.invalid/privacy/newsletter/"
    (controller,) = kantara["piiControllers"]
    assert controller["piiController"] == organisation.name and controller["contact"] == organisation.dpo_name
    (service,) = kantara["services"]
    (purpose,) = service["purposes"]
    assert purpose["thirdPartyDisclosure"] is False and "thirdPartyName" not in purpose
    assert purpose["consentType"] == "EXPRESSED" and purpose["primaryPurpose"] is True
    assert kantara["sensitive"] is False and kantara["spiCat"] == []


def test_kantara_receipt_with_third_parties(organisation, contact, shared_purpose, channels):
    event = record(contact, shared_purpose, channels["email"])
    kantara = receipts.receipt_kantara(event=event, base_url="https://dpo.example.org/")

    assert errors(kantara_validator(), kantara) == []
    purpose = kantara["services"][0]["purposes"][0]
    assert purpose["thirdPartyDisclosure"] is True
    names = purpose["thirdPartyName"]
    assert "Agence Partenaire" in names and "HébergeurSûr SAS" in names and "MailCloud Inc." in names
    assert "Trésorerie" not in names  # the controller's own department is no third party
    assert purpose["consentType"] == "EXPLICIT"
    assert purpose["piiCategory"] == ["2 - Contact", "6 - Health"]
    assert kantara["sensitive"] is True and kantara["spiCat"] == ["6 - Health"]
    assert kantara["policyUrl"] == "https://dpo.example.org/privacy/trips/"


def test_receipts_without_an_organisation_still_validate(contact, newsletter, channels):
    assert not Organisation.objects.exists()
    event = record(contact, newsletter, channels["email"])
    receipt = receipts.receipt_json(event=event)
    assert receipt["controller"] is None and errors(receipt_validator(), receipt) == []
    kantara = receipts.receipt_kantara(event=event)
    assert kantara["piiControllers"] == [] and errors(kantara_validator(), kantara) == []
    text = pdf_text(receipts.receipt_pdf(event=event))
    assert "n'ont pas encore été saisies" in text


# --- PDF receipt ------------------------------------------------------------------------------


def test_pdf_receipt_is_in_french_by_default(organisation, contact, newsletter, channels):
    event = record(contact, newsletter, channels["email"])
    content = receipts.receipt_pdf(event=event)
    reader = pypdf.PdfReader(io.BytesIO(content))
    assert 1 <= len(reader.pages) <= 2
    text = pdf_text(content)

    assert organisation.name in text and organisation.dpo_name in text
    assert "Responsable de traitement" in text and "Délégué à la protection des données" in text
    assert newsletter.name_fr in text
    assert newsletter.text_fr in text  # the full notice shown
    assert "Ana Lopez" in text and "ana.lopez@example.org" in text
    assert "CNIL" in text
    assert event.hash in squeezed(text) and event.notice.sha256 in squeezed(text)
    termination = receipts.receipt_json(event=event)["purposes"][0]["termination"]["text"]
    assert "Comment il prend fin" in text and squeezed(termination) in squeezed(text)


def test_pdf_receipt_in_english(organisation, contact, newsletter, channels):
    event = record(contact, newsletter, channels["email"])
    text = pdf_text(receipts.receipt_pdf(event=event, language="en"))

    assert organisation.name in text
    assert "Controller" in text and "Data protection officer" in text
    assert newsletter.name_en in text
    assert newsletter.text_fr in text  # the notice stays in the language it was shown in
    assert "preference centre" in text and "CNIL" in text
    assert event.hash in squeezed(text)
    assert "How it ends" in text and "unless withdrawn earlier" in text  # the termination, in English


# --- the contact's whole record ---------------------------------------------------------------


def test_contact_record_lists_every_event_in_order_and_the_current_status(organisation, contact, newsletter,
                                                                          channels):
    other = services.contact_create(email="other@example.org")
    first = record(contact, newsletter, channels["email"])
    record(other, newsletter, channels["email"])
    second = record(contact, newsletter, channels["sms"])
    third = record(contact, newsletter, channels["email"], action="withdrawn", method="preference_centre")

    data = receipts.contact_record_json(contact=contact)
    assert errors(record_validator(), data) == []
    assert [e["event_id"] for e in data["events"]] == [first.pk, second.pk, third.pk]
    assert [e["proof"]["sequence"] for e in data["events"]] == sorted(e["proof"]["sequence"] for e in data["events"])
    assert [e["action"] for e in data["events"]] == ["granted", "granted", "withdrawn"]
    assert data["events"][0]["receipt_id"] == receipts.receipt_json(event=first)["receipt_id"]
    # Both grants showed the same text: it is listed once, and each event points at it.
    assert [n["sha256"] for n in data["notices"]] == [first.notice.sha256]
    assert data["events"][0]["notice"] == data["events"][1]["notice"] == first.notice.sha256
    assert data["events"][2]["notice"] is None

    current = {(c["purpose"], c["channel"]): c for c in data["current_consents"]}
    assert set(current) == {("newsletter", "email"), ("newsletter", "sms")}
    assert current["newsletter", "email"]["status"] == "withdrawn"
    assert current["newsletter", "email"]["allowed"] is False
    assert current["newsletter", "email"]["reason"] == "withdrawn"
    assert current["newsletter", "sms"]["status"] == "granted" and current["newsletter", "sms"]["allowed"] is True
    assert data["integrity"] == {"events": 3, "all_hashes_match": True}
    assert data["contact"]["email"] == "ana.lopez@example.org"


def test_contact_record_pdf_is_a_certificate_with_every_proof(organisation, contact, newsletter, channels):
    events = [record(contact, newsletter, channels["email"]),
              record(contact, newsletter, channels["email"], action="withdrawn", method="unsubscribe")]
    text = pdf_text(receipts.contact_record_pdf(contact=contact, language="en"))

    assert "Consent record certificate" in text
    assert organisation.name in text and "Ana Lopez" in text
    assert newsletter.name_en in text and newsletter.text_fr in text
    assert "Withdrawn" in text and "2 entries" in text and "every one matches" in text
    for event in events:
        assert event.hash in squeezed(text)

    french = pdf_text(receipts.contact_record_pdf(contact=contact))
    assert newsletter.name_fr in french and "Responsable de traitement" in french


def test_contact_without_events_has_an_empty_record(organisation, contact):
    data = receipts.contact_record_json(contact=contact)
    assert errors(record_validator(), data) == []
    assert data["events"] == [] and data["current_consents"] == []
    assert pdf_text(receipts.contact_record_pdf(contact=contact, language="en")).count("No choice recorded.") == 2


# --- bounded queries --------------------------------------------------------------------------


def count_queries(function) -> int:
    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured)


def test_receipt_queries_do_not_grow_with_the_register(organisation, contact, newsletter, shared_purpose,
                                                       channels):
    small = record(contact, newsletter, channels["email"])
    large = record(contact, shared_purpose, channels["email"])
    assert count_queries(lambda: receipts.receipt_json(event=small)) <= 7
    assert count_queries(lambda: receipts.receipt_json(event=large)) <= 7
    assert count_queries(lambda: receipts.receipt_kantara(event=large)) <= 7


def test_record_queries_do_not_grow_with_the_number_of_events(organisation, contact, newsletter, channels):
    record(contact, newsletter, channels["email"])
    record(contact, newsletter, channels["sms"])
    few = count_queries(lambda: receipts.contact_record_json(contact=contact))
    for _ in range(4):
        record(contact, newsletter, channels["email"], action="withdrawn", method="preference_centre")
        record(contact, newsletter, channels["email"])
    many = count_queries(lambda: receipts.contact_record_json(contact=contact))
    assert len(receipts.contact_record_json(contact=contact)["events"]) == 10
    assert many == few


def test_the_shipped_schema_names_its_draft_and_required_fields():
    schema = receipts.receipt_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"receipt_id", "schema_version", "pii_principal", "controller", "jurisdiction", "timestamp",
            "recorded_at", "collection_method", "language", "notice", "purposes"} <= set(schema["required"])
    assert re.fullmatch(r"[0-9a-f-]{36}", str(receipts.RECEIPT_NAMESPACE))


# --- termination (ISO/IEC TS 27560) ----------------------------------------------------------


def test_termination_of_a_consent_with_a_validity_period_is_its_expiry(organisation, contact, newsletter,
                                                                       channels):
    event = record(contact, newsletter, channels["email"])
    receipt = receipts.receipt_json(event=event)

    assert errors(receipt_validator(), receipt) == []
    termination = receipt["purposes"][0]["termination"]
    expiry = event.effective_at + relativedelta(months=24)
    assert termination["kind"] == "until_time" and termination["dpv"] == "dpv:UntilTimeDuration"
    assert utc(termination["ends_at"]) == expiry == utc(receipt["purposes"][0]["expires_at"])
    # In the transaction's language (French), with the local date of the expiry.
    assert termination["text"] == f"Jusqu'au {timezone.localdate(expiry).isoformat()}, sauf retrait avant."


def test_termination_without_a_validity_period_is_until_withdrawn(organisation, contact, channels):
    open_ended = f.PurposeFactory(slug="club-news", legal_basis="consent", consent_validity_months=None,
                                  channels=[channels["email"]])
    receipt = receipts.receipt_json(event=record(contact, open_ended, channels["email"]))
    assert errors(receipt_validator(), receipt) == []
    assert receipt["purposes"][0]["termination"] == {"kind": "until_withdrawn", "dpv": "dpv:UntilEventDuration",
                                                     "ends_at": None, "text": "Jusqu'au retrait du consentement."}

    english = services.contact_create(email="en@example.org", language="en")
    receipt = receipts.receipt_json(event=record(english, open_ended, channels["email"]))
    assert receipt["purposes"][0]["termination"]["text"] == "Until withdrawn."


def test_termination_of_a_withdrawal_and_of_an_objection(organisation, contact, newsletter, postal_appeals,
                                                         channels, categories):
    record(contact, newsletter, channels["email"])
    withdrawal = record(contact, newsletter, channels["email"], action="withdrawn", method="unsubscribe")
    receipt = receipts.receipt_json(event=withdrawal)
    assert errors(receipt_validator(), receipt) == []
    termination = receipt["purposes"][0]["termination"]
    assert (termination["kind"], utc(termination["ends_at"])) == ("ended", withdrawal.effective_at)
    assert termination["dpv"] == ""
    assert termination["text"] == f"Consentement retiré le {timezone.localdate(withdrawal.effective_at).isoformat()}."

    donor = services.contact_create(last_name="Martin", address_line1="1 rue Haute", postal_code="75001",
                                    city="Paris", data_subject_categories=[categories["donor"]])
    objection = receipts.receipt_json(event=record(donor, postal_appeals, channels["postal"], action="objected",
                                                   method="paper"))
    assert errors(receipt_validator(), objection) == []
    assert objection["purposes"][0]["termination"]["kind"] == "not_applicable"
    assert objection["purposes"][0]["termination"]["ends_at"] is None


def test_the_schema_requires_termination_and_its_end_date(organisation, contact, newsletter, channels):
    receipt = receipts.receipt_json(event=record(contact, newsletter, channels["email"]))
    validator = receipt_validator()

    without = json.loads(json.dumps(receipt))
    del without["purposes"][0]["termination"]
    assert any("'termination' is a required property" in e for e in errors(validator, without))
    undated = json.loads(json.dumps(receipt))
    undated["purposes"][0]["termination"]["ends_at"] = None
    assert errors(validator, undated)
    dated_open_end = json.loads(json.dumps(receipt))
    dated_open_end["purposes"][0]["termination"]["kind"] = "until_withdrawn"
    assert errors(validator, dated_open_end)  # until withdrawn has no end date


def test_termination_of_a_pending_double_opt_in_counts_from_the_confirmation(organisation, contact, newsletter,
                                                                            channels):
    receipt = receipts.receipt_json(event=record(contact, newsletter, channels["email"], action="pending"))
    assert errors(receipt_validator(), receipt) == []
    assert receipt["purposes"][0]["termination"] == {
        "kind": "temporal", "dpv": "dpv:TemporalDuration", "ends_at": None,
        "text": "24 mois à compter de la confirmation, sauf retrait avant."}
