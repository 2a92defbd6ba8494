"""The rights API (design §4): list, file, read and act on requests; who may call what; bad input
is a 400 naming the field, an action out of turn is a 400 with the services' message."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from registry.models import Job
from rights import services
from rights.models import RequestEvent, RightsRequest, Status
from tests.api_clients import client_for, token_client
from tests.factories import ContactFactory, PurposeFactory

from .factories import staff_request, verified_request, web_request

pytestmark = pytest.mark.django_db

REQUESTS = "/api/v1/rights/requests/"


def url(request, action: str = "") -> str:
    reference = request if isinstance(request, str) else request.reference
    return f"{REQUESTS}{reference}/" + (f"{action}/" if action else "")


@pytest.fixture
def staff(staff_user):
    return client_for(staff_user)


@pytest.fixture
def dpo(dpo_user):
    return client_for(dpo_user)


@pytest.fixture
def auditor(auditor_user):
    return client_for(auditor_user)


@pytest.fixture
def crm(integration_user):
    return token_client(integration_user)


@pytest.fixture
def camille(db):
    return ContactFactory(email="camille.durand@example.org", phone="+33612345678", first_name="Camille",
                          last_name="Durand")


def payload(**overrides):
    data = {"kind": "access", "requester_name": "Camille Durand", "requester_email": "camille.durand@example.org"}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def errors(response) -> dict:
    assert response.status_code == 400, (response.status_code, response.content)
    return response.json()["errors"]


# --- who may call what ---------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [
    ("get", REQUESTS), ("post", REQUESTS), ("get", REQUESTS + "DR-AAAA-BBBB-CCCC/"),
    ("post", REQUESTS + "DR-AAAA-BBBB-CCCC/fulfil/"),
])
def test_anonymous_gets_401(method, path):
    response = getattr(APIClient(), method)(path, {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_auditor_reads_but_neither_files_nor_acts(auditor, staff_user):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    assert auditor.get(REQUESTS).json()["count"] == 1
    assert auditor.get(url(request)).status_code == 200
    assert auditor.post(REQUESTS, payload(), format="json").status_code == 403
    for action, body in [("verify", {"method": "id_document", "note": "seen"}), ("fulfil", {}),
                         ("reject", {"reason_code": "excessive", "text": "x"}),
                         ("extend", {"months": 1, "reason": "x"}), ("ask", {"question": "x"})]:
        assert auditor.post(url(request, action), body, format="json").status_code == 403, action
    request.refresh_from_db()
    assert request.status == Status.RECEIVED
    assert list(request.events.values_list("code", flat=True)) == ["received"]


def test_integration_files_by_token_and_sees_only_its_own(crm, integration_user, staff_user):
    others = staff_request(by=staff_user, email="someone@example.org")
    response = crm.post(REQUESTS, payload(kind="erasure", requester_phone="06 12 34 56 78"), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    created = RightsRequest.objects.get(reference=body["reference"])
    assert (created.received_via, created.status, created.created_by) == ("api", Status.RECEIVED, integration_user)
    assert created.requester_phone == "+33612345678"
    assert response["Location"].endswith(url(created))
    listed = crm.get(REQUESTS).json()
    assert [row["reference"] for row in listed["results"]] == [created.reference]
    assert crm.get(url(created)).status_code == 200
    assert crm.get(url(others)).status_code == 404
    # Filing is not handling: no action for another system.
    assert crm.post(url(created, "verify"), {"method": "id_document", "note": "x"}, format="json").status_code == 403
    assert crm.post(url(created, "fulfil"), {}, format="json").status_code == 403


def test_staff_and_dpo_see_every_request(staff, dpo, crm, staff_user):
    crm.post(REQUESTS, payload(), format="json")
    staff_request(by=staff_user, email="other@example.org")
    assert staff.get(REQUESTS).json()["count"] == 2
    assert dpo.get(REQUESTS).json()["count"] == 2


# --- list --------------------------------------------------------------------------------


def test_list_has_the_minimum_of_personal_data_most_urgent_first(staff, staff_user):
    now = timezone.now()
    fresh = staff_request(by=staff_user, email="fresh@example.org")
    late = staff_request(by=staff_user, email="late@example.org", received_at=now - timedelta(days=40))
    soon = staff_request(by=staff_user, email="soon@example.org", received_at=now - timedelta(days=27))
    closed = staff_request(by=staff_user, email="closed@example.org", received_at=now - timedelta(days=60))
    services.rights_request_reject(request=closed, reason_code="excessive", text="Fifth identical request.",
                                   by=staff_user)
    response = staff.get(REQUESTS)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["reference"] for row in rows] == [late.reference, soon.reference, fresh.reference, closed.reference]
    assert [row["urgency"] for row in rows] == ["overdue", "due_soon", "ok", "closed"]
    assert set(rows[0]) == {"reference", "kind", "status", "received_via", "received_at", "due_on", "urgency",
                            "assignee", "closed_at", "url"}
    assert "late@example.org" not in response.content.decode()
    assert rows[0]["url"].endswith(url(late))


def test_list_filters(staff, staff_user):
    now = timezone.now()
    access = staff_request(by=staff_user, email="a@example.org")
    erasure = staff_request(by=staff_user, email="b@example.org", kind="erasure", received_at=now - timedelta(days=40))
    rejected = staff_request(by=staff_user, email="c@example.org")
    services.rights_request_reject(request=rejected, reason_code="excessive", text="Repeated.", by=staff_user)

    def refs(**params):
        return {row["reference"] for row in staff.get(REQUESTS, params).json()["results"]}

    assert refs(kind="erasure") == {erasure.reference}
    assert refs(status="rejected") == {rejected.reference}
    assert refs(open="true") == {access.reference, erasure.reference}
    assert refs(open="false") == {rejected.reference}
    assert refs(urgency="overdue") == {erasure.reference}
    assert refs(due_before=(erasure.due_on).isoformat()) == {erasure.reference}
    assert "kind" in errors(staff.get(REQUESTS, {"kind": "complaint"}))


# --- create ------------------------------------------------------------------------------


def test_staff_files_a_rectification_with_purposes_by_slug(staff, staff_user, reference_data):
    mailing = PurposeFactory(slug="mailing")
    response = staff.post(REQUESTS, payload(
        kind="rectification", received_via="post", language="en", purposes=["mailing"],
        rectifications=[{"field": "city", "value": "Lyon"}, {"field": "last_name", "value": "Durand-Martin"}],
    ), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    request = RightsRequest.objects.get(reference=body["reference"])
    assert (request.received_via, request.language, request.created_by) == ("post", "en", staff_user)
    assert list(request.purposes.all()) == [mailing]
    assert [(r["field"], r["value"], r["decision"]) for r in body["rectifications"]] == [
        ("city", "Lyon", "pending"), ("last_name", "Durand-Martin", "pending")]
    assert body["purposes"] == ["mailing"]
    assert [event["code"] for event in body["timeline"]] == ["received"]
    assert body["timeline"][0]["user"] == staff_user.username


def test_received_at_sets_the_deadline(staff):
    received = timezone.now() - timedelta(days=3)
    body = staff.post(REQUESTS, payload(received_at=received.isoformat()), format="json").json()
    request = RightsRequest.objects.get(reference=body["reference"])
    assert request.received_at == received
    assert body["due_on"] == services.due_date_of(request).isoformat()


@pytest.mark.parametrize("overrides, field", [
    ({"kind": "complaint"}, "kind"),
    ({"kind": None}, "kind"),
    ({"requester_email": "not-an-email"}, "requester_email"),
    ({"requester_email": ""}, "requester_email"),  # filed through the API: an email to answer to
    ({"requester_phone": "12"}, "requester_phone"),
    ({"requester_name": ""}, "requester_name"),
    ({"received_via": "web_form"}, "received_via"),
    ({"language": "de"}, "language"),
    ({"purposes": ["no-such-purpose"]}, "purposes"),
    ({"kind": "rectification"}, "rectifications"),
    ({"kind": "rectification", "rectifications": [{"field": "password", "value": "x"}]}, "rectifications"),
    ({"kind": "rectification", "rectifications": [{"field": "city"}]}, "rectifications"),
    ({"kind": "rectification", "rectifications": [{"field": "country", "value": "Narnia"}]}, "rectifications"),
    ({"kind": "rectification", "rectifications": [{"field": "phone", "value": "123"}]}, "rectifications"),
    ({"rectifications": [{"field": "city", "value": "Lyon"}]}, "rectifications"),
    ({"on_behalf": True}, "subject_name"),
    ({"on_behalf": True, "subject_name": "Léa Durand", "representative_capacity": "cousin"},
     "representative_capacity"),
    ({"received_at": "2999-01-01T00:00:00Z"}, "received_at"),
    ({"requester_name": "Ca\x00mille"}, "requester_name"),
])
def test_bad_input_is_a_400_naming_the_field(staff, overrides, field):
    response = staff.post(REQUESTS, payload(**overrides), format="json")
    assert field in errors(response), response.json()
    assert not RightsRequest.objects.exists()


def test_a_body_that_is_not_json_is_a_400(staff):
    response = staff.post(REQUESTS, "{not json", content_type="application/json")
    assert "body" in errors(response)


# --- detail ------------------------------------------------------------------------------


def test_detail_has_timeline_contacts_due_date_tasks_and_job(staff, camille):
    request = verified_request()
    response = staff.get(url(request))
    assert response.status_code == 200
    body = response.json()
    assert body["reference"] == request.reference
    assert body["contacts"] == [camille.pk]
    assert body["due_on"] == request.due_on.isoformat()
    assert [event["code"] for event in body["timeline"]] == ["received", "verification_sent", "verified",
                                                             "contact_added"]
    assert body["tasks"] == [] and body["job"] is None
    assert body["requester_email"] == "camille.durand@example.org"
    # References are typed from letters: lower case finds them too.
    assert staff.get(url(request.reference.lower())).json()["reference"] == request.reference


def test_unknown_reference_is_404(staff):
    assert staff.get(url("DR-AAAA-BBBB-CCCC")).status_code == 404
    assert staff.post(url("DR-AAAA-BBBB-CCCC", "reject"), {"reason_code": "excessive", "text": "x"},
                      format="json").status_code == 404


# --- actions -----------------------------------------------------------------------------


def test_verify_matches_the_email_only_never_the_phone(staff, staff_user, camille):
    same_phone = ContactFactory(email="partner@example.org", phone="+33612345678")
    request = staff_request(by=staff_user, email="camille.durand@example.org", requester_phone="0612345678")
    response = staff.post(url(request, "verify"), {"method": "id_document", "note": "ID card seen at the desk"},
                          format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "verified" and body["verification_method"] == "id_document"
    assert body["contacts"] == [camille.pk]
    assert same_phone.pk not in body["contacts"]
    verified = next(e for e in body["timeline"] if e["code"] == "verified")
    assert (verified["user"], verified["text"]) == (staff_user.username, "ID card seen at the desk")


@pytest.mark.parametrize("body, field", [
    ({"method": "email_link", "note": "x"}, "method"),
    ({"method": "telepathy", "note": "x"}, "method"),
    ({"method": "id_document"}, "note"),
    ({"method": "id_document", "note": ""}, "note"),
])
def test_verify_bad_input(staff, staff_user, body, field):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    assert field in errors(staff.post(url(request, "verify"), body, format="json"))
    request.refresh_from_db()
    assert request.status == Status.RECEIVED


def test_verify_out_of_turn_gives_the_services_message(staff):
    request = verified_request()
    services.rights_request_start(request=request, by=None)
    response = staff.post(url(request, "verify"), {"method": "id_document", "note": "x"}, format="json")
    assert "status" in errors(response)


def test_extend(staff, staff_user):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    before = request.due_on
    assert "months" in errors(staff.post(url(request, "extend"), {"months": 3, "reason": "Complex"}, format="json"))
    assert "months" in errors(staff.post(url(request, "extend"), {"months": 0, "reason": "Complex"}, format="json"))
    assert "reason" in errors(staff.post(url(request, "extend"), {"months": 1}, format="json"))
    response = staff.post(url(request, "extend"), {"months": 2, "reason": "Many archives to search"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["extension_months"] == 2 and body["due_on"] > before.isoformat()
    assert body["timeline"][-1]["code"] == "extended"
    # Two months in all: one more is the services' refusal, on the field.
    assert "months" in errors(staff.post(url(request, "extend"), {"months": 1, "reason": "More"}, format="json"))


def test_ask_for_identity_proof_suspends(staff):
    request = verified_request()
    response = staff.post(url(request, "ask"), {"question": "Please send a copy of your ID.", "identity_proof": True},
                          format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "awaiting_requester"
    assert request.suspensions.filter(ended_at__isnull=True).exists()
    assert "question" in errors(staff.post(url(request, "ask"), {"question": " "}, format="json"))


def test_ask_without_email_is_refused_by_the_service(staff, staff_user):
    request = staff_request(by=staff_user)  # by post, no email
    assert "question" in errors(staff.post(url(request, "ask"), {"question": "Which address?"}, format="json"))


def test_fulfil_answers_202_with_the_job(staff, staff_user, camille):
    request = verified_request()
    response = staff.post(url(request, "fulfil"), {}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()["job"]
    stored = Job.objects.get(pk=job["id"])
    assert (job["kind"], job["status"], job["progress"]) == ("rights_fulfil", "pending", 0)
    assert stored.params == {"request_id": request.pk} and stored.requested_by == staff_user
    assert job["url"].endswith(f"/api/v1/jobs/{stored.pk}/")
    assert staff.get(job["url"]).json()["id"] == stored.pk
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS
    assert request.events.filter(code=RequestEvent.Code.JOB_STARTED, data__job=stored.pk).exists()
    # Asked again while it runs: the same job, not a second one.
    assert staff.post(url(request, "fulfil"), {}, format="json").json()["job"]["id"] == stored.pk
    assert staff.get(url(request)).json()["job"]["id"] == stored.pk


def test_fulfil_before_verification_is_a_400(staff, staff_user):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    assert "status" in errors(staff.post(url(request, "fulfil"), {}, format="json"))
    assert not Job.objects.exists()


def test_fulfil_without_contacts_is_a_400(staff):
    request = verified_request()  # nobody holds the email
    assert "contacts" in errors(staff.post(url(request, "fulfil"), {}, format="json"))


def test_reject(staff, dpo):
    request = web_request()
    assert "reason_code" in errors(staff.post(url(request, "reject"), {"reason_code": "boring", "text": "x"},
                                              format="json"))
    assert "text" in errors(staff.post(url(request, "reject"), {"reason_code": "excessive"}, format="json"))
    response = dpo.post(url(request, "reject"), {"reason_code": "identity_not_established",
                                                 "text": "The email link was never opened."}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["rejection_reason"]) == ("rejected", "identity_not_established")
    assert body["closed_at"]
    again = staff.post(url(request, "reject"), {"reason_code": "excessive", "text": "x"}, format="json")
    assert "status" in errors(again)


def test_unknown_action_is_404(staff, staff_user):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    assert staff.post(url(request, "erase-everything"), {}, format="json").status_code == 404


def test_openapi_documents_the_rights_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    base = "/api/v1/rights/requests/"
    assert {base, base + "{reference}/", base + "{reference}/verify/", base + "{reference}/extend/",
            base + "{reference}/ask/", base + "{reference}/fulfil/", base + "{reference}/reject/"} <= set(paths)
    assert "202" in paths[base + "{reference}/fulfil/"]["post"]["responses"]
    assert {"201", "400"} <= set(paths[base]["post"]["responses"])
    assert "400" in paths[base + "{reference}/extend/"]["post"]["responses"]
    schemas = schema["components"]["schemas"]
    assert schemas["RightsRequestStatusEnum"]["enum"][0] == "received"
    assert "JobStatusEnum" in schemas and "MethodEnum" in schemas  # the others' enums keep their names
