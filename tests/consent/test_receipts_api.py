"""Receipts and the contact record through the API."""
import io
import json
from pathlib import Path

import jsonschema
import pytest
from pypdf import PdfReader
from rest_framework.test import APIClient

from consent import services
from tests.api_clients import client_for as api_for

pytestmark = pytest.mark.django_db
KANTARA_SCHEMA = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / \
    "kantara-consent-receipt-v1_1-schema.json"


@pytest.fixture
def event(newsletter, channels):
    from tests.factories import OrganisationFactory

    OrganisationFactory()
    contact = services.contact_create(email="receipt@example.org", first_name="Rita")
    return services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action="granted",
                                   method="web_form").event


def test_json_kantara_and_pdf_receipts(event, staff_user, newsletter):
    api = api_for(staff_user)
    base = f"/api/v1/consent/events/{event.pk}/receipt/"
    receipt = api.get(base, {"format": "json"})
    assert receipt.status_code == 200 and event.hash in json.dumps(receipt.json())
    kantara = api.get(base, {"format": "kantara"})
    assert kantara.status_code == 200
    if KANTARA_SCHEMA.exists():
        lines = [line for line in KANTARA_SCHEMA.read_text().splitlines() if not line.lstrip().startswith("//")]
        jsonschema.Draft4Validator(json.loads("\n".join(lines))).validate(kantara.json())
    pdf = api.get(base, {"format": "pdf", "language": "en"})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert newsletter.name_en in text and event.hash[:16] in text.replace("\n", "")


def test_a_client_naming_the_document_in_its_accept_header_gets_it(event, staff_user, integration_user,
                                                                   newsletter):
    """The format parameter chooses the document: an Accept header naming its type (as clients
    generated from the OpenAPI send) gets it, not a 406; an error is JSON whatever Accept says."""
    api = api_for(staff_user)
    pdf = api.get(f"/api/v1/consent/events/{event.pk}/receipt/", {"format": "pdf"}, HTTP_ACCEPT="application/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    record = api.get(f"/api/v1/consent/contacts/{event.contact_id}/record/", {"format": "pdf"},
                     HTTP_ACCEPT="application/pdf")
    assert record.status_code == 200 and record.content.startswith(b"%PDF")
    systems = api_for(integration_user)
    for fmt, accept in (("csv", "text/csv"), ("ndjson", "application/x-ndjson")):
        audience = systems.get("/api/v1/consent/audience/", {"purpose": newsletter.slug, "channel": "email",
                                                             "format": fmt}, HTTP_ACCEPT=accept)
        assert audience.status_code == 200 and audience["Content-Type"].startswith(accept)
        assert b"receipt@example.org" in b"".join(audience.streaming_content)
    bad = systems.get("/api/v1/consent/audience/", {"purpose": "nope", "channel": "email", "format": "csv"},
                      HTTP_ACCEPT="text/csv")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/json"
    assert "purpose" in bad.json()["errors"]


def test_receipt_bad_format_is_400_and_unknown_event_404(event, staff_user):
    api = api_for(staff_user)
    bad = api.get(f"/api/v1/consent/events/{event.pk}/receipt/", {"format": "docx"})
    assert bad.status_code == 400 and "format" in bad.json()["errors"]
    assert api.get("/api/v1/consent/events/999999/receipt/").status_code == 404


def test_contact_record_json_and_pdf(event, auditor_user):
    api = api_for(auditor_user)
    record = api.get(f"/api/v1/consent/contacts/{event.contact_id}/record/")
    assert record.status_code == 200 and event.hash in json.dumps(record.json())
    pdf = api.get(f"/api/v1/consent/contacts/{event.contact_id}/record/", {"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_anonymous_cannot_read_receipts_or_records(event):
    client = APIClient()
    for url in (f"/api/v1/consent/contacts/{event.contact_id}/record/", f"/api/v1/consent/events/{event.pk}/receipt/"):
        response = client.get(url)
        assert (response.status_code, response.get("WWW-Authenticate")) == (401, "Token"), url


def test_nul_characters_and_huge_limits_are_400_or_bounded(dpo_user, newsletter):
    api = api_for(dpo_user)
    response = api.post("/api/v1/registry/purposes/", {"activity": "T\x00", "slug": "x", "name_fr": "x",
                                                        "name_en": "x", "text_fr": "x", "text_en": "x"}, format="json")
    assert response.status_code == 400
    listing = api.get("/api/v1/registry/purposes/", {"limit": 2 ** 63})
    assert listing.status_code == 200
