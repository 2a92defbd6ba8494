"""The register API: field errors with 400, never a 500; versioning through the API; export and jobs."""
import json

import pytest
from rest_framework.test import APIClient

from registry.models import Job, ProcessingActivity, Purpose
from tests.factories import ActivityDataCategoryFactory, ActivityFactory, PurposeFactory, channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(dpo_user):
    client = APIClient()
    client.force_authenticate(dpo_user)
    return client


def purpose_payload(activity_obj, **overrides):
    payload = {"activity": activity_obj.reference, "slug": "newsletter-x", "name_fr": "Lettre", "name_en": "Newsletter",
               "text_fr": "Nous vous écrivons.", "text_en": "We write to you.", "legal_basis": "consent",
               "channels": ["email"], "retention_months": 36, "retention_start": "last_contact"}
    payload.update(overrides)
    return payload


def test_create_purpose(api):
    activity = ActivityFactory()
    channel("email")
    response = api.post("/api/v1/registry/purposes/", purpose_payload(activity), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 1 and body["legal_basis_dpv"] == "eu-gdpr:A6-1-a" and body["channels"] == ["email"]
    assert Purpose.objects.get(slug="newsletter-x").versions.count() == 1


def test_purpose_retention_notes_in_both_languages(api):
    activity = ActivityFactory()
    channel("email")
    created = api.post("/api/v1/registry/purposes/", purpose_payload(
        activity, retention_note="Prescription : 3 ans", retention_note_en="Limitation period: 3 years"), format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["retention_note"], created.json()["retention_note_en"]) == (
        "Prescription : 3 ans", "Limitation period: 3 years")
    changed = api.patch("/api/v1/registry/purposes/newsletter-x/", {"retention_note_en": "3 years"}, format="json")
    assert changed.status_code == 200 and changed.json()["version"] == 1  # not part of the versioned text
    assert Purpose.objects.get(slug="newsletter-x").retention_note_en == "3 years"


@pytest.mark.parametrize("overrides,field", [
    ({"legal_basis": "because"}, "legal_basis"),
    ({"channels": ["carrier-pigeon"]}, "channels"),
    ({"activity": "NOPE"}, "activity"),
    ({"slug": "has spaces!"}, "slug"),
    ({"retention_months": -3}, "retention_months"),
    ({"retention_months": "many"}, "retention_months"),
    ({"text_fr": ""}, "text_fr"),
    ({"legal_basis": "legitimate_interests", "legitimate_interest": ""}, "legitimate_interest"),
    ({"retention_start": ""}, "retention_start"),
])
def test_bad_purpose_input_gets_400_with_field_errors(api, overrides, field):
    activity = ActivityFactory()
    channel("email")
    response = api.post("/api/v1/registry/purposes/", purpose_payload(activity, **overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Purpose.objects.filter(slug=purpose_payload(activity, **overrides)["slug"]).exists()


def test_non_json_body_gets_400(api):
    response = api.generic("POST", "/api/v1/registry/purposes/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "errors" in response.json()


def test_a_body_nested_too_deeply_gets_400(api):
    response = api.generic("POST", "/api/v1/registry/purposes/", "[" * 100_000 + "]" * 100_000,
                           content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in str(response.json()["errors"]) or "imbriqué" in str(response.json()["errors"])


@pytest.mark.parametrize("path", ["/api/v1/registry/purposes/", "/api/v1/consent/events/"])
def test_a_body_over_the_upload_limit_gets_a_json_413(api, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    body = json.dumps({"email": "a@example.org", "purpose": "x" * 2_000, "channel": "email", "action": "granted",
                       "method": "api", "slug": "y" * 2_000})
    response = api.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "1000" in response.json()["errors"]["body"][0]


def test_duplicate_slug_gets_400(api):
    existing = PurposeFactory(slug="dup")
    response = api.post("/api/v1/registry/purposes/", purpose_payload(existing.activity, slug="dup"), format="json")
    assert response.status_code == 400 and "slug" in response.json()["errors"]


def test_text_change_through_api_needs_change_kind_then_bumps_version(api):
    purpose = PurposeFactory(slug="news")
    refused = api.patch("/api/v1/registry/purposes/news/", {"text_fr": "Nouveau texte"}, format="json")
    assert refused.status_code == 400 and "change_kind" in refused.json()["errors"]
    accepted = api.patch("/api/v1/registry/purposes/news/", {"text_fr": "Nouveau texte", "change_kind": "material"},
                         format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["version"] == 2
    assert [v["version"] for v in accepted.json()["versions"]] == [2, 1]
    purpose.refresh_from_db()
    assert purpose.version == 2


def test_activity_create_and_bad_reference(api):
    ok = api.post("/api/v1/registry/activities/", {"reference": "T-900", "name": "Paie", "status": "active"},
                  format="json")
    assert ok.status_code == 201, ok.content
    assert ok.json()["completeness_problems"]  # no purpose yet
    bad = api.post("/api/v1/registry/activities/", {"reference": "bad ref/", "name": "", "status": "zombie"},
                   format="json")
    assert bad.status_code == 400
    assert {"reference", "name", "status"} <= set(bad.json()["errors"])


def test_activity_english_name_and_data_category_texts(api):
    ok = api.post("/api/v1/registry/activities/", {"reference": "T-901", "name": "Paie", "name_en": "Payroll",
                                                   "status": "active"}, format="json")
    assert ok.status_code == 201, ok.content
    assert (ok.json()["name"], ok.json()["name_en"]) == ("Paie", "Payroll")
    ActivityDataCategoryFactory(activity=ProcessingActivity.objects.get(reference="T-901"),
                                description="Nom", description_en="Name", retention="5 ans", retention_en="5 years")
    (link,) = api.get("/api/v1/registry/activities/T-901/").json()["data_categories"]
    assert (link["description"], link["description_en"], link["retention"], link["retention_en"]) == (
        "Nom", "Name", "5 ans", "5 years")


def test_register_export_formats_and_bad_format(api):
    PurposeFactory()
    csv_response = api.get("/api/v1/registry/export/", {"format": "csv"})
    assert csv_response.status_code == 200 and csv_response["Content-Type"].startswith("text/csv")
    accepted = api.get("/api/v1/registry/export/", {"format": "csv"}, HTTP_ACCEPT="text/csv")  # not a 406
    assert accepted.status_code == 200 and accepted.content == csv_response.content
    bad = api.get("/api/v1/registry/export/", {"format": "docx"})
    assert bad.status_code == 400 and "format" in bad.json()["errors"]
    missing = api.get("/api/v1/registry/export/")
    assert missing.status_code == 400


def test_register_pdf_export_answers_202_with_the_job(api, django_capture_on_commit_callbacks):
    PurposeFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/registry/export/", {"format": "pdf"}, format="json")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == "register_pdf"
    followed = api.get(f"/api/v1/jobs/{job.pk}/")
    assert followed.status_code == 200
    assert followed.json()["status"] == "done", followed.json()
    assert "/jobs/%d/download/?token=" % job.pk in followed.json()["download_url"]


def test_register_pdf_export_bad_format_gets_400(api):
    response = api.post("/api/v1/registry/export/", {"format": "xls"}, format="json")
    assert response.status_code == 400 and "format" in response.json()["errors"]
    assert not Job.objects.exists()


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/registry/purposes/" in schema.content and b"/api/v1/registry/export/" in schema.content
    assert client.get("/api/docs/").status_code == 200
